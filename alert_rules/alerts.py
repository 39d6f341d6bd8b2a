"""The alert table: every Redis alert as data (expression, severity, texts, runbook, panel, promtool cases).

Thresholds come from the spec; a cluster with its own thresholds gets its own copy of the rules
(same alert names, ``cluster=~"…"``) and the fleet-wide copy excludes it. Every ratio guards its
denominator, every alert has a ``for``, and node-down is quick enough to be delivered within a minute
of the fault at the default 15 s intervals. Alerts carry ``scope`` (node, cluster or fleet) for
Alertmanager's inhibitions, and warning/critical pairs a shared ``twin`` label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from cachewatch.rulefmt import Alert, AlertTest, RuleGroup, Series, duration, num
from cachewatch.spec.model import FleetSpec, Thresholds

NODE_KEYS = ("job", "instance", "region", "cluster", "shard", "role", "team")
SHARD_KEYS = "region, cluster, shard, team"
TEST_INSTANCE = "10.9.9.9:6379"
# Matchers used inside f-strings (Python 3.11 f-string expressions cannot hold backslashes).
PRIMARY, REPLICA = 'role="primary"', 'role="replica"'
# The role Redis reports: the scrape config sets `role` from the spec (primary|replica), so Prometheus keeps
# redis_instance_info's own role label as `exported_role` (master|slave); failovers show there.
MASTER = 'exported_role="master"'
NOEVICTION = 'maxmemory_policy="noeviction"'
AUTH, NOT_AUTH = 'reason="auth"', 'reason!="auth"'


@dataclass(frozen=True)
class Ctx:
    """One threshold variant: its label selector, its thresholds, and labels for its test series."""

    spec: FleetSpec
    t: Thresholds
    sel: str  # extra matchers, e.g. 'cluster!~"a|b"', or ""
    cluster: str
    region: str
    team: str

    def m(self, name: str, extra: str = "") -> str:
        """``name{job="redis", <variant>, <extra>}``."""
        matchers = ", ".join(x for x in ('job="redis"', self.sel, extra) if x)
        return f"{name}{{{matchers}}}"

    @property
    def node(self) -> dict[str, str]:
        return {"job": "redis", "instance": TEST_INSTANCE, "region": self.region, "cluster": self.cluster,
                "shard": "s0", "role": "primary", "team": self.team}

    def series(self, name: str, values: str, **labels: str) -> Series:
        merged = {**self.node, **labels}
        return Series(name + "{" + ", ".join(f'{k}="{v}"' for k, v in merged.items()) + "}", values)

    @property
    def fleet_team(self) -> str:
        return self.spec.owner_of_fleet

    def after(self, evaluations: int) -> str:
        """A ``for`` of this many scrape/evaluation periods: follows the spec's intervals (1m at 15 s × 4)."""
        return duration(evaluations * max(self.spec.intervals.scrape, self.spec.intervals.evaluation))


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str, panel: str,
           test: AlertTest | None, runbook_text: str, dashboard_vars: tuple[str, ...] = ("instance",),
           **labels: str) -> Alert:
    return Alert(name=name, expr=expr, for_=for_, severity=severity,  # type: ignore[arg-type]
                 summary=summary, description=description, runbook=name.lower(), panel=panel, test=test,
                 labels=labels, runbook_text=runbook_text, dashboard_vars=dashboard_vars)


def _node_test(c: Ctx, fire: list[Series], quiet: list[Series], description: str, eval_time: str = "15m",
               **labels: str) -> AlertTest:
    return AlertTest(fire=tuple(fire), quiet=tuple(quiet), exp_labels={**c.node, **labels},
                     exp_description=description, eval_time=eval_time)


def _gauge(c: Ctx, name: str, metric: str, condition: str, fire: str, quiet: str, for_: str, severity: str,
           summary: str, description: str, expected: str, panel: str, runbook_text: str, scope: str = "node",
           eval_time: str = "15m") -> Alert:
    """The common shape: one node gauge against a threshold, tested with one firing and one quiet series."""
    return _alert(name, f"{c.m(metric)} {condition}", for_, severity, summary, description, panel,
                  _node_test(c, [c.series(metric, fire)], [c.series(metric, quiet)], expected, eval_time=eval_time,
                             scope=scope),
                  runbook_text, scope=scope)


