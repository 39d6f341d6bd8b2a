"""alertmanager.yml generation: amtool accepts it, routes resolve as the spec says (the history route first, the
escalation routes never muted), secrets stay out, and a real Alertmanager delivers, mutes and inhibits as designed."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from cachewatch.alert_lifecycle.contribution import contribution as alert_lifecycle
from cachewatch.alert_rules.alertmanager import (
    DEFAULT_VERSION,
    NULL_RECEIVER,
    PAGERDUTY_DESCRIPTION,
    SLACK_TEXT,
    SLACK_TITLE,
    Version,
    alerting,
    time_interval,
    verbatim_secret_files,
)
from cachewatch.local_redis import require_binary
from cachewatch.pipeline import alertmanager_yml, validate, writer
from cachewatch.promql import ESCALATION, HISTORY_RECEIVER
from cachewatch.spec import (
    EmailChannel,
    EmailTLS,
    Escalation,
    FleetSpec,
    Intervals,
    MaintenanceWindow,
    PagerDutyChannel,
    SecretRef,
    SlackChannel,
    SpecError,
    Team,
    TimeWindow,
    WebhookChannel,
    load_spec,
)
from cachewatch.spec.model import SEVERITIES
from tests.support.paths import ROOT
from tests.support.specs import tiny_spec

AMTOOL_KINDS = [kind for kind in validate.KINDS if kind.tool == "amtool"]


def fragments(spec: FleetSpec, version: Version = DEFAULT_VERSION) -> list:
    """This part's fragment after the alert lifecycle's (its history route comes first), as the pipeline orders
    them: the route tests list the history receiver whenever the lifecycle is enabled."""
    return [alert_lifecycle(spec).alerting, alerting(spec, version=version)]


def alertmanager_config(spec: FleetSpec, *, version: Version = DEFAULT_VERSION) -> dict:
    """alertmanager.yml as the pipeline assembles it from the lifecycle's fragment and this part's."""
    return alertmanager_yml.config(fragments(spec, version))


def route_tests(spec: FleetSpec) -> list[dict]:
    return list(alerting(spec).route_tests)


def write(spec: FleetSpec, out: Path, *, version: Version = DEFAULT_VERSION) -> list[Path]:
    return writer.write(out, writer.rendered(alertmanager_yml.files(spec, fragments(spec, version)), spec.name))


def check(out: Path) -> list[validate.Check]:
    return validate.checks(out, AMTOOL_KINDS)
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(text: str) -> float:
    return sum(float(n) * UNITS[unit] for n, unit in re.findall(r"(\d+)(ms|[smhdw])", text))


def leaves(route: dict) -> Iterator[tuple[dict, list[str]]]:
    """Every route that names a severity, with the matchers of the routes above it."""
    for child in route.get("routes", []):
        yield from ((leaf, [*route.get("matchers", []), *above]) for leaf, above in leaves(child))
        if any(m.startswith("severity=") for m in child.get("matchers", [])):
            yield child, list(route.get("matchers", []))


@pytest.fixture(scope="module")
def fleet() -> FleetSpec:
    """examples/fleet.py with its secret webhook URL made plain: Alertmanager 0.25 has no webhook url_file."""
    spec = load_spec(ROOT / "examples" / "fleet.py")
    teams = [t.model_copy(update={"channels": {**t.channels, "siem": WebhookChannel(url="http://siem.internal/am",
                                                                                    max_alerts=50)}})
             if t.name == "security" else t for t in spec.teams]
    return spec.model_copy(update={"teams": teams})


def assert_checks_pass(out: Path) -> None:
    results = check(out)
    failed = [f"{r.name}: {r.detail}" for r in results if not r.ok]
    assert not failed, "\n".join(failed)
    assert len(results) > 1


@pytest.mark.parametrize("example", ["small", "fleet-plain-webhook"])
def test_examples_pass_amtool_and_every_route_test(example: str, fleet: FleetSpec, tmp_path: Path) -> None:
    spec = load_spec(ROOT / "examples" / "small.py") if example == "small" else fleet
    paths = write(spec, tmp_path)
    assert [p.name for p in paths] == ["alertmanager.yml", "route-tests.yml"]
    assert_checks_pass(tmp_path)


def test_a_secret_webhook_url_needs_alertmanager_026(tmp_path: Path) -> None:
    team = Team(name="ops", channels={"hook": WebhookChannel(url_secret=SecretRef(file="/etc/am/hook-url"),
                                                             max_alerts=50)},
                escalation=Escalation(critical=["hook"]))
    spec = tiny_spec(team)
    with pytest.raises(SpecError, match=r"teams\.0\.channels\.hook\.url_secret: .*no url_file \(added in 0\.26\)"):
        alertmanager_config(spec)
    config = alertmanager_config(spec, version=(0, 26))
    hook = next(r for r in config["receivers"] if r["name"] == "ops-critical")["webhook_configs"][0]
    assert hook == {"url_file": "/etc/am/hook-url", "send_resolved": True, "max_alerts": 50}


def test_route_tests_cover_every_team_severity_maintenance_cluster_and_fallback(fleet: FleetSpec) -> None:
    cases = route_tests(fleet)
    covered = {(c["labels"].get("team"), c["labels"]["severity"]) for c in cases}
    assert {(t.name, s) for t in fleet.teams for s in SEVERITIES} <= covered
    clusters = {c["labels"].get("cluster") for c in cases}
    assert {"sessions-eu-west", "catalog-eu-west"} <= clusters
    fallback = [c for c in cases if "team" not in c["labels"]]
    assert fallback == [{"labels": {"alertname": "RedisExporterDown", "severity": "critical"},
                         "receivers": [HISTORY_RECEIVER, "platform-warning"]},  # fleet.py's platform_team
                        {"labels": {"alertname": "CachewatchWatchdog", "severity": "none"},
                         "receivers": ["cachewatch-heartbeat"]}]  # the dead man's switch: test_watchdog.py
    commerce_info = next(c for c in cases
                         if c["labels"].get("team") == "commerce" and c["labels"]["severity"] == "info")
    assert commerce_info["receivers"] == [HISTORY_RECEIVER, NULL_RECEIVER]  # no info channel: deliberately silent
    # the lifecycle's first route, continue: true, takes every alert but the Watchdog
    assert all(c["receivers"][0] == HISTORY_RECEIVER for c in cases if c is not fallback[-1])


def test_a_teamless_alert_still_pages_the_platform_team_behind_the_history_route(fleet: FleetSpec) -> None:
    """Alertmanager uses the root's receiver only when no child matched; the history route matches everything but
    the Watchdog, so the fallback is also the last child."""
    routes = alertmanager_config(fleet)["route"]["routes"]
    assert routes[0]["receiver"] == HISTORY_RECEIVER and routes[0]["continue"] is True
    assert routes[0]["matchers"] == ['alertname!="CachewatchWatchdog"']
    assert routes[-1] == {"receiver": "platform-warning", "continue": False}


def team_route(config: dict, team: str) -> dict:
    return next(r for r in config["route"]["routes"] if r.get("matchers") == [f'team="{team}"'])


def test_escalation_is_the_teams_first_route_and_never_muted(fleet: FleetSpec) -> None:
    config = alertmanager_config(fleet)
    receivers = {r["name"]: r for r in config["receivers"]}
    teams = {t.name: t for t in fleet.teams}
    for team in ("identity", "commerce"):  # examples/fleet.py: escalate_to a secondary pager
        first = team_route(config, team)["routes"][0]  # before the maintenance and severity children
        timers = {key: first.pop(key) for key in ("group_interval", "repeat_interval")}
        assert first == {"receiver": f"{team}-escalation", "matchers": [ESCALATION], "group_by": ["..."],
                         "group_wait": "0s", "continue": False}  # no mute_ or active_time_intervals: a page
        assert seconds(timers["group_interval"]) == fleet.intervals.group_interval
        assert seconds(timers["repeat_interval"]) == teams[team].escalation.repeat_critical
    identity = receivers["identity-escalation"]
    assert identity["pagerduty_configs"][0]["routing_key_file"] == "/etc/alertmanager/secrets/pd-identity-secondary"
    assert identity["slack_configs"][0]["channel"] == "#identity-alerts"
    assert set(receivers["commerce-escalation"]) == {"name", "pagerduty_configs"}


def test_a_team_without_escalate_to_gets_no_escalation_route(fleet: FleetSpec) -> None:
    config = alertmanager_config(fleet)
    for team in ("platform", "security"):  # examples/fleet.py: no escalate_to
        assert all(ESCALATION not in r.get("matchers", []) for r in team_route(config, team)["routes"])
        assert f"{team}-escalation" not in {r["name"] for r in config["receivers"]}
    assert not [c for c in route_tests(fleet) if c["labels"].get("team") in ("platform", "security")
                and "escalation" in c["labels"]]


def test_escalation_route_tests_reach_the_escalation_receiver_in_every_cluster(fleet: FleetSpec) -> None:
    cases = [c for c in route_tests(fleet) if c["labels"].get("escalation") == "ack-timeout"]
    assert {(c["labels"]["team"], c["labels"]["cluster"]) for c in cases} >= {
        ("identity", "sessions-eu-west"), ("commerce", "catalog-eu-west")}  # maintenance-covered: still a page
    for case in cases:
        assert case["labels"]["alertname"] == "CachewatchAckTimeout" and case["labels"]["severity"] == "critical"
        assert case["receivers"] == [HISTORY_RECEIVER, f"{case['labels']['team']}-escalation"]


def test_lifecycle_disabled_means_no_history_and_no_escalation(fleet: FleetSpec) -> None:
    off = fleet.model_copy(update={"alert_lifecycle": fleet.alert_lifecycle.model_copy(update={"enabled": False})})
    config = alertmanager_config(off)
    assert HISTORY_RECEIVER not in {r["name"] for r in config["receivers"]}
    assert not [r for r in config["receivers"] if r["name"].endswith("-escalation")]
    assert all(HISTORY_RECEIVER not in c["receivers"] and "escalation" not in c["labels"] for c in route_tests(off))


def test_an_env_secret_in_escalate_to_fails_with_its_field_path() -> None:
    team = Team(name="ops", channels={"hook": WebhookChannel(url="http://127.0.0.1:1/"),
                                      "pager": PagerDutyChannel(routing_key=SecretRef(env="PD_KEY"))},
                escalation=Escalation(critical=["hook"], escalate_to=["pager"]))
    with pytest.raises(SpecError, match=r"^teams\.0\.channels\.pager\.routing_key: SecretRef\(env='PD_KEY'\)"):
        alertmanager_config(tiny_spec(team))


def test_timing_follows_the_spec_and_pages_within_a_minute(fleet: FleetSpec) -> None:
    config = alertmanager_config(fleet)
    assert config["route"]["group_by"] == ["alertname", "cluster", "region", "application"]
    teams = {t.name: t for t in fleet.teams}
    found = set()
    for leaf, _ in leaves(config["route"]):
        team, severity = leaf["receiver"].rsplit("-", 1)
        found.add(severity)
        assert leaf["matchers"] == [f'severity="{severity}"'] and leaf["continue"] is False
        assert seconds(leaf["repeat_interval"]) == getattr(teams[team].escalation, f"repeat_{severity}")
        if severity == "critical":
            assert seconds(leaf["group_wait"]) <= 30
            assert seconds(leaf["group_wait"]) == fleet.intervals.group_wait
            assert seconds(leaf["group_interval"]) == fleet.intervals.group_interval
    assert found == set(SEVERITIES)


def test_critical_group_wait_over_30s_is_refused_by_the_spec() -> None:
    with pytest.raises(ValidationError, match=r"group_wait\n.*less than or equal to 30"):
        Intervals(group_wait=45)


def test_inhibit_rules_present() -> None:
    rules = alertmanager_config(load_spec(ROOT / "examples" / "small.py"))["inhibit_rules"]
    by_source = {tuple(r["source_matchers"]): r for r in rules}
    down = by_source[('alertname="RedisDown"',)]
    assert down["target_matchers"] == ['scope="node"', 'alertname!="RedisDown"'] and down["equal"] == ["instance"]
    twin = by_source[('severity="critical"', 'twin=~".+"')]
    assert twin["target_matchers"] == ['severity="warning"', 'twin=~".+"'] and "twin" in twin["equal"]
    assert by_source[('scope="cluster"', 'severity="critical"')]["equal"] == ["cluster"]
    assert by_source[('alertname="RedisExporterDown"',)]["target_matchers"] == [
        'alertname=~"RedisDown|RedisScrapeFailing|RedisProbeFailing"']
    for rule in rules:  # deprecated forms are not used
        assert set(rule) == {"source_matchers", "target_matchers", "equal"}


def test_time_intervals_business_hours_and_maintenance(fleet: FleetSpec) -> None:
    config = alertmanager_config(fleet)
    intervals = {i["name"]: i["time_intervals"] for i in config["time_intervals"]}
    assert intervals["business-hours"] == [{"times": [{"start_time": "08:00", "end_time": "18:00"}],
                                            "weekdays": ["monday:friday"], "location": "Europe/Berlin"}]
    assert intervals["maintenance-eu-patching"][0]["location"] == "Europe/Dublin"
    assert intervals["maintenance-fleet-freeze-check"][0]["days_of_month"] == ["1"]
    for leaf, above in leaves(config["route"]):
        team, severity = leaf["receiver"].rsplit("-", 1)
        mutes = leaf["mute_time_intervals"]
        assert "maintenance-fleet-freeze-check" in mutes  # whole-fleet window: every team, every severity
        in_eu = 'cluster=~"sessions-eu-west|catalog-eu-west"' in above
        assert ("maintenance-eu-patching" in mutes) == in_eu
        business_only = severity != "critical" and team != "security"  # security: warning_only_in_business_hours=False
        assert (leaf.get("active_time_intervals") == ["business-hours"]) == business_only, leaf


def test_no_secret_value_in_any_generated_file(tmp_path: Path) -> None:
    canary = "CANARY-7f3a9c-do-not-leak"
    files = {}
    for kind in ("smtp", "slack", "pd", "hook"):
        files[kind] = tmp_path / "secrets" / kind
        files[kind].parent.mkdir(exist_ok=True)
        files[kind].write_text(f"https://{canary}-{kind}.example.com/x")

    def spec(with_hook: bool) -> FleetSpec:
        channels = {
            "mail": EmailChannel(to=["a@example.com", "b@example.com"], auth_username="u",
                                 auth_password=SecretRef(file=str(files["smtp"]))),
            "chat": SlackChannel(channel="#ops", api_url=SecretRef(file=str(files["slack"]))),
            "pager": PagerDutyChannel(routing_key=SecretRef(file=str(files["pd"]))),
            "hook": WebhookChannel(url_secret=SecretRef(file=str(files["hook"]))),
        }
        paging = ["pager", "chat", "hook"] if with_hook else ["pager", "chat"]
        return tiny_spec(Team(name="ops", channels=channels, escalation=Escalation(critical=paging, warning=["mail"])))

    write(spec(with_hook=False), tmp_path / "v025")
    assert_checks_pass(tmp_path / "v025")
    write(spec(with_hook=True), tmp_path / "v026", version=(0, 26))
    generated = [p for p in (tmp_path / "v025").rglob("*") if p.is_file()]
    generated += [p for p in (tmp_path / "v026").rglob("*") if p.is_file()]
    assert len(generated) == 4
    for path in generated:
        assert canary not in path.read_text(), path
    config = yaml.safe_load((tmp_path / "v026" / "alertmanager" / "alertmanager.yml").read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    critical = receivers["ops-critical"]
    assert critical["pagerduty_configs"][0]["routing_key_file"] == str(files["pd"])
    assert critical["slack_configs"][0]["api_url_file"] == str(files["slack"])
    assert critical["webhook_configs"][0]["url_file"] == str(files["hook"])
    assert receivers["ops-warning"]["email_configs"][0]["auth_password_file"] == str(files["smtp"])
    assert receivers["ops-warning"]["email_configs"][0]["to"] == "a@example.com, b@example.com"


def test_env_secret_fails_with_field_path_and_file_hint() -> None:
    team = Team(name="ops", channels={"chat": SlackChannel(channel="#ops", api_url=SecretRef(env="SLACK_URL")),
                                      "pager": PagerDutyChannel(routing_key=SecretRef(env="PD_KEY"))},
                escalation=Escalation(critical=["pager", "chat"], warning=["chat"]))
    with pytest.raises(SpecError) as err:
        alertmanager_config(tiny_spec(team))
    lines = str(err.value).splitlines()
    assert len(lines) == 2, lines  # one line per problem, even for a channel used at two severities
    assert lines[0].startswith("teams.0.channels.pager.routing_key: SecretRef(env='PD_KEY')")
    assert lines[1].startswith("teams.0.channels.chat.api_url: SecretRef(env='SLACK_URL')")
    assert all("does not expand environment variables" in line and "SecretRef(file=...)" in line for line in lines)


def test_duplicate_maintenance_names_are_refused_by_the_spec() -> None:
    team = Team(name="ops", channels={"hook": WebhookChannel(url="http://127.0.0.1:1/")},
                escalation=Escalation(critical=["hook"]))
    windows = [MaintenanceWindow(name="weekly", window=TimeWindow(weekdays=["sunday"])) for _ in range(2)]
    with pytest.raises(ValidationError, match="duplicate maintenance windows: 'weekly'"):
        tiny_spec(team, maintenance=windows)


def test_notification_templates_render(tmp_path: Path) -> None:
    amtool = require_binary("amtool")
    for text in (SLACK_TITLE, SLACK_TEXT, PAGERDUTY_DESCRIPTION):
        out = subprocess.run([amtool, "template", "render", f"--template.glob={tmp_path}/*.tmpl",
                              f"--template.text={text}"], capture_output=True, text=True, timeout=30, check=False)
        assert out.returncode == 0, out.stderr


def test_missing_amtool_is_reported_with_its_install_command(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    write(load_spec(ROOT / "examples" / "small.py"), tmp_path)
    monkeypatch.setattr("cachewatch.pipeline.validate.shutil.which", lambda name: None)
    results = check(tmp_path)
    assert results and all(not r.ok for r in results)
    assert {r.detail for r in results} == {"amtool not found: apt-get install -y prometheus-alertmanager"}


# --- delivery settings: PagerDuty url, email TLS, time windows as Alertmanager reads them ---------------------------
def receiver_configs(spec: FleetSpec, receiver: str, key: str) -> list[dict]:
    return next(r for r in alertmanager_config(spec)["receivers"] if r["name"] == receiver)[key]


def test_pagerduty_url_reaches_eu_accounts_and_proxies(tmp_path: Path) -> None:
    key = SecretRef(file="/etc/am/pd")
    team = Team(name="ops", channels={"eu": PagerDutyChannel(routing_key=key,
                                                             url="https://events.eu.pagerduty.com/v2/enqueue"),
                                      "us": PagerDutyChannel(routing_key=key)},
                escalation=Escalation(critical=["eu", "us"]))
    spec = tiny_spec(team)
    eu, us = receiver_configs(spec, "ops-critical", "pagerduty_configs")
    assert eu["url"] == "https://events.eu.pagerduty.com/v2/enqueue"
    assert "url" not in us  # Alertmanager's default, https://events.pagerduty.com/v2/enqueue
    write(spec, tmp_path)
    assert_checks_pass(tmp_path)


# channel → what its email_configs entry says about the connection
EMAIL_CONNECTIONS = {
    "local-mta": (EmailChannel(to=["a@example.com"]), {"require_tls": False}),
    "relay": (EmailChannel(to=["a@example.com"], smarthost="smtp.example.com:587", auth_username="u",
                           auth_password=SecretRef(file="/etc/am/smtp")), {"require_tls": True}),
    "smtps": (EmailChannel(to=["a@example.com"], smarthost="smtp.example.com:465", auth_username="u",
                           auth_password=SecretRef(file="/etc/am/smtp")), {"require_tls": False}),
    "private-ca": (EmailChannel(to=["a@example.com"], smarthost="10.0.0.25:587", hello="am.example.com",
                                tls=EmailTLS(ca_file="/etc/am/ca.pem", server_name="smtp.internal")),
                   {"require_tls": True, "hello": "am.example.com",
                    "tls_config": {"ca_file": "/etc/am/ca.pem", "server_name": "smtp.internal"}}),
    "local-starttls": (EmailChannel(to=["a@example.com"], require_tls=True,
                                    tls=EmailTLS(insecure_skip_verify=True)),
                       {"require_tls": True, "tls_config": {"insecure_skip_verify": True}}),
}


def test_email_states_require_tls_and_how_to_check_the_relay(tmp_path: Path) -> None:
    team = Team(name="ops", channels={name: channel for name, (channel, _) in EMAIL_CONNECTIONS.items()},
                escalation=Escalation(critical=list(EMAIL_CONNECTIONS)))
    spec = tiny_spec(team)
    rendered = receiver_configs(spec, "ops-critical", "email_configs")
    connection = ("require_tls", "hello", "tls_config")
    for (name, (_, expected)), config in zip(EMAIL_CONNECTIONS.items(), rendered, strict=True):
        assert {k: v for k, v in config.items() if k in connection} == expected, name
    write(spec, tmp_path)
    assert_checks_pass(tmp_path)


def test_only_the_smtp_password_file_is_read_verbatim() -> None:
    channels = {"mail": EmailChannel(to=["a@example.com"], auth_username="u",
                                     auth_password=SecretRef(file="/etc/am/smtp")),
                "spare": EmailChannel(to=["b@example.com"], auth_username="u",
                                      auth_password=SecretRef(file="/etc/am/unused")),
                "chat": SlackChannel(channel="#ops", api_url=SecretRef(file="/etc/am/slack")),
                "pager": PagerDutyChannel(routing_key=SecretRef(file="/etc/am/pd"))}
    spec = tiny_spec(Team(name="ops", channels=channels, escalation=Escalation(critical=["pager", "chat", "mail"])))
    assert verbatim_secret_files(spec) == [("teams.0.channels.mail.auth_password", "/etc/am/smtp")]


# Windows amtool 0.25 refuses; the spec refuses each of them too, and accepts every one amtool accepts.
REFUSED_WINDOWS = {
    "week wraps": {"weekdays": ["monday:sunday"]},
    "week wraps from saturday": {"weekdays": ["saturday:sunday"]},
    "no weekday": {"weekdays": ["funday"]},
    "empty time range": {"times": ["10:00-10:00"]},
    "crosses midnight": {"times": ["22:00-02:00"]},
    "day zero": {"days_of_month": ["0"]},
    "day 32": {"days_of_month": ["32"]},
    "negative start, positive end": {"days_of_month": ["-1:1"]},
    "days backwards in a short month": {"days_of_month": ["28:-1"]},
    "days backwards from the end": {"days_of_month": ["-1:-3"]},
    "months wrap": {"months": ["december:january"]},
    "unknown zone": {"location": "Mars/Olympus"},
    "zone in the wrong case": {"location": "utc"},
}
ACCEPTED_WINDOWS = {
    "whole week": {"weekdays": ["sunday:saturday"]},
    "week split at sunday": {"weekdays": ["monday:saturday", "sunday"]},
    "any case": {"weekdays": ["Monday:Friday"]},
    "whole day": {"times": ["00:00-24:00"]},
    "midnight split": {"times": ["22:00-24:00", "00:00-02:00"]},
    "first to last": {"days_of_month": ["1:-1"]},
    "last week": {"days_of_month": ["-7:-1"]},
    "months by name and number": {"months": ["january:march", "6:8"]},
    "local zone": {"location": "Local"},
    "business hours": {"weekdays": ["monday:friday"], "times": ["08:00-18:00"], "location": "Europe/Berlin"},
}


def amtool_verdict(window: TimeWindow, tmp_path: Path) -> tuple[bool, str]:
    """amtool check-config on a config holding only ``window``, rendered as the generator renders it."""
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump({"route": {"receiver": "null"}, "receivers": [{"name": "null"}],
                                      "time_intervals": [{"name": "w", "time_intervals": [time_interval(window)]}]}))
    out = subprocess.run([require_binary("amtool"), "check-config", str(config)], capture_output=True, text=True,
                         timeout=30)
    return out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("case", REFUSED_WINDOWS)
def test_a_window_amtool_refuses_is_refused_by_the_spec(case: str, tmp_path: Path) -> None:
    fields = REFUSED_WINDOWS[case]
    ok, output = amtool_verdict(TimeWindow.model_construct(**fields), tmp_path)
    assert not ok, f"amtool accepts {fields}: the spec need not refuse it\n{output}"
    with pytest.raises(ValidationError) as info:
        TimeWindow(**fields)
    assert [".".join(map(str, e["loc"])).split(".")[0] for e in info.value.errors()] == list(fields)


@pytest.mark.parametrize("case", ACCEPTED_WINDOWS)
def test_a_window_the_spec_accepts_is_accepted_by_amtool(case: str, tmp_path: Path) -> None:
    ok, output = amtool_verdict(TimeWindow(**ACCEPTED_WINDOWS[case]), tmp_path)
    assert ok, output
