"""Application view: the cache as the client library (cachewatch.tracing) sees it."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dm

from cachewatch.dashboards.common import APP, RATE, Board, Q, rate, thresholds
from cachewatch.promql import ratio
from cachewatch.spec.model import FleetSpec

UID = "cachewatch-app"
HIT = 'result="hit"'
DURATION = f"rate(db_client_operation_duration_seconds_bucket{{{APP}}}[{RATE}])"


def build(spec: FleetSpec) -> dm.Dashboard:
    t = spec.thresholds
    requests = rate("cache_requests_total", APP)
    b = Board(spec, UID, "Application", "Client-side view from applications using cachewatch.tracing: hit ratio, "
              "latency with exemplars linking to Jaeger traces, errors and pool use.", extra_vars=("cache",))
    b.panel("timeseries", "Hit ratio per operation", "Client-side hits / reads per cache and operation; alert below "
            f"{t.hit_ratio_min:.0%}.", "percentunit",
            [Q(ratio(f"sum by (cache, operation) ({rate('cache_requests_total', APP, HIT)})",
                     f"sum by (cache, operation) ({requests})"), "{{cache}} {{operation}}")], key="hit-ratio",
            steps=thresholds((None, "red"), (t.hit_ratio_min, "green")), min_val=0, max_val=1)
    b.panel("timeseries", "Hits and misses", "Cache reads per second by cache, operation and result.", "reqps",
            [Q(f"sum by (cache, operation, result) ({requests})", "{{cache}} {{operation}} {{result}}")])
    b.panel("heatmap", "Client latency", "Client-side duration of Redis operations; exemplars link to the trace in "
            "Jaeger.", "s", [Q(f"sum by (le) ({DURATION})", "{{le}}", fmt="heatmap", exemplar=True)])
    b.panel("timeseries", "Client latency p99", "99th percentile of client-side operation duration per operation.",
            "s", [Q(f"histogram_quantile(0.99, sum by (le, db_operation_name) ({DURATION}))", "{{db_operation_name}}",
                    exemplar=True)])
    b.panel("timeseries", "Errors by type", "Client-side errors per second by operation and type.", "reqps",
            [Q(f"sum by (cache, operation, error_type) ({rate('cache_errors_total', APP)})",
               "{{cache}} {{operation}} {{error_type}}"),
             Q(f"sum by (cache) ({rate('cache_connection_errors_total', APP)})", "{{cache}} connect")])
    b.panel("timeseries", "Pool use", "Pooled connections in use and idle, and the pool's maximum.", "short",
            [Q(f"sum by (cache, state) (cache_pool_connections{{{APP}}})", "{{cache}} {{state}}"),
             Q(f"sum by (cache) (cache_pool_max_connections{{{APP}}})", "{{cache}} max")])
    b.panel("timeseries", "Pool wait p99", "99th percentile of the time spent waiting for a pooled connection.", "s",
            [Q(f"histogram_quantile(0.99, sum by (le, cache) (rate(cache_pool_wait_seconds_bucket{{{APP}}}[{RATE}])))",
               "{{cache}}")])
    return b.build()