# --- health: node down, exporter failing ----------------------------------------------------------------
def health(c: Ctx) -> list[Alert]:
    down_for = c.after(1)  # two evaluations in a row see the node down: delivered within a minute
    slow = c.t.exporter_scrape_seconds
    return [
        _alert("RedisDown", f"{c.m('redis_up')} == 0", down_for, "critical", "Redis node is down",
               "{{ $labels.instance }} ({{ $labels.cluster }}/{{ $labels.shard }}, {{ $labels.role }}) does not "
               "answer the exporter.", "cachewatch-node/up",
               _node_test(c, [c.series("redis_up", "1 0x20")], [c.series("redis_up", "1x20")],
                          f"{TEST_INSTANCE} ({c.cluster}/s0, primary) does not answer the exporter.",
                          scope="node"),
               "Check the process and host (systemctl status, dmesg for OOM kills), then the exporter's "
               "redis_exporter_last_scrape_error reason.", scope="node"),
        _alert("RedisScrapeFailing", f"{c.m('up')} == 0", "2m", "warning", "Prometheus cannot scrape a Redis target "
               "through the exporter", "Scrapes of {{ $labels.instance }} through the exporter fail.",
               "cachewatch-exporter/scrapes",
               _node_test(c, [c.series("up", "0x20")], [c.series("up", "1x20")],
                          f"Scrapes of {TEST_INSTANCE} through the exporter fail.", scope="node"),
               "The exporter is reachable but this target's scrape fails: check the exporter's allowlist, "
               "auth_module and logs.", scope="node"),
        _alert("RedisExporterSlow", f"{c.m('redis_exporter_last_scrape_duration_seconds')} > {num(slow)}", "10m",
               "warning", "Scraping a Redis node is slow",
               "Scraping {{ $labels.instance }} takes {{ $value | printf \"%.2f\" }}s.", "cachewatch-exporter/duration",
               _node_test(c, [c.series("redis_exporter_last_scrape_duration_seconds", f"{num(slow * 2)}x20")],
                          [c.series("redis_exporter_last_scrape_duration_seconds", "0.01x20")],
                          f"Scraping {TEST_INSTANCE} takes {slow * 2:.2f}s.", scope="node"),
               "A slow scrape usually means a slow or overloaded Redis (check latency) or an overloaded exporter "
               "(check its CPU and redis_exporter_targets).", scope="node"),
    ]


def fleet_health(c: Ctx) -> list[Alert]:
    exporter = 'up{job="cachewatch-exporter"}'
    labels = {"job": "cachewatch-exporter", "instance": "exporter-0:9121"}
    series = "up{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    return [
        _alert("RedisExporterDown", f"{exporter} == 0", "1m", "critical", "A cachewatch exporter is down",
               "Exporter {{ $labels.instance }} does not answer Prometheus.", "cachewatch-exporter/up",
               AlertTest(fire=(Series(series, "0x20"),), quiet=(Series(series, "1x20"),),
                         exp_labels={**labels, "team": c.fleet_team, "scope": "fleet"},
                         exp_description="Exporter exporter-0:9121 does not answer Prometheus."),
               "Restart the exporter; while it is down every Redis it serves looks down.",
               team=c.fleet_team, scope="fleet"),
        _alert("RedisTargetsAbsent", 'absent(up{job="redis"})', "5m", "critical", "No Redis targets are scraped",
               "Prometheus has no targets in job {{ $labels.job }}: the scrape configuration lost the fleet.",
               "cachewatch-fleet/up",
               AlertTest(fire=(Series('up{job="other"}', "1x20"),), quiet=(Series(
                   'up{job="redis", instance="' + TEST_INSTANCE + '"}', "1x20"),),
                   exp_labels={"job": "redis", "team": c.fleet_team, "scope": "fleet"},
                   exp_description="Prometheus has no targets in job redis: the scrape configuration lost the fleet."),
               "Check prometheus.yml was generated from the current spec and loaded (promtool check config).",
               dashboard_vars=(), team=c.fleet_team, scope="fleet"),
    ]


