"""The alert lifecycle service in the real stack: exactly one episode per firing, whatever the stack does.

A real Prometheus scrapes a tiny endpoint this test controls (``test_fault{scenario=...} 0|1``) and evaluates one
alert on it every second (``for: 0s``); it sends to a real Alertmanager cluster of two whose only route is the
history route exactly as ``cachewatch generate`` writes it (``continue: true``, ``group_by: ['...']``,
``send_resolved: true``, ``max_alerts: 0``), with short timers so repeats happen within seconds. The service runs
as ``python -m cachewatch alerts serve`` (a subprocess, SQLite, reconciling every second) and Prometheus scrapes
its /metrics with the generated ``cachewatch-alerts`` job. One stack serves every scenario; each scenario fires
its own ``scenario`` label and reads its episodes from ``GET /api/v1/episodes``.

The silenced alert's resolve reaches no webhook: the reconciler concludes it once the alert has been absent from
every Alertmanager for the reconciler's absent grace (90 s, not configurable). So that scenario starts first (its
fixture fires and resolves the alert) and its last check runs last, while the other scenarios use the wait.

A Prometheus restart re-sets startsAt (``for: 0s`` restores nothing), but an Alertmanager that still holds the alert
merges it and keeps the earliest startsAt; the new one reaches the history only from a member that forgot the
alert, which the second restart scenario arranges.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import yaml

from cachewatch.dashboards.generate import dashboards
from cachewatch.local_redis import free_port
from cachewatch.promql import ALERTS_JOB, HISTORY_RECEIVER, NOT_WATCHDOG
from cachewatch.spec import FleetSpec, load_spec
from tests.support.alertmanager_process import AlertmanagerCluster, running_alertmanager_cluster
from tests.support.prometheus_process import running_prometheus
from tests.support.specs import generate

pytestmark = pytest.mark.e2e

ALERTNAME, TEAM, MEMBER = "LifecycleFault", "oncall", "alice"
USER_HEADER = "X-Forwarded-User"
REPEAT_SECONDS = 5
# The generated history route's timers, shortened: a firing is sent at once, a change within a second, a repeat
# every five seconds (the generated 30s / 12h would make this module take hours).
SHORT_TIMERS = {"group_wait": "0s", "group_interval": "1s", "repeat_interval": f"{REPEAT_SECONDS}s"}
RULES = {"groups": [{"name": "lifecycle-e2e", "interval": "1s", "rules": [{
    "alert": ALERTNAME, "expr": "test_fault == 1", "for": "0s",
    "labels": {"team": TEAM, "severity": "warning"},
    "annotations": {"summary": "test fault {{ $labels.scenario }}"}}]}]}
SPEC = """\
name: lifecycle-e2e
regions:
  - name: lab
    clusters:
      - name: lab
        team: {team}
        nodes: [{{address: "127.0.0.1:7001"}}]
teams:
  - name: {team}
    members: [{member}]
    channels: {{hook: {{kind: webhook, url: "http://127.0.0.1:9/"}}}}
    escalation: {{critical: [hook]}}
alert_lifecycle:
  listen: "127.0.0.1:{port}"
  reconcile_interval: 1
  absent_grace: 10
"""
# Prometheus resends a firing alert every minute by default, and drops the first send of an alert that fires at
# its first evaluation after a (re)start, before it has found the Alertmanagers: 5 s keeps the restart scenarios
# short. The alerts' endsAt is then 4 × 5 s ahead, still far longer than any restart here.
RESEND = "--rules.alert.resend-delay=5s"
START_TIMEOUT = 30.0
SETTLE = 3.0  # seconds of reconcile passes and repeats a scenario lets run before it checks nothing went wrong
T = TypeVar("T")

# Dashboard queries: the variables as Grafana would set them with "All" selected.
VARIABLES = {"$__rate_interval": "30s", "$__range": "1h", "$team": ".*", "$severity": ".*", "$cluster": ".*",
             "${datasource}": ""}
# Panels of cachewatch-alerts this module cannot fill, and why. Any other empty panel fails the test.
EXPECTED_EMPTY = {
    "MTTA by team": "no episode is acknowledged here (tests/alert_lifecycle/test_console_browser.py acks)",
    "Flapping alerts over the range": "each scenario fires its alert once; flapping needs 3 episodes in an hour",
}
# Filled only when a reconcile pass happened to run while an Alertmanager restarted: either way is right.
MAY_BE_EMPTY = {"Alertmanager API errors": "only a pass during the Alertmanager restart counts an error"}

ABSENT_GRACE = 10.0  # SPEC's alert_lifecycle.absent_grace (the product default is 90 s)


def wait_until(condition: Callable[[], T], timeout: float, what: str, log: Path | None = None) -> T:
    """Poll ``condition()`` until it returns something truthy; fail naming ``what`` (and the service log)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError, OSError):
            if value := condition():
                return value
        if time.monotonic() > deadline:
            tail = f"\nservice log:\n{log.read_text()[-3000:]}" if log is not None and log.exists() else ""
            pytest.fail(f"not within {timeout:.0f} s: {what}{tail}")
        time.sleep(0.2)


