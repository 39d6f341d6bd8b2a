"""alertmanager.yml generation: amtool accepts it, routes resolve as the spec says, secrets stay out, and a real
Alertmanager delivers, mutes and inhibits as designed."""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from cachewatch.alert_rules.alertmanager import (
    AMTOOL_MISSING,
    NULL_RECEIVER,
    PAGERDUTY_DESCRIPTION,
    SLACK_TEXT,
    SLACK_TITLE,
    alertmanager_config,
    check,
    route_tests,
    write,
)
from cachewatch.local_redis import free_port, require_binary
from cachewatch.spec import (
    Cluster,
    EmailChannel,
    Escalation,
    FleetSpec,
    Intervals,
    MaintenanceWindow,
    Node,
    PagerDutyChannel,
    Region,
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

GOLDEN = ROOT / "tests" / "golden" / "alertmanager-small.yml"
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(text: str) -> float:
    return sum(float(n) * UNITS[unit] for n, unit in re.findall(r"(\d+)(ms|[smhdw])", text))


def leaves(route: dict) -> Iterator[tuple[dict, list[str]]]:
    """Every route that names a severity, with the matchers of the routes above it."""
    for child in route.get("routes", []):
        yield from ((leaf, [*route.get("matchers", []), *above]) for leaf, above in leaves(child))
        if any(m.startswith("severity=") for m in child.get("matchers", [])):
            yield child, list(route.get("matchers", []))


def tiny_spec(team: Team, **extra: object) -> FleetSpec:
    clusters = [Cluster(name=name, team=team.name, nodes=[Node(address=f"127.0.0.1:{7001 + i}")])
                for i, name in enumerate(("live", "patching"))]
    return FleetSpec(name="tiny", regions=[Region(name="lab", clusters=clusters)], teams=[team], **extra)


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
                         "receivers": ["platform-warning"]}]  # fleet.py's platform_team
    commerce_info = next(c for c in cases
                         if c["labels"].get("team") == "commerce" and c["labels"]["severity"] == "info")
    assert commerce_info["receivers"] == [NULL_RECEIVER]  # no info channel: deliberately silent


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
    assert by_source[('alertname="RedisExporterDown"',)]["target_matchers"] == ['alertname="RedisDown"']
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


def test_missing_amtool_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("cachewatch.alert_rules.alertmanager.shutil.which", lambda name: None)
    [result] = check(tmp_path)
    assert not result.ok and result.detail == AMTOOL_MISSING


def test_golden_small(tmp_path: Path) -> None:
    """Regenerate with CACHEWATCH_UPDATE_GOLDEN=1 after an intended change, and review the diff."""
    text = write(load_spec(ROOT / "examples" / "small.py"), tmp_path)[0].read_text()
    if os.environ.get("CACHEWATCH_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert GOLDEN.exists(), f"{GOLDEN} missing: run with CACHEWATCH_UPDATE_GOLDEN=1"
    expected = GOLDEN.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(GOLDEN), "generated"))
    assert text == expected, diff