# --- memory ---------------------------------------------------------------------------------------------
def memory(c: Ctx) -> list[Alert]:
    ratio = f"{c.m('redis_memory_used_bytes')} / ({c.m('redis_memory_max_bytes')} > 0)"
    used, cap = "redis_memory_used_bytes", "redis_memory_max_bytes"
    out = []
    for name, level, for_, severity in (("RedisMemoryHigh", c.t.memory_warning_ratio, "10m", "warning"),
                                        ("RedisMemoryHighCritical", c.t.memory_critical_ratio, "5m", "critical")):
        fire_used = round(min(0.999, level + (1 - level) / 2) * 1000)
        out.append(_alert(
            name, f"{ratio} > {num(level)}", for_, severity, "Redis memory is close to maxmemory",
            "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of maxmemory.", "cachewatch-node/memory",
            _node_test(c, [c.series(used, f"{fire_used}x20"), c.series(cap, "1000x20")],
                       [c.series(used, f"{round(level * 500)}x20"), c.series(cap, "1000x20"),
                        c.series(used, "900x20", instance="10.9.9.8:6379"),
                        c.series(cap, "0x20", instance="10.9.9.8:6379")],
                       f"{TEST_INSTANCE} uses {_pct(fire_used / 1000)} of maxmemory.", scope="node", twin="memory"),
            "Evictions or OOM errors follow. Check the biggest keys (key sampling), TTLs, and whether maxmemory "
            "or the shard count should grow.", scope="node", twin="memory"))
    evicted = f"rate({c.m('redis_evicted_keys_total')}[5m])"
    reads = f"(rate({c.m('redis_keyspace_hits_total')}[5m]) + rate({c.m('redis_keyspace_misses_total')}[5m]))"
    eps, eratio = c.t.evictions_per_second, c.t.eviction_ratio
    frag, frag_min = c.t.fragmentation_ratio, c.t.fragmentation_min_bytes
    out += [
        _alert("RedisEvictionsHigh", f"{evicted} > {num(eps)}", "10m", "warning", "Redis evicts many keys",
               "{{ $labels.instance }} evicts {{ $value | printf \"%.0f\" }} keys/s.", "cachewatch-node/evictions",
               _node_test(c, [c.series("redis_evicted_keys_total", f"0+{num(eps * 120)}x20")],
                          [c.series("redis_evicted_keys_total", "0+60x20")],
                          f"{TEST_INSTANCE} evicts {eps * 2:.0f} keys/s.", scope="node"),
               "The working set does not fit: grow maxmemory or shards, or shorten TTLs.", scope="node"),
        _alert("RedisEvictionRatioHigh", f"{evicted} / ({reads} > 0) > {num(eratio)}", "15m", "warning",
               "A large share of Redis reads causes evictions",
               "{{ $labels.instance }} evicts {{ $value | humanizePercentage }} as many keys as it serves reads.",
               "cachewatch-node/evictions",
               _node_test(c, [c.series("redis_evicted_keys_total", f"0+{num(eratio * 2 * 600)}x40"),
                              c.series("redis_keyspace_hits_total", "0+300x40"),
                              c.series("redis_keyspace_misses_total", "0+300x40")],
                          [c.series("redis_evicted_keys_total", "0x40"), c.series("redis_keyspace_hits_total", "0x40"),
                           c.series("redis_keyspace_misses_total", "0x40")],
                          f"{TEST_INSTANCE} evicts {_pct(eratio * 2)} as many keys as it serves reads.",
                          eval_time="25m", scope="node"),
               "Cache churn: keys are evicted before they are read again. Compare with the hit ratio.", scope="node"),
        _alert("RedisMemoryFragmentationHigh",
               f"{c.m('redis_mem_fragmentation_ratio')} > {num(frag)} and {c.m('redis_memory_used_rss_bytes')} > "
               f"{frag_min}", "30m", "warning", "Redis memory is fragmented",
               "{{ $labels.instance }} has a fragmentation ratio of {{ $value | printf \"%.2f\" }}.",
               "cachewatch-node/fragmentation",
               _node_test(c, [c.series("redis_mem_fragmentation_ratio", f"{num(frag + 0.5)}x40"),
                              c.series("redis_memory_used_rss_bytes", f"{frag_min * 2}x40")],
                          [c.series("redis_mem_fragmentation_ratio", f"{num(frag + 0.5)}x40"),
                           c.series("redis_memory_used_rss_bytes", "1000x40")],
                          f"{TEST_INSTANCE} has a fragmentation ratio of {frag + 0.5:.2f}.", eval_time="40m",
                          scope="node"),
               "Enable activedefrag, or restart the replica first and fail over.", scope="node"),
        _gauge(c, "RedisNoMaxmemory", "redis_memory_max_bytes", "== 0", "0x40", "1e9x40", "30m", "warning",
               "A Redis cache has no maxmemory",
               "{{ $labels.instance }} has no maxmemory: it grows until the host runs out of memory.",
               f"{TEST_INSTANCE} has no maxmemory: it grows until the host runs out of memory.",
               "cachewatch-security/config",
               "Set maxmemory (CONFIG SET maxmemory, and in redis.conf) to leave room for forks and buffers.",
               eval_time="40m"),
        _alert("RedisNoEvictionPolicy", f"{c.m('redis_instance_info', NOEVICTION)} == 1",
               "30m", "warning", "A Redis cache does not evict",
               "{{ $labels.instance }} uses maxmemory-policy noeviction: writes fail when memory is full.",
               "cachewatch-security/config",
               _node_test(c, [c.series("redis_instance_info", "1x40", maxmemory_policy="noeviction")],
                          [c.series("redis_instance_info", "1x40", maxmemory_policy="allkeys-lru")],
                          f"{TEST_INSTANCE} uses maxmemory-policy noeviction: writes fail when memory is full.",
                          eval_time="40m", scope="node", maxmemory_policy="noeviction"),
               "For a cache, use allkeys-lru or allkeys-lfu.", scope="node"),
    ]
    return out


def _pct(ratio: float) -> str:
    """Prometheus' humanizePercentage for the round values the tests use."""
    value = ratio * 100
    return f"{num(round(value, 4))}%"


