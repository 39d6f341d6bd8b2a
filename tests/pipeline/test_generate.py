"""`cachewatch generate` + `cachewatch validate` on both examples and random specs, the golden tree, the lint."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cachewatch.alert_rules.contribution import rule_groups
from cachewatch.artifacts import GeneratorError
from cachewatch.pipeline import build as build_module
from cachewatch.pipeline.build import build
from cachewatch.pipeline.validate import checks
from cachewatch.promql import WATCHDOG_ALERTNAME
from cachewatch.rulefmt import Alert, RuleGroup, alerts_of
from cachewatch.spec import (
    SLO,
    Cluster,
    Escalation,
    FleetSpec,
    Node,
    PagerDutyChannel,
    Region,
    SecretRef,
    Team,
    Thresholds,
    WebhookChannel,
    load_spec,
)
from tests.support.golden import check_golden_tree
from tests.support.paths import EXAMPLES, ROOT
from tests.support.specs import generate

SEVERITIES = {"critical", "warning", "info"}


def cachewatch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cachewatch", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("example", ["small.py", "fleet.py"])
def test_generate_then_validate_passes_for_the_examples(example: str, tmp_path: Path) -> None:
    out = tmp_path / "build"
    generated = cachewatch("generate", str(ROOT / "examples" / example), "--out", str(out))
    assert generated.returncode == 0, generated.stderr
    validated = cachewatch("validate", str(out))
    assert validated.returncode == 0, validated.stdout
    last = validated.stdout.strip().splitlines()[-1]
    assert last.endswith("checks passed") and last.split()[0] == last.split()[2], last
    spec = load_spec(ROOT / "examples" / example)
    shared = ("alertmanager/alertmanager.yml", "alertmanager/route-tests.yml", "kubernetes/prometheusrule.yaml",
              "mixin/mixin.libsonnet", "docs/runbooks.md", "dashboards/cachewatch-node.json",
              "tracing/otelcol-tail-sampling.yaml", "tracing/jaeger-v2.yaml")
    if spec.scale is None:
        layout = ("prometheus/prometheus.yml", "grafana/provisioning/datasources/cachewatch.yaml")
        configs = [out / "prometheus" / "prometheus.yml"]
    else:  # examples/fleet.py: a pair per region on VictoriaMetrics, logs to Loki, vmalert checked by -dryRun
        layout = ("global/victoriametrics/flags.yml", "global/vmalert/flags.yml", "global/rules/fleet-meta.yml",
                  "global/grafana/provisioning/datasources/cachewatch.yaml", "global/alertmanager/cluster.yml",
                  "global/loki/loki.yaml",
                  *(f"regions/{r.name}/{name}" for r in spec.regions for name in ("prometheus.yml",
                                                                                "otelcol-logs.yaml")))
        configs = [out / "regions" / r.name / "prometheus.yml" for r in spec.regions]
        assert "vmalert -dryRun global/rules/fleet-meta.yml" in validated.stdout
        assert "promtool check config" in validated.stdout
    for part in (*shared, *layout):
        assert (out / part).is_file(), part
    assert all("job_name: cachewatch-apps" in config.read_text() for config in configs)


def test_every_alert_is_complete_and_tested() -> None:
    for example in ("small.py", "fleet.py"):
        spec = load_spec(ROOT / "examples" / example)
        alerts = alerts_of(rule_groups(spec))
        assert len({a.name for a in alerts}) >= 35
        for alert in alerts:
            if alert.name == WATCHDOG_ALERTNAME:  # always firing, severity none: tests/alert_rules/test_watchdog.py
                continue
            assert alert.name.startswith("Redis") and alert.name[5].isupper(), alert.name
            # for: 0s only with keep_firing_for (the probe alerts whose one observation already lasted)
            assert alert.severity in SEVERITIES and alert.for_, alert.name
            assert alert.for_ != "0s" or alert.keep_firing_for, alert.name
            assert "{{" not in alert.summary and "{{" in alert.description, alert.name
            assert alert.test is not None, f"{alert.name} has no promtool case"
            assert "team" in alert.labels or "team" in alert.test.exp_labels, alert.name


def test_the_alert_set_covers_what_the_brief_lists() -> None:
    names = {a.name for a in alerts_of(rule_groups(load_spec(ROOT / "examples" / "fleet.py")))}
    expected = {"RedisDown", "RedisScrapeFailing", "RedisExporterDown", "RedisExporterSlow", "RedisTargetsAbsent",
                "RedisMemoryHigh", "RedisEvictionsHigh", "RedisEvictionRatioHigh", "RedisMemoryFragmentationHigh",
                "RedisConnectionsHigh", "RedisRejectedConnections", "RedisBlockedClientsHigh",
                "RedisReplicationLinkDown", "RedisReplicasMissing", "RedisReplicationLagBytes",
                "RedisReplicationLagSeconds", "RedisShardWithoutPrimary", "RedisShardMultiplePrimaries",
                "RedisBgsaveFailed", "RedisAofWriteFailed", "RedisClusterStateNotOk", "RedisClusterSlotsFail",
                "RedisLatencyP95High", "RedisLatencyP99High", "RedisErrorRepliesHigh", "RedisSlowlogGrowing",
                "RedisHitRatioLow", "RedisClientHitRatioLow", "RedisAuthFailuresSpike", "RedisAclDenialsSpike",
                "RedisNoMaxmemory", "RedisNoEvictionPolicy"}
    assert expected <= names, expected - names


def test_cluster_threshold_overrides_get_their_own_rules() -> None:
    spec = load_spec(ROOT / "examples" / "fleet.py")  # sessions-* override memory_warning_ratio to 0.8
    memory = [a for a in alerts_of(rule_groups(spec)) if a.name == "RedisMemoryHigh"]  # mem.usage, in checks-memory.yml
    assert len(memory) == 2
    fleet_rule, override = memory
    assert 'cluster!~"sessions-eu-west|sessions-us-east|sessions-ap-south"' in fleet_rule.expr
    assert fleet_rule.expr.endswith(">= 0.85") and override.expr.endswith(">= 0.8")
    assert override.labels["thresholds"] == "sessions-eu-west+2"


def test_generated_files_never_contain_a_secret(tmp_path: Path) -> None:
    secret_file = tmp_path / "pd-key"
    secret_file.write_text("pd-secret-value-8c1f")
    spec = FleetSpec(
        regions=[Region(name="r", clusters=[Cluster(name="c", team="t", nodes=[Node(address="127.0.0.1:6379")])])],
        teams=[Team(name="t", channels={"pd": PagerDutyChannel(routing_key=SecretRef(file=str(secret_file)))},
                    escalation=Escalation(critical=["pd"]))])
    for rel, text in build(spec).texts().items():
        assert "pd-secret-value-8c1f" not in text, rel


def test_a_metric_missing_from_the_catalog_fails_generation_as_a_generator_bug(
        monkeypatch: pytest.MonkeyPatch) -> None:
    bogus = RuleGroup(name="x", file="x.yml", rules=(Alert(
        name="RedisBogus", expr='rate(redis_not_a_metric{job="redis"}[5m]) > 1', for_="1m", severity="warning",
        summary="s", description="{{ $labels.instance }}", runbook="x", panel="cachewatch-node/up", test=None),))
    real = build_module.PARTS

    def with_bogus(spec: FleetSpec):
        first = real[0](spec)
        return replace(first, rule_groups=(*first.rule_groups, bogus))

    monkeypatch.setattr(build_module, "PARTS", (with_bogus, *real[1:]))
    with pytest.raises(GeneratorError, match=r"x\.yml/RedisBogus: redis_not_a_metric"):
        build(load_spec(EXAMPLES["small"]))


def test_golden_tree_of_the_small_example() -> None:
    """Every file `cachewatch generate examples/small.py` writes, byte for byte."""
    check_golden_tree("generate-small", build(load_spec(EXAMPLES["small"])).texts())


# --- random valid specs ------------------------------------------------------------------------------------
names = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)


@st.composite
def fleet_specs(draw) -> FleetSpec:
    team_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    cluster_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    port = iter(range(7000, 9000))
    clusters = [Cluster(name=f"c-{name}", team=draw(st.sampled_from(team_names)),
                        thresholds=draw(st.sampled_from([{}, {"memory_warning_ratio": 0.7}, {"blocked_clients": 9}])),
                        nodes=[Node(address=f"10.0.0.1:{next(port)}", role=role, shard="s0")
                               for role in ("primary", "replica")[: draw(st.integers(1, 2))]])
               for name in cluster_names]
    teams = [Team(name=name, channels={"hook": WebhookChannel(url=f"http://{name}.example:8080/")},
                  escalation=Escalation(critical=["hook"], warning=draw(st.sampled_from([[], ["hook"]]))))
             for name in team_names]
    slos = [SLO(name=f"slo-{kind.replace('_', '-')}", kind=kind, objective=draw(st.sampled_from([99.0, 99.9, 95.5])),
                window=draw(st.sampled_from(["7d", "28d", "30d"])),
                latency_threshold_seconds=0.005 if kind == "latency" else None)
            for kind in draw(st.lists(st.sampled_from(["availability", "hit_ratio", "latency", "error_rate"]),
                                      unique=True, max_size=4))]
    thresholds = Thresholds(memory_warning_ratio=draw(st.sampled_from([0.5, 0.85])),
                            no_backup_hours=draw(st.sampled_from([None, 24.0])))
    return FleetSpec(regions=[Region(name="r1", clusters=clusters)], teams=teams, slos=slos, thresholds=thresholds)


@settings(max_examples=4, deadline=None, phases=(Phase.explicit, Phase.generate),  # each example runs promtool
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(fleet_specs())
def test_random_valid_specs_generate_artifacts_that_validate(tmp_path_factory, spec: FleetSpec) -> None:
    out = tmp_path_factory.mktemp("random")
    generate(spec, out)
    failed = [c for c in checks(out) if not c.ok]
    assert not failed, "\n".join(f"{c.name}: {c.detail[-1500:]}" for c in failed)
