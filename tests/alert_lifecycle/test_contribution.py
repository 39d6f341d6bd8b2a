"""What the alert lifecycle adds to `cachewatch generate`: the history route first (continue: true, one alert per
group), its webhook receiver with the token as a file, the scrape job; amtool proves every alert still reaches its
team; nothing at all when the service is disabled."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cachewatch.alert_lifecycle.contribution import contribution
from cachewatch.local_redis import require_binary
from cachewatch.pipeline import validate
from cachewatch.pipeline.build import build
from cachewatch.promql import ALERTS_JOB, HISTORY_RECEIVER
from cachewatch.spec import AlertLifecycle, Escalation, FleetSpec, SecretRef, SpecError, Team, WebhookChannel, load_spec
from tests.support.paths import EXAMPLES
from tests.support.specs import generate, tiny_spec

AMTOOL_KINDS = [kind for kind in validate.KINDS if kind.tool == "amtool"]


def ops_spec(**lifecycle: object) -> FleetSpec:
    team = Team(name="ops", channels={"hook": WebhookChannel(url="http://127.0.0.1:1/")},
                escalation=Escalation(critical=["hook"], warning=["hook"]))
    return tiny_spec(team, alert_lifecycle=AlertLifecycle(**lifecycle))


def generated(spec: FleetSpec, name: str) -> dict:
    return yaml.safe_load(build(spec).texts()[name])


def test_history_route_is_the_first_child_and_lets_every_alert_but_the_watchdog_through() -> None:
    config = generated(load_spec(EXAMPLES["fleet"]), "alertmanager/alertmanager.yml")
    first = config["route"]["routes"][0]
    assert first == {"receiver": HISTORY_RECEIVER, "matchers": ['alertname!="CachewatchWatchdog"'], "continue": True,
                     "group_by": ["..."], "group_wait": "0s", "group_interval": "30s", "repeat_interval": "12h"}
    assert all(route.get("continue") is False for route in config["route"]["routes"][1:])
    [history] = [r for r in config["receivers"] if r["name"] == HISTORY_RECEIVER]
    assert history["webhook_configs"] == [{
        "url": "http://cachewatch-alerts.monitoring:9095/webhook", "send_resolved": True, "max_alerts": 0,
        "http_config": {"authorization": {"credentials_file": "/etc/alertmanager/secrets/cachewatch-alerts-token"}}}]


def test_the_token_file_is_referenced_and_its_content_never_written(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("CANARY-lifecycle-token-5e1d")
    out = generate(ops_spec(webhook_token=SecretRef(file=str(token)), listen="alerts.lab:9095"), tmp_path / "out")
    config = yaml.safe_load((out / "alertmanager" / "alertmanager.yml").read_text())
    [history] = [r for r in config["receivers"] if r["name"] == HISTORY_RECEIVER]
    assert history["webhook_configs"][0]["http_config"] == {"authorization": {"credentials_file": str(token)}}
    assert history["webhook_configs"][0]["url"] == "http://alerts.lab:9095/webhook"
    for path in (p for p in out.rglob("*") if p.is_file()):
        assert "CANARY-lifecycle-token" not in path.read_text(), path


def test_an_env_token_is_refused_naming_the_field() -> None:
    spec = ops_spec(webhook_token=SecretRef(env="CW_TOKEN"))
    with pytest.raises(SpecError) as err:
        contribution(spec)
    [line] = str(err.value).splitlines()
    assert line.startswith("alert_lifecycle.webhook_token: SecretRef(env='CW_TOKEN') cannot be used by Alertmanager")
    assert "SecretRef(file=...)" in line
    with pytest.raises(SpecError, match=r"^alert_lifecycle\.webhook_token: "):
        build(spec)


def test_a_bind_all_listen_address_is_refused() -> None:
    with pytest.raises(SpecError, match=r"^alert_lifecycle\.listen: '0\.0\.0\.0:9095' is a bind-all address"):
        contribution(ops_spec(listen="0.0.0.0:9095"))


def test_the_scrape_job_reads_the_service_metrics() -> None:
    config = generated(ops_spec(listen="alerts.lab:9095"), "prometheus/prometheus.yml")
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == ALERTS_JOB]
    assert job == {"job_name": ALERTS_JOB, "metrics_path": "/metrics",
                   "static_configs": [{"targets": ["alerts.lab:9095"]}]}
    header = build(ops_spec()).texts()["prometheus/prometheus.yml"]
    assert f'# Job "{ALERTS_JOB}": the alert lifecycle service' in header


def test_amtool_every_alert_reaches_the_history_and_its_team(tmp_path: Path) -> None:
    """Real amtool over the whole generated alertmanager.yml: continue: true lets a page and a warning through to
    the team's receivers, and an alert without a team to the fallback, each after the history."""
    require_binary("amtool")
    out = generate(ops_spec(), tmp_path)
    cases = {(c["labels"]["alertname"], c["labels"]["severity"], c["labels"].get("team")): c["receivers"]
             for c in yaml.safe_load((out / "alertmanager" / "route-tests.yml").read_text())}
    assert cases[("RedisDown", "critical", "ops")] == [HISTORY_RECEIVER, "ops-critical"]
    assert cases[("RedisMemoryHigh", "warning", "ops")] == [HISTORY_RECEIVER, "ops-warning"]
    assert cases[("RedisExporterDown", "critical", None)] == [HISTORY_RECEIVER, "ops-warning"]
    results = validate.checks(out, AMTOOL_KINDS)
    failed = [f"{r.name}: {r.detail}" for r in results if not r.ok]
    assert not failed, "\n".join(failed)
    assert len(results) == 1 + len(cases)


def test_disabled_contributes_nothing() -> None:
    spec = ops_spec(enabled=False, webhook_token=SecretRef(env="NOT_CHECKED_WHEN_DISABLED"))
    part = contribution(spec)
    assert (part.scrape_jobs, part.scrape_comment, part.alerting.routes, part.alerting.receivers) == ((), "", (), ())
    texts = build(spec).texts()
    assert HISTORY_RECEIVER not in texts["alertmanager/alertmanager.yml"]
    assert HISTORY_RECEIVER not in texts["alertmanager/route-tests.yml"]
    assert ALERTS_JOB not in texts["prometheus/prometheus.yml"]
    assert "dashboards/cachewatch-alerts.json" not in texts
