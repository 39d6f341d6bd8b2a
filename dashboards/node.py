"""Node drilldown: everything about the selected nodes, one row per concern."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dm

from cachewatch.dashboards.common import LEGEND_NODE, NODE, RATE, Board, Q, busy_quantile, m, rate, thresholds
from cachewatch.promql import ratio
from cachewatch.spec.model import FleetSpec

UID = "cachewatch-node"
LATENCY = f"rate(redis_commands_latencies_usec_bucket{{{NODE}}}[{RATE}])"


def build(spec: FleetSpec) -> dm.Dashboard:
    t = spec.thresholds
    hits, misses = rate("redis_keyspace_hits_total"), rate("redis_keyspace_misses_total")
    b = Board(spec, UID, "Node", "Drilldown into the selected Redis nodes: commands, latency, memory, clients, "
              "persistence, slowlog, keyspace.")
    b.row("Health")
    b.panel("timeseries", "Up", "1 when the last scrape of the node succeeded (redis_up); 0 means Redis did not "
            "answer the exporter.", "bool",
            [Q(m("redis_up"), LEGEND_NODE)], key="up", span=8, min_val=0, max_val=1)
    b.panel("timeseries", "Uptime", "Seconds since the Redis server started; a drop is a restart.", "s",
            [Q(m("redis_uptime_in_seconds"), LEGEND_NODE)], span=8)
    b.panel("timeseries", "Hit ratio", f"Keyspace hits / (hits + misses); alert below {t.hit_ratio_min:.0%}.",
            "percentunit", [Q(ratio(f"sum by (instance, cluster) ({hits})",
                                    f"sum by (instance, cluster) ({hits}) + sum by (instance, cluster) ({misses})"),
                              LEGEND_NODE)],
            key="hit-ratio", span=8, steps=thresholds((None, "red"), (t.hit_ratio_min, "green")),
            min_val=0, max_val=1)
    b.row("Commands and latency")
    b.panel("timeseries", "Commands by type", "Calls per second per command (INFO commandstats).", "ops",
            [Q(f"sum by (cmd) ({rate('redis_commands_total')})", "{{cmd}}")])
    b.panel("timeseries", "Latency p50 / p99", "Command latency percentiles from LATENCY HISTOGRAM, per node. Alert "
            f"thresholds: p95 {t.latency_p95_seconds * 1e6:g} µs, p99 {t.latency_p99_seconds * 1e6:g} µs.", "µs",
            [Q(busy_quantile(0.5, "instance"), "p50 {{instance}}"),
             Q(busy_quantile(0.99, "instance"), "p99 {{instance}}")],
            key="latency", steps=thresholds((None, "green"), (t.latency_p99_seconds * 1e6, "red")))
    b.panel("heatmap", "Latency distribution", "Command calls per latency bucket (le in microseconds) from "
            "redis_commands_latencies_usec_bucket, all commands of the selected nodes. Redis reports a command's "
            "buckets only up to its slowest call, so the upper rows undercount the commands that never got there.",
            "µs",
            [Q(f"sum by (le) ({LATENCY})", "{{le}}", fmt="heatmap")])
    b.panel("timeseries", "Latency p99 by command", "99th percentile latency per command.", "µs",
            [Q(f"histogram_quantile(0.99, sum by (le, cmd) ({LATENCY}))", "{{cmd}}")])
    b.row("Memory")
    b.panel("timeseries", "Memory used of maxmemory", "used_memory / maxmemory per node (redis:memory_used:ratio; "
            "nodes without maxmemory are left out).", "percentunit",
            [Q(m("redis:memory_used:ratio"), LEGEND_NODE)], key="memory",
            steps=thresholds((None, "green"), (t.memory_warning_ratio, "orange"), (t.memory_critical_ratio, "red")),
            min_val=0, max_val=1)
    b.panel("timeseries", "Memory breakdown", "Dataset, overhead, Lua/scripts and RSS of the selected nodes.",
            "bytes", [Q(f"sum({m(name)})", label) for name, label in (
                ("redis_memory_used_dataset_bytes", "dataset"), ("redis_memory_used_overhead_bytes", "overhead"),
                ("redis_memory_used_scripts_bytes", "scripts"), ("redis_memory_used_rss_bytes", "rss"),
                ("redis_memory_max_bytes", "maxmemory"))])
    b.panel("timeseries", "Fragmentation", f"RSS / used_memory per node; alert above {t.fragmentation_ratio} "
            "on instances bigger than the spec's minimum.", "none",
            [Q(m("redis_mem_fragmentation_ratio"), LEGEND_NODE)], key="fragmentation",
            steps=thresholds((None, "green"), (t.fragmentation_ratio, "orange")))
    b.panel("timeseries", "Evictions and expirations", "Keys evicted (maxmemory) and expired per second.", "cps",
            [Q(f"sum by (instance) ({rate('redis_evicted_keys_total')})", "evicted {{instance}}"),
             Q(f"sum by (instance) ({rate('redis_expired_keys_total')})", "expired {{instance}}")], key="evictions",
            steps=thresholds((None, "green"), (t.evictions_per_second, "red")))
    b.row("Clients and network")
    b.panel("timeseries", "Clients of maxclients", "connected_clients / maxclients per node "
            "(redis:connections:ratio).", "percentunit",
            [Q(m("redis:connections:ratio"), LEGEND_NODE)], key="clients",
            steps=thresholds((None, "green"), (t.connections_warning_ratio, "orange"),
                             (t.connections_critical_ratio, "red")), min_val=0, max_val=1)
    b.panel("timeseries", "Blocked clients and rejections", "Clients blocked in BLPOP/WAIT, and connections "
            "rejected per second for maxclients.", "short",
            [Q(m("redis_blocked_clients"), "blocked {{instance}}"),
             Q(rate("redis_rejected_connections_total"), "rejected/s {{instance}}")])
    b.panel("timeseries", "Network", "Bytes per second read from and written to clients and replicas.", "Bps",
            [Q(f"sum by (instance) ({rate('redis_net_input_bytes_total')})", "in {{instance}}"),
             Q(f"sum by (instance) ({rate('redis_net_output_bytes_total')})", "out {{instance}}")])
    b.panel("timeseries", "Keys", "Keys per database, and keys with an expiry.", "short",
            [Q(f"sum by (instance, db) ({m('redis_db_keys')})", "{{instance}} {{db}}"),
             Q(f"sum by (instance) ({m('redis_db_keys_expiring')})", "expiring {{instance}}")])
    b.row("Persistence, errors, slowlog")
    b.panel("timeseries", "Persistence", "Last RDB save and AOF write status (1 = ok), and seconds since the last "
            "successful save.", "short",
            [Q(m("redis_rdb_last_bgsave_status"), "rdb ok {{instance}}"),
             Q(m("redis_aof_last_write_status"), "aof ok {{instance}}"),
             Q(f"time() - {m('redis_rdb_last_save_timestamp_seconds')}", "since save {{instance}}")],
            key="persistence")
    b.panel("timeseries", "Error replies", "Error replies per second by error prefix (INFO errorstats).", "reqps",
            [Q(f"sum by (err) ({rate('redis_errors_total')})", "{{err}}")], key="errors",
            steps=thresholds((None, "green"), (t.error_replies_per_second, "red")))
    b.panel("timeseries", "Slowlog", "New slow log entries per second (growth of the newest entry id) and the "
            "newest entry's duration.", "short",
            [Q(f"sum by (instance) (deriv({m('redis_slowlog_last_id')}[{RATE}]))", "entries/s {{instance}}"),
             Q(m("redis_last_slow_execution_duration_seconds"), "last duration (s) {{instance}}")],
            key="slowlog", steps=thresholds((None, "green"), (t.slowlog_entries_per_second, "red")))
    b.panel("table", "Biggest sampled keys", "Top keys by MEMORY USAGE when key sampling is on (names redacted "
            "unless raw names are enabled); empty when sampling is off.", "bytes",
            [Q(f"topk(10, {m('redis_key_sample_memory_usage_bytes')})", instant=True, fmt="table")])
    b.panel("table", "Hottest sampled keys", "Top keys by OBJECT FREQ (LFU policies only) when key sampling is on.",
            "short", [Q(f"topk(10, {m('redis_key_sample_frequency')})", instant=True, fmt="table")])
    return b.build()
