"""Scale mode's global tier: the long-term store's and vmalert's flags (accepted by the real binaries), the
fleet-level rules (roll-ups across regions, a "region silent" alert per region, the Watchdog), the Alertmanager
cluster, Grafana pointed at the store; Thanos and Mimir as profiles checked against their documented keys."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from cachewatch.alert_rules import global_rules
from cachewatch.local_redis import require_binary
from cachewatch.pipeline.build import build
from cachewatch.pipeline.writer import write
from cachewatch.spec import Business, FleetSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]
REGIONS = ROOT / "examples" / "regions.py"
THANOS = {"engine": "thanos", "url": "http://thanos-query:10904", "objstore_config_file": "/etc/thanos/bucket.yml"}
MIMIR = {"engine": "mimir", "url": "http://mimir:8080", "tenant": "caches"}
# Flags and keys as the projects document them (thanos.io components/*.md; Grafana Mimir "Configure
# high-availability deduplication" and the configuration reference).
THANOS_FLAGS = {
    "sidecar": {"--tsdb.path", "--prometheus.url", "--objstore.config-file", "--grpc-address", "--http-address"},
    "query": {"--http-address", "--grpc-address", "--query.replica-label", "--endpoint"},
    "compact": {"--data-dir", "--objstore.config-file", "--wait", "--retention.resolution-raw",
                "--retention.resolution-5m", "--retention.resolution-1h", "--deduplication.replica-label"},
    "rule": {"--data-dir", "--objstore.config-file", "--rule-file", "--query", "--alertmanagers.url", "--label",
             "--eval-interval"},
}
MIMIR_KEYS = {"distributor": {"ha_tracker"}, "limits": {"accept_ha_samples", "ha_cluster_label", "ha_replica_label",
                                                         "compactor_blocks_retention_period"},
              "ruler": {"alertmanager_url"}}


def with_scale(spec: FleetSpec, **fields: object) -> FleetSpec:
    scale = spec.scale.model_dump() if spec.scale else {}
    return FleetSpec.model_validate({**spec.model_dump(), "scale": {**scale, **fields}})


def generated(spec: FleetSpec) -> dict[str, object]:
    return {path: yaml.safe_load(text) for path, text in build(spec).texts().items()
            if path.endswith((".yml", ".yaml", ".json"))}


def flag_names(args: list[str]) -> set[str]:
    return {arg.split("=", 1)[0] for arg in args if arg.startswith("-")}


def help_flags(*command: str) -> str:
    out = subprocess.run([require_binary(command[0]), *command[1:]], capture_output=True, text=True, timeout=30,
                         check=False)
    return out.stdout + out.stderr


@pytest.fixture(scope="module")
def spec() -> FleetSpec:
    return load_spec(REGIONS)


@pytest.fixture(scope="module")
def files(spec: FleetSpec) -> dict[str, object]:
    return generated(spec)


def test_victoriametrics_keeps_the_spec_retention_and_dedups_at_the_scrape_interval(files: dict) -> None:
    args = files["global/victoriametrics/flags.yml"]["victoria-metrics"]
    assert "-retentionPeriod=90d" in args and "-dedup.minScrapeInterval=10s" in args
    assert flag_names(args) <= set(re.findall(r"^\s+(-[\w.]+)", help_flags("victoria-metrics", "-help"), re.M))


def test_vmalert_reads_and_writes_the_store_and_notifies_every_alertmanager(files: dict) -> None:
    args = files["global/vmalert/flags.yml"]["vmalert"]
    assert args[:4] == ["-rule=../rules/*.yml", "-datasource.url=http://victoriametrics.monitoring:8428",
                        "-remoteWrite.url=http://victoriametrics.monitoring:8428",
                        "-remoteRead.url=http://victoriametrics.monitoring:8428"]
    assert [a for a in args if a.startswith("-notifier.url=")] == [
        "-notifier.url=http://alertmanager-0.monitoring:9093", "-notifier.url=http://alertmanager-1.monitoring:9093"]
    assert flag_names(args) <= set(re.findall(r"^\s+(-[\w.]+)", help_flags("vmalert", "-help"), re.M))


def test_vmalert_dry_runs_the_generated_flags_and_rules(spec: FleetSpec, tmp_path: Path) -> None:
    write(tmp_path, build(spec).texts())
    here = tmp_path / "global" / "vmalert"
    args = yaml.safe_load((here / "flags.yml").read_text())["vmalert"]
    out = subprocess.run([require_binary("vmalert"), "-dryRun", *args, "-loggerLevel=ERROR"], cwd=here,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_rollups_sum_every_region_per_slo_without_chaining_roll_ups(files: dict) -> None:
    (group,) = files["global/rules/fleet-rollups.yml"]["groups"]
    records = {rule["record"]: rule["expr"] for rule in group["rules"]}
    assert set(records) == {"cachewatch_fleet:slo_sli_error:ratio_rate5m",
                            "cachewatch_fleet:slo_sli_error:ratio_rate30d",
                            "cachewatch_fleet:slo_error_budget_remaining:ratio"}
    assert all("sum by (slo, team)" in expr and "cachewatch_fleet:" not in expr for expr in records.values())
    assert records["cachewatch_fleet:slo_error_budget_remaining:ratio"].endswith("/ 0.0005")


def test_cost_is_rolled_up_only_where_the_regions_record_it(spec: FleetSpec) -> None:
    names = {g.name for g in global_rules.groups(spec)}
    assert "cachewatch-fleet-cost" not in names
    priced = spec.model_copy(update={"business": Business(cost_per_node_hour=0.1)})
    (cost,) = [g for g in global_rules.groups(priced) if g.name == "cachewatch-fleet-cost"]
    assert cost.rules[0].expr == "sum by (team, currency) (cachewatch:cost_per_hour:currency)"


def test_every_region_has_its_silent_alert_and_the_watchdog_runs_globally_too(files: dict) -> None:
    (group,) = files["global/rules/fleet-meta.yml"]["groups"]
    silent = {rule["labels"]["region"]: rule["expr"] for rule in group["rules"]
              if rule["alert"] == "CachewatchRegionSilent"}
    assert silent == {"eu-west": 'absent_over_time(up{region="eu-west"}[2m])',
                      "us-east": 'absent_over_time(up{region="us-east"}[2m])'}
    assert [r["alert"] for r in group["rules"]].count("CachewatchWatchdog") == 1
    tests = files["global/tests/fleet-meta.yml"]["tests"]
    assert {t["name"] for t in tests} >= {"CachewatchRegionSilent fires", "CachewatchRegionSilent stays silent"}


def test_the_global_alerts_have_runbook_sections(spec: FleetSpec) -> None:
    assert "## CachewatchRegionSilent" in build(spec).texts()["docs/runbooks.md"]


def test_alertmanager_peers_gossip_with_each_other_with_real_flag_names(files: dict) -> None:
    peers = files["global/alertmanager/cluster.yml"]["peers"]
    assert [p["address"] for p in peers] == ["alertmanager-0.monitoring:9094", "alertmanager-1.monitoring:9094"]
    for peer in peers:
        others = [a.split("=", 1)[1] for a in peer["args"] if a.startswith("--cluster.peer=")]
        assert others == [p["address"] for p in peers if p is not peer]
        assert not [a for a in peer["args"] if a.startswith("--cluster.advertise-address")]  # host names: none
    known = set(re.findall(r"(--[\w.-]+)", help_flags("prometheus-alertmanager", "--help")))
    assert {flag for peer in peers for flag in flag_names(peer["args"])} <= known


def test_ip_peers_advertise_their_own_address(spec: FleetSpec) -> None:
    files = generated(with_scale(spec, alertmanager={"peers": ["10.9.0.1:9094", "10.9.0.2:9094"]}))
    first = files["global/alertmanager/cluster.yml"]["peers"][0]["args"]
    assert "--cluster.advertise-address=10.9.0.1:9094" in first and "--cluster.peer=10.9.0.2:9094" in first


def test_each_peer_listens_on_the_port_its_own_address_names(spec: FleetSpec) -> None:
    """Two members on one host can form a cluster only if each listens where the others dial it."""
    files = generated(with_scale(spec, alertmanager={"peers": ["10.9.0.1:9094", "10.9.0.1:9194"]}))
    first, second = (peer["args"] for peer in files["global/alertmanager/cluster.yml"]["peers"])
    assert "--cluster.listen-address=0.0.0.0:9094" in first and "--cluster.peer=10.9.0.1:9194" in first
    assert "--cluster.listen-address=0.0.0.0:9194" in second and "--cluster.peer=10.9.0.1:9094" in second


def test_grafana_reads_the_long_term_store_and_the_logs(files: dict) -> None:
    provisioned = files["global/grafana/provisioning/datasources/cachewatch.yaml"]
    datasources = {d["name"]: d for d in provisioned["datasources"]}
    assert datasources["Prometheus"]["url"] == "http://victoriametrics.monitoring:8428"
    assert datasources["Loki"]["type"] == "loki" and datasources["Loki"]["url"] == "http://loki.monitoring:3100"
    assert "global/grafana/provisioning/dashboards/cachewatch.yaml" in files


def test_grafana_sends_mimir_its_tenant_and_reads_a_token_file_not_a_token(spec: FleetSpec) -> None:
    files = generated(with_scale(spec, long_term={**MIMIR, "authorization_file": "/etc/grafana/mimir-token"}))
    store = files["global/grafana/provisioning/datasources/cachewatch.yaml"]["datasources"][0]
    assert store["url"] == "http://mimir:8080/prometheus"
    assert (store["jsonData"]["httpHeaderName1"], store["secureJsonData"]["httpHeaderValue1"]) == (
        "X-Scope-OrgID", "caches")
    assert store["secureJsonData"]["httpHeaderValue2"] == "Bearer $__file{/etc/grafana/mimir-token}"


def test_every_dashboard_offers_the_region_variable(files: dict) -> None:
    boards = {path: board for path, board in files.items() if path.startswith("dashboards/")}
    assert boards
    for path, board in boards.items():
        assert "region" in [v["name"] for v in board["templating"]["list"]], path


def test_thanos_profile_uses_documented_flags_and_the_replica_label(spec: FleetSpec) -> None:
    files = generated(with_scale(spec, long_term=THANOS))
    commands = {"sidecar": files["regions/eu-west/thanos-sidecar.yml"]["thanos"],
                **{name: files[f"global/thanos/{name}.yml"]["thanos"] for name in ("query", "compact", "rule")}}
    for name, args in commands.items():
        assert args[0] == name and flag_names(args[1:]) <= THANOS_FLAGS[name], name
    assert "--query.replica-label=replica" in commands["query"]
    assert "--retention.resolution-raw=90d" in commands["compact"]
    assert not [p for p in files if p.startswith("global/vmalert")]


def test_mimir_profile_uses_documented_keys(spec: FleetSpec) -> None:
    config = generated(with_scale(spec, long_term=MIMIR))["global/mimir/mimir.yaml"]
    assert {section: set(keys) for section, keys in config.items()} == MIMIR_KEYS
    assert config["limits"]["ha_cluster_label"] == "region" and config["limits"]["ha_replica_label"] == "replica"
    assert config["limits"]["compactor_blocks_retention_period"] == "90d"
    assert config["distributor"]["ha_tracker"] == {"enable_ha_tracker": True, "kvstore": {"store": "memberlist"}}