def timing(name: str, seconds: float) -> None:
    print(f"\ntiming: {name}: {seconds:.2f} s")


# --- the parts of the stack -------------------------------------------------------------------------------------
class FaultEndpoint:
    """GET /metrics: ``test_fault{scenario="<name>"} 0|1`` for every scenario the test switched on or off."""

    def __init__(self) -> None:
        self.faults: dict[str, int] = {}
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                body = "".join(f'test_fault{{scenario="{name}"}} {value}\n'
                               for name, value in sorted(endpoint.faults.items())).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = False
        self._server.block_on_close = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fault-endpoint")
        self._thread.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def set(self, scenario: str, on: bool) -> float:
        """Switch the fault; returns the monotonic time it was switched (what latencies are measured from)."""
        self.faults[scenario] = int(on)
        return time.monotonic()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class Prometheus:
    """A real Prometheus that can be restarted on its data directory (a new port each time: nothing in the stack
    talks to Prometheus but this test)."""

    def __init__(self, config: Path, workdir: Path) -> None:
        self.config, self.workdir = config, workdir
        self.port = 0
        self._stack: contextlib.ExitStack | None = None

    def start(self) -> None:
        self._stack = contextlib.ExitStack()
        self.port = self._stack.enter_context(running_prometheus(self.config, self.workdir, [RESEND]))
        wait_until(lambda: httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200, START_TIMEOUT,
                   "Prometheus ready", self.workdir / "prometheus.log")

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alerts(self, scenario: str) -> list[dict]:
        alerts = httpx.get(f"{self.url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        return [a for a in alerts if a["labels"].get("scenario") == scenario]

    def query(self, promql: str) -> dict:
        return httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10).json()


