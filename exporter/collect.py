"""Replies of one scrape → a MetricSet. Pure: no I/O, no clock except the ``now`` passed in.

Each section is its own function over a table or a reply parser, and each is guarded:
a malformed reply loses that section's series, never the scrape.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cachewatch.catalog import CATALOG, Family
from cachewatch.exporter import replies
from cachewatch.exporter.exposition import MetricSet, format_value, labels
from cachewatch.exporter.info_parser import Info, parse_info, to_number
from cachewatch.exporter.latency_refresh import CommandLatency
from cachewatch.redis_text import parse_pairs

log = logging.getLogger("cachewatch.exporter.collect")

# INFO / CLUSTER INFO field → catalog family, derived from the catalog itself.
FIELD_FAMILIES: dict[str, Family] = {f.info_field: f for f in CATALOG.values() if f.info_field}
INSTANCE_INFO_LABELS = CATALOG["redis_instance_info"].labels
LATENCY_QUANTILES = (("p50", "50"), ("p99", "99"), ("p99.9", "99.9"))
CONFIG_KEYS = ("maxmemory", "maxclients", "io-threads", "databases", "repl-backlog-size",
               "client-output-buffer-limit", "maxmemory-policy", "acllog-max-len", "slowlog-max-len")
CONFIG_FAMILIES = {
    "maxmemory": "redis_config_maxmemory",
    "maxclients": "redis_config_maxclients",
    "io-threads": "redis_config_io_threads",
    "repl-backlog-size": "redis_config_repl_backlog_size",
}


# INFO field → (family, "family " line prefix, scale): the per-field work of a scrape is one lookup.
FIELD_SPECS: dict[str, tuple[str, str, float]] = {key: (f.name, f"{f.name} ", f.scale)
                                                  for key, f in FIELD_FAMILIES.items()}


def add_fields(out: MetricSet, fields: Mapping[str, str]) -> None:
    """Every field that has a catalog family becomes one unlabelled series."""
    series = out.series()  # FIELD_SPECS names come from the catalog: no check per line
    specs = FIELD_SPECS
    for key, raw in fields.items():
        spec = specs.get(key)
        if spec is None:
            continue
        name, prefix, scale = spec
        if scale == 1.0 and raw.isdigit() and raw.isascii():
            line = prefix + raw + "\n"  # the common case: an INFO integer is valid exposition text
        else:
            value = to_number(raw)
            if value is None:
                continue
            line = f"{prefix}{format_value(value * scale if scale != 1.0 else value)}\n"
        lines = series.get(name)
        if lines is None:
            series[name] = [line]
        else:
            lines.append(line)


@functools.lru_cache(maxsize=1024)
def _instance_info_line(values: tuple[str, ...]) -> str:
    return f"redis_instance_info{labels(*zip(INSTANCE_INFO_LABELS, values, strict=True))} 1\n"


def add_server(out: MetricSet, info: Info, now: float) -> None:
    f = info.fields
    out.family("redis_instance_info").append(_instance_info_line(tuple(f.get(name, "") for name in
                                                                       INSTANCE_INFO_LABELS)))
    uptime = to_number(f.get("uptime_in_seconds", ""))
    if uptime is not None:
        out.add("redis_start_time_seconds", round(now - uptime))


@functools.lru_cache(maxsize=4096)
def _keyspace_lines(db: str, raw: str) -> tuple[str, str, str] | None:
    """(keys, expiring, avg ttl or "") series of one keyspace line, cached by its text."""
    pairs = parse_pairs(raw)
    keys, expires = to_number(pairs.get("keys", "")), to_number(pairs.get("expires", ""))
    if keys is None:
        return None
    lbl = labels(("db", db))
    ttl = to_number(pairs.get("avg_ttl", ""))
    return (f"redis_db_keys{lbl} {format_value(keys)}\n", f"redis_db_keys_expiring{lbl} {format_value(expires or 0)}\n",
            "" if ttl is None else f"redis_db_avg_ttl_seconds{lbl} {format_value(ttl / 1000)}\n")


@functools.lru_cache(maxsize=64)
def _empty_db_lines(databases: int) -> tuple[tuple[str, str, str], ...]:
    """(db, keys 0, expiring 0) for every index below ``databases``, rendered once."""
    return tuple((f"db{i}", f'redis_db_keys{{db="db{i}"}} 0\n', f'redis_db_keys_expiring{{db="db{i}"}} 0\n')
                 for i in range(databases))


def add_keyspace(out: MetricSet, info: Info, databases: int) -> None:
    seen = set()
    keys, expiring = out.family("redis_db_keys"), out.family("redis_db_keys_expiring")
    for db, raw in info.keyspace.items():
        lines = _keyspace_lines(db, raw)
        if lines is None:
            continue
        seen.add(db)
        keys.append(lines[0])
        expiring.append(lines[1])
        if lines[2]:
            out.family("redis_db_avg_ttl_seconds").append(lines[2])
    for db, keys_line, expiring_line in _empty_db_lines(databases):
        if db not in seen:
            keys.append(keys_line)
            expiring.append(expiring_line)


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
    """Percentiles from INFO latencystats, for servers that refuse LATENCY HISTOGRAM (an ACL without it):
    refreshed every latency_refresh_interval, rendered once. Elsewhere they are read off the histogram."""

    percentiles: dict[str, str]  # per command, its lines as one text


EMPTY_LATENCY = LatencySnapshot({})
# One command's commandstats row: calls, usec, and its rendered lines for COMMAND_FAMILIES then the
# percentile summary's _sum and _count ("" where Redis did not send the field).
CommandStat = tuple[int, int, tuple[str, ...]]
COMMAND_FAMILIES = ("redis_commands_total", "redis_commands_duration_seconds_total",
                    "redis_commands_rejected_calls_total", "redis_commands_failed_calls_total")
PERCENTILES = "redis_latency_percentiles_usec"


def latency_snapshot(info: Info) -> LatencySnapshot:
    """Render INFO latencystats' percentiles once per refresh."""
    out = {}
    for cmd, raw in info.latencystats.items():
        pct = parse_pairs(raw)
        lines = []
        for key, quantile in LATENCY_QUANTILES:
            value = to_number(pct.get(key, ""))
            if value is not None:
                lines.append(f"{PERCENTILES}{labels(('cmd', cmd), ('quantile', quantile))} {format_value(value)}\n")
        out[cmd] = "".join(lines)
    return LatencySnapshot(out)


