"""CacheHealthMonitor against real redis-servers, and a small HTTP server standing in for Alertmanager's API."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cachewatch.health.monitor import ALERT_NAME, CacheHealthMonitor
from cachewatch.health.targets import Credentials, Target
from cachewatch.local_redis import RedisServer, free_port
from tests.health.probe import PASSWORD, closed_port

Servers = Callable[..., RedisServer]
HEALTHY_ARGS = ("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru", "--latency-monitor-threshold", "100",
                "--save", "")
FAULTY_ARGS = ("--maxmemory-policy", "noeviction", "--latency-monitor-threshold", "100", "--save", "")
SHAPE = {"status", "checks", "timestamp"}
CHECK_SHAPE = {"id", "category", "status", "value", "unit", "title", "fix"}


def monitor_for(*ports: int, **options: object) -> CacheHealthMonitor:
    targets = [Target(host="127.0.0.1", port=port) for port in ports]
    return CacheHealthMonitor(targets, Credentials(password=PASSWORD), **options)  # type: ignore[arg-type]


def seconds(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def assert_shape(answer: dict) -> None:
    assert set(answer) >= SHAPE
    assert all(set(check) == CHECK_SHAPE for check in answer["checks"])
    assert abs(seconds(answer["timestamp"]) - time.time()) < 5


def statuses(answer: dict) -> dict[str, str]:
    return {c["id"]: c["status"] for c in answer["checks"]}


async def all_four(monitor: CacheHealthMonitor, address: str) -> list[dict]:
    try:
        return [await monitor.check_cache_health(address), await monitor.check_memory_health(address),
                await monitor.check_replication_health(address), await monitor.run_diagnostic_tests(address)]
    finally:
        await monitor.aclose()


# --- the four methods ---------------------------------------------------------------------------------------
def test_a_healthy_node_is_healthy_in_every_view(servers: Servers) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    cache, memory, replication, diagnostic = asyncio.run(all_four(monitor_for(server.port), server.addr))
    for answer in (cache, memory, replication, diagnostic):
        assert_shape(answer)
    assert cache["status"] == memory["status"] == diagnostic["status"] == "healthy"
    assert {c["category"] for c in memory["checks"]} == {"memory"}
    assert {c["category"] for c in replication["checks"]} == {"replication"}
    assert replication["status"] in {"healthy", "unknown"}  # a lone primary: replica checks skip
    assert {c["category"] for c in cache["checks"]} > {"memory", "replication", "security"}
    assert statuses(diagnostic)["mem.eviction_rate"] == "pass"  # the fourth call: a previous sample exists
    assert statuses(cache)["mem.eviction_rate"] == "skip"  # the first call had none
    assert all(d["id"] and d["why"] and d["fix"] for d in diagnostic["diagnostics"])
    assert not {d["id"] for d in diagnostic["diagnostics"]} & {
        c["id"] for c in diagnostic["checks"] if c["status"] in {"critical", "warning"}}


def test_a_cache_without_maxmemory_is_unhealthy_in_the_memory_view_and_diagnosed(servers: Servers) -> None:
    server = servers(*FAULTY_ARGS, password=PASSWORD)
    cache, memory, replication, diagnostic = asyncio.run(all_four(monitor_for(server.port), server.addr))
    assert cache["status"] == memory["status"] == diagnostic["status"] == "unhealthy"
    assert statuses(memory)["mem.maxmemory_unset"] == "critical"
    assert replication["status"] != "unhealthy"  # the fault is not a replication one
    found = {d["id"]: d for d in diagnostic["diagnostics"]}
    assert {"mem.maxmemory_unset", "cfg.eviction_policy"} <= set(found)
    assert found["mem.maxmemory_unset"]["seen"] == "yes" and "maxmemory" in found["mem.maxmemory_unset"]["fix"]
    assert next(iter(found)) == "mem.maxmemory_unset"  # worst first


def test_an_unreachable_node_is_unhealthy_with_net_connect_in_every_view() -> None:
    port = closed_port()
    answers = asyncio.run(all_four(monitor_for(port, timeout=1.0), f"127.0.0.1:{port}"))
    for answer in answers:
        assert_shape(answer)
        assert answer["status"] == "unhealthy"
        assert [c["id"] for c in answer["checks"]] == ["net.connect"]
    assert answers[3]["diagnostics"][0]["seen"].startswith("yes (connect:")


def test_an_address_that_is_not_monitored_is_a_key_error() -> None:
    async def ask() -> None:
        async with monitor_for(closed_port()) as monitor:
            await monitor.check_cache_health("10.9.9.9:6379")

    with pytest.raises(KeyError, match="not a monitored node"):
        asyncio.run(ask())


# --- run(): the loop and its Alertmanager posts -------------------------------------------------------------
class _AlertsApi(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.posts.append((self.path, time.time(), body))  # type: ignore[attr-defined]
        self.server.auth.append(self.headers.get("Authorization"))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def alertmanager() -> Iterator[ThreadingHTTPServer]:
    """A stand-in for Alertmanager's API that records every POST as (path, arrival time, JSON body)."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _AlertsApi)
    server.posts, server.auth = [], []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


