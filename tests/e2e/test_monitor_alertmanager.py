"""CacheHealthMonitor posts to a real Alertmanager: the alert shows in its API while the node is unhealthy and
leaves it when the node is fixed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cachewatch.health.monitor import ALERT_NAME, CacheHealthMonitor
from cachewatch.health.targets import Credentials, Target
from cachewatch.local_redis import start_redis
from tests.support.alertmanager_process import running_alertmanager as running

PASSWORD = "monitor-e2e-pw-3a7c"
CONFIG = "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n"
FILTER = urllib.parse.quote(f'alertname="{ALERT_NAME}"')


@contextmanager
def running_alertmanager(tmp: Path) -> Iterator[str]:
    """Alertmanager with a config that routes everything nowhere: only its API matters here."""
    (tmp / "alertmanager.yml").write_text(CONFIG)
    with running(tmp / "alertmanager.yml", tmp) as base:
        yield base


def active(base: str) -> list[dict]:
    with urllib.request.urlopen(f"{base}/api/v2/alerts?filter={FILTER}", timeout=5) as response:
        return json.loads(response.read())


async def until(condition: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


def test_the_monitors_alert_is_active_in_alertmanager_until_the_node_is_fixed(tmp_path: Path) -> None:
    server = start_redis("--maxmemory-policy", "noeviction", "--save", "", password=PASSWORD)
    try:
        with running_alertmanager(tmp_path) as base:
            async def scenario() -> list[dict]:
                monitor = CacheHealthMonitor([Target(host="127.0.0.1", port=server.port, cluster="sessions")],
                                             Credentials(password=PASSWORD), interval=0.5, alertmanager_url=base)
                stop = asyncio.Event()
                task = asyncio.create_task(monitor.run(stop))
                try:
                    await until(lambda: active(base))
                    firing = active(base)
                    server.cli("CONFIG", "SET", "maxmemory", "64mb")
                    server.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
                    await until(lambda: not active(base))
                    return firing
                finally:
                    stop.set()
                    await task
                    await monitor.aclose()

            firing = asyncio.run(scenario())
    finally:
        server.stop()
    assert len(firing) == 1 and firing[0]["status"]["state"] == "active"
    assert firing[0]["labels"] == {"alertname": ALERT_NAME, "instance": server.addr, "cluster": "sessions",
                                   "severity": "critical", "source": "cachewatch-health"}
    assert "mem.maxmemory_unset" in firing[0]["annotations"]["description"]


def test_health_watch_with_alertmanager_posts_the_same_alert_from_the_command_line(tmp_path: Path) -> None:
    server = start_redis("--maxmemory-policy", "noeviction", "--save", "", password=PASSWORD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")} | {"REDIS_PASSWORD": PASSWORD}
    try:
        with running_alertmanager(tmp_path) as base:
            command = subprocess.Popen(
                [sys.executable, "-m", "cachewatch", "health", "--target", server.url, "--watch", "0.5s",
                 "--json", "--alertmanager", base], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            try:
                asyncio.run(until(lambda: active(base)))
                firing = active(base)
                server.cli("CONFIG", "SET", "maxmemory", "64mb")
                server.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
                asyncio.run(until(lambda: not active(base)))
            finally:
                command.send_signal(signal.SIGTERM)
                out, err = command.communicate(timeout=10)
    finally:
        server.stop()
    assert command.returncode == 0, err  # the last cycle saw the fixed node
    assert firing[0]["labels"]["instance"] == server.addr and firing[0]["labels"]["alertname"] == ALERT_NAME
    assert PASSWORD not in out + err
