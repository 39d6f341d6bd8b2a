"""The check table: every row complete and consistent, measures total on any snapshot, overrides validated."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from cachewatch.checks import CHECKS, Category, Check, Severity, Snapshot, Thresholds
from cachewatch.checks.model import index
from cachewatch.spec import CheckLevels, FleetSpec, load_spec
from tests.support.paths import EXAMPLES

PREFIX = {Category.PERFORMANCE: "perf", Category.MEMORY: "mem", Category.NETWORK: "net",
          Category.REPLICATION: "repl", Category.PERSISTENCE: "pers", Category.CONFIGURATION: "cfg",
          Category.SECURITY: "sec"}
# A primary with a replica, fragmented, on a cluster node, with slow-log and latency entries: most measures see data.
BUSY = Snapshot(
    info={"role": "master", "used_memory": "960", "maxmemory": "1000", "maxmemory_policy": "noeviction",
          "total_system_memory": "2000", "connected_clients": "9", "maxclients": "10", "evicted_keys": "10",
          "mem_fragmentation_ratio": "3", "mem_fragmentation_bytes": str(200 << 20), "cluster_enabled": "1",
          "slave0": "ip=10.0.0.2,port=6379,state=online,offset=10,lag=40", "master_repl_offset": "1000",
          "repl_backlog_size": "100", "server_time_usec": "1000000000000000", "errorstat_OOM": "count=3",
          "db0": "keys=10,expires=0,avg_ttl=0"},
    config={"save": "3600 1", "protected-mode": "no", "bind": "0.0.0.0", "latency-monitor-threshold": "0"},
    acl_users=("user default on nopass ~* &* +@all",), slowlog=((1, 1_000_000_000, 300_000, "debug"),),
    latency_latest=(("command", 1_000_000_000, 1500, 1500),), cluster_info={"cluster_state": "fail"}, taken=10.0)
PREVIOUS = Snapshot(info={**BUSY.info, "evicted_keys": "0", "errorstat_OOM": "count=1"}, taken=5.0)


def test_ids_are_stable_names_of_their_category() -> None:
    for check_id, check in CHECKS.items():
        assert re.fullmatch(r"[a-z]+\.[a-z0-9_]+", check_id), check_id
        assert check_id.split(".")[0] == PREFIX[check.category], check_id


def test_every_row_says_what_why_and_how_to_fix() -> None:
    for check in CHECKS.values():
        assert all((check.title, check.trigger, check.why, check.fix, check.unit)), check.id
        assert "{{" not in check.title and not check.title.endswith("."), check.id
        assert re.fullmatch(r"cachewatch-health/[a-z-]+", check.panel), check.id
        assert check.kinds and set(check.kinds) <= {"cache", "store"}, check.id


def test_thresholds_rise_with_severity() -> None:
    for check in CHECKS.values():
        levels = [v for v in (check.thresholds.info, check.thresholds.warning, check.thresholds.critical)
                  if v is not None]
        assert levels, f"{check.id} has no threshold"
        assert levels == sorted(levels, reverse=check.lower_is_worse), check.id


@pytest.mark.parametrize(("snapshot", "previous"), [(Snapshot(info={}), None), (BUSY, None), (BUSY, PREVIOUS)],
                         ids=["empty", "busy", "busy-with-previous"])
def test_every_measure_is_total(snapshot: Snapshot, previous: Snapshot | None) -> None:
    """No measure raises on any snapshot; each returns a number or None (does not apply)."""
    for check in CHECKS.values():
        value = check.measure(snapshot, previous)
        assert value is None or isinstance(value, float), check.id


def test_the_busy_node_trips_what_it_should() -> None:
    severities = {}
    for check in CHECKS.values():
        value = check.measure(BUSY, PREVIOUS)
        severities[check.id] = check.severity(value) if value is not None else None
    assert severities["mem.usage"] is Severity.CRITICAL  # 0.96 of maxmemory under noeviction
    assert severities["mem.maxmemory_vs_host"] is None  # 1000 of 2000
    assert severities["mem.fragmentation"] is Severity.CRITICAL
    assert severities["mem.oom_rejects"] is Severity.CRITICAL  # 2 more OOM replies than before
    assert severities["repl.ack_lag"] is Severity.CRITICAL and severities["repl.lag_bytes"] is Severity.CRITICAL
    assert severities["net.maxclients"] is Severity.WARNING and severities["net.cluster_state"] is Severity.CRITICAL
    assert severities["perf.slow_commands"] is Severity.WARNING  # 300 ms
    assert severities["perf.latency_spikes"] is Severity.CRITICAL  # 1.5 s
    assert severities["sec.open_access"] is Severity.CRITICAL and severities["sec.nopass_user"] is Severity.CRITICAL
    assert severities["pers.cache_persistence_on"] is Severity.INFO


def test_severity_honours_direction_and_overrides() -> None:
    up = next(iter(CHECKS.values()))
    rising = Check(**{**up.__dict__, "thresholds": Thresholds(warning=0.5, critical=0.9)})
    falling = Check(**{**up.__dict__, "lower_is_worse": True, "thresholds": Thresholds(warning=0.9, critical=0.5)})
    assert [rising.severity(v) for v in (0.1, 0.5, 0.95)] == [None, Severity.WARNING, Severity.CRITICAL]
    assert [falling.severity(v) for v in (0.95, 0.9, 0.1)] == [None, Severity.WARNING, Severity.CRITICAL]
    assert rising.severity(0.95, Thresholds(critical=0.99)) is None


def test_an_id_declared_twice_is_refused() -> None:
    check = next(iter(CHECKS.values()))
    with pytest.raises(ValueError, match="declared twice"):
        index((check, check))


def test_spec_overrides_name_known_checks_and_merge_per_cluster() -> None:
    spec = load_spec(EXAMPLES["small"])
    data = spec.model_dump(mode="json")
    data["checks"] = {"net.maxclients": {"warning": 0.7}}
    data["regions"][0]["clusters"][0]["checks"] = {"net.maxclients": {"critical": 0.9}}
    overridden = FleetSpec.model_validate(data)
    _, cluster = overridden.clusters[0]
    merged = overridden.checks_for(cluster)["net.maxclients"]
    assert merged == CheckLevels(warning=0.7, critical=0.9) and merged.given() == {"warning": 0.7, "critical": 0.9}
    check = CHECKS["net.maxclients"]
    assert check.thresholds.overridden(merged.given()) == Thresholds(warning=0.7, critical=0.9)
    assert check.thresholds.overridden(CheckLevels(warning=None).given()) == Thresholds(critical=0.95)  # off
    data["checks"] = {"mem.nonsense": {"warning": 1}}
    with pytest.raises(ValidationError, match=r"unknown checks \['mem.nonsense'\]; allowed: cfg\.eviction_policy"):
        FleetSpec.model_validate(data)
