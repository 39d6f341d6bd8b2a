"""The fleet spec: tiny specs work on defaults; bad specs fail with one line per problem; YAML equals Python."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cachewatch.spec import FleetSpec, SpecError, load_spec
from tests.support.paths import ROOT

TINY = {
    "regions": [{"name": "local",
                 "clusters": [{"name": "cache", "team": "ops", "nodes": [{"address": "127.0.0.1:6379"}]}]}],
    "teams": [{"name": "ops", "channels": {"hook": {"kind": "webhook", "url": "http://127.0.0.1:5001/"}},
               "escalation": {"critical": ["hook"]}}],
}


def test_a_tiny_spec_is_valid_on_defaults(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    spec = load_spec(path)
    assert spec.thresholds.memory_warning_ratio == 0.85
    assert spec.intervals.scrape == 15 and spec.retention.metrics_days == 90 and spec.retention.logs_days == 30
    assert spec.owner_of_fleet == "ops"
    assert spec.tracing.sample_ratio == 0.01 and spec.tracing.slow_threshold == 0.01
    assert spec.tracing.otlp_endpoint == "http://127.0.0.1:4318" and spec.tracing.otlp_protocol == "http/protobuf"
    assert spec.tracing.tail_sampling.base_ratio == 0.1 and spec.applications == []


def test_examples_load_with_the_promised_shape() -> None:
    small, fleet = load_spec(ROOT / "examples" / "small.py"), load_spec(ROOT / "examples" / "fleet.py")
    assert [n.role for _, c in small.clusters for n in c.nodes] == ["primary", "replica"]
    assert len(fleet.regions) == 3 and len(fleet.teams) == 4
    assert sum(len(c.nodes) for _, c in fleet.clusters) == 120
    assert {ch.kind for t in fleet.teams for ch in t.channels.values()} == {"email", "slack", "pagerduty", "webhook"}
    assert {s.kind for s in fleet.slos} == {"availability", "hit_ratio", "latency", "error_rate"}
    assert fleet.maintenance and fleet.business_hours
    assert {a.team for a in fleet.applications} == {"identity", "commerce"} and fleet.tracing.sample_ratio == 1.0
    assert [a.name for a in small.applications] == ["demo-app"]


def test_yaml_of_the_same_schema_loads_to_the_same_spec(tmp_path: Path) -> None:
    fleet = load_spec(ROOT / "examples" / "fleet.py")
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(json.loads(fleet.model_dump_json())))
    assert load_spec(path) == fleet


def test_a_bad_spec_fails_with_one_line_per_problem_naming_path_value_and_what_is_allowed(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(TINY))
    bad["regions"][0]["name"] = "Local Region"
    bad["regions"][0]["clusters"][0]["nodes"][0]["role"] = "leader"
    bad["teams"][0]["channels"]["hook"] = {"kind": "fax"}
    bad["thresholds"] = {"memory_warning_ratio": 2, "colour": "red"}
    bad["tracing"] = {"sample_ratio": 1.5}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 6, lines
    assert any("regions.0.name" in line and "Local Region" in line and "pattern" in line for line in lines)
    assert any("regions.0.clusters.0.nodes.0.role" in line and "'primary' or 'replica'" in line for line in lines)
    assert any("teams.0.channels.hook" in line and "'email', 'slack', 'pagerduty', 'webhook'" in line
               for line in lines)
    assert any("thresholds.memory_warning_ratio" in line and "less than or equal to 1" in line for line in lines)
    assert any("thresholds.colour" in line for line in lines)
    assert any("tracing.sample_ratio" in line and "1.5" in line and "less than or equal to 1" in line
               for line in lines)


def test_cross_references_are_checked(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(TINY))
    bad["regions"][0]["clusters"][0]["team"] = "nobody"
    bad["slos"] = [{"name": "x", "kind": "latency", "objective": 99, "clusters": ["ghost"]}]
    with pytest.raises(ValueError) as info:
        FleetSpec.model_validate(bad)
    text = str(info.value)
    assert "latency SLO needs latency_threshold_seconds" in text or "names team 'nobody'" in text
    apps = [{"name": "shop", "team": "nobody", "targets": ["10.0.0.1:8000"]}]
    with pytest.raises(ValueError, match="application shop names team 'nobody'; teams: ops"):
        FleetSpec.model_validate({**TINY, "applications": apps})


def test_secrets_are_references_only() -> None:
    with pytest.raises(ValueError, match="exactly one of env or file"):
        FleetSpec.model_validate({**TINY, "teams": [{"name": "ops", "channels": {"p": {"kind": "pagerduty",
                                                                                       "routing_key": {}}},
                                                    "escalation": {"critical": ["p"]}}]})


def test_spec_schema_command_prints_the_json_schema() -> None:
    out = subprocess.run([sys.executable, "-m", "cachewatch", "spec", "schema"], capture_output=True, text=True)
    schema = json.loads(out.stdout)
    assert schema["title"] == "FleetSpec" and "regions" in schema["properties"]
