"""prometheus.yml from the fleet spec: promtool accepts it, one target per node with its labels, sharding, the
applications' region. examples/fleet.py runs in scale mode; here it is read without its scale section, as one
Prometheus for the fleet (its regional configs: test_scale_regional.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from cachewatch.local_redis import require_binary
from cachewatch.pipeline.build import build
from cachewatch.promql import APPS_JOB, EXPORTER_JOB
from cachewatch.spec import FleetSpec, load_spec
from tests.support.paths import EXAMPLES
from tests.support.specs import expected_labels, generate, hashmod, target_url

NODES = {"small": 2, "fleet": 120}
PROMETHEUS_YML = "prometheus/prometheus.yml"


def example(name: str) -> FleetSpec:
    """The example as one Prometheus scrapes it: without its scale section (and its per-region heartbeats)."""
    spec = load_spec(EXAMPLES[name])
    if spec.scale is None:
        return spec
    doc = spec.model_dump()
    doc["scale"], doc["heartbeat"]["regions"] = None, {}
    return FleetSpec.model_validate(doc)


def generate_config(spec: FleetSpec, out: Path) -> Path:
    return generate(spec, out) / "prometheus" / "prometheus.yml"


def prometheus_config(spec: FleetSpec) -> dict:
    return yaml.safe_load(build(spec).texts()[PROMETHEUS_YML])


def redis_jobs(config: dict) -> list[dict]:
    """The jobs through /scrape (not the probe jobs through /probe, nor the exporters' or applications' own)."""
    return [job for job in config["scrape_configs"] if job["job_name"] not in {EXPORTER_JOB, APPS_JOB}
            and job["metrics_path"] == "/scrape"]


# --- tests ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", EXAMPLES)
def test_promtool_accepts_the_config(name: str, tmp_path: Path) -> None:
    spec = example(name)
    path = generate_config(spec, tmp_path)
    rule_files = prometheus_config(spec)["rule_files"]
    result = subprocess.run([require_binary("promtool"), "check", "config", str(path)],
                            capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"SUCCESS: {len(rule_files)} rule files found" in output, output


@pytest.mark.parametrize("name", EXAMPLES)
def test_one_static_target_per_node_with_its_labels(name: str) -> None:
    spec = example(name)
    config = prometheus_config(spec)
    want = expected_labels(spec)
    jobs = redis_jobs(config)
    assert len(jobs) == len(spec.exporter.addresses)
    for job in jobs:
        assert job["metrics_path"] == "/scrape"
        statics = job["static_configs"]
        assert len(statics) == NODES[name] == len(want)
        for static in statics:
            [address] = static["targets"]
            visible = {k: v for k, v in static["labels"].items() if not k.startswith("__")}
            assert visible == want[address]
            assert static["labels"]["__scheme_redis"] == target_url(spec, address).split("://")[0]
    clusters = {c.name: c for _, c in spec.clusters}
    assert all(s["labels"].get("__param_auth_module") == clusters[s["labels"]["cluster"]].auth_module
               for s in jobs[0]["static_configs"])
    assert config["global"] == {"scrape_interval": "10s", "scrape_timeout": "5s", "evaluation_interval": "10s",
                                "external_labels": {"fleet": spec.name, "replica": "${CACHEWATCH_REPLICA}"}}
    # an HA pair runs this file twice: the members' alerts must be identical for Alertmanager to merge them
    assert config["alerting"]["alert_relabel_configs"] == [{"regex": "replica", "action": "labeldrop"}]
    written = [rel.removeprefix("prometheus/") for rel in build(spec).texts() if rel.startswith("prometheus/rules/")]
    assert config["rule_files"] == written and "rules/health.yml" in written
    am_targets = [t for am in config["alerting"]["alertmanagers"] for s in am["static_configs"] for t in s["targets"]]
    assert am_targets == spec.links.alertmanager_urls
    [exporter_job] = [j for j in config["scrape_configs"] if j["job_name"] == "cachewatch-exporter"]
    assert exporter_job["static_configs"] == [{"targets": spec.exporter.addresses}]


def test_three_exporters_shard_the_fleet_by_hashmod() -> None:
    spec = example("fleet")
    jobs = redis_jobs(prometheus_config(spec))
    assert [j["job_name"] for j in jobs] == ["redis-0", "redis-1", "redis-2"]
    kept: dict[str, int] = {}
    for i, (job, exporter) in enumerate(zip(jobs, spec.exporter.addresses, strict=True)):
        rules = job["relabel_configs"]
        [hashing] = [r for r in rules if r.get("action") == "hashmod"]
        [keep] = [r for r in rules if r.get("action") == "keep"]
        assert (hashing["source_labels"], hashing["modulus"], keep["regex"]) == (["__param_target"], 3, str(i))
        assert {"target_label": "__address__", "replacement": exporter} in rules
        assert rules[-1] == {"target_label": "job", "replacement": "redis"}
        for static in job["static_configs"]:
            url = target_url(spec, static["targets"][0])
            if hashmod(url, 3) == int(keep["regex"]):
                assert url not in kept
                kept[url] = i
    assert len(kept) == 120 and set(kept.values()) == {0, 1, 2}


def test_tls_clusters_get_rediss_targets() -> None:
    spec = load_spec(EXAMPLES["small"])
    tls = spec.model_copy(update={"regions": [r.model_copy(update={"clusters": [
        c.model_copy(update={"tls": True, "auth_module": "prod"}) for c in r.clusters]}) for r in spec.regions]})
    [job] = redis_jobs(prometheus_config(tls))
    assert {s["labels"]["__scheme_redis"] for s in job["static_configs"]} == {"rediss"}
    assert {s["labels"]["__param_auth_module"] for s in job["static_configs"]} == {"prod"}


def test_applications_carry_the_region_the_spec_gives_them() -> None:
    """fleet.py names each application entry's region; small.py's demo app names none and gets no region label."""
    fleet = example("fleet")
    [apps] = [j for j in prometheus_config(fleet)["scrape_configs"] if j["job_name"] == APPS_JOB]
    regions = {(a.name, tuple(a.targets)): a.region for a in fleet.applications}
    assert len(apps["static_configs"]) == len(fleet.applications) == 6
    for group in apps["static_configs"]:
        assert group["labels"]["region"] == regions[(group["labels"]["application"], tuple(group["targets"]))]
    small = load_spec(EXAMPLES["small"])
    [apps] = [j for j in prometheus_config(small)["scrape_configs"] if j["job_name"] == APPS_JOB]
    assert [g["labels"] for g in apps["static_configs"]] == [{"application": "demo-app", "team": "platform"}]
