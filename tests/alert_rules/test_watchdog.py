"""The dead man's switch: CachewatchWatchdog always fires (promtool), reaches the heartbeat receiver alone
(amtool), is re-sent every heartbeat.repeat_interval, and never reaches the alert lifecycle's history. In scale mode
each region's Watchdog (labelled region by its Prometheus pair) reaches its own URL, and the global ruler's the
fleet's, so the heartbeat service sees every sender apart."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from cachewatch.alert_lifecycle.contribution import contribution as alert_lifecycle
from cachewatch.alert_rules.alertmanager import alerting
from cachewatch.alert_rules.contribution import rule_groups
from cachewatch.local_redis import require_binary
from cachewatch.pipeline import alertmanager_yml, writer
from cachewatch.pipeline.build import build
from cachewatch.promql import HEARTBEAT_RECEIVER, HISTORY_RECEIVER, WATCHDOG_ALERTNAME
from cachewatch.rulefmt import alerts_of
from cachewatch.spec import FleetSpec, Heartbeat, SecretRef, SpecError, WebhookChannel, load_spec
from tests.support.paths import ROOT

HEARTBEAT_URL = "https://hc-ping.example.com/0f4c2a"
REGION_URLS = {"eu-west": "https://hc-ping.example.com/1a2b3c", "us-east": "https://hc-ping.example.com/4d5e6f"}


@pytest.fixture(scope="module")
def small() -> FleetSpec:
    return load_spec(ROOT / "examples" / "small.py")


def with_heartbeat(spec: FleetSpec, **fields: object) -> FleetSpec:
    return spec.model_copy(update={"heartbeat": Heartbeat(**fields)})


def config(spec: FleetSpec) -> dict:
    return alertmanager_yml.config([alert_lifecycle(spec).alerting, alerting(spec)])


def routes_test(config_file: Path, *labels: str) -> str:
    amtool = require_binary("amtool")
    out = subprocess.run([amtool, "config", "routes", "test", f"--config.file={config_file}", *labels],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_watchdog_always_fires_with_severity_none(small: FleetSpec) -> None:
    (watchdog,) = [a for a in alerts_of(rule_groups(small)) if a.name == WATCHDOG_ALERTNAME]
    assert (watchdog.expr, watchdog.severity, watchdog.for_) == ("vector(1)", "none", "0s")
    assert "team" not in watchdog.labels  # routed by name, never by a team


def test_promtool_sees_it_firing_with_no_input_at_all(small: FleetSpec, tmp_path: Path) -> None:
    writer.write(tmp_path, build(small).texts())
    promtool = require_binary("promtool")
    out = subprocess.run([promtool, "test", "rules", str(tmp_path / "prometheus" / "tests" / "watchdog.yml")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "stays silent" not in (tmp_path / "prometheus" / "tests" / "watchdog.yml").read_text()


def test_amtool_routes_it_to_the_heartbeat_alone_and_every_other_alert_past_it(small: FleetSpec,
                                                                                tmp_path: Path) -> None:
    writer.write(tmp_path, build(with_heartbeat(small, webhook=WebhookChannel(url=HEARTBEAT_URL))).texts())
    am = tmp_path / "alertmanager" / "alertmanager.yml"
    assert routes_test(am, f"alertname={WATCHDOG_ALERTNAME}", "severity=none") == HEARTBEAT_RECEIVER
    team = small.regions[0].clusters[0].team
    down = routes_test(am, "alertname=RedisDown", "severity=critical", f"team={team}").split(",")
    assert down[0] == HISTORY_RECEIVER and HEARTBEAT_RECEIVER not in down


def test_the_heartbeat_is_resent_every_repeat_interval_and_never_as_resolved(small: FleetSpec) -> None:
    am = config(with_heartbeat(small, webhook=WebhookChannel(url=HEARTBEAT_URL), repeat_interval=120))
    route = am["route"]["routes"][1]  # after the history route: before every team route and the fallback
    assert route["receiver"] == HEARTBEAT_RECEIVER and route["matchers"] == [f'alertname="{WATCHDOG_ALERTNAME}"']
    assert (route["group_wait"], route["repeat_interval"], route["continue"]) == ("0s", "2m", False)
    receiver = next(r for r in am["receivers"] if r["name"] == HEARTBEAT_RECEIVER)
    assert receiver["webhook_configs"] == [{"url": HEARTBEAT_URL, "send_resolved": False, "max_alerts": 0}]


def test_without_a_heartbeat_webhook_the_receiver_exists_with_no_integration(small: FleetSpec) -> None:
    am = config(small)
    assert {"name": HEARTBEAT_RECEIVER} in am["receivers"]
    assert am["route"]["routes"][1]["receiver"] == HEARTBEAT_RECEIVER


def test_the_history_route_leaves_the_watchdog_out(small: FleetSpec) -> None:
    history = config(small)["route"]["routes"][0]
    assert history["receiver"] == HISTORY_RECEIVER and history["continue"] is True
    assert history["matchers"] == [f'alertname!="{WATCHDOG_ALERTNAME}"']


def test_a_secret_heartbeat_url_is_refused_before_alertmanager_026(small: FleetSpec) -> None:
    spec = with_heartbeat(small, webhook=WebhookChannel(url_secret=SecretRef(file="/etc/am/heartbeat-url")))
    with pytest.raises(SpecError, match=r"heartbeat\.webhook\.url_secret: .*no url_file"):
        alerting(spec)


def test_the_heartbeat_period_is_bounded() -> None:
    with pytest.raises(ValueError, match="repeat_interval"):
        Heartbeat(repeat_interval=30)


@pytest.fixture(scope="module")
def regions() -> FleetSpec:
    """examples/regions.py (scale mode, eu-west and us-east) with a heartbeat per region and one for the globals."""
    spec = load_spec(ROOT / "examples" / "regions.py")
    beats = {"webhook": {"kind": "webhook", "url": HEARTBEAT_URL},
             "regions": {name: {"kind": "webhook", "url": url} for name, url in REGION_URLS.items()}}
    return FleetSpec.model_validate({**spec.model_dump(), "heartbeat": beats})


def test_in_scale_mode_each_region_pings_its_own_heartbeat_and_the_global_ruler_the_fleets(regions: FleetSpec,
                                                                                            tmp_path: Path) -> None:
    writer.write(tmp_path, build(regions).texts())
    am = tmp_path / "alertmanager" / "alertmanager.yml"
    watchdog = (f"alertname={WATCHDOG_ALERTNAME}", "severity=none", f"fleet={regions.name}")
    for region in REGION_URLS:  # what each region's pair sends: its external labels, the replica label dropped
        assert routes_test(am, *watchdog, f"region={region}") == f"{HEARTBEAT_RECEIVER}-{region}"
    assert routes_test(am, *watchdog) == HEARTBEAT_RECEIVER  # vmalert's: -external.label=fleet only
    config = yaml.safe_load(am.read_text())
    urls = {r["name"]: [w["url"] for w in r.get("webhook_configs", [])] for r in config["receivers"]}
    assert {name: urls[f"{HEARTBEAT_RECEIVER}-{name}"] for name in REGION_URLS} == {
        name: [url] for name, url in REGION_URLS.items()}
    assert urls[HEARTBEAT_RECEIVER] == [HEARTBEAT_URL]
    for route in config["route"]["routes"]:
        if route["receiver"].startswith(HEARTBEAT_RECEIVER):  # timed like the single heartbeat, never muted
            assert (route["group_wait"], route["repeat_interval"], route["continue"]) == ("0s", "5m", False)
            assert "mute_time_intervals" not in route and "active_time_intervals" not in route
    beats = [r for r in config["receivers"] if r["name"].startswith(HEARTBEAT_RECEIVER)]
    assert all(w["send_resolved"] is False for r in beats for w in r["webhook_configs"])
    # the regional configs label their alerts with the region the heartbeat routes read, replica dropped
    for region in REGION_URLS:
        regional = yaml.safe_load((tmp_path / "regions" / region / "prometheus.yml").read_text())
        assert regional["global"]["external_labels"]["region"] == region
        assert {"regex": "replica", "action": "labeldrop"} in regional["alerting"]["alert_relabel_configs"]


def test_the_route_tests_cover_every_regional_heartbeat(regions: FleetSpec) -> None:
    cases = yaml.safe_load(build(regions).texts()["alertmanager/route-tests.yml"])
    beats = {c["labels"].get("region", ""): c["receivers"] for c in cases
             if c["labels"]["alertname"] == WATCHDOG_ALERTNAME}
    assert beats == {"": [HEARTBEAT_RECEIVER], **{r: [f"{HEARTBEAT_RECEIVER}-{r}"] for r in REGION_URLS}}


def test_a_secret_regional_heartbeat_url_is_refused_before_alertmanager_026_naming_its_region(
        regions: FleetSpec) -> None:
    doc = regions.model_dump()
    doc["heartbeat"]["regions"]["us-east"] = {"kind": "webhook", "url_secret": {"file": "/etc/am/us-east-url"}}
    with pytest.raises(SpecError, match=r"heartbeat\.regions\.us-east\.url_secret: .*no url_file"):
        build(FleetSpec.model_validate(doc))


def test_without_heartbeats_scale_mode_keeps_the_one_receiver_with_no_integration() -> None:
    spec = load_spec(ROOT / "examples" / "regions.py")
    config = yaml.safe_load(build(spec).texts()["alertmanager/alertmanager.yml"])
    assert [r for r in config["receivers"] if r["name"].startswith(HEARTBEAT_RECEIVER)] == [
        {"name": HEARTBEAT_RECEIVER}]
