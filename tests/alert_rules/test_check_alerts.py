"""Alerts derived from the check table: one per alerted level of every check the exporter's metrics express, under
the names users route, silence and link runbooks by; levels bound to the spec's thresholds follow them; per-cluster
settings get their own copies, clusters of another kind are left out, and every copy passes its promtool cases."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cachewatch.alert_rules import alerts as hand_written
from cachewatch.alert_rules.check_alerts import alert_name, alerting, groups, variants
from cachewatch.checks import CHECKS, Severity, Tier
from cachewatch.local_redis import require_binary
from cachewatch.rulefmt import alerts_of
from cachewatch.spec import FleetSpec, Thresholds, load_spec
from tests.support.paths import EXAMPLES
from tests.support.specs import generate

HOST, CLIENTS, FRAGMENTATION = CHECKS["mem.maxmemory_vs_host"], CHECKS["net.maxclients"], CHECKS["mem.fragmentation"]
# Alerts that were hand-written rows before their check existed: the name, severity and scope users rely on.
ESTABLISHED = {
    "RedisDown": ("net.connect", "critical", "node"),
    "RedisNoMaxmemory": ("mem.maxmemory_unset", "warning", "node"),
    "RedisMemoryHigh": ("mem.usage", "warning", "node"),
    "RedisMemoryHighCritical": ("mem.usage", "critical", "node"),
    "RedisEvictionsHigh": ("mem.eviction_rate", "warning", "node"),
    "RedisMemoryFragmentationHigh": ("mem.fragmentation", "warning", "node"),
    "RedisNoEvictionPolicy": ("cfg.eviction_policy", "warning", "node"),
    "RedisConnectionsHigh": ("net.maxclients", "warning", "node"),
    "RedisConnectionsHighCritical": ("net.maxclients", "critical", "node"),
    "RedisRejectedConnections": ("net.rejected_connections", "warning", "node"),
    "RedisReplicationLinkDown": ("repl.link_down", "critical", "node"),
    "RedisReplicationLagSeconds": ("repl.ack_lag", "warning", "node"),
    "RedisReplicationLagBytes": ("repl.lag_bytes", "warning", "node"),
    "RedisBgsaveFailed": ("pers.bgsave_failed", "warning", "node"),
    "RedisAofWriteFailed": ("pers.aof_failed", "warning", "node"),
    "RedisClusterStateNotOk": ("net.cluster_state", "critical", "cluster"),
    "RedisClusterSlotsFail": ("net.cluster_slots_fail", "critical", "cluster"),
}
# Cheap checks the exporter's metrics cannot express, and why: a new cheap check needs metrics= or a line here.
NOT_FROM_METRICS = {
    "perf.slow_commands": "the exporter shows only the newest slow-log entry, without its command: the minute's "
                          "longest cannot be taken, nor blocking commands left out",
    "pers.cache_persistence_on": "CONFIG save is not exported",
    "cfg.latency_monitor_off": "CONFIG latency-monitor-threshold is not exported",
    "cfg.slowlog_off": "CONFIG slowlog-log-slower-than and slowlog-max-len are not exported",
    "cfg.tcp_keepalive_off": "CONFIG tcp-keepalive is not exported",
    "sec.open_access": "CONFIG protected-mode and bind, and ACL LIST, are not exported",
    "sec.nopass_user": "ACL LIST is not exported",
    "sec.debug_command_enabled": "CONFIG enable-debug-command and enable-module-command are not exported",
}


def with_clusters(**changes: dict) -> FleetSpec:
    """examples/fleet.py with some clusters changed (name → fields)."""
    data = load_spec(EXAMPLES["fleet"]).model_dump(mode="json")
    for region in data["regions"]:
        for cluster in region["clusters"]:
            cluster.update(changes.get(cluster["name"], {}))
    return FleetSpec.model_validate(data)


def test_every_check_with_metrics_gets_one_alert_per_alerted_level() -> None:
    spec = load_spec(EXAMPLES["small"])
    alerts = alerts_of(groups(spec))
    expected = {how.name for c in CHECKS.values() if c.metrics for how in alerting(c).values()}
    assert {a.name for a in alerts} == expected
    assert alert_name(HOST, Severity.WARNING) == "RedisMaxmemoryVsHost"
    assert alert_name(HOST, Severity.CRITICAL) == "RedisMaxmemoryVsHostCritical"
    for alert in alerts:
        assert alert.labels["check"] in CHECKS and alert.test is not None, alert.name
        assert "redis_total_system_memory_bytes" in alert.expr or alert.labels["check"] != HOST.id


def test_every_cheap_check_is_alerted_on_where_the_metrics_allow() -> None:
    cheap = {c.id for c in CHECKS.values() if c.tier is Tier.CHEAP}
    assert {c for c in cheap if CHECKS[c].metrics is None} == set(NOT_FROM_METRICS)


def test_the_established_alerts_keep_their_names_severities_and_scopes() -> None:
    alerts = {a.name: a for a in alerts_of(groups(load_spec(EXAMPLES["fleet"])))}
    for name, (check, severity, scope) in ESTABLISHED.items():
        alert = alerts[name]
        assert (alert.labels["check"], alert.severity, alert.labels["scope"]) == (check, severity, scope), name
    hand = {a.name for a in alerts_of(hand_written.groups(load_spec(EXAMPLES["fleet"])))}
    assert not hand & set(alerts), "a check's alert is also written by hand"


def test_bound_levels_default_to_the_spec_thresholds() -> None:
    """A level a spec threshold sets has that threshold's default in the table, so docs/checks.md tells the truth."""
    defaults = Thresholds()
    for check in CHECKS.values():
        for level, field in check.bound.items():
            assert getattr(check.thresholds, level) == getattr(defaults, field), (check.id, level)


