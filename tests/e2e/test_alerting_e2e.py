"""End to end: generated rules and routing, a real Prometheus and Alertmanager, the exporter, real Redis.

Killing a primary must page its team through the webhook with RedisDown within 60 s, and its replica's
lost link must raise RedisReplicationLinkDown; before that, nothing fires on the healthy fleet.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cachewatch.local_redis import free_port, require_binary, start_redis, start_replica
from cachewatch.promql import NOT_WATCHDOG, WATCHDOG
from cachewatch.spec import (
    Cluster,
    Escalation,
    FleetSpec,
    Intervals,
    Links,
    Node,
    Region,
    Team,
    Thresholds,
    WebhookChannel,
)
from cachewatch.spec.model import ExporterDeployment
from tests.support.exporter_process import start_exporter
from tests.support.specs import generate

CACHE_ARGS = ("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")  # configured like a real cache
PASSWORD = "alerting-e2e-pw-5d1e"  # a node without one is not healthy (sec.nopass_user is critical)


class Webhook:
    """Alertmanager's webhook receiver: records (arrival time, alert) for every alert notified."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.monotonic()
                hook.received += [(now, alert) for alert in body["alerts"]]
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def first(self, alertname: str, status: str = "firing") -> tuple[float, dict] | None:
        return next(((t, a) for t, a in self.received
                     if a["labels"]["alertname"] == alertname and a["status"] == status), None)


def query(port: int, promql: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)["data"]["result"]


def wait_for(check, timeout: float, step: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(step)
    return None


@pytest.fixture
def stack(tmp_path: Path):
    """Redis primary + replica, the exporter, Prometheus and Alertmanager from a generated spec, a webhook."""
    processes: list[subprocess.Popen] = []
    primary = start_redis(*CACHE_ARGS, password=PASSWORD)
    replica = start_replica(primary)
    replica.cli("CONFIG", "SET", "maxmemory", "64mb")
    replica.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({f"redis://{node.addr}": PASSWORD for node in (primary, replica)}))
    exporter = start_exporter("--allow-target", "127.0.0.1:*", "--password-file", str(passwords))
    hook = Webhook()
    am_port, prom_port = free_port(), free_port()
    spec = FleetSpec(
        name="e2e",
        regions=[Region(name="local", clusters=[Cluster(name="cache", team="oncall", nodes=[
            Node(address=primary.addr, role="primary", shard="s0"),
            Node(address=replica.addr, role="replica", shard="s0")])])],
        teams=[Team(name="oncall", channels={"hook": WebhookChannel(url=f"http://127.0.0.1:{hook.port}/")},
                    escalation=Escalation(critical=["hook"], warning=["hook"], info=["hook"],
                                          warning_only_in_business_hours=False))],
        intervals=Intervals(scrape=1, scrape_timeout=0.9, evaluation=1, group_wait=1, group_interval=2, probe=1,
                            probe_timeout=0.9),
        thresholds=Thresholds(replication_delay_warning_seconds=0.3, replication_delay_critical_seconds=0.8),
        exporter=ExporterDeployment(addresses=[f"127.0.0.1:{exporter.port}"]),
        links=Links(alertmanager_urls=[f"127.0.0.1:{am_port}"]),
    )
    out = tmp_path / "out"
    generate(spec, out)
    log = (tmp_path / "services.log").open("w")
    processes.append(subprocess.Popen([
        require_binary("prometheus-alertmanager"), f"--config.file={out / 'alertmanager' / 'alertmanager.yml'}",
        f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=",
    ], stdout=log, stderr=subprocess.STDOUT))
    processes.append(subprocess.Popen([
        require_binary("prometheus"), f"--config.file={out / 'prometheus' / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}",
    ], stdout=log, stderr=subprocess.STDOUT))
    try:
        yield {"primary": primary, "replica": replica, "hook": hook, "prometheus": prom_port,
               "log": tmp_path / "services.log"}
    finally:
        for proc in processes:
            proc.terminate()
            proc.wait(timeout=10)
        log.close()
        hook.server.shutdown()
        exporter.stop()
        replica.stop()
        primary.stop()


def test_killed_primary_pages_its_team_within_a_minute_and_raises_the_replication_alert(stack) -> None:
    prom, hook, primary, replica = stack["prometheus"], stack["hook"], stack["primary"], stack["replica"]
    both_up = wait_for(lambda: len(query(prom, 'redis_up{job="redis"} == 1')) == 2, 40)
    assert both_up, stack["log"].read_text()[-3000:]
    time.sleep(10)  # let every rule evaluate on the healthy fleet
    assert query(prom, f"ALERTS{{{NOT_WATCHDOG}}}") == [], "alerts on a healthy fleet"
    # the dead man's switch fires from the start, and only the heartbeat receiver (no integration here) gets it
    assert query(prom, f'ALERTS{{{WATCHDOG}, alertstate="firing"}}'), "the Watchdog does not fire"
    assert hook.received == []

    killed = time.monotonic()
    primary.kill()
    down = wait_for(lambda: hook.first("RedisDown"), 60)
    assert down is not None, f"no RedisDown within 60 s; got {[a['labels'] for _, a in hook.received]}"
    arrived, alert = down
    print(f"RedisDown delivered {arrived - killed:.1f} s after the kill")
    assert arrived - killed < 60
    assert alert["labels"] | {"team": "oncall", "severity": "critical", "instance": primary.addr,
                              "role": "primary", "cluster": "cache", "shard": "s0"} == alert["labels"]
    link = wait_for(lambda: hook.first("RedisReplicationLinkDown"), 60)
    assert link is not None and link[1]["labels"]["instance"] == replica.addr