class Service:
    """``python -m cachewatch alerts serve`` as a subprocess; stop and start again on the same port and database."""

    def __init__(self, spec: Path, port: int, database: Path, alertmanagers: list[str], log: Path) -> None:
        self.port, self.log = port, log
        self.argv = [sys.executable, "-m", "cachewatch", "alerts", "serve", str(spec), "--listen",
                     f"127.0.0.1:{port}", "--database", f"sqlite:///{database}", "--proxy-user-header", USER_HEADER]
        for url in alertmanagers:
            self.argv += ["--alertmanager", url]
        self.cwd = database.parent
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd)

        def healthy() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(f"the service exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200

        wait_until(healthy, START_TIMEOUT, "the service answers /healthz", self.log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def episodes(self, scenario: str) -> list[dict]:
        """Every episode of this scenario's alert (the API filters by alertname; the scenario is a label)."""
        response = httpx.get(f"{self.url}/api/v1/episodes", params={"alertname": ALERTNAME, "limit": 1000},
                             timeout=5)
        response.raise_for_status()
        return [e for e in response.json() if e["labels"].get("scenario") == scenario]

    def episode(self, episode_id: str) -> dict:
        response = httpx.get(f"{self.url}/api/v1/episodes/{episode_id}", timeout=5)
        response.raise_for_status()
        return response.json()

    def close(self, episode_id: str, classification: str) -> dict:
        response = httpx.post(f"{self.url}/api/v1/episodes/{episode_id}/resolve", timeout=10,
                              headers={USER_HEADER: MEMBER},
                              json={"notes": "test fault, switched on by the e2e test", "classification":
                                    classification})
        assert response.status_code == 200, response.text
        return response.json()


@dataclass
class Stack:
    spec: FleetSpec
    faults: FaultEndpoint
    alertmanagers: AlertmanagerCluster
    prometheus: Prometheus
    service: Service

    def only_episode(self, scenario: str, state: str | None = None, timeout: float = 20.0) -> dict:
        """Wait for the scenario's episode (in ``state`` when given); it must be exactly one."""
        def found() -> list[dict]:
            episodes = self.service.episodes(scenario)
            return episodes if episodes and (state is None or episodes[0]["state"] == state) else []

        episodes = wait_until(found, timeout, f"an episode of {scenario}" + (f" in state {state}" if state else ""),
                              self.service.log)
        assert len(episodes) == 1, f"{scenario}: {len(episodes)} episodes for one firing: {episodes}"
        return episodes[0]

    def webhooks(self) -> tuple[list[int], list[int]]:
        """Per Alertmanager member: webhook notifications sent and failed so far (the history route is the only
        webhook in this cluster's config)."""
        sent, failed = [], []
        for url in self.alertmanagers.urls:
            text = httpx.get(f"{url}/metrics", timeout=5).text
            sent.append(_sample(text, "alertmanager_notifications_total"))
            failed.append(_sample(text, "alertmanager_notifications_failed_total"))
        return sent, failed

    def starts_at(self, scenario: str) -> list[set[str]]:
        """Per member, the startsAt it holds for the scenario's alert."""
        return [{a["startsAt"] for a in alerts} for alerts in self.alertmanager_alerts(scenario)]

    def alertmanager_alerts(self, scenario: str) -> list[list[dict]]:
        """Per member, the scenario's alerts as Alertmanager's API lists them."""
        return [httpx.get(f"{url}/api/v2/alerts", params={"filter": f'scenario="{scenario}"'}, timeout=5).json()
                for url in self.alertmanagers.urls]


def _sample(text: str, family: str) -> int:
    match = re.search(rf'^{family}{{integration="webhook"}} (\S+)$', text, re.MULTILINE)
    return int(float(match.group(1))) if match else 0


def events(episode: dict, kind: str) -> list[dict]:
    return [e for e in episode["events"] if e["kind"] == kind]


# --- configuration ---------------------------------------------------------------------------------------------
def alertmanager_config(generated: Path) -> dict:
    """The generated history route and receiver, alone under a silent root, with short timers."""
    config = yaml.safe_load(generated.read_text())
    route = next(r for r in config["route"]["routes"] if r["receiver"] == HISTORY_RECEIVER)
    receiver = next(r for r in config["receivers"] if r["name"] == HISTORY_RECEIVER)
    assert config["route"]["routes"][0] is route, "the history route must be the root's first child"
    # every alert but the dead man's switch (always firing: the pipeline's pulse, never an episode)
    assert route["continue"] is True and route["group_by"] == ["..."], route
    assert route["matchers"] == [NOT_WATCHDOG], route
    hook = receiver["webhook_configs"][0]
    assert hook["send_resolved"] is True and hook["max_alerts"] == 0, receiver
    return {"route": {"receiver": "null", "group_by": ["..."], "routes": [route | SHORT_TIMERS]},
            "receivers": [{"name": "null"}, receiver]}


def prometheus_config(generated: Path, faults: FaultEndpoint, alertmanagers: list[str], rules: Path) -> dict:
    """Every second: scrape the fault endpoint and the service (the generated job), evaluate the alert."""
    jobs = yaml.safe_load(generated.read_text())["scrape_configs"]
    service_job = next(job for job in jobs if job["job_name"] == ALERTS_JOB)
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [u.removeprefix("http://")
                                                                        for u in alertmanagers]}]}]},
        "scrape_configs": [{"job_name": "faults", "static_configs": [{"targets": [faults.target],
                                                                      "labels": {"cluster": "lab"}}]},
                           service_job],
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("lifecycle")
    spec_path = tmp / "spec.yaml"
    port = free_port()
    spec_path.write_text(SPEC.format(team=TEAM, member=MEMBER, port=port))
    spec = load_spec(spec_path)
    generate(spec, tmp / "out")
    (tmp / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config(
        tmp / "out/alertmanager/alertmanager.yml")))
    (tmp / "rules.yml").write_text(yaml.safe_dump(RULES))
    (tmp / "prometheus").mkdir()
    faults = FaultEndpoint()
    with contextlib.ExitStack() as stop:
        stop.callback(faults.close)
        cluster = stop.enter_context(running_alertmanager_cluster(tmp / "alertmanager.yml", tmp, size=2))
        service = Service(spec_path, port, tmp / "history.db", cluster.urls, tmp / "service.log")
        stop.callback(service.stop)
        service.start()
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(
            tmp / "out/prometheus/prometheus.yml", faults, cluster.urls, tmp / "rules.yml")))
        prometheus = Prometheus(tmp / "prometheus.yml", tmp / "prometheus")
        stop.callback(prometheus.stop)
        prometheus.start()
        yield Stack(spec, faults, cluster, prometheus, service)


