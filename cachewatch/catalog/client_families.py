"""Families of the client library (cachewatch.tracing) and the ones Prometheus itself writes.

cachewatch.tracing renders help and labels from here; generated rules and dashboards are checked against them.
"""

from __future__ import annotations

from cachewatch.catalog.model import Family, MetricType, Source

G, C, H = MetricType.GAUGE, MetricType.COUNTER, MetricType.HISTOGRAM


def _client(name: str, kind: MetricType, help_: str, labels: tuple[str, ...], unit: str = "") -> Family:
    return Family(name=name, type=kind, help=help_, labels=labels, unit=unit, source=Source.CLIENT, group="client")


def _prom(name: str, kind: MetricType, help_: str, labels: tuple[str, ...] = ()) -> Family:
    return Family(name=name, type=kind, help=help_, labels=labels, source=Source.PROMETHEUS, group="prometheus")


CLIENT_FAMILIES: tuple[Family, ...] = (
    _client("cache_requests_total", C, "Cache reads by operation and result (hit or miss); MGET counts per key. "
            "key_class is the matching user-given key pattern (other when none matches), empty without patterns.",
            ("cache", "operation", "result", "key_class")),
    _client("db_client_operation_duration_seconds", H, "Client-side duration of Redis operations (OpenTelemetry "
            "db.client.operation.duration in Prometheus form), with buckets below 100 µs.",
            ("db_system_name", "db_operation_name", "cache"), "seconds"),
    _client("cache_errors_total", C, "Client-side errors by operation and type (timeout, connection, or the "
            "response error class).", ("cache", "operation", "error_type")),
    _client("cache_pool_connections", G, "Connection-pool connections by state (in_use, idle).", ("cache", "state")),
    _client("cache_pool_max_connections", G, "Configured maximum size of the connection pool.", ("cache",)),
    _client("cache_pool_wait_seconds", H, "Time a command waited for a connection of a blocking pool (redis-py's "
            "BlockingConnectionPool; other pools never wait, they open a connection).", ("cache",), "seconds"),
    _client("cache_connection_errors_total", C, "Failures to open a new connection (connect, TLS or AUTH).",
            ("cache",)),
    _client("cache_connection_create_seconds", H, "Time to open a new connection, handshake included.",
            ("cache",), "seconds"),
    _client("cache_tracing_spans_exported_total", C, "Spans handed to the OTLP exporter successfully.", ()),
    _client("cache_tracing_spans_dropped_total", C, "Spans lost on the way to the trace backend: queue_full (the "
            "backend is slow or down and the bounded queue overflowed), export_failed, or shutdown.", ("reason",)),
)

PROMETHEUS_FAMILIES: tuple[Family, ...] = (
    _prom("up", G, "1 when Prometheus' last scrape of the target succeeded."),
    _prom("scrape_duration_seconds", G, "Duration of Prometheus' last scrape of the target."),
    _prom("ALERTS", G, "Firing and pending alerts, one series each (Prometheus' own).",
          ("alertname", "alertstate", "severity")),
)
