"""Alerts derived from the check table: one per level of every check the exporter's metrics express, per-cluster
overrides as their own copies, clusters of another kind left out, and every copy passes its promtool cases."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cachewatch.alert_rules.check_alerts import alert_name, groups, variants
from cachewatch.checks import CHECKS, Severity
from cachewatch.local_redis import require_binary
from cachewatch.rulefmt import alerts_of
from cachewatch.spec import FleetSpec, load_spec
from tests.support.paths import EXAMPLES
from tests.support.specs import generate

HOST = CHECKS["mem.maxmemory_vs_host"]


def with_clusters(**changes: dict) -> FleetSpec:
    """examples/fleet.py with some clusters changed (name → fields)."""
    data = load_spec(EXAMPLES["fleet"]).model_dump(mode="json")
    for region in data["regions"]:
        for cluster in region["clusters"]:
            cluster.update(changes.get(cluster["name"], {}))
    return FleetSpec.model_validate(data)


def test_every_check_with_metrics_gets_one_alert_per_level() -> None:
    spec = load_spec(EXAMPLES["small"])
    alerts = alerts_of(groups(spec))
    expected = {alert_name(c, level) for c in CHECKS.values() if c.metrics
                for level in Severity if getattr(c.thresholds, level.value) is not None}
    assert {a.name for a in alerts} == expected
    assert alert_name(HOST, Severity.WARNING) == "RedisMaxmemoryVsHost"
    assert alert_name(HOST, Severity.CRITICAL) == "RedisMaxmemoryVsHostCritical"
    for alert in alerts:
        assert alert.labels["check"] in CHECKS and alert.test is not None, alert.name
        assert "redis_total_system_memory_bytes" in alert.expr or alert.labels["check"] != HOST.id


def test_overrides_get_their_own_copy_and_the_fleet_rule_excludes_them() -> None:
    spec = with_clusters(**{"catalog-eu-west": {"checks": {HOST.id: {"warning": 0.6}}}})
    [fleet, override] = variants(spec, HOST)
    assert fleet[2] == 'cluster!~"catalog-eu-west"' and fleet[0] == HOST.thresholds
    assert override[1] == ("catalog-eu-west",) and override[0].warning == 0.6 and override[0].critical == 1.0
    names = [a.name for a in alerts_of(groups(spec))]
    assert names.count("RedisMaxmemoryVsHost") == 2


def test_checks_of_another_kind_leave_those_clusters_out() -> None:
    unset = CHECKS["mem.maxmemory_unset"]  # cache-only
    spec = with_clusters(**{"catalog-eu-west": {"kind": "store"}})
    [only] = variants(spec, unset)
    assert "catalog-eu-west" not in only[1] and only[2] == 'cluster!~"catalog-eu-west"'


def test_generated_check_alerts_pass_promtool_with_overrides(tmp_path: Path) -> None:
    spec = with_clusters(**{"catalog-eu-west": {"checks": {HOST.id: {"warning": 0.6, "critical": 0.9}}}})
    generate(spec, tmp_path)
    for args in (["check", "rules", "prometheus/rules/checks.yml"], ["test", "rules", "prometheus/tests/checks.yml"]):
        run = subprocess.run([require_binary("promtool"), *args], cwd=tmp_path, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
