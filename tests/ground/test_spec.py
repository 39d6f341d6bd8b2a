"""The fleet spec: tiny specs work on defaults; bad specs fail with one line per problem; YAML equals Python."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cachewatch.spec import EmailChannel, FleetSpec, SpecError, load_spec
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
    assert spec.intervals.scrape == 10 and spec.retention.metrics_days == 90 and spec.retention.logs_days == 30
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
    # scale mode: a pair per region, VictoriaMetrics, Loki; every application and heartbeat per region
    regions = {r.name for r in fleet.regions}
    assert fleet.scale and small.scale is None
    assert (fleet.scale.long_term.engine, fleet.scale.logs.backend) == ("victoriametrics", "loki")
    assert set(fleet.scale.exporters) == regions and fleet.scale.prometheus.replicas >= 2
    assert {(a.name, a.region) for a in fleet.applications} == {(a, r) for a in ("login", "storefront")
                                                                for r in regions}
    assert set(fleet.heartbeat.regions) == regions and fleet.heartbeat.webhook is not None


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


def spec_problems(tmp_path: Path, **changes: object) -> list[str]:
    """The lines `cachewatch spec check` prints for TINY with ``changes`` (a top-level key, or ``mail``: an email
    channel added to the team)."""
    doc = json.loads(json.dumps(TINY))
    if "mail" in changes:
        doc["teams"][0]["channels"]["mail"] = {"kind": "email", "to": ["a@example.com"], **changes.pop("mail")}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**doc, **changes}))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return str(info.value).splitlines()


def test_time_windows_alertmanager_refuses_are_refused_naming_the_field_and_what_is_allowed(tmp_path: Path) -> None:
    lines = spec_problems(tmp_path, business_hours={"weekdays": ["monday:sunday"], "times": ["22:00-02:00"],
                                                    "days_of_month": ["0"], "months": ["13"], "location": "CET "})
    assert len(lines) == 5, lines
    weekdays, times, days, months, location = lines
    assert "business_hours.weekdays.0:" in weekdays and "'monday:sunday' runs backwards" in weekdays
    assert "week runs sunday … saturday" in weekdays and "'monday:saturday' and 'sunday'" in weekdays
    assert "business_hours.times.0:" in times and "'22:00-24:00' and '00:00-02:00'" in times
    assert "business_hours.days_of_month.0:" in days and "allowed: 1 … 31, or -31 … -1" in days
    assert "business_hours.months.0:" in months and "allowed: january … december or 1 … 12" in months
    assert "business_hours.location:" in location and "allowed: UTC, Local, or a name" in location


def test_email_tls_defaults_follow_where_the_relay_is() -> None:
    defaults = {address: EmailChannel(to=["a@example.com"], smarthost=address).starttls
                for address in ("localhost:25", "127.0.0.1:25", "[::1]:25", "smtp.example.com:587",
                                "smtp.example.com:25", "smtp.example.com:465")}
    assert defaults == {"localhost:25": False, "127.0.0.1:25": False, "[::1]:25": False,
                        "smtp.example.com:587": True, "smtp.example.com:25": True, "smtp.example.com:465": False}
    assert EmailChannel(to=["a@example.com"], require_tls=True).starttls  # the spec's word wins
    assert not EmailChannel(to=["a@example.com"], smarthost="smtp.example.com:25", require_tls=False).starttls


@pytest.mark.parametrize(("mail", "problem"), [
    ({"smarthost": "smtp.example.com:465", "require_tls": True}, "require_tls: true on port 465"),
    ({"tls": {"ca_file": "/etc/ca.pem"}}, "tls is set but no TLS is used"),
    ({"auth_password": {"file": "/etc/am/smtp"}}, "auth_password is set without auth_username"),
    ({"smarthost": "smtp.example.com:25", "require_tls": False, "auth_username": "u",
      "auth_password": {"file": "/etc/am/smtp"}}, "auth_password would cross the network in clear text"),
    ({"smarthost": "smtp.example.com"}, "teams.0.channels.mail.email.smarthost: String should match pattern"),
    ({"hello": "alert manager"}, "teams.0.channels.mail.email.hello: String should match pattern"),
    ({"require_tls": True, "tls": {"server_name": "smtp example"}},
     "teams.0.channels.mail.email.tls.server_name: String should match pattern"),
])
def test_email_settings_alertmanager_cannot_use_are_refused(mail: dict, problem: str, tmp_path: Path) -> None:
    lines = spec_problems(tmp_path, mail=mail)
    assert len(lines) == 1 and problem in lines[0] and "teams.0.channels.mail.email" in lines[0], lines


def test_pagerduty_url_and_external_urls_are_http_urls(tmp_path: Path) -> None:
    pager = {"kind": "pagerduty", "routing_key": {"file": "/etc/am/pd"}, "url": "events.eu.pagerduty.com"}
    doc = json.loads(json.dumps(TINY))
    doc["teams"][0]["channels"]["pager"] = pager
    doc["links"] = {"prometheus_external_url": "prometheus:9090"}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 2 and all("should match pattern '^https?://'" in line for line in lines), lines
    assert "teams.0.channels.pager.pagerduty.url" in lines[0] and "links.prometheus_external_url" in lines[1]
    links = FleetSpec.model_validate(TINY).links
    assert (links.prometheus_external_url, links.alertmanager_external_url) == ("http://localhost:9090",
                                                                               "http://localhost:9093")


SCALE_TWO_REGIONS = {
    **TINY,
    "regions": [{"name": name, "clusters": [{"name": f"cache-{name}", "team": "ops",
                                             "nodes": [{"address": f"10.0.{i}.1:6379"}]}]}
                for i, name in enumerate(("eu", "us"))],
    "scale": {},
}


def app(name: str = "shop", region: str | None = None, team: str = "ops", host: str = "10.0.9.1") -> dict:
    return {"name": name, "team": team, "targets": [f"{host}:8000"], **({"region": region} if region else {})}


def problems_of(doc: dict) -> str:
    with pytest.raises(ValueError) as info:
        FleetSpec.model_validate(doc)
    return str(info.value)


@pytest.mark.parametrize("scale", [True, False], ids=["scale", "single"])
def test_an_application_region_must_be_one_of_the_spec_regions(scale: bool) -> None:
    doc = {**SCALE_TWO_REGIONS, **({} if scale else {"scale": None})}
    text = problems_of({**doc, "applications": [app(region="eu"), app("web", region="mars", host="10.0.9.2")]})
    assert "applications.1.region: 'mars' is not a region of the spec; allowed: eu, us" in text
    assert "applications.0" not in text


def test_an_application_in_several_regions_is_one_entry_per_region_with_one_team() -> None:
    spec = FleetSpec.model_validate({**SCALE_TWO_REGIONS, "applications": [
        app(region="eu"), app(region="us", host="10.0.9.2")]})
    assert [(a.name, a.region) for a in spec.applications] == [("shop", "eu"), ("shop", "us")]
    text = problems_of({**SCALE_TWO_REGIONS, "applications": [app(region="eu"), app(region="eu", host="10.0.9.2")]})
    assert "duplicate applications: 'shop in eu'" in text
    # in scale mode an application naming no region runs in the home region (the first here): eu again
    text = problems_of({**SCALE_TWO_REGIONS, "applications": [app(region="eu"), app(host="10.0.9.2")]})
    assert "duplicate applications: 'shop in eu'" in text
    teams = [{"name": t, "channels": {"hook": {"kind": "webhook", "url": "http://127.0.0.1:5001/"}},
              "escalation": {"critical": ["hook"]}} for t in ("ops", "web")]
    text = problems_of({**SCALE_TWO_REGIONS, "teams": teams, "applications": [
        app(region="eu"), app(region="us", team="web", host="10.0.9.2")]})
    assert "application shop: its entries name teams ops, web" in text


def hook(url: str) -> dict:
    return {"kind": "webhook", "url": url}


@pytest.mark.parametrize(("heartbeat", "problem"), [
    ({"webhook": hook("https://hc-ping.com/a")},
     "heartbeat.regions: no URL for eu, us: in scale mode each region's Prometheus pair sends its own "
     "CachewatchWatchdog"),
    ({"regions": {"eu": hook("https://hc-ping.com/eu")}}, "heartbeat.regions: no URL for us:"),
    ({"regions": {"eu": hook("https://hc-ping.com/eu"), "us": hook("https://hc-ping.com/us"),
                  "ap": hook("https://hc-ping.com/ap")}},
     "heartbeat.regions names unknown region 'ap'; allowed: eu, us"),
    ({"webhook": hook("https://hc-ping.com/x"), "regions": {"eu": hook("https://hc-ping.com/x"),
                                                            "us": hook("https://hc-ping.com/us")}},
     "heartbeat.regions.eu and heartbeat.webhook post to the same URL"),
])
def test_in_scale_mode_every_region_has_its_own_heartbeat_url(heartbeat: dict, problem: str) -> None:
    assert problem in problems_of({**SCALE_TWO_REGIONS, "heartbeat": heartbeat})


def test_heartbeats_per_region_need_scale_mode_and_no_heartbeat_at_all_stays_valid() -> None:
    regions = {"eu": hook("https://hc-ping.com/eu"), "us": hook("https://hc-ping.com/us")}
    assert "heartbeat.regions: per-region heartbeats are for scale mode" in problems_of(
        {**SCALE_TWO_REGIONS, "scale": None, "heartbeat": {"regions": regions}})
    assert FleetSpec.model_validate({**SCALE_TWO_REGIONS, "heartbeat": {"regions": regions}}).heartbeat.webhook is None
    assert not FleetSpec.model_validate(SCALE_TWO_REGIONS).heartbeat.regions  # no heartbeat: the receiver stays empty
