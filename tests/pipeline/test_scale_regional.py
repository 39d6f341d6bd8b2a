"""Scale mode's regional Prometheus configs: each HA pair scrapes only its region, carries {fleet, region, replica},
sends alerts without the replica label, writes to the long-term store per engine, keeps its runtime noise local,
and passes ``promtool check config``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from cachewatch.catalog.lint import metric_names
from cachewatch.local_redis import require_binary
from cachewatch.pipeline import lint, scale_global_rules, scale_regional, scale_remote_write
from cachewatch.pipeline.build import PARTS, build, merged_dashboards
from cachewatch.pipeline.writer import write
from cachewatch.spec import FleetSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]
REGIONS = ROOT / "examples" / "regions.py"
THANOS = {"engine": "thanos", "url": "http://thanos-query:10904", "objstore_config_file": "/etc/thanos/bucket.yml"}
MIMIR = {"engine": "mimir", "url": "http://mimir:8080", "tenant": "caches"}


def with_scale(spec: FleetSpec, **fields: object) -> FleetSpec:
    scale = spec.scale.model_dump() if spec.scale else {}
    return FleetSpec.model_validate({**spec.model_dump(), "scale": {**scale, **fields}})


def regional(spec: FleetSpec) -> dict[str, dict]:
    texts = build(spec).texts()
    return {r.name: yaml.safe_load(texts[scale_regional.path(r.name)]) for r in spec.regions}


def targets(config: dict, job: str) -> list[tuple[str, str]]:
    """(target, region label) of every static target of the jobs named ``job`` or ``job-<n>``."""
    return [(target, group.get("labels", {}).get("region", "")) for j in config["scrape_configs"]
            if re.fullmatch(rf"{job}(-\d+)?", j["job_name"]) for group in j["static_configs"]
            for target in group["targets"]]


@pytest.fixture(scope="module")
def spec() -> FleetSpec:
    return load_spec(REGIONS)


def test_each_region_scrapes_only_its_own_nodes_and_all_of_them(spec: FleetSpec) -> None:
    configs = regional(spec)
    for region in spec.regions:
        nodes = {node.address for cluster in region.clusters for node in cluster.nodes}
        scraped = targets(configs[region.name], "redis")
        assert {target for target, _ in scraped} == nodes
        assert {label for _, label in scraped} == {region.name}


def test_each_region_scrapes_through_its_own_exporters(spec: FleetSpec) -> None:
    for name, config in regional(spec).items():
        addresses = {rule["replacement"] for job in config["scrape_configs"] for rule in job.get("relabel_configs", [])
                     if rule.get("target_label") == "__address__" and "replacement" in rule}
        assert addresses == {f"exporter-{name}.monitoring:9121"}
        assert targets(config, "cachewatch-exporter") == [(f"exporter-{name}.monitoring:9121", "")]


def test_fleet_wide_jobs_run_in_the_home_region_only(spec: FleetSpec) -> None:
    configs = regional(spec)
    jobs = {name: {job["job_name"] for job in config["scrape_configs"]} for name, config in configs.items()}
    assert "cachewatch-alerts" in jobs["eu-west"] and "cachewatch-alerts" not in jobs["us-east"]
    shared = regional(with_scale(spec, exporters={}, home_region="us-east"))  # one exporter set for the fleet
    assert targets(shared["us-east"], "cachewatch-exporter") and not targets(shared["eu-west"], "cachewatch-exporter")
    assert "cachewatch-alerts" in {job["job_name"] for job in shared["us-east"]["scrape_configs"]}


def test_each_application_is_scraped_by_its_regions_pair_labelled_with_its_region(spec: FleetSpec) -> None:
    """examples/regions.py runs login in both regions: one entry each, scraped where it runs, never across."""
    configs = regional(spec)
    for region in spec.regions:
        want = {(t, region.name) for a in spec.applications if a.region == region.name for t in a.targets}
        assert want and set(targets(configs[region.name], "cachewatch-apps")) == want
    # an application naming no region runs in the home region: scraped there only, labelled with it
    doc = spec.model_dump()
    doc["applications"].append({"name": "search", "team": "platform", "targets": ["10.0.40.10:8000"]})
    doc["scale"]["home_region"] = "us-east"
    configs = regional(FleetSpec.model_validate(doc))
    assert ("10.0.40.10:8000", "us-east") in targets(configs["us-east"], "cachewatch-apps")
    assert "10.0.40.10:8000" not in {t for t, _ in targets(configs["eu-west"], "cachewatch-apps")}


def test_a_region_without_applications_has_no_applications_job(spec: FleetSpec) -> None:
    doc = spec.model_dump()
    doc["applications"] = [a for a in doc["applications"] if a["region"] == "eu-west"]
    configs = regional(FleetSpec.model_validate(doc))
    assert targets(configs["eu-west"], "cachewatch-apps") and not targets(configs["us-east"], "cachewatch-apps")


def test_external_labels_carry_fleet_region_and_the_replica_from_the_environment(spec: FleetSpec) -> None:
    for name, config in regional(spec).items():
        assert config["global"]["external_labels"] == {"fleet": "regions", "region": name,
                                                       "replica": "${CACHEWATCH_REPLICA}"}


def test_alerts_drop_the_replica_label_so_both_replicas_send_the_same_alert(spec: FleetSpec) -> None:
    for config in regional(spec).values():
        assert config["alerting"]["alert_relabel_configs"] == [{"regex": "replica", "action": "labeldrop"}]
        assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
            "alertmanager-0.monitoring:9093", "alertmanager-1.monitoring:9093"]
    custom = regional(with_scale(spec, prometheus={"replica_label": "prometheus_replica"}))
    assert custom["eu-west"]["alerting"]["alert_relabel_configs"][0]["regex"] == "prometheus_replica"


def test_every_rule_file_of_the_fleet_is_evaluated_in_every_region(spec: FleetSpec) -> None:
    texts = build(spec).texts()
    rule_files = sorted(p.removeprefix("prometheus/rules/") for p in texts if p.startswith("prometheus/rules/"))
    for config in regional(spec).values():
        assert sorted(p.removeprefix("../../prometheus/rules/") for p in config["rule_files"]) == rule_files


def test_victoriametrics_gets_deduplicable_series_with_explicit_queue_settings(spec: FleetSpec) -> None:
    (remote,) = regional(spec)["eu-west"]["remote_write"]
    assert remote["url"] == "http://victoriametrics.monitoring:8428/api/v1/write"
    assert remote["queue_config"] == {"capacity": 10000, "max_shards": 50, "min_shards": 1,
                                      "max_samples_per_send": 2000, "batch_send_deadline": "5s",
                                      "min_backoff": "30ms", "max_backoff": "5s"}
    assert {"regex": "replica", "action": "labeldrop"} in remote["write_relabel_configs"]


def test_mimir_keeps_the_replica_label_for_its_ha_tracker_and_names_the_tenant(spec: FleetSpec) -> None:
    (remote,) = regional(with_scale(spec, long_term=MIMIR))["eu-west"]["remote_write"]
    assert remote["url"] == "http://mimir:8080/api/v1/push"
    assert remote["headers"] == {"X-Scope-OrgID": "caches"}
    assert not [r for r in remote["write_relabel_configs"] if r.get("action") == "labeldrop"]


def test_thanos_writes_nothing_and_cuts_two_hour_blocks_for_its_sidecar(spec: FleetSpec) -> None:
    spec = with_scale(spec, long_term=THANOS)
    texts = build(spec).texts()
    assert "remote_write" not in yaml.safe_load(texts["regions/eu-west/prometheus.yml"])
    header = texts["regions/eu-west/prometheus.yml"]
    assert "--storage.tsdb.min-block-duration=2h" in header and "--storage.tsdb.max-block-duration=2h" in header


def test_a_remote_write_token_is_a_file_reference(spec: FleetSpec) -> None:
    (remote,) = regional(with_scale(spec, long_term={"authorization_file": "/etc/prometheus/vm-token"}))[
        "eu-west"]["remote_write"]
    assert remote["authorization"] == {"credentials_file": "/etc/prometheus/vm-token"}


def test_local_only_families_are_read_by_no_rule_and_no_dashboard(spec: FleetSpec) -> None:
    """What stays in the region must not be what a fleet view or a global rule needs."""
    contributions = [part(spec) for part in PARTS]
    groups = [group for c in contributions for group in c.rule_groups] + scale_global_rules.groups(spec)
    queries = lint.rule_queries(groups) | lint.dashboard_queries(merged_dashboards(contributions))
    read = {name for expr in queries.values() for name in metric_names(expr)}
    dropped = re.compile(scale_remote_write.LOCAL_ONLY_REGEX)
    assert {"up", "scrape_duration_seconds", "process_resident_memory_bytes", "ALERTS"} <= read
    assert not {name for name in read if dropped.fullmatch(name)}
    assert all(dropped.fullmatch(n) for n in ("go_goroutines", "python_gc_objects_collected_total",
                                              "scrape_series_added", "ALERTS_FOR_STATE"))


def test_the_header_says_how_to_run_each_replica(spec: FleetSpec) -> None:
    header = build(spec).texts()["regions/us-east/prometheus.yml"]
    assert "CACHEWATCH_REPLICA=0 prometheus --config.file=prometheus.yml" in header
    assert "--storage.tsdb.retention.time=35d" in header
    assert "--enable-feature=expand-external-labels,exemplar-storage" in header


@pytest.mark.parametrize("long_term", [{}, MIMIR, THANOS], ids=["victoriametrics", "mimir", "thanos"])
def test_promtool_accepts_every_regional_config(spec: FleetSpec, long_term: dict, tmp_path: Path) -> None:
    write(tmp_path, build(with_scale(spec, long_term=long_term) if long_term else spec).texts())
    configs = sorted(str(p) for p in tmp_path.glob("regions/*/prometheus.yml"))
    assert len(configs) == 2
    out = subprocess.run([require_binary("promtool"), "check", "config", *configs], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    for rules in tmp_path.glob("prometheus/rules/*.yml"):  # every rule file, checked once per region
        assert out.stdout.count(f"Checking {rules}\n  SUCCESS") == 2, rules.name