@dataclass
class Silenced:
    episode: dict
    resolved_at: float  # monotonic time the fault was switched off


@pytest.fixture(scope="module")
def silenced(stack: Stack) -> Silenced:
    """A silence (made through Alertmanager's API, on both members) over an alert that then fires and resolves:
    no webhook ever carries either; the episode comes from the reconciler."""
    scenario = "silenced"
    now = time.time()
    silence = {"matchers": [{"name": "scenario", "value": scenario, "isRegex": False, "isEqual": True}],
               "startsAt": _rfc3339(now), "endsAt": _rfc3339(now + 3600), "createdBy": "lifecycle-e2e",
               "comment": "mutes the silenced scenario"}
    response = httpx.post(f"{stack.alertmanagers.urls[0]}/api/v2/silences", json=silence, timeout=5)
    assert response.status_code == 200, response.text
    silence_id = response.json()["silenceID"]
    for url in stack.alertmanagers.urls:  # gossiped to the other member before the alert arrives
        wait_until(lambda url=url: any(s["id"] == silence_id and s["status"]["state"] == "active"
                                       for s in httpx.get(f"{url}/api/v2/silences", timeout=5).json()),
                   10, f"the silence active on {url}")
    fired = stack.faults.set(scenario, True)
    episode = stack.only_episode(scenario)
    timing("silenced fault → episode (reconciler)", time.monotonic() - fired)
    wait_until(lambda: all(alerts and all(a["status"]["silencedBy"] == [silence_id] for a in alerts)
                           for alerts in stack.alertmanager_alerts(scenario)), 10, "the alert silenced in both members")
    return Silenced(stack.service.episode(episode["id"]), stack.faults.set(scenario, False))


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- scenarios (in this order: the silenced alert's clock runs while the others play) ------------------------------
def test_silenced_alert_is_recorded_by_the_reconciler_without_any_notification(silenced: Silenced) -> None:
    episode = silenced.episode
    assert episode["state"] == "firing" and episode["notifications"] == 0, episode
    assert not events(episode, "notified"), episode["events"]
    assert [e["source"] for e in events(episode, "fired")] == ["reconciler"], episode["events"]


def test_fire_repeat_resolve_makes_one_episode(stack: Stack) -> None:
    scenario = "repeats"
    sent_before, _ = stack.webhooks()
    fired = stack.faults.set(scenario, True)
    stack.only_episode(scenario)
    timing("fault → episode", time.monotonic() - fired)
    # The first notification and two repeats (repeat_interval 5 s), whichever member sends them.
    wait_until(lambda: sum(stack.webhooks()[0]) - sum(sent_before) >= 3, 3 * REPEAT_SECONDS + 10,
               "the first notification and two repeats", stack.service.log)
    firing = stack.only_episode(scenario, "firing")
    resolved = stack.faults.set(scenario, False)
    episode = stack.only_episode(scenario, "resolved")
    timing("fault cleared → episode resolved", time.monotonic() - resolved)
    sent_after, _ = stack.webhooks()
    print(f"\nwebhooks per Alertmanager member while it fired and resolved: "
          f"{[a - b for a, b in zip(sent_after, sent_before, strict=True)]}")
    assert episode["id"] == firing["id"]
    assert episode["ends_at"] is not None and episode["resolution_inferred"] is False, episode
    # Repeats within a minute of the last notification of the same status count once (intake's NOTIFY_DEDUP), so
    # the count here is the firing notification and the resolve.
    assert episode["notifications"] >= 2, episode
    detail = stack.service.episode(episode["id"])
    assert len(events(detail, "fired")) == 1 and len(events(detail, "resolved")) == 1, detail["events"]
    assert {e["source"] for e in events(detail, "notified")} == {"webhook"}, detail["events"]


def test_an_alert_fired_while_the_service_is_down_is_recorded_once_it_is_back(stack: Stack) -> None:
    scenario = "receiver-down"
    stack.service.stop()
    _, failed_before = stack.webhooks()
    fired = stack.faults.set(scenario, True)
    wait_until(lambda: all(stack.alertmanager_alerts(scenario)), 15, "the alert in both Alertmanagers")
    wait_until(lambda: sum(stack.webhooks()[1]) > sum(failed_before), 20, "a failed webhook while the service is "
               "down (Alertmanager tried)")
    time.sleep(2)
    restarted = time.monotonic()
    stack.service.start()
    episode = stack.only_episode(scenario)
    timing("service restarted → episode of the alert fired while it was down", time.monotonic() - restarted)
    timing("fault (service down) → episode", time.monotonic() - fired)
    first = events(stack.service.episode(episode["id"]), "fired")[0]["source"]
    # Alertmanager logged no notification while the post failed, so its next flush posts again.
    retried = wait_until(lambda: events(stack.service.episode(episode["id"]), "notified"), 15,
                         "Alertmanager's retried webhook", stack.service.log)
    timing("service restarted → Alertmanager's retried webhook", time.monotonic() - restarted)
    print(f"\nfirst seen by: {first}; then notified by {retried[0]['source']}")
    time.sleep(SETTLE)
    assert stack.only_episode(scenario, "firing")["id"] == episode["id"]
    stack.faults.set(scenario, False)
    assert stack.only_episode(scenario, "resolved")["id"] == episode["id"]


def test_an_alertmanager_restarted_while_an_alert_fires_changes_nothing(stack: Stack) -> None:
    scenario = "alertmanager-restart"
    fired = stack.faults.set(scenario, True)
    episode = stack.only_episode(scenario)
    timing("fault → episode", time.monotonic() - fired)
    started = time.monotonic()
    stack.alertmanagers.restart(0)  # the member that sends first: the other one takes over the repeats
    timing("Alertmanager member 0 restart (cluster whole again)", time.monotonic() - started)
    print(f"\nalerts of the scenario per member after the restart: "
          f"{[len(alerts) for alerts in stack.alertmanager_alerts(scenario)]}")
    time.sleep(REPEAT_SECONDS + SETTLE)  # reconcile passes and a repeat after the restart
    after = stack.only_episode(scenario)
    assert after["id"] == episode["id"] and after["state"] == "firing" and after["ends_at"] is None, after
    assert not events(stack.service.episode(episode["id"]), "resolved")
    stack.faults.set(scenario, False)
    resolved = stack.only_episode(scenario, "resolved")
    assert resolved["id"] == episode["id"] and resolved["resolution_inferred"] is False, resolved


def test_a_prometheus_restart_continues_the_episode(stack: Stack) -> None:
    scenario = "prometheus-restart"
    fired = stack.faults.set(scenario, True)
    episode = stack.only_episode(scenario)
    timing("fault → episode", time.monotonic() - fired)
    [before] = wait_until(lambda: stack.prometheus.alerts(scenario), 10, "the alert in Prometheus")
    started = time.monotonic()
    stack.prometheus.stop()
    restarted_at = time.time()  # anything Alertmanager updates from now on comes from the new Prometheus
    stack.prometheus.start()
    # With for: 0s nothing is restored: the restarted Prometheus fires the alert anew, with a new activeAt.
    [after] = wait_until(lambda: [a for a in stack.prometheus.alerts(scenario) if a["state"] == "firing"], 20,
                         "the alert firing again in the restarted Prometheus")
    timing("Prometheus restart → alert firing again", time.monotonic() - started)
    assert after["activeAt"] > before["activeAt"], (before, after)

    def resent() -> list[list[dict]]:  # the restarted Prometheus' send (or its first resend) reached both members
        listed = stack.alertmanager_alerts(scenario)
        return listed if all(a and _epoch(a[0]["updatedAt"]) > restarted_at for a in listed) else []

    members = wait_until(resent, 20, "the restarted Prometheus' alert in both members")
    # Alertmanager 0.25 merges an alert it still holds and keeps the earliest startsAt: the history sees no change.
    starts = sorted({a["startsAt"] for alerts in members for a in alerts})
    print(f"\nPrometheus activeAt {before['activeAt']} → {after['activeAt']}; Alertmanager startsAt now {starts}")
    time.sleep(SETTLE)
    continued = stack.only_episode(scenario)
    assert continued["id"] == episode["id"] and continued["state"] == "firing", continued
    detail = stack.service.episode(episode["id"])
    print(f"merged startsAt into the episode: {len(events(detail, 'merged'))}")
    assert not events(detail, "resolved"), detail["events"]
    stack.faults.set(scenario, False)
    resolved = stack.only_episode(scenario, "resolved")
    assert resolved["id"] == episode["id"] and resolved["resolution_inferred"] is False, resolved


def test_a_new_starts_at_that_reaches_the_service_is_merged_into_the_episode(stack: Stack) -> None:
    """Alertmanager keeps the earliest startsAt of an alert it still holds (above), so the new one reaches the
    history only from a member that forgot the alert: here member 0, restarted while Prometheus was down. The
    members then list two startsAt for one firing; the service merges them into one episode."""
    scenario = "new-starts-at"
    fired = stack.faults.set(scenario, True)
    episode = stack.only_episode(scenario)
    timing("fault → episode", time.monotonic() - fired)
    old = set.union(*stack.starts_at(scenario))
    stopped = time.monotonic()
    stack.prometheus.stop()
    stack.alertmanagers.restart(0)
    stack.prometheus.start()

    def both_listed() -> list[set[str]]:  # member 0 holds the alert again once Prometheus resent it
        listed = stack.starts_at(scenario)
        return listed if all(listed) else []

    starts = wait_until(both_listed, 20, "the alert in both members again")
    timing("Prometheus + member 0 restart → alert in both members again", time.monotonic() - stopped)
    print(f"\nstartsAt before {sorted(old)}; per member after {[sorted(s) for s in starts]}")
    assert starts[0] - old and starts[1] == old, (old, starts)

    def merged() -> dict | None:
        detail = stack.service.episode(episode["id"])
        return detail if events(detail, "merged") else None

    detail = wait_until(merged, 10, "the new startsAt merged into the episode", stack.service.log)
    assert stack.only_episode(scenario, "firing")["id"] == episode["id"]
    assert not events(detail, "resolved"), detail["events"]
    stack.faults.set(scenario, False)
    resolved = stack.only_episode(scenario, "resolved")
    assert resolved["id"] == episode["id"] and resolved["resolution_inferred"] is False, resolved


def test_every_query_of_the_alerts_dashboard_runs_and_its_panels_have_data(stack: Stack) -> None:
    """After the scenarios above. Two closes (as false_positive, by a member of the team through the proxy header)
    fill the close and false-positive panels: their series are born at the first close, and increase() needs a
    second one to see a rise."""
    for scenario in ("repeats", "receiver-down"):
        stack.service.close(stack.only_episode(scenario)["id"], "false_positive")
        time.sleep(2)  # scraped between the two, and after the second
    board = dashboards(stack.spec)["cachewatch-alerts"]
    errors, empty = [], []
    for panel in _panels(board):
        results = [stack.prometheus.query(_substitute(t["expr"])) for t in panel["targets"]]
        errors += [f"{panel['title']}: {r.get('error')}" for r in results if r["status"] != "success"]
        if all(not r.get("data", {}).get("result") for r in results):
            empty.append(panel["title"])
    assert not errors, "\n".join(errors)
    print(f"\n{len(_panels(board))} panels, empty: " + ", ".join(f"{t} ({(EXPECTED_EMPTY | MAY_BE_EMPTY)[t]})"
                                                              if t in EXPECTED_EMPTY | MAY_BE_EMPTY else t
                                                              for t in empty))
    unexplained = [title for title in empty if title not in EXPECTED_EMPTY | MAY_BE_EMPTY]
    assert not unexplained, f"panels without data and without a reason: {unexplained}"
    filled = [title for title in EXPECTED_EMPTY if title not in empty]
    assert not filled, f"panels said to stay empty have data (update EXPECTED_EMPTY): {filled}"


def test_the_silenced_alerts_resolve_is_concluded_after_the_absent_grace(stack: Stack,
                                                                           silenced: Silenced) -> None:
    """Takes ABSENT_GRACE (the spec's alert_lifecycle.absent_grace) after the fault was cleared."""
    scenario = "silenced"
    left = ABSENT_GRACE + 15 - (time.monotonic() - silenced.resolved_at)
    episode = stack.only_episode(scenario, "resolved", timeout=max(left, 5))
    timing("silenced fault cleared → episode resolved (absent grace 90 s)", time.monotonic() - silenced.resolved_at)
    assert episode["id"] == silenced.episode["id"]
    assert episode["ends_at"] is not None and episode["resolution_inferred"] is False, episode
    detail = stack.service.episode(episode["id"])
    assert [e["source"] for e in events(detail, "resolved")] == ["reconciler"], detail["events"]
    assert not events(detail, "notified"), detail["events"]


def _panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard["panels"]:
        out += [p for p in [panel, *panel.get("panels", [])] if p.get("targets")]
    return out


def _substitute(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr
