"""A real Alertmanager with the generated config pages the right team fast, and mutes maintenance windows."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cachewatch.local_redis import free_port
from cachewatch.spec import Escalation, FleetSpec, Intervals, MaintenanceWindow, Team, TimeWindow, WebhookChannel
from tests.support.alertmanager_process import running_alertmanager as running
from tests.support.specs import generate, tiny_spec


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
    """Alertmanager on the config generated for ``spec``."""
    generate(spec, tmp / "out")
    with running(tmp / "out" / "alertmanager" / "alertmanager.yml", tmp) as base:
        yield base


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
        "scrape-failing": (dict(alertname="RedisScrapeFailing", severity="warning", cluster="c5", instance="i7",
                                **node), "active"),
        "probe-failing": (dict(alertname="RedisProbeFailing", severity="warning", cluster="c5", instance="i8",
                               **node), "active"),
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
        # every node's RedisDown, RedisScrapeFailing and RedisProbeFailing, whatever its instance
        expected |= {"exporter": "active", "down": "suppressed", "scrape-failing": "suppressed",
                     "probe-failing": "suppressed"}
        assert settle(expected) == expected
