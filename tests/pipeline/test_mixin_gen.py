"""The jsonnet mixin and the PrometheusRule carry exactly the rules of the generated rule files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import _jsonnet
import pytest
import yaml

from cachewatch.artifacts import GeneratorError
from cachewatch.local_redis import require_binary
from cachewatch.pipeline import mixin, prometheus_rule
from cachewatch.pipeline.writer import rendered, write
from cachewatch.spec import FleetSpec, load_spec
from tests.support.paths import EXAMPLES
from tests.support.rules import sample_rule_docs

RENDER = "local m = import 'mixin.libsonnet'; {alerts: m.prometheusAlerts.groups, rules: m.prometheusRules.groups}"


def write_mixin(spec: FleetSpec, docs: dict[str, dict], out: Path, boards: dict | None = None) -> list[Path]:
    return write(out, rendered(mixin.files(spec, docs, boards), spec.name))


def evaluate(directory: Path, snippet: str = RENDER) -> dict:
    """Evaluate a jsonnet file beside the mixin, as a user's build would (import path = the mixin dir)."""
    entry = directory.parent / "render.jsonnet"
    entry.write_text(snippet)
    return json.loads(_jsonnet.evaluate_file(str(entry), jpathdir=[str(directory)]))


def by_kind(groups: list[dict], kind: str) -> list[dict]:
    """Each group restricted to rules of ``kind``, dropping groups left empty (what the mixin holds)."""
    out = []
    for group in groups:
        rules = [r for r in group["rules"] if kind in r]
        if rules:
            out.append({**group, "rules": rules})
    return out


def canonical(rule: dict) -> str:
    return json.dumps(rule, sort_keys=True)


def all_groups(docs: dict[str, dict]) -> list[dict]:
    return [g for doc in docs.values() for g in doc["groups"]]


def promtool_check_rules(path: Path) -> None:
    result = subprocess.run([require_binary("promtool"), "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("example", EXAMPLES)
def test_mixin_evaluates_to_the_rule_files_rules(example: str, tmp_path: Path) -> None:
    spec = load_spec(EXAMPLES[example])
    docs = sample_rule_docs(spec)
    paths = write_mixin(spec, docs, tmp_path)
    directory = tmp_path / "mixin"
    assert {p.name for p in paths} >= {"mixin.libsonnet", "config.libsonnet", "alerts.libsonnet", "rules.libsonnet",
                                       "README.md"}
    rendered = evaluate(directory)
    groups = all_groups(docs)
    # each half in order, with the group's name and interval, and byte-identical rules
    assert rendered["alerts"] == by_kind(groups, "alert")
    assert rendered["rules"] == by_kind(groups, "record")
    # and per group name: the same rules as the rule file, in order, once alerts and records are joined
    joined: dict[str, list[dict]] = {}
    for group in rendered["alerts"] + rendered["rules"]:
        joined.setdefault(group["name"], []).extend(group["rules"])
    assert set(joined) == {g["name"] for g in groups}
    for group in groups:
        original = group["rules"]
        assert sorted(map(canonical, joined[group["name"]])) == sorted(map(canonical, original))
        assert [r for r in joined[group["name"]] if "alert" in r] == [r for r in original if "alert" in r]
        assert [r for r in joined[group["name"]] if "record" in r] == [r for r in original if "record" in r]
    # what mixtool/jsonnet would render passes promtool, each half in its own file
    for half in ("alerts", "rules"):
        (tmp_path / f"{half}.yaml").write_text(yaml.safe_dump({"groups": rendered[half]}))
        promtool_check_rules(tmp_path / f"{half}.yaml")


def test_mixin_config_overrides_links(tmp_path: Path) -> None:
    spec = load_spec(EXAMPLES["fleet"])
    write_mixin(spec, sample_rule_docs(spec), tmp_path)
    config = evaluate(tmp_path / "mixin", "(import 'mixin.libsonnet')._config")
    assert config["fleet"] == "fleet" and config["redisSelector"] == 'job="redis"'
    assert config["runbookBaseUrl"] == spec.links.runbook_base_url
    assert config["thresholds"]["memory_warning_ratio"] == 0.85
    assert config["clusterThresholds"]["sessions-eu-west"] == {"memory_warning_ratio": 0.8}
    override = ("local m = (import 'mixin.libsonnet') + {_config+:: {runbookBaseUrl: 'https://wiki/rb', "
                "grafanaUrl: 'https://g'}}; m.prometheusAlerts.groups[0].rules[0].annotations")
    annotations = evaluate(tmp_path / "mixin", override)
    assert annotations["runbook_url"] == "https://wiki/rb#redis-sample-down"
    assert annotations["dashboard_url"].startswith("https://g/d/cachewatch-node?viewPanel=1&var-cluster=")


@pytest.mark.parametrize("example", EXAMPLES)
def test_prometheus_rule_holds_every_group_unsplit(example: str, tmp_path: Path) -> None:
    spec = load_spec(EXAMPLES[example])
    docs = sample_rule_docs(spec)
    [path] = write(tmp_path, rendered(prometheus_rule.files(spec, docs), spec.name))
    assert path == tmp_path / "kubernetes" / "prometheusrule.yaml"
    resource = yaml.safe_load(path.read_text())
    assert (resource["apiVersion"], resource["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert resource["metadata"]["name"] == f"cachewatch-{spec.name}"
    labels = resource["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "cachewatch" and labels["prometheus"] == "k8s"
    assert labels["role"] == "alert-rules" and labels["app.kubernetes.io/part-of"] == "cachewatch"
    assert resource["spec"]["groups"] == all_groups(docs)
    extracted = tmp_path / "extracted.yml"
    extracted.write_text(yaml.safe_dump({"groups": resource["spec"]["groups"]}))
    promtool_check_rules(extracted)


def test_prometheus_rule_refuses_repeated_group_names() -> None:
    spec = load_spec(EXAMPLES["small"])
    docs = sample_rule_docs(spec)
    first = next(iter(docs.values()))
    with pytest.raises(GeneratorError, match="cachewatch-sample"):
        prometheus_rule.prometheus_rule(spec, {**docs, "copy.yml": first})


def test_mixin_grafana_dashboards_render_exactly_the_generated_dashboards(tmp_path: Path) -> None:
    from cachewatch.dashboards.generate import dashboards

    spec = load_spec(EXAMPLES["small"])
    boards = dashboards(spec)
    write_mixin(spec, sample_rule_docs(spec), tmp_path, boards)
    rendered = evaluate(tmp_path / "mixin", "(import 'mixin.libsonnet').grafanaDashboards")
    assert rendered == {f"{uid}.json": board for uid, board in boards.items()}
    assert evaluate(tmp_path / "mixin", "(import 'mixin.libsonnet').prometheusAlerts")["groups"]