async def until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def test_an_unhealthy_node_fires_and_then_resolves(servers: Servers, alertmanager: ThreadingHTTPServer) -> None:
    server = servers(*FAULTY_ARGS, password=PASSWORD)
    url = f"http://127.0.0.1:{alertmanager.server_address[1]}"
    posts = alertmanager.posts  # type: ignore[attr-defined]

    def resolved() -> list:
        return [(at, a) for _, at, body in posts for a in body if seconds(a["endsAt"]) <= at + 0.01]

    async def scenario() -> None:
        monitor = monitor_for(server.port, interval=0.2, alertmanager_url=url)
        stop = asyncio.Event()
        task = asyncio.create_task(monitor.run(stop))
        try:
            await until(lambda: posts)
            assert monitor.latest[server.addr].state == "unhealthy"
            server.cli("CONFIG", "SET", "maxmemory", "64mb")
            server.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
            await until(resolved)
            count = len(posts)
            await asyncio.sleep(0.6)
            assert len(posts) == count  # resolved once, then quiet while healthy
            assert monitor.latest[server.addr].state == "healthy"
        finally:
            stop.set()
            await task
            await monitor.aclose()

    asyncio.run(scenario())
    path, _, body = posts[0]
    assert path == "/api/v2/alerts" and len(body) == 1
    firing = body[0]
    assert firing["labels"] == {"alertname": ALERT_NAME, "instance": server.addr, "severity": "critical",
                                "source": "cachewatch-health"}
    assert "mem.maxmemory_unset" in firing["annotations"]["description"]
    assert firing["annotations"]["summary"] == f"Redis node {server.addr} is unhealthy"
    assert seconds(firing["endsAt"]) - seconds(firing["startsAt"]) == pytest.approx(0.6, abs=0.01)  # 3 intervals
    assert [a["labels"]["instance"] for _, a in resolved()] == [server.addr]


def test_the_cluster_label_and_basic_auth_from_the_url(servers: Servers, alertmanager: ThreadingHTTPServer) -> None:
    server = servers(*FAULTY_ARGS, password=PASSWORD)
    url = f"http://am:am-pw-4c1b@127.0.0.1:{alertmanager.server_address[1]}/"
    posts = alertmanager.posts  # type: ignore[attr-defined]

    async def scenario() -> None:
        monitor = CacheHealthMonitor([Target(host="127.0.0.1", port=server.port, cluster="sessions")],
                                     Credentials(password=PASSWORD), interval=0.2, alertmanager_url=url)
        stop = asyncio.Event()
        task = asyncio.create_task(monitor.run(stop))
        try:
            await until(lambda: posts)
        finally:
            stop.set()
            await task
            await monitor.aclose()

    asyncio.run(scenario())
    assert posts[0][0] == "/api/v2/alerts"
    assert posts[0][2][0]["labels"]["cluster"] == "sessions"
    assert alertmanager.auth[0] == "Basic " + base64.b64encode(b"am:am-pw-4c1b").decode()  # type: ignore[attr-defined]


def test_a_dead_alertmanager_is_logged_once_and_never_stops_the_loop(
        servers: Servers, caplog: pytest.LogCaptureFixture) -> None:
    server = servers(*FAULTY_ARGS, password=PASSWORD)
    dead = f"http://watcher:am-secret-9d2e@127.0.0.1:{closed_port()}"

    async def scenario() -> list[float]:
        monitor = monitor_for(server.port, interval=0.2, timeout=1.0, alertmanager_url=dead)
        stop = asyncio.Event()
        task = asyncio.create_task(monitor.run(stop))
        seen: list[float] = []
        try:
            deadline = time.monotonic() + 10
            while len(set(seen)) < 4 and time.monotonic() < deadline:
                if server.addr in monitor.latest:
                    seen.append(monitor.latest[server.addr].timestamp)
                await asyncio.sleep(0.05)
            assert not task.done()
        finally:
            stop.set()
            await task
            await monitor.aclose()
        return seen

    with caplog.at_level(logging.WARNING, logger="cachewatch.health.monitor"):
        seen = asyncio.run(scenario())
    assert len(set(seen)) >= 4  # cycles went on after failed posts
    failures = [r for r in caplog.records if r.getMessage() == "alertmanager post failed"]
    assert len(failures) == 1, failures
    logged = json.dumps(vars(failures[0]), default=str)
    assert "am-secret-9d2e" not in logged and "watcher" not in failures[0].url
