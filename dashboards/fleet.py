"""Fleet overview: regions and clusters at a glance, for the first minute of an incident."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dm

from cachewatch.dashboards.common import (
    ALERTS_FIRING,
    CLUSTER,
    OF_REGION,
    Board,
    Q,
    busy_quantile,
    m,
    rate,
    thresholds,
)
from cachewatch.promql import ratio
from cachewatch.spec.model import FleetSpec

UID = "cachewatch-fleet"


def build(spec: FleetSpec) -> dm.Dashboard:
    t = spec.thresholds
    hits, misses = rate("redis_keyspace_hits_total"), rate("redis_keyspace_misses_total")
    b = Board(spec, UID, "Fleet overview", f"All Redis nodes of {spec.name}: health, traffic, memory, alerts, SLOs.")
    b.row("Health")
    b.panel("stat", "Nodes up / down", "Nodes whose last scrape succeeded (redis_up == 1) and those down; a node "
            "missing from the scrape counts as neither: see the exporter dashboard.", "none",
            [Q(f"sum({m('redis_up')} == 1) or vector(0)", "up", instant=True),
             Q(f"count({m('redis_up')} == 0) or vector(0)", "down", instant=True)],
            key="up", span=8, steps=thresholds((None, "green")))
    b.panel("table", "Nodes up per cluster", "Nodes up out of nodes scraped, per region and cluster.", "none",
            [Q(f"sum by (region, cluster) ({m('redis_up')})", instant=True, fmt="table"),
             Q(f"count by (region, cluster) ({m('redis_up')})", instant=True, fmt="table")], span=8)
    b.panel("table", "Firing alerts", "Alerts firing now in the selected regions and clusters, and fleet-wide.",
            "none", [Q(f"sum by (alertname, severity, cluster) ({ALERTS_FIRING})", instant=True, fmt="table")],
            span=8)
    b.row("Traffic and latency")
    b.panel("timeseries", "Commands per second", "Commands processed per second over 5m, per cluster (recorded "
            "per node as redis:commands:rate5m).", "ops",
            [Q(f"sum by (region, cluster) ({m('redis:commands:rate5m')})", "{{region}}/{{cluster}}")])
    b.panel("timeseries", "Hit ratio", "Server-side keyspace hit ratio per cluster: hits / (hits + misses). The "
            f"alert threshold from the spec is {t.hit_ratio_min:.0%}.", "percentunit",
            [Q(ratio(f"sum by (cluster) ({hits})", f"sum by (cluster) ({hits}) + sum by (cluster) ({misses})"),
               "{{cluster}}")],
            steps=thresholds((None, "red"), (t.hit_ratio_min, "green")), min_val=0, max_val=1)
    b.panel("timeseries", "p99 latency", "99th percentile latency of each cluster's slowest busy command (over 1 "
            "call/s) on any node, from LATENCY HISTOGRAM (redis_commands_latencies_usec). The alert threshold is "
            f"{t.latency_p99_seconds * 1e6:g} µs.", "µs",
            [Q(busy_quantile(0.99, "cluster"), "{{cluster}}")],
            steps=thresholds((None, "green"), (t.latency_p99_seconds * 1e6, "red")))
    b.row("Memory")
    b.panel("timeseries", "Memory used of maxmemory", "Highest used_memory / maxmemory among each cluster's nodes "
            "(redis:memory_used:ratio); nodes without maxmemory are left out.", "percentunit",
            [Q(f"max by (cluster) ({m('redis:memory_used:ratio')})", "{{cluster}}")],
            steps=thresholds((None, "green"), (t.memory_warning_ratio, "orange"), (t.memory_critical_ratio, "red")),
            min_val=0, max_val=1)
    b.panel("timeseries", "Evictions", "Keys evicted per second because of maxmemory, per cluster.", "cps",
            [Q(f"sum by (cluster) ({rate('redis_evicted_keys_total')})", "{{cluster}}")],
            steps=thresholds((None, "green"), (t.evictions_per_second, "red")))
    b.row("SLOs and SLA")
    b.panel("table", "SLO error budget left", "Share of each SLO's error budget left over its window; negative when "
            "overspent. Details on the SLO dashboard.", "percentunit",
            [Q(m("cachewatch:slo_error_budget_remaining:ratio", OF_REGION), instant=True, fmt="table")],
            steps=thresholds((None, "red"), (0, "orange"), (0.25, "green")))
    b.panel("table", "SLA compliance", f"Node-time availability over 30d per cluster, against the SLA target of "
            f"{spec.business.sla_target}%.", "percent",
            [Q(m("cachewatch:sla_compliance:percent", CLUSTER), instant=True, fmt="table")],
            steps=thresholds((None, "red"), (spec.business.sla_target, "green")))
    return b.build()