@functools.lru_cache(maxsize=4096)
def cmd_label(cmd: str) -> str:
    """``{cmd="get"}``, rendered once per command name (a few hundred at most), not once per series."""
    return labels(("cmd", cmd))


# A Redis 7 commandstats row, read without the general a=1,b=2 parser (this runs for every command at every
# scrape); numbers below 1e15 without leading zeros are already their exposition text. Anything else: the
# general path.
_NUMBER = r"(0|[1-9][0-9]{0,14})"
_ROW = re.compile(rf"calls={_NUMBER},usec={_NUMBER},usec_per_call=[0-9.]+,rejected_calls={_NUMBER},"
                  rf"failed_calls={_NUMBER}")


def _command_stat(cmd: str, raw: str) -> CommandStat | None:
    """One commandstats row, parsed and rendered."""
    lbl = cmd_label(cmd)
    row = _ROW.fullmatch(raw)
    if row is not None:
        calls, usec, rejected, failed = row.groups()
        n_usec = int(usec)
        return int(calls), n_usec, (f"redis_commands_total{lbl} {calls}\n",
                                    f"redis_commands_duration_seconds_total{lbl} {format_value(n_usec / 1e6)}\n",
                                    f"redis_commands_rejected_calls_total{lbl} {rejected}\n",
                                    f"redis_commands_failed_calls_total{lbl} {failed}\n",
                                    f"{PERCENTILES}_sum{lbl} {usec}\n", f"{PERCENTILES}_count{lbl} {calls}\n")
    stats = parse_pairs(raw)
    calls, usec = to_number(stats.get("calls", "")), to_number(stats.get("usec", ""))
    if calls is None or usec is None:
        return None
    lines = [f"redis_commands_total{lbl} {format_value(calls)}\n",
             f"redis_commands_duration_seconds_total{lbl} {format_value(usec / 1e6)}\n"]
    for fam, key in (("redis_commands_rejected_calls_total", "rejected_calls"),
                     ("redis_commands_failed_calls_total", "failed_calls")):
        value = to_number(stats.get(key, ""))
        lines.append("" if value is None else f"{fam}{lbl} {format_value(value)}\n")
    lines.append(f"{PERCENTILES}_sum{lbl} {format_value(usec)}\n")
    lines.append(f"{PERCENTILES}_count{lbl} {format_value(calls)}\n")
    return int(calls), int(usec), tuple(lines)


# Cached by its text, so idle commands cost a lookup (for callers without a memo of their own).
command_stat = functools.lru_cache(maxsize=8192)(_command_stat)
CommandMemo = dict[str, tuple[str, CommandStat | None]]


def command_stats(info: Info, memo: CommandMemo | None = None) -> dict[str, CommandStat]:
    """Every well-formed commandstats row of one INFO, by command name. ``memo``: one target's rows as last
    parsed (updated here), so that a row that did not change since the last scrape is not parsed again; a
    fleet's rows are too many for the shared cache."""
    out = {}
    if memo is None:
        for cmd, raw in info.commandstats.items():
            stat = command_stat(cmd, raw)
            if stat is not None:
                out[cmd] = stat
        return out
    for cmd, raw in info.commandstats.items():
        hit = memo.get(cmd)
        if hit is not None and hit[0] == raw:
            stat = hit[1]
        else:
            stat = _command_stat(cmd, raw)
            memo[cmd] = (raw, stat)
        if stat is not None:
            out[cmd] = stat
    if len(memo) > len(info.commandstats) + 64:  # commands gone (a reset): forget them
        for cmd in [cmd for cmd in memo if cmd not in info.commandstats]:
            del memo[cmd]
    return out


def add_commands(out: MetricSet, stats: Mapping[str, CommandStat], histograms: Mapping[str, CommandLatency],
                 latency: LatencySnapshot) -> None:
    """Per-command counters every scrape; latency series from the cached histograms, percentiles from INFO
    latencystats where it was fetched (exact mode, or LATENCY HISTOGRAM refused), else estimated from the
    histogram; the summary's _sum and _count from this scrape."""
    families = [out.family(name) for name in COMMAND_FAMILIES]
    percentiles = out.family(PERCENTILES)
    histogram = out.family("redis_commands_latencies_usec")
    fallback = latency.percentiles
    for cmd, (_, _, lines) in stats.items():
        for family, line in zip(families, lines, strict=False):
            if line:
                family.append(line)
        entry = histograms.get(cmd)
        # Redis' own percentiles (INFO latencystats: exact mode, or no histogram) win over the histogram's estimate
        quantiles = fallback.get(cmd) or (entry.quantiles if entry is not None else "")
        if quantiles:
            percentiles.append(quantiles)
            percentiles.append(lines[4])
            percentiles.append(lines[5])
        if entry is not None and entry.histogram:
            histogram.append(entry.histogram)


def add_errors(out: MetricSet, info: Info) -> None:
    for err, raw in info.errorstats.items():
        count = to_number(parse_pairs(raw).get("count", ""))
        if count is not None:
            out.add("redis_errors_total", count, labels(("err", err)))


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
    """CONFIG-derived series, rendered once per CONFIG refresh (``config`` is replaced, never changed)."""
    cached = _config_cache.get(id(config))
    if cached is None or cached[0] is not config:
        rendered = MetricSet()
        _render_config(rendered, config)
        if len(_config_cache) >= 4096:  # about one live config per target; the entry pins its id
            _config_cache.clear()
        cached = _config_cache[id(config)] = (config, {n: rendered.lines(n) for n in rendered.names()})
    for name, lines in cached[1].items():
        out.family(name).extend(lines)


_config_cache: dict[int, tuple[Mapping[str, str], dict[str, list[str]]]] = {}


def _render_config(out: MetricSet, config: Mapping[str, str]) -> None:
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
            latency: LatencySnapshot = EMPTY_LATENCY, stats: Mapping[str, CommandStat] | None = None,
            histograms: Mapping[str, CommandLatency] | None = None) -> MetricSet:
    """Build every Redis-derived series of one scrape from its parsed INFO and other replies."""
    out = MetricSet()
    if stats is None:
        stats = command_stats(info)
    guarded("fields", add_fields, out, info.fields)
    guarded("server", add_server, out, info, now)
    guarded("keyspace", add_keyspace, out, info, databases_to_pad(info, config))
    guarded("replication", add_replication, out, info)
    guarded("commands", add_commands, out, stats, histograms or {}, latency)
    guarded("errors", add_errors, out, info)
    guarded("latency", add_latency_events, out, replies_by_name.get("latency_latest"))
    guarded("slowlog", add_slowlog, out, replies_by_name.get("slowlog_len"), replies_by_name.get("slowlog_get"))
    guarded("cluster", add_cluster_info, out, replies_by_name.get("cluster_info"))
    guarded("config", add_config, out, config)
    return out