def test_spec_thresholds_set_bound_levels_and_checks_overrides_win() -> None:
    assert CLIENTS.levels(Thresholds(connections_warning_ratio=0.6)) == CLIENTS.thresholds.overridden({"warning": 0.6})
    assert CLIENTS.levels(Thresholds(connections_warning_ratio=0.6), {"warning": 0.7}).warning == 0.7
    spec = with_clusters(**{"catalog-eu-west": {"thresholds": {"connections_critical_ratio": 0.9}}})
    [fleet, own] = variants(spec, CLIENTS)
    assert fleet.matcher == 'cluster!~"catalog-eu-west"' and fleet.levels.critical == 0.95
    assert own.clusters == ("catalog-eu-west",) and own.levels.critical == 0.9 and own.set_name == "catalog-eu-west"
    copies = [a for a in alerts_of(groups(spec)) if a.name == "RedisConnectionsHighCritical"]
    assert [a.expr.endswith(level) for a, level in zip(copies, (">= 0.95", ">= 0.9"), strict=True)] == [True, True]
    assert copies[1].labels["thresholds"] == "catalog-eu-west"


def test_thresholds_the_expression_reads_get_their_own_copy() -> None:
    spec = with_clusters(**{"catalog-eu-west": {"thresholds": {"fragmentation_min_bytes": 1 << 30}}})
    [fleet, own] = variants(spec, FRAGMENTATION)
    assert fleet.levels == own.levels and own.params == (1 << 30,)
    exprs = [a.expr for a in alerts_of(groups(spec)) if a.name == "RedisMemoryFragmentationHigh"]
    assert "> 104857600" in exprs[0] and "> 1073741824" in exprs[1]


def test_checks_overrides_get_their_own_copy_and_the_fleet_rule_excludes_them() -> None:
    spec = with_clusters(**{"catalog-eu-west": {"checks": {HOST.id: {"warning": 0.6}}}})
    [fleet, override] = variants(spec, HOST)
    assert fleet.matcher == 'cluster!~"catalog-eu-west"' and fleet.levels == HOST.thresholds
    assert override.clusters == ("catalog-eu-west",) and override.levels.warning == 0.6
    assert override.levels.critical == 1.0
    names = [a.name for a in alerts_of(groups(spec))]
    assert names.count("RedisMaxmemoryVsHost") == 2


def test_a_level_switched_off_has_no_alert() -> None:
    spec = with_clusters(**{"catalog-eu-west": {"checks": {CLIENTS.id: {"warning": None}}}})
    copies = [a for a in alerts_of(groups(spec)) if a.labels.get("thresholds") == "catalog-eu-west"]
    assert [a.name for a in copies] == ["RedisConnectionsHighCritical"]


def test_checks_of_another_kind_leave_those_clusters_out() -> None:
    unset = CHECKS["mem.maxmemory_unset"]  # cache-only
    spec = with_clusters(**{"catalog-eu-west": {"kind": "store"}})
    [only] = variants(spec, unset)
    assert "catalog-eu-west" not in only.clusters and only.matcher == 'cluster!~"catalog-eu-west"'


def test_memory_alerts_only_where_a_full_memory_refuses_writes() -> None:
    """A full allkeys-* cache is normal (its quiet case); noeviction and volatile-* without TTLs are not."""
    [high] = [a for a in alerts_of(groups(load_spec(EXAMPLES["small"]))) if a.name == "RedisMemoryHigh"]
    assert 'maxmemory_policy="noeviction"' in high.expr and 'maxmemory_policy=~"volatile-.*"' in high.expr
    assert high.test is not None and any("allkeys-lru" in s.series for s in high.test.quiet)


def test_generated_check_alerts_pass_promtool_with_overrides(tmp_path: Path) -> None:
    spec = with_clusters(**{"catalog-eu-west": {"checks": {HOST.id: {"warning": 0.6, "critical": 0.9}},
                                                "thresholds": {"memory_warning_ratio": 0.5,
                                                               "fragmentation_min_bytes": 1 << 30}},
                            "catalog-us-east": {"kind": "store"}})
    generate(spec, tmp_path)
    rules = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("prometheus/rules/checks-*.yml"))
    tests = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("prometheus/tests/checks-*.yml"))
    assert len(rules) == len(tests) > 1
    for args in (["check", "rules", *rules], ["test", "rules", *tests]):
        run = subprocess.run([require_binary("promtool"), *args], cwd=tmp_path, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
