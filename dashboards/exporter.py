"""Exporter self-health: are the exporters up, how long do scrapes take, which fail and why."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dm

from cachewatch.dashboards.common import EXPORTER_SELF, RATE, Board, Q, m, rate, thresholds
from cachewatch.spec.model import FleetSpec

UID = "cachewatch-exporter"


def build(spec: FleetSpec) -> dm.Dashboard:
    t = spec.thresholds
    b = Board(spec, UID, "Exporter", "The cachewatch exporters themselves: targets, scrape durations and errors.")
    b.panel("timeseries", "Exporters and targets up", "Prometheus' up for each exporter's own /metrics and for each "
            "Redis target scraped through it.", "bool",
            [Q(m("up", EXPORTER_SELF), "exporter {{instance}}"),
             Q(f"count({m('up')} == 1)", "targets up"), Q(f"count({m('up')} == 0)", "targets down")],
            key="up", min_val=0)
    b.panel("timeseries", "Scrape duration", "Duration of the last scrape per target (exporter side) and of "
            f"Prometheus' scrape. Alert above {t.exporter_scrape_seconds:g} s.", "s",
            [Q(m("redis_exporter_last_scrape_duration_seconds"), "{{instance}}"),
             Q(f"max({m('scrape_duration_seconds')})", "prometheus max")],
            key="duration", steps=thresholds((None, "green"), (t.exporter_scrape_seconds, "red")))
    b.panel("timeseries", "Scrapes by result", "Scrapes per second of all targets by result (ok or a bounded error "
            "reason), and targets whose last scrape failed.", "reqps",
            [Q(f"sum by (result) ({rate('redis_exporter_target_scrapes_total', EXPORTER_SELF)})", "{{result}}"),
             Q(f"sum by (err) ({m('redis_exporter_last_scrape_error')})", "failing: {{err}}")], key="scrapes")
    b.panel("timeseries", "Connects and shared scrapes", "Connection attempts to targets by result, and scrapes "
            "answered by joining one in flight.", "reqps",
            [Q(f"sum by (result) ({rate('redis_exporter_connects_total', EXPORTER_SELF)})", "connect {{result}}"),
             Q(f"sum({rate('redis_exporter_shared_scrapes_total', EXPORTER_SELF)})", "shared")])
    b.panel("timeseries", "Exporter CPU and memory", "CPU seconds per second and resident memory of each exporter.",
            "short", [Q(f"rate(process_cpu_seconds_total{{{EXPORTER_SELF}}}[{RATE}])", "cpu {{instance}}"),
                      Q(m("process_resident_memory_bytes", EXPORTER_SELF), "rss bytes {{instance}}")])
    b.panel("timeseries", "Rejected /scrape requests", "Requests for targets that are malformed or not allowed.",
            "reqps", [Q(f"sum({rate('redis_target_scrape_request_errors_total', EXPORTER_SELF)})", "rejected")])
    return b.build()
