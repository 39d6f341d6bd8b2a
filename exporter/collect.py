"""Replies of one scrape → a MetricSet. Pure: no I/O, no clock except the ``now`` passed in.

Each section is its own function over a table or a reply parser, and each is guarded:
a malformed reply loses that section's series, never the scrape.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cachewatch.catalog import CATALOG, Family
from cachewatch.exporter import replies
from cachewatch.exporter.exposition import MetricSet, labels
from cachewatch.exporter.info_parser import Info, parse_info, to_number
from cachewatch.redis_text import parse_pairs

log = logging.getLogger("cachewatch.exporter.collect")

# INFO / CLUSTER INFO field → catalog family, derived from the catalog itself.
FIELD_FAMILIES: dict[str, Family] = {f.info_field: f for f in CATALOG.values() if f.info_field}
INSTANCE_INFO_LABELS = CATALOG["redis_instance_info"].labels
LATENCY_QUANTILES = (("p50", "50"), ("p99", "99"), ("p99.9", "99.9"))
CONFIG_KEYS = ("maxmemory", "maxclients", "io-threads", "databases", "repl-backlog-size",
               "client-output-buffer-limit", "maxmemory-policy", "acllog-max-len")
CONFIG_FAMILIES = {
    "maxmemory": "redis_config_maxmemory",
    "maxclients": "redis_config_maxclients",
    "io-threads": "redis_config_io_threads",
    "repl-backlog-size": "redis_config_repl_backlog_size",
}


def add_fields(out: MetricSet, fields: Mapping[str, str]) -> None:
    """Every field that has a catalog family becomes one unlabelled series."""
    for key, raw in fields.items():
        fam = FIELD_FAMILIES.get(key)
        if fam is None:
            continue
        if fam.scale == 1.0 and raw.isdigit():
            out.add_text(fam.name, raw)  # the common case: a plain integer, already valid exposition text
            continue
        value = to_number(raw)
        if value is not None:
            out.add(fam.name, value * fam.scale if fam.scale != 1.0 else value)


def add_server(out: MetricSet, info: Info, now: float) -> None:
    f = info.fields
    out.add("redis_instance_info", 1, labels(*((name, f.get(name, "")) for name in INSTANCE_INFO_LABELS)))
    uptime = to_number(f.get("uptime_in_seconds", ""))
    if uptime is not None:
        out.add("redis_start_time_seconds", round(now - uptime))


def add_keyspace(out: MetricSet, info: Info, databases: int) -> None:
    seen = set()
    for db, raw in info.keyspace.items():
        pairs = parse_pairs(raw)
        keys, expires = to_number(pairs.get("keys", "")), to_number(pairs.get("expires", ""))
        if keys is None:
            continue
        seen.add(db)
        lbl = labels(("db", db))
        out.add("redis_db_keys", keys, lbl)
        out.add("redis_db_keys_expiring", expires or 0, lbl)
        ttl = to_number(pairs.get("avg_ttl", ""))
        if ttl is not None:
            out.add("redis_db_avg_ttl_seconds", ttl / 1000, lbl)
    for index in range(databases):
        db = f"db{index}"
        if db not in seen:
            lbl = labels(("db", db))
            out.add("redis_db_keys", 0, lbl)
            out.add("redis_db_keys_expiring", 0, lbl)


def add_replication(out: MetricSet, info: Info) -> None:
    f = info.fields
    if f.get("role") == "slave":
        master = labels(("master_host", f.get("master_host", "")), ("master_port", f.get("master_port", "")))
        for fam, key in (
            ("redis_master_link_up", "master_link_status"),
            ("redis_master_last_io_seconds_ago", "master_last_io_seconds_ago"),
            ("redis_master_sync_in_progress", "master_sync_in_progress"),
            ("redis_slave_repl_offset", "slave_repl_offset"),
        ):
            value = to_number(f.get(key, ""))
            if value is not None:
                out.add(fam, value, master)
        out.add("redis_slave_info", 1, labels(("master_host", f.get("master_host", "")),
                                             ("master_port", f.get("master_port", "")),
                                             ("read_only", f.get("slave_read_only", ""))))
    for raw in info.slaves:
        pairs = parse_pairs(raw)
        lbl = labels(("slave_ip", pairs.get("ip", "")), ("slave_port", pairs.get("port", "")),
                     ("slave_state", pairs.get("state", "")))
        offset, lag = to_number(pairs.get("offset", "")), to_number(pairs.get("lag", ""))
        if offset is not None:
            out.add("redis_connected_slave_offset_bytes", offset, lbl)
        if lag is not None:
            out.add("redis_connected_slave_lag_seconds", lag, lbl)


@dataclass(frozen=True, slots=True)
class LatencySnapshot:
    """Per-command latency data, refreshed on its own interval rather than every scrape.

    LATENCY HISTOGRAM and INFO's latencystats section cost Redis more than the rest of a scrape put
    together, and both are cumulative since the server started, so a fresh copy every scrape buys little.
    """

    percentiles: dict[str, dict[str, str]]
    histogram_lines: tuple[str, ...]


EMPTY_LATENCY = LatencySnapshot({}, ())


def latency_snapshot(info: Info, histogram: object) -> LatencySnapshot:
    """Capture latencystats and render the LATENCY HISTOGRAM series (with their sums) once."""
    usec_by_cmd = {cmd: to_number(parse_pairs(raw).get("usec", "")) or 0.0 for cmd, raw in info.commandstats.items()}
    series = MetricSet()
    for cmd, (calls, buckets) in replies.latency_histogram(histogram).items():
        for le, count in buckets:
            series.add("redis_commands_latencies_usec", count, labels(("cmd", cmd), ("le", _le(le))), "_bucket")
        lbl = cmd_label(cmd)
        series.add("redis_commands_latencies_usec", calls, labels(("cmd", cmd), ("le", "+Inf")), "_bucket")
        series.add("redis_commands_latencies_usec", usec_by_cmd.get(cmd, 0.0), lbl, "_sum")
        series.add("redis_commands_latencies_usec", calls, lbl, "_count")
    return LatencySnapshot(
        percentiles={cmd: parse_pairs(raw) for cmd, raw in info.latencystats.items()},
        histogram_lines=tuple(series.lines("redis_commands_latencies_usec")),
    )


@functools.lru_cache(maxsize=4096)
def cmd_label(cmd: str) -> str:
    """``{cmd="get"}``, rendered once per command name (a few hundred at most), not once per series."""
    return labels(("cmd", cmd))


def add_commands(out: MetricSet, info: Info, latency: LatencySnapshot) -> None:
    for cmd, raw in info.commandstats.items():
        stats = parse_pairs(raw)
        calls, usec = to_number(stats.get("calls", "")), to_number(stats.get("usec", ""))
        if calls is None or usec is None:
            continue
        lbl = cmd_label(cmd)
        out.add("redis_commands_total", calls, lbl)
        out.add("redis_commands_duration_seconds_total", usec / 1e6, lbl)
        for fam, key in (("redis_commands_rejected_calls_total", "rejected_calls"),
                         ("redis_commands_failed_calls_total", "failed_calls")):
            value = to_number(stats.get(key, ""))
            if value is not None:
                out.add(fam, value, lbl)
        pct = latency.percentiles.get(cmd)
        if pct is not None:
            for key, quantile in LATENCY_QUANTILES:
                value = to_number(pct.get(key, ""))
                if value is not None:
                    out.add("redis_latency_percentiles_usec", value, labels(("cmd", cmd), ("quantile", quantile)))
            out.add("redis_latency_percentiles_usec", usec, lbl, "_sum")
            out.add("redis_latency_percentiles_usec", calls, lbl, "_count")
    if latency.histogram_lines:
        out.add_lines("redis_commands_latencies_usec", latency.histogram_lines)
    for err, raw in info.errorstats.items():
        count = to_number(parse_pairs(raw).get("count", ""))
        if count is not None:
            out.add("redis_errors_total", count, labels(("err", err)))


def _le(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def add_latency_events(out: MetricSet, reply: object) -> None:
    for event, ts, latest_ms in replies.latency_latest(reply):
        lbl = labels(("event_name", event))
        out.add("redis_latency_spike_last", ts, lbl)
        out.add("redis_latency_spike_duration_seconds", latest_ms / 1000, lbl)


def add_slowlog(out: MetricSet, length: object, last: object) -> None:
    parsed = replies.slowlog(length, last)
    if parsed is not None:
        out.add("redis_slowlog_length", parsed[0])
        out.add("redis_slowlog_last_id", parsed[1])
        out.add("redis_last_slow_execution_duration_seconds", parsed[2])


def add_cluster_info(out: MetricSet, reply: object) -> None:
    if isinstance(reply, str):
        add_fields(out, parse_info(reply).fields)


def add_config(out: MetricSet, config: Mapping[str, str]) -> None:
    for key, fam in CONFIG_FAMILIES.items():
        value = to_number(config.get(key, ""))
        if value is not None:
            out.add(fam, value)
    words = config.get("client-output-buffer-limit", "").split()
    for i in range(0, len(words) - 3, 4):
        cls, hard, soft, seconds = words[i:i + 4]
        for limit, raw in (("hard", hard), ("soft", soft)):
            value = to_number(raw)
            if value is not None:
                out.add("redis_config_client_output_buffer_limit_bytes", value,
                        labels(("class", cls), ("limit", limit)))
        value = to_number(seconds)
        if value is not None:
            out.add("redis_config_client_output_buffer_limit_overcome_seconds", value,
                    labels(("class", cls), ("limit", "soft")))


def databases_to_pad(info: Info, config: Mapping[str, str]) -> int:
    """How many ``db_keys`` zeros to emit: CONFIG databases, 1 in cluster mode, 16 when unknown."""
    if info.fields.get("cluster_enabled") == "1":
        return 1
    value = to_number(config.get("databases", ""))
    return int(value) if value is not None and 0 < value <= 4096 else 16


def guarded(section: str, fn: Callable[..., None], *args: object) -> None:
    """Run one section; a bug or hostile reply costs that section, not the scrape."""
    try:
        fn(*args)
    except Exception:  # isolation is the point: a bad reply costs its section, not the scrape
        log.warning("section failed to parse", extra={"section": section}, exc_info=True)


def collect(info: Info, replies_by_name: Mapping[str, object], config: Mapping[str, str], now: float,
            latency: LatencySnapshot = EMPTY_LATENCY) -> MetricSet:
    """Build every Redis-derived series of one scrape from its parsed INFO and other replies."""
    out = MetricSet()
    guarded("fields", add_fields, out, info.fields)
    guarded("server", add_server, out, info, now)
    guarded("keyspace", add_keyspace, out, info, databases_to_pad(info, config))
    guarded("replication", add_replication, out, info)
    guarded("commands", add_commands, out, info, latency)
    guarded("latency", add_latency_events, out, replies_by_name.get("latency_latest"))
    guarded("slowlog", add_slowlog, out, replies_by_name.get("slowlog_len"), replies_by_name.get("slowlog_get"))
    guarded("cluster", add_cluster_info, out, replies_by_name.get("cluster_info"))
    guarded("config", add_config, out, config)
    return out