# --- connections ----------------------------------------------------------------------------------------
def connections(c: Ctx) -> list[Alert]:
    ratio = f"{c.m('redis_connected_clients')} / ({c.m('redis_config_maxclients')} > 0)"
    out = []
    for name, level, for_, severity in (("RedisConnectionsHigh", c.t.connections_warning_ratio, "5m", "warning"),
                                        ("RedisConnectionsHighCritical", c.t.connections_critical_ratio, "2m",
                                         "critical")):
        fire = round(min(0.999, level + (1 - level) / 2) * 1000)
        out.append(_alert(
            name, f"{ratio} > {num(level)}", for_, severity, "Redis connections are close to maxclients",
            "{{ $labels.instance }} has {{ $value | humanizePercentage }} of maxclients connected.",
            "cachewatch-node/clients",
            _node_test(c, [c.series("redis_connected_clients", f"{fire}x20"),
                           c.series("redis_config_maxclients", "1000x20")],
                       [c.series("redis_connected_clients", "10x20"), c.series("redis_config_maxclients", "1000x20")],
                       f"{TEST_INSTANCE} has {_pct(fire / 1000)} of maxclients connected.", scope="node",
                       twin="connections"),
            "Look for connection leaks (pool sizes × app instances), raise maxclients, or add shards.",
            scope="node", twin="connections"))
    out += [
        _alert("RedisRejectedConnections", f"increase({c.m('redis_rejected_connections_total')}[5m]) > 0", "1m",
               "warning", "Redis rejects connections",
               "{{ $labels.instance }} rejected {{ $value | printf \"%.0f\" }} connections in 5 minutes.",
               "cachewatch-node/clients",
               _node_test(c, [c.series("redis_rejected_connections_total", "0+1x20")],
                          [c.series("redis_rejected_connections_total", "3x20")],
                          f"{TEST_INSTANCE} rejected 5 connections in 5 minutes.", scope="node"),
               "maxclients is reached: clients get errors. See RedisConnectionsHigh.", scope="node"),
        _gauge(c, "RedisBlockedClientsHigh", "redis_blocked_clients", f"> {c.t.blocked_clients}",
               f"{c.t.blocked_clients * 2}x20", "1x20", "10m", "warning", "Many Redis clients are blocked",
               "{{ $labels.instance }} has {{ $value }} blocked clients.",
               f"{TEST_INSTANCE} has {c.t.blocked_clients * 2} blocked clients.", "cachewatch-node/clients",
               "Clients wait in BLPOP/XREAD/WAIT: check producers, or a stuck WAIT for replicas."),
    ]
    return out


# --- replication ----------------------------------------------------------------------------------------
def replication(c: Ctx) -> list[Alert]:
    lag_bytes, lag_s = c.t.replication_lag_bytes, c.t.replication_lag_seconds
    replica = {"role": "replica", "master_host": "10.9.9.1", "master_port": "6379"}
    lag_expr = (f"{c.m('redis_master_repl_offset')} - on (instance) group_right "
                f"{c.m('redis_connected_slave_offset_bytes')}")
    slave = {"slave_ip": "10.9.9.2", "slave_port": "6379", "slave_state": "online"}
    shard_labels = {"region": c.region, "cluster": c.cluster, "shard": "s0", "team": c.team}
    return [
        _alert("RedisReplicationLinkDown", f"{c.m('redis_master_link_up')} == 0", c.after(4), "critical",
               "A Redis replica lost its primary", "Replica {{ $labels.instance }} has no link to its primary "
               "{{ $labels.master_host }}:{{ $labels.master_port }}.", "cachewatch-cluster/replication",
               _node_test(c, [c.series("redis_master_link_up", "1 0x20", **replica)],
                          [c.series("redis_master_link_up", "1x20", **replica)],
                          f"Replica {TEST_INSTANCE} has no link to its primary 10.9.9.1:6379.", scope="node",
                          **replica),
               "The replica serves stale data. Check the primary, the network and the replica's log (backlog too "
               "small → full resyncs).", scope="node"),
        _alert("RedisReplicasMissing", f"{c.m('redis_connected_slaves', PRIMARY)} < 1 and on (region, "
               f"cluster, shard) count by (region, cluster, shard) ({c.m('redis_up', REPLICA)}) > 0",
               "5m", "warning", "A Redis primary has no connected replica",
               "Primary {{ $labels.instance }} of shard {{ $labels.shard }} has no connected replica.",
               "cachewatch-cluster/replication",
               _node_test(c, [c.series("redis_connected_slaves", "0x20"),
                              c.series("redis_up", "1x20", role="replica", instance="10.9.9.2:6379")],
                          [c.series("redis_connected_slaves", "1x20"),
                           c.series("redis_up", "1x20", role="replica", instance="10.9.9.2:6379")],
                          f"Primary {TEST_INSTANCE} of shard s0 has no connected replica.", scope="node"),
               "A failover now would lose the shard. Check the replica's link (RedisReplicationLinkDown).",
               scope="node"),
        _alert("RedisReplicationLagBytes", f"{lag_expr} > {lag_bytes}", "5m", "warning",
               "A Redis replica lags behind in bytes",
               "Replica {{ $labels.slave_ip }}:{{ $labels.slave_port }} of {{ $labels.instance }} is "
               "{{ $value | humanize1024 }}B behind.", "cachewatch-cluster/replication",
               _node_test(c, [c.series("redis_master_repl_offset", f"{lag_bytes * 4}x20"),
                              c.series("redis_connected_slave_offset_bytes", f"{lag_bytes * 2}x20", **slave)],
                          [c.series("redis_master_repl_offset", "1000x20"),
                           c.series("redis_connected_slave_offset_bytes", "1000x20", **slave)],
                          f"Replica 10.9.9.2:6379 of {TEST_INSTANCE} is {_humanize1024(lag_bytes * 2)}B behind.",
                          scope="node", **slave),
               "The replica cannot keep up: network, a slow replica disk (AOF), or big writes.", scope="node"),
        _alert("RedisReplicationLagSeconds", f"{c.m('redis_connected_slave_lag_seconds')} > {num(lag_s)}", "5m",
               "warning", "A Redis replica has not acknowledged for a while",
               "Replica {{ $labels.slave_ip }}:{{ $labels.slave_port }} of {{ $labels.instance }} last "
               "acknowledged {{ $value }}s ago.", "cachewatch-cluster/replication",
               _node_test(c, [c.series("redis_connected_slave_lag_seconds", f"{num(lag_s * 2)}x20", **slave)],
                          [c.series("redis_connected_slave_lag_seconds", "0x20", **slave)],
                          f"Replica 10.9.9.2:6379 of {TEST_INSTANCE} last acknowledged {num(lag_s * 2)}s ago.",
                          scope="node", **slave),
               "See RedisReplicationLagBytes.", scope="node"),
        _alert("RedisShardWithoutPrimary",
               f"count by ({SHARD_KEYS}) ({c.m('redis_up')} == 1) unless on ({SHARD_KEYS}) "
               f"count by ({SHARD_KEYS}) ({c.m('redis_instance_info', MASTER)})", "1m", "critical",
               "A Redis shard has no primary", "Shard {{ $labels.shard }} of {{ $labels.cluster }} has no primary.",
               "cachewatch-cluster/roles",
               AlertTest(fire=(c.series("redis_up", "1x20", role="replica"),
                               c.series("redis_instance_info", "1x20", exported_role="slave")),
                         quiet=(c.series("redis_up", "1x20"),
                                c.series("redis_instance_info", "1x20", exported_role="master")),
                         exp_labels={**shard_labels, "scope": "shard"},
                         exp_description=f"Shard s0 of {c.cluster} has no primary."),
               "Writes fail for this shard. Check failover (Sentinel/cluster) and the former primary.",
               scope="shard"),
        _alert("RedisShardMultiplePrimaries",
               f"count by ({SHARD_KEYS}) ({c.m('redis_instance_info', MASTER)}) > 1", "1m", "critical",
               "A Redis shard has more than one primary",
               "Shard {{ $labels.shard }} of {{ $labels.cluster }} has {{ $value }} primaries.",
               "cachewatch-cluster/roles",
               AlertTest(fire=(c.series("redis_instance_info", "1x20", exported_role="master"),
                               c.series("redis_instance_info", "1x20", exported_role="master", role="replica",
                                        instance="10.9.9.2:6379")),
                         quiet=(c.series("redis_instance_info", "1x20", exported_role="master"),
                                c.series("redis_instance_info", "1x20", exported_role="slave", role="replica",
                                         instance="10.9.9.2:6379")),
                         exp_labels={**shard_labels, "scope": "shard"},
                         exp_description=f"Shard s0 of {c.cluster} has 2 primaries."),
               "Split brain: writes to the wrong primary will be lost. Demote one (REPLICAOF) now.",
               scope="shard"),
    ]


def _humanize1024(value: float) -> str:
    """Prometheus' humanize1024 for exact powers the tests use (e.g. 32Mi)."""
    for prefix, size in (("Ei", 1 << 60), ("Pi", 1 << 50), ("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20),
                         ("Ki", 1 << 10)):
        if abs(value) >= size:
            return f"{value / size:.4g}{prefix}"
    return f"{value:.4g}"


# --- persistence and cluster state ----------------------------------------------------------------------
def persistence(c: Ctx) -> list[Alert]:
    out = [
        _gauge(c, "RedisBgsaveFailed", "redis_rdb_last_bgsave_status", "== 0", "0x20", "1x20", "5m", "warning",
               "A Redis background save failed", "The last RDB save of {{ $labels.instance }} failed.",
               f"The last RDB save of {TEST_INSTANCE} failed.", "cachewatch-node/persistence",
               "Check disk space and the Redis log (fork failures: vm.overcommit_memory)."),
        _alert("RedisAofWriteFailed", f"{c.m('redis_aof_last_write_status')} == 0 or "
               f"{c.m('redis_aof_last_bgrewrite_status')} == 0", "5m", "warning", "Redis AOF writing failed",
               "AOF writing or rewriting fails on {{ $labels.instance }}.", "cachewatch-node/persistence",
               _node_test(c, [c.series("redis_aof_last_write_status", "0x20")],
                          [c.series("redis_aof_last_write_status", "1x20")],
                          f"AOF writing or rewriting fails on {TEST_INSTANCE}.", scope="node"),
               "Check disk space and permissions of the AOF directory.", scope="node"),
    ]
    hours = c.t.no_backup_hours
    if hours:
        out.append(_alert(
            "RedisNoRecentBackup", f"time() - {c.m('redis_rdb_last_save_timestamp_seconds')} > {num(hours * 3600)}",
            "30m", "warning", "Redis has not saved a backup recently",
            "{{ $labels.instance }} has not saved an RDB snapshot for more than " + num(hours) + " hours.",
            "cachewatch-node/persistence",
            # promtool's clock starts at 0: the last save lies before it (negative) in the fire case.
            _node_test(c, [c.series("redis_rdb_last_save_timestamp_seconds", f"-{num(hours * 3600)}x60")],
                       [c.series("redis_rdb_last_save_timestamp_seconds", "3000x60")],
                       f"{TEST_INSTANCE} has not saved an RDB snapshot for more than {num(hours)} hours.",
                       eval_time="1h", scope="node"),
            "Check the save schedule (CONFIG GET save) and RedisBgsaveFailed.", scope="node"))
    return out


def cluster_state(c: Ctx) -> list[Alert]:
    return [
        _gauge(c, "RedisClusterStateNotOk", "redis_cluster_state", "== 0", "0x20", "1x20", "2m", "critical",
               "Redis Cluster reports a failed state",
               "{{ $labels.instance }} reports cluster_state:fail for {{ $labels.cluster }}.",
               f"{TEST_INSTANCE} reports cluster_state:fail for {c.cluster}.", "cachewatch-cluster/slots",
               "Some slots are not served: see RedisClusterSlotsFail and CLUSTER NODES.", scope="cluster"),
        _gauge(c, "RedisClusterSlotsFail", "redis_cluster_slots_fail", "> 0", "100x20", "0x20", "2m", "critical",
               "Redis Cluster has failed slots", "{{ $labels.instance }} sees {{ $value }} failed slots.",
               f"{TEST_INSTANCE} sees 100 failed slots.", "cachewatch-cluster/slots",
               "A primary and all its replicas are down: restore a node or reassign the slots.", scope="cluster"),
        _gauge(c, "RedisClusterSlotsPfail", "redis_cluster_slots_pfail", "> 0", "10x20", "0x20", "5m", "warning",
               "Redis Cluster has slots in possible-failure state",
               "{{ $labels.instance }} sees {{ $value }} slots in PFAIL.", f"{TEST_INSTANCE} sees 10 slots in PFAIL.",
               "cachewatch-cluster/slots", "Nodes suspect each other: check the cluster bus network.",
               scope="cluster"),
    ]


# --- latency, errors, hit ratio -------------------------------------------------------------------------
def latency(c: Ctx) -> list[Alert]:
    by = "le, job, instance, region, cluster, shard, role, team"
    buckets = f"sum by ({by}) (rate({c.m('redis_commands_latencies_usec_bucket')}[5m]))"
    calls = f"sum by ({by.removeprefix('le, ')}) (rate({c.m('redis_commands_latencies_usec_count')}[5m]))"
    out = []
    for name, q, limit in (("RedisLatencyP95High", 0.95, c.t.latency_p95_seconds),
                           ("RedisLatencyP99High", 0.99, c.t.latency_p99_seconds)):
        usec = limit * 1e6
        slow_le = _bucket_above(usec)
        fire = [c.series("redis_commands_latencies_usec_bucket", "0+0x30", cmd="get", le=num(slow_le / 2)),
                c.series("redis_commands_latencies_usec_bucket", "0+600x30", cmd="get", le=num(slow_le * 2)),
                c.series("redis_commands_latencies_usec_bucket", "0+600x30", cmd="get", le="+Inf"),
                c.series("redis_commands_latencies_usec_count", "0+600x30", cmd="get")]
        quiet = [c.series("redis_commands_latencies_usec_bucket", "0+600x30", cmd="get", le="1"),
                 c.series("redis_commands_latencies_usec_bucket", "0+600x30", cmd="get", le="+Inf"),
                 c.series("redis_commands_latencies_usec_count", "0+600x30", cmd="get")]
        out.append(_alert(
            name, f"histogram_quantile({num(q)}, {buckets}) / 1e6 > {num(limit)} and on (instance) {calls} > 1",
            "10m", "warning", f"Redis p{num(q * 100)} command latency is high",
            "p" + num(q * 100) + " latency of {{ $labels.instance }} is above " + num(limit * 1000) + " ms.",
            "cachewatch-node/latency",
            _node_test(c, fire, quiet, f"p{num(q * 100)} latency of {TEST_INSTANCE} is above {num(limit * 1000)} ms.",
                       eval_time="25m", scope="node"),
            "Find the slow commands (redis_commands_duration_seconds_total by cmd, SLOWLOG GET) and big keys; "
            "check CPU saturation and forks (latest_fork_seconds).", scope="node"))
    return out


def _bucket_above(usec: float) -> float:
    """The smallest power-of-two LATENCY HISTOGRAM bucket above ``usec`` (buckets are 1, 2, 4, … µs)."""
    bucket = 1.0
    while bucket <= usec:
        bucket *= 2
    return bucket


def errors(c: Ctx) -> list[Alert]:
    eps, slow = c.t.error_replies_per_second, c.t.slowlog_entries_per_second
    return [
        _alert("RedisErrorRepliesHigh", f"rate({c.m('redis_total_error_replies')}[5m]) > {num(eps)}", "10m",
               "warning", "Redis sends many error replies",
               "{{ $labels.instance }} sends {{ $value | printf \"%.1f\" }} error replies/s.", "cachewatch-node/errors",
               _node_test(c, [c.series("redis_total_error_replies", f"0+{num(eps * 120)}x20")],
                          [c.series("redis_total_error_replies", "0+1x20")],
                          f"{TEST_INSTANCE} sends {eps * 2:.1f} error replies/s.", scope="node"),
               "redis_errors_total by err tells which errors (WRONGTYPE, NOPERM, OOM, …).", scope="node"),
        _alert("RedisSlowlogGrowing", f"delta({c.m('redis_slowlog_last_id')}[5m]) / 300 > {num(slow)}", "10m",
               "warning", "Redis logs many slow commands",
               "{{ $labels.instance }} adds {{ $value | printf \"%.1f\" }} slow-log entries/s.",
               "cachewatch-node/slowlog",
               _node_test(c, [c.series("redis_slowlog_last_id", f"0+{num(slow * 120)}x20")],
                          [c.series("redis_slowlog_last_id", "5x20")],
                          f"{TEST_INSTANCE} adds {slow * 2:.1f} slow-log entries/s.", scope="node"),
               "SLOWLOG GET shows the commands; look for KEYS, big SMEMBERS/HGETALL, or Lua.", scope="node"),
    ]


def hit_ratio(c: Ctx) -> list[Alert]:
    hits, misses = f"rate({c.m('redis_keyspace_hits_total')}[10m])", f"rate({c.m('redis_keyspace_misses_total')}[10m])"
    low, guard = c.t.hit_ratio_min, c.t.hit_ratio_min_requests_per_second
    per_min = round(max(guard, 1) * 2 * 60)  # requests per minute in the tests: twice the low-traffic guard
    per_min_hits = round(low / 2 * per_min)
    # Client side, per application: the apps scrape job's `team` label routes the alert to the team owning the
    # application (so no static `team` label here: a rule label would override it).
    client, by = "cache_requests_total", "application, team, cache, operation"
    client_all = f"sum by ({by}) (rate({client}[10m]))"
    client_hits = f"sum by ({by}) (rate({client}{{result=\"hit\"}}[10m]))"
    app, team = next(((a.name, a.team) for a in c.spec.applications), ("demo-app", c.team))
    app_labels = {"application": app, "team": team, "cache": "sessions", "operation": "GET"}

    def app_series(result: str, values: str, application: str = app) -> Series:
        merged = {**app_labels, "application": application, "result": result}
        return Series(client + "{" + ", ".join(f'{k}="{v}"' for k, v in merged.items()) + "}", values)

    # A busy healthy application on the same cache and operation: summed with it (by cache, operation) the
    # ratio would be above the threshold; per application the low one fires, and only it.
    busy = (int(low / (1 - low)) + 1) * per_min
    return [
        _alert("RedisHitRatioLow",
               f"{hits} / ({hits} + {misses} > 0) < {num(low)} and ({hits} + {misses}) > {num(guard)}",
               "30m", "warning", "Redis hit ratio is low",
               "Server-side hit ratio of {{ $labels.instance }} is {{ $value | humanizePercentage }}.",
               "cachewatch-node/hit-ratio",
               _node_test(c, [c.series("redis_keyspace_hits_total", f"0+{per_min_hits}x60"),
                              c.series("redis_keyspace_misses_total", f"0+{per_min - per_min_hits}x60")],
                          [c.series("redis_keyspace_hits_total", f"0+{per_min_hits}x60"),
                           c.series("redis_keyspace_misses_total", f"0+{per_min - per_min_hits}x60", instance="x"),
                           c.series("redis_keyspace_hits_total", "0+1x60", instance="10.9.9.8:6379"),
                           c.series("redis_keyspace_misses_total", "0+5x60", instance="10.9.9.8:6379")],
                          f"Server-side hit ratio of {TEST_INSTANCE} is {_pct(per_min_hits / per_min)}.",
                          eval_time="50m",
                          scope="node"),
               "Keys expire or are evicted before reuse, or the application reads keys it never wrote. Compare "
               "evictions, TTLs and the client-side hit ratio per operation.", scope="node"),
        _alert("RedisClientHitRatioLow",
               f"{client_hits} / ({client_all} > 0) < {num(low)} and {client_all} > {num(guard)}", "30m", "warning",
               "An application's cache hit ratio is low",
               "Hit ratio of {{ $labels.application }} cache {{ $labels.cache }} {{ $labels.operation }} is "
               "{{ $value | humanizePercentage }}.",
               "cachewatch-app/hit-ratio",
               AlertTest(fire=(app_series("hit", f"0+{per_min_hits}x60"),
                               app_series("miss", f"0+{per_min - per_min_hits}x60"),
                               app_series("hit", f"0+{busy}x60", application="busy-app")),
                         quiet=(app_series("hit", f"0+{per_min}x60"), app_series("miss", "0+1x60")),
                         exp_labels={**app_labels, "scope": "fleet"},
                         exp_description=f"Hit ratio of {app} cache sessions GET is {_pct(per_min_hits / per_min)}.",
                         eval_time="50m"),
               "As RedisHitRatioLow, seen from the application (includes the in-process layer). It goes to the "
               "team owning the application.",
               dashboard_vars=("cache",), scope="fleet"),
    ]


# --- security -------------------------------------------------------------------------------------------
def security(c: Ctx) -> list[Alert]:
    by = "job, instance, region, cluster, shard, role, team"
    auth = f"sum by ({by}) (rate({c.m('redis_acl_denials_total', AUTH)}[5m]))"
    acl = f"sum by ({by}) (rate({c.m('redis_acl_denials_total', NOT_AUTH)}[5m]))"
    fa, fd = c.t.auth_failures_per_second, c.t.acl_denials_per_second
    return [
        _alert("RedisAuthFailuresSpike", f"{auth} > {num(fa)}", "5m", "warning", "Many failed Redis logins",
               "{{ $labels.instance }} sees {{ $value | printf \"%.1f\" }} failed logins/s.",
               "cachewatch-security/auth",
               _node_test(c, [c.series("redis_acl_denials_total", f"0+{num(fa * 120)}x20", reason="auth",
                                       context="toplevel", user="mallory")],
                          [c.series("redis_acl_denials_total", "0+1x20", reason="auth", context="toplevel",
                                    user="mallory")],
                          f"{TEST_INSTANCE} sees {fa * 2:.1f} failed logins/s.", scope="node"),
               "A client has a wrong password, or someone guesses: redis_acl_denials_total by user, ACL LOG for "
               "client addresses.", scope="node"),
        _alert("RedisAclDenialsSpike", f"{acl} > {num(fd)}", "10m", "warning", "Many Redis commands are denied by ACL",
               "{{ $labels.instance }} denies {{ $value | printf \"%.1f\" }} commands/s by ACL.",
               "cachewatch-security/acl",
               _node_test(c, [c.series("redis_acl_denials_total", f"0+{num(fd * 120)}x20", reason="key",
                                       context="toplevel", user="app")],
                          [c.series("redis_acl_denials_total", "0+1x20", reason="key", context="toplevel", user="app")],
                          f"{TEST_INSTANCE} denies {fd * 2:.1f} commands/s by ACL.", scope="node"),
               "A deployment uses keys or commands its ACL user may not: redis_acl_denials_total by user and "
               "reason.", scope="node"),
    ]


# --- assembly -------------------------------------------------------------------------------------------
# (group name, file, per-variant factory). Fleet-scope alerts are built once, outside the variants.
GROUPS: tuple[tuple[str, str, Callable[[Ctx], list[Alert]]], ...] = (
    ("redis-health", "health.yml", health),
    ("redis-memory", "memory.yml", memory),
    ("redis-connections", "connections.yml", connections),
    ("redis-replication", "replication.yml", replication),
    ("redis-persistence", "persistence.yml", persistence),
    ("redis-cluster", "cluster.yml", cluster_state),
    ("redis-latency", "latency.yml", latency),
    ("redis-errors", "errors.yml", errors),
    ("redis-security", "security.yml", security),
)


def variants(spec: FleetSpec) -> list[tuple[Thresholds, list[tuple[str, str, str]]]]:
    """Clusters grouped by their effective thresholds: [(thresholds, [(cluster, region, team), ...]), ...]."""
    by_thresholds: dict[Thresholds, list[tuple[str, str, str]]] = {}
    for region, cluster in spec.clusters:
        by_thresholds.setdefault(spec.thresholds_for(cluster), []).append((cluster.name, region.name, cluster.team))
    return list(by_thresholds.items())


def _build(spec: FleetSpec, factory: Callable[[Ctx], list[Alert]]) -> list[Alert]:
    """The fleet-wide rules, plus a copy per cluster set whose thresholds change a rule's expression.

    A copy selects its clusters (``cluster=~``) and carries a ``thresholds`` label naming the set (so the
    rules stay distinct for promtool's duplicate check); the fleet-wide rule then excludes them.
    """
    groups = variants(spec)
    fleet_members = next((m for t, m in groups if t == spec.thresholds), [("unlisted", "unlisted",
                                                                          spec.owner_of_fleet)])
    plain = {a.name: a for a in factory(Ctx(spec, spec.thresholds, "", *fleet_members[0]))}
    copies: list[Alert] = []
    excluded: dict[str, list[str]] = {}
    for thresholds, members in groups:
        if thresholds == spec.thresholds:
            continue
        names = [name for name, _, _ in members]
        unselected = {a.name: a for a in factory(Ctx(spec, thresholds, "", *members[0]))}
        changed = {name for name, alert in unselected.items() if alert.expr != plain[name].expr}
        selected = factory(Ctx(spec, thresholds, f'cluster=~"{"|".join(names)}"', *members[0]))
        set_name = names[0] if len(names) == 1 else f"{names[0]}+{len(names) - 1}"
        for alert in selected:
            if alert.name in changed:
                copies.append(replace(alert, labels={**alert.labels, "thresholds": set_name}))
                excluded.setdefault(alert.name, []).extend(names)
    out = []
    for name, alert in plain.items():
        if name in excluded:
            ctx = Ctx(spec, spec.thresholds, f'cluster!~"{"|".join(excluded[name])}"', *fleet_members[0])
            alert = next(a for a in factory(ctx) if a.name == name)
        out.append(alert)
    return out + copies


def groups(spec: FleetSpec) -> list[RuleGroup]:
    out = [RuleGroup(name=name, file=file, rules=tuple(_build(spec, factory))) for name, file, factory in GROUPS]
    fleet = Ctx(spec, spec.thresholds, "", *variants(spec)[0][1][0])
    out.append(RuleGroup(name="redis-fleet", file="fleet.yml", rules=tuple(fleet_health(fleet) + hit_ratio(fleet))))
    return out
