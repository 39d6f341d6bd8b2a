"""probe.yml: the active probe's alerts (probe failing, heartbeat replication delay, critical checks) select the probe
job's series, pass promtool with their own cases, and a check that has its own alert never alerts twice."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cachewatch.alert_rules import check_alerts
from cachewatch.alert_rules.alerts import groups
from cachewatch.alert_rules.alerts.probe import CONNECT_CHECK, alerted_elsewhere, generic_check
from cachewatch.catalog import CATALOG
from cachewatch.catalog.lint import metric_names
from cachewatch.checks import CHECKS, Tier
from cachewatch.local_redis import require_binary
from cachewatch.pipeline.writer import dump_yaml
from cachewatch.promql import PROBE, PROBE_JOB, duration, series
from cachewatch.rulefmt import Alert, Links, RuleGroup, alerts_of, render_rule_file, render_rule_tests
from cachewatch.spec import load_spec
from tests.support.paths import EXAMPLES

NAMES = {"RedisProbeFailing", "RedisReplicationDelayHigh", "RedisReplicationDelayHighCritical",
         "RedisHealthCheckCritical"}


def probe_group(spec) -> RuleGroup:
    [group] = [g for g in groups(spec) if g.file == "probe.yml"]
    return group


def by_name(group: RuleGroup) -> dict[str, Alert]:
    return {a.name: a for a in alerts_of([group])}


def promtool(*args: str, cwd: Path) -> None:
    run = subprocess.run([require_binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_probe_alert_reads_only_the_probe_jobs_series() -> None:
    alerts = by_name(probe_group(load_spec(EXAMPLES["fleet"])))
    assert set(alerts) == NAMES
    for alert in alerts.values():
        names = metric_names(alert.expr)
        assert names and all(CATALOG[name].group == "probe" for name in names), alert.name
        assert alert.expr.count(PROBE) == len(names) and alert.labels["scope"] == "node", alert.name
        assert all(s.series.count(f'job="{PROBE_JOB}"') == 1 for s in alert.test.fire + alert.test.quiet)


def test_the_generic_check_alert_leaves_out_exactly_the_checks_with_an_alert_of_their_own() -> None:
    with_metrics = {c.id for c in CHECKS.values() if c.metrics is not None}
    assert CHECKS[CONNECT_CHECK].tier is Tier.PROBE  # judged by the prober: RedisProbeFailing is its alert
    assert alerted_elsewhere() == sorted(with_metrics | {CONNECT_CHECK})
    expr = by_name(probe_group(load_spec(EXAMPLES["small"])))["RedisHealthCheckCritical"].expr
    assert f'check!~"{"|".join(i.replace(".", "[.]") for i in alerted_elsewhere())}"' in expr
    assert 'severity="critical"' in expr and generic_check().id not in alerted_elsewhere()


@pytest.mark.parametrize("example", ["small", "fleet"])
def test_probe_rules_pass_promtool_and_their_own_cases(example: str, tmp_path: Path) -> None:
    spec = load_spec(EXAMPLES[example])
    links = Links(spec.links.runbook_base_url, spec.links.grafana_url)
    group = probe_group(spec)
    (tmp_path / "probe.yml").write_text(dump_yaml(render_rule_file([group], links)))
    tests = render_rule_tests(["probe.yml"], alerts_of([group]), links, duration(spec.intervals.evaluation))
    assert len(tests["tests"]) == 2 * len(NAMES)
    (tmp_path / "test-probe.yml").write_text(dump_yaml(tests))
    promtool("check", "rules", "probe.yml", cwd=tmp_path)
    promtool("test", "rules", "test-probe.yml", cwd=tmp_path)


def test_a_check_with_its_own_alert_fires_that_alert_only(tmp_path: Path) -> None:
    """The exporter's metrics put a check with ``metrics`` at critical and the probe reports the same check
    critical: its checks-<category>.yml alert fires, the generic RedisHealthCheckCritical does not."""
    spec = load_spec(EXAMPLES["small"])
    links = Links(spec.links.runbook_base_url, spec.links.grafana_url)
    own = [a for a in alerts_of(check_alerts.groups(spec)) if a.severity == "critical"]
    assert own, "no check with metrics reaches critical: nothing could alert twice"
    alert = own[0]
    check = CHECKS[alert.labels["check"]]
    rules = [*check_alerts.groups(spec), probe_group(spec)]
    (tmp_path / "rules.yml").write_text(dump_yaml(render_rule_file(rules, links)))
    probe = {**alert.test.exp_labels, "job": PROBE_JOB, "module": "health", "check": check.id,
             "category": check.category.value, "severity": "critical"}
    inputs = [{"series": s.series, "values": s.values} for s in alert.test.fire]
    inputs.append({"series": series("redis_health_check_status", probe), "values": "1x120"})  # past any eval_time
    firing = f'count by (alertname) (ALERTS{{alertstate="firing", check="{check.id}", severity="critical"}})'
    scenario = {"rule_files": ["rules.yml"], "evaluation_interval": duration(spec.intervals.evaluation), "tests": [{
        "interval": "1m", "input_series": inputs,
        "promql_expr_test": [{"expr": firing, "eval_time": alert.test.eval_time,
                              "exp_samples": [{"labels": f'{{alertname="{alert.name}"}}', "value": 1}]}]}]}
    (tmp_path / "scenario.yml").write_text(dump_yaml(scenario))
    promtool("test", "rules", "scenario.yml", cwd=tmp_path)
