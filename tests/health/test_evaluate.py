"""evaluate() on hand-made snapshots: one result per check, the status rules, overrides, and the node-state rule."""

from __future__ import annotations

import dataclasses

import pytest

from cachewatch.checks import CHECKS, Snapshot
from cachewatch.health import evaluate as evaluate_module
from cachewatch.health.evaluate import CheckResult, evaluate, node_state, unreachable
from cachewatch.spec import CheckLevels

INFO = {"role": "master", "used_memory": "1000000", "maxmemory": "67108864", "maxmemory_policy": "allkeys-lru",
        "total_system_memory": "25000000000", "connected_clients": "3", "maxclients": "10000",
        "evicted_keys": "0", "rejected_connections": "0", "sync_full": "0", "loading": "0",
        "rdb_last_bgsave_status": "ok", "aof_enabled": "0", "cluster_enabled": "0",
        "server_time_usec": "1700000000000000", "mem_fragmentation_ratio": "1.2"}
CONFIG = {"save": "", "appendonly": "no", "latency-monitor-threshold": "100", "slowlog-log-slower-than": "10000",
          "slowlog-max-len": "128", "tcp-keepalive": "300", "protected-mode": "yes", "bind": "127.0.0.1",
          "enable-debug-command": "no", "enable-module-command": "no", "maxmemory": "67108864",
          "maxmemory-policy": "allkeys-lru"}
HEALTHY = Snapshot(info=INFO, config=CONFIG, acl_users=("user default on #5e88 ~* &* +@all",), taken=100.0)


def statuses(snap: Snapshot, previous: Snapshot | None = None, **overrides: CheckLevels) -> dict[str, str]:
    return {c.id: c.status for c in evaluate(snap, previous, overrides).checks}


def with_info(**fields: str) -> Snapshot:
    return dataclasses.replace(HEALTHY, info={**INFO, **fields})


def test_one_result_per_check_with_the_rows_texts() -> None:
    health = evaluate(HEALTHY, address="10.0.0.1:6379", cluster="sessions")
    assert [c.id for c in health.checks] == list(CHECKS)
    usage = next(c for c in health.checks if c.id == "net.maxclients")
    row = CHECKS["net.maxclients"]
    assert (usage.category, usage.unit, usage.title, usage.fix, usage.why) == (row.category.value, row.unit,
                                                                              row.title, row.fix, row.why)
    assert (health.address, health.cluster, health.kind, health.timestamp) == ("10.0.0.1:6379", "sessions", "cache",
                                                                              100.0)


def test_a_healthy_snapshot_passes_or_skips_everything() -> None:
    health = evaluate(HEALTHY)
    assert health.state == "healthy" and health.not_passing == ()
    assert {c.status for c in health.checks} == {"pass", "skip"}


def test_value_and_the_threshold_it_crossed() -> None:
    health = evaluate(with_info(connected_clients="9600"))
    clients = next(c for c in health.checks if c.id == "net.maxclients")
    assert (clients.status, clients.value, clients.threshold) == ("critical", 0.96, 0.95)
    assert health.state == "unhealthy" and health.not_passing[0] is clients


def test_severity_sets_the_node_state() -> None:
    assert evaluate(with_info(connected_clients="8500")).state == "degraded"  # net.maxclients warning
    info_only = dataclasses.replace(HEALTHY, config={**CONFIG, "save": "3600 1"})
    assert evaluate(info_only).state == "healthy"  # pers.cache_persistence_on is info: reported, not a state


def test_checks_of_another_kind_are_skipped() -> None:
    store = dataclasses.replace(HEALTHY, kind="store", info={**INFO, "maxmemory": "0"})
    result = next(c for c in evaluate(store).checks if c.id == "mem.maxmemory_unset")
    assert result.status == "skip" and "cache" in result.reason
    assert statuses(dataclasses.replace(store, kind="cache"))["mem.maxmemory_unset"] == "critical"


def test_refused_commands_make_exactly_their_checks_unknown() -> None:
    refused = dataclasses.replace(HEALTHY, config={}, acl_users=(), refused=frozenset({"config", "acl"}))
    unknown = {check_id for check_id, status in statuses(refused).items() if status == "unknown"}
    assert unknown == {c.id for c in CHECKS.values() if c.needs & {"config", "acl"}}
    assert evaluate(refused).state == "healthy"


def test_nothing_decided_is_unknown() -> None:
    blind = Snapshot(info={}, refused=frozenset({"info", "config", "acl", "slowlog", "latency", "cluster"}))
    health = evaluate(blind)
    assert health.state == "unknown" and {c.status for c in health.checks} == {"unknown"}


def test_rate_checks_need_a_previous_sample() -> None:
    later = dataclasses.replace(with_info(evicted_keys="500", rejected_connections="2"), taken=110.0)
    assert statuses(later)["mem.eviction_rate"] == "skip"
    rates = statuses(later, HEALTHY)
    assert rates["mem.eviction_rate"] == "warning"  # 50 per second over the 10 s between the samples
    assert rates["net.rejected_connections"] == "critical"


def test_overrides_replace_only_the_levels_they_set() -> None:
    near = with_info(connected_clients="7000")  # 0.7 of maxclients: passes by default
    assert statuses(near)["net.maxclients"] == "pass"
    assert statuses(near, **{"net.maxclients": CheckLevels(warning=0.6)})["net.maxclients"] == "warning"
    full = with_info(connected_clients="9900")
    assert statuses(full, **{"net.maxclients": CheckLevels(warning=0.6)})["net.maxclients"] == "critical"
    assert statuses(full, **{"net.maxclients": CheckLevels(critical=None)})["net.maxclients"] == "warning"


def test_a_measure_that_raises_is_unknown_and_the_others_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(snap: Snapshot, prev: Snapshot | None) -> float:
        raise ZeroDivisionError("division by zero")

    checks = dict(CHECKS)
    checks["mem.usage"] = dataclasses.replace(CHECKS["mem.usage"], measure=broken)
    monkeypatch.setattr(evaluate_module, "CHECKS", checks)
    health = evaluate(with_info(connected_clients="9600"))
    usage = next(c for c in health.checks if c.id == "mem.usage")
    assert usage.status == "unknown" and usage.reason == "measure failed: ZeroDivisionError: division by zero"
    assert health.state == "unhealthy"  # net.maxclients still decided


def test_an_unreachable_node_is_unhealthy_with_the_phase() -> None:
    health = unreachable("10.0.0.9:6379", "timeout", "no reply within 2s", timestamp=5.0, cluster="c", kind="store")
    assert health.state == "unhealthy" and health.reason == "timeout: no reply within 2s"
    (connect,) = health.checks
    assert (connect.id, connect.status, connect.reason) == ("net.connect", "critical", "timeout: no reply within 2s")


@pytest.mark.parametrize(("found", "state"), [
    ({"pass", "info", "skip"}, "healthy"),
    ({"pass", "warning", "unknown"}, "degraded"),
    ({"warning", "critical"}, "unhealthy"),
    ({"unknown", "skip"}, "unknown"),
    ({"info"}, "healthy"),
    (set(), "unknown"),
])
def test_the_node_state_rule(found: set[str], state: str) -> None:
    results = tuple(CheckResult(id=f"x.{s}", category="memory", status=s) for s in found)  # type: ignore[arg-type]
    assert node_state(results) == state