# --- a real Alertmanager ------------------------------------------------------------------------------------
class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append((time.monotonic(), body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def webhook_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Hook)
    server.received = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def api(base: str, path: str, payload: object | None = None) -> object:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
    return json.loads(body) if body else None


@contextmanager
def running_alertmanager(spec: FleetSpec, tmp: Path) -> Iterator[str]:
    binary = require_binary("prometheus-alertmanager")
    config = write(spec, tmp / "out")[0]
    port = free_port()
    with (tmp / "alertmanager.log").open("w") as log:
        proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.path={tmp / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                                stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    urllib.request.urlopen(base + "/-/ready", timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"alertmanager did not start:\n{(tmp / 'alertmanager.log').read_text()}")
                    time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def alert(**labels: str) -> dict:
    return {"labels": {"team": "oncall", "region": "lab", **labels}, "annotations": {"summary": labels["alertname"]}}


def test_real_alertmanager_delivers_a_page_fast_and_mutes_maintenance(tmp_path: Path) -> None:
    with webhook_server() as hook:
        team = Team(name="oncall", channels={"hook": WebhookChannel(url=f"http://127.0.0.1:{hook.server_port}/hook")},
                    escalation=Escalation(critical=["hook"]))
        always = MaintenanceWindow(name="always", clusters=["patching"], window=TimeWindow(times=["00:00-24:00"]))
        spec = tiny_spec(team, intervals=Intervals(group_wait=1), maintenance=[always])
        with running_alertmanager(spec, tmp_path) as base:
            down = {"alertname": "RedisDown", "severity": "critical", "scope": "node"}
            sent = time.monotonic()
            api(base, "/api/v2/alerts", [alert(**down, cluster="live", instance="127.0.0.1:7001"),
                                         alert(**down, cluster="patching", instance="127.0.0.1:7002")])
            deadline = sent + 15
            while not hook.received and time.monotonic() < deadline:  # type: ignore[attr-defined]
                time.sleep(0.05)
            assert hook.received, "no webhook delivery within 15 s"  # type: ignore[attr-defined]
            arrived, body = hook.received[0]  # type: ignore[attr-defined]
            print(f"\nalertmanager → webhook delivery latency: {arrived - sent:.2f} s (group_wait 1s)")
            assert arrived - sent < 15
            assert body["receiver"] == "oncall-critical" and body["status"] == "firing"
            assert body["groupLabels"] == {"alertname": "RedisDown", "cluster": "live", "region": "lab"}
            assert [a["labels"]["instance"] for a in body["alerts"]] == ["127.0.0.1:7001"]
            time.sleep(3)  # the muted group flushed (group_wait 1s) by now, had it not been muted
            clusters = [b["groupLabels"]["cluster"] for _, b in hook.received]  # type: ignore[attr-defined]
            assert "patching" not in clusters, "maintenance window did not mute the page"


def test_real_alertmanager_inhibits_as_designed(tmp_path: Path) -> None:
    team = Team(name="oncall", channels={"hook": WebhookChannel(url="http://127.0.0.1:9/unused")},
                escalation=Escalation(critical=["hook"], warning=["hook"]))
    node = {"scope": "node"}
    cases = {  # case → (labels, state expected before RedisExporterDown fires)
        "down": (dict(alertname="RedisDown", severity="critical", cluster="c1", instance="i1", **node), "active"),
        "down-symptom": (dict(alertname="RedisMemoryHigh", severity="warning", cluster="c1", instance="i1", **node),
                         "suppressed"),
        "twin-critical": (dict(alertname="RedisMemoryHighCritical", severity="critical", twin="memory", cluster="c2",
                               instance="i2", **node), "active"),
        "twin-warning": (dict(alertname="RedisMemoryHigh", severity="warning", twin="memory", cluster="c2",
                              instance="i2", **node), "suppressed"),
        "twin-elsewhere": (dict(alertname="RedisMemoryHigh", severity="warning", twin="memory", cluster="c2",
                                instance="i3", **node), "active"),
        "fleet-critical": (dict(alertname="RedisSloBurnFast", severity="critical"), "active"),
        "fleet-warning": (dict(alertname="RedisSloBurnSlow", severity="warning"), "active"),  # no twin: not inhibited
        "cluster-warning": (dict(alertname="RedisClusterDegraded", severity="warning", scope="cluster", cluster="c3"),
                            "active"),
        "node-critical-c3": (dict(alertname="RedisConnectionsHighCritical", severity="critical", cluster="c3",
                                  instance="i4", **node), "active"),
        "node-warning-c3": (dict(alertname="RedisMemoryHigh", severity="warning", cluster="c3", instance="i5", **node),
                            "suppressed"),
        "cluster-critical": (dict(alertname="RedisClusterDown", severity="critical", scope="cluster", cluster="c4"),
                             "active"),
        "down-c4": (dict(alertname="RedisDown", severity="critical", cluster="c4", instance="i6", **node),
                    "suppressed"),
    }

    def states() -> dict[str, str]:
        return {a["labels"]["case"]: a["status"]["state"] for a in api(base, "/api/v2/alerts")}  # type: ignore[union-attr]

    def settle(expected: dict[str, str]) -> dict[str, str]:
        deadline = time.monotonic() + 10
        while (seen := states()) != expected and time.monotonic() < deadline:
            time.sleep(0.1)
        return seen

    with running_alertmanager(tiny_spec(team), tmp_path) as base:
        api(base, "/api/v2/alerts", [alert(case=case, **labels) for case, (labels, _) in cases.items()])
        expected = {case: state for case, (_, state) in cases.items()}
        assert settle(expected) == expected
        api(base, "/api/v2/alerts", [alert(case="exporter", alertname="RedisExporterDown", severity="critical")])
        expected |= {"exporter": "active", "down": "suppressed"}  # every RedisDown, whatever its instance
        assert settle(expected) == expected
