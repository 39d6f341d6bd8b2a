"""CacheHealthMonitor posts to a real Alertmanager: the alert shows in its API while the node is unhealthy and
leaves it when the node is fixed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cachewatch.health.monitor import ALERT_NAME, CacheHealthMonitor
from cachewatch.health.targets import Credentials, Target
from cachewatch.local_redis import free_port, require_binary, start_redis

PASSWORD = "monitor-e2e-pw-3a7c"
CONFIG = "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n"
FILTER = urllib.parse.quote(f'alertname="{ALERT_NAME}"')


@contextmanager
def running_alertmanager(tmp: Path) -> Iterator[str]:
    binary = require_binary("prometheus-alertmanager")
    (tmp / "alertmanager.yml").write_text(CONFIG)
    port = free_port()
    with (tmp / "alertmanager.log").open("w") as log:
        proc = subprocess.Popen([binary, f"--config.file={tmp / 'alertmanager.yml'}", f"--storage.path={tmp / 'data'}",
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
