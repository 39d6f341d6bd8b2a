"""The pipeline assembles the shared files from every part's contribution: a new part plugs in by returning
data, and inconsistent contributions are refused as generator bugs."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import yaml

from cachewatch.artifacts import Alerting, Contribution, File, GeneratorError
from cachewatch.pipeline import build as build_module
from cachewatch.pipeline.build import assemble, build
from cachewatch.rulefmt import Record, RuleGroup
from cachewatch.spec import FleetSpec, load_spec
from tests.support.paths import EXAMPLES

NEW_PART = Contribution(
    part="newpart",
    files=(File("newpart/config.yml", {"enabled": True}, comment="the new part's own file"),),
    rule_groups=(RuleGroup("newpart-records", "newpart.yml", (Record("redis:commands:rate5m", "redis_up"),)),),
    scrape_jobs=({"job_name": "newpart", "static_configs": [{"targets": ["127.0.0.1:9999"]}]},),
    scrape_comment='Job "newpart" scrapes the new part.\n',
    alerting=Alerting(routes=({"receiver": "newpart-hook", "matchers": ['alertname=~"New.*"'], "continue": True},),
                      receivers=({"name": "newpart-hook", "webhook_configs": [{"url": "http://127.0.0.1:9999/"}]},),
                      route_tests=({"labels": {"alertname": "NewThing"}, "receivers": ["newpart-hook"]},)),
    dashboards={"newpart-board": {"uid": "newpart-board", "panels": [
        {"title": "up", "targets": [{"refId": "A", "expr": 'redis_up{job="redis"}'}]}]}},
)


@pytest.fixture(scope="module")
def spec() -> FleetSpec:
    return load_spec(EXAMPLES["small"])


@pytest.fixture(scope="module")
def parts(spec: FleetSpec) -> list[Contribution]:
    return [part(spec) for part in build_module.PARTS]


def test_a_new_part_plugs_into_every_shared_file(spec: FleetSpec, parts: list[Contribution]) -> None:
    texts = assemble(spec, [*parts, NEW_PART]).texts()
    before = assemble(spec, parts).texts()
    prometheus = yaml.safe_load(texts["prometheus/prometheus.yml"])
    assert prometheus["scrape_configs"][-1]["job_name"] == "newpart"
    assert prometheus["rule_files"][-1] == "rules/newpart.yml"
    assert '# Job "newpart" scrapes the new part.' in texts["prometheus/prometheus.yml"]
    alertmanager = yaml.safe_load(texts["alertmanager/alertmanager.yml"])
    assert alertmanager["route"]["routes"][-1]["receiver"] == "newpart-hook"
    assert alertmanager["receivers"][-1]["name"] == "newpart-hook"
    assert yaml.safe_load(texts["alertmanager/route-tests.yml"])[-1]["receivers"] == ["newpart-hook"]
    assert "newpart-records" in texts["kubernetes/prometheusrule.yaml"]
    assert "newpart-board.json" in texts["mixin/dashboards.libsonnet"]
    assert texts["dashboards/newpart-board.json"].startswith("{")
    assert texts["newpart/config.yml"].splitlines()[1] == "# the new part's own file"
    assert set(texts) - set(before) == {"newpart/config.yml", "prometheus/rules/newpart.yml",
                                        "dashboards/newpart-board.json"}


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: replace(c, alerting=Alerting(root={"receiver": "x"})), "exactly one part must own"),
    (lambda c: replace(c, scrape_jobs=({"job_name": "redis"},)), "scrape job names repeat"),
    (lambda c: replace(c, alerting=Alerting(receivers=({"name": "default-null"},))), "receiver names repeat"),
    (lambda c: replace(c, dashboards={"cachewatch-node": {}}), "cachewatch-node is contributed twice"),
    (lambda c: replace(c, files=(File("alertmanager/alertmanager.yml", {}),)), "generated twice"),
    (lambda c: replace(c, dashboards={"b": {"panels": [{"title": "t", "targets": [{"expr": "redis_nope"}]}]}}),
     "b/t#: redis_nope"),
    (lambda c: replace(c, rule_groups=(RuleGroup("g", "g.yml", (Record("x:not_catalogued:rate5m", "redis_up"),)),)),
     "g.yml/x:not_catalogued:rate5m: writes a family missing from the catalog"),
])
def test_inconsistent_contributions_are_generator_bugs(spec: FleetSpec, parts: list[Contribution], change,
                                                       message: str) -> None:
    with pytest.raises(GeneratorError, match=re.escape(message)):
        assemble(spec, [*parts, change(Contribution(part="bad"))]).texts()


def test_build_is_deterministic(spec: FleetSpec) -> None:
    assert build(spec).texts() == build(spec).texts()
