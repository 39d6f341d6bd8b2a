"""Fault injection against the real exporter process: dead, hostile, huge, paused and forbidden targets.

A failed scrape must still be an HTTP 200, within the scrape deadline, with ``redis_up 0`` and
exactly one ``redis_exporter_last_scrape_error{err="<reason>"} 1`` whose reason is a short
snake_case word; afterwards the exporter must keep serving (/health and a good Redis).
A bad /scrape request gets a 4xx and contacts nothing.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest

from cachewatch.local_redis import RedisServer, start_redis
from tests.support.exporter_process import ExporterProcess, HttpResult, start_exporter
from tests.support.fake_servers import (
    BigInfoServer,
    BlackHole,
    ConnectionCounter,
    EndlessInfoServer,
    FakeServer,
    GarbageSpeaker,
    RespServer,
)

TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
DEFAULT_TIMEOUT = 3.0  # the timeout header every fault scrape sends, unless a test needs another
SLACK = 0.3  # on top of the header: the exporter must answer before Prometheus gives up
MB = 1024 * 1024
ERROR_SERIES = re.compile(r'redis_exporter_last_scrape_error\{err="([^"]*)"\} (\S+)')
REASON = re.compile(r"[a-z][a-z_]{1,30}")


# --- helpers ------------------------------------------------------------------------------------------


def closed_ports(count: int) -> list[int]:
    """Ports on 127.0.0.1 with nothing listening, below the ephemeral range (no self-connect possible)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    ports = []
    for port in range(low - 1, 1024, -1):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 111:  # ECONNREFUSED
                ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError(f"found only {len(ports)} closed ports")


def scrape_path(target: str | int) -> str:
    """/scrape for a port on 127.0.0.1, or for any target text (URL-encoded)."""
    text = f"redis://127.0.0.1:{target}" if isinstance(target, int) else target
    return f"/scrape?target={quote(text, safe='')}"


def timed_get(exporter: ExporterProcess, path: str, timeout: float = DEFAULT_TIMEOUT) -> tuple[HttpResult, float]:
    start = time.monotonic()
    result = exporter.get(path, {TIMEOUT_HEADER: str(timeout)})
    return result, time.monotonic() - start


def scrape_errors(result: HttpResult) -> dict[str, float]:
    """The ``redis_exporter_last_scrape_error`` series: err label → value."""
    errors = {}
    for line in result.series():
        if line.startswith("redis_exporter_last_scrape_error"):
            match = ERROR_SERIES.fullmatch(line)
            assert match, f"malformed series: {line}"
            errors[match[1]] = float(match[2])
    return errors


def assert_down(result: HttpResult, reason: str | set[str]) -> None:
    """``redis_up 0`` and exactly one scrape-error series, set to 1, with ``reason`` (or one of a set)."""
    assert result.status == 200, f"HTTP {result.status}: {result.body[:300]}"
    assert result.value("redis_up") == 0, result.body[:2000]
    errors = scrape_errors(result)
    expected = {reason} if isinstance(reason, str) else reason
    assert len(errors) == 1 and set(errors) <= expected and set(errors.values()) == {1}, (
        f"expected err in {sorted(expected)}, got {errors}")
    assert all(REASON.fullmatch(err) for err in errors), f"reason {errors} is not a short snake_case word"


def assert_up(result: HttpResult) -> None:
    assert result.status == 200, f"HTTP {result.status}: {result.body[:300]}"
    assert result.value("redis_up") == 1, result.body[:2000]
    assert scrape_errors(result) == {"": 0}


def assert_fails_in_time(exporter: ExporterProcess, path: str, reason: str | set[str],
                         timeout: float = DEFAULT_TIMEOUT) -> HttpResult:
    """The scrape answers 200 with ``redis_up 0`` and ``err=reason`` before the timeout header runs out."""
    result, elapsed = timed_get(exporter, path, timeout)
    assert_down(result, reason)
    assert elapsed < timeout + SLACK, f"answered after {elapsed:.2f}s; Prometheus gave up at {timeout}s"
    return result


def assert_still_serving(exporter: ExporterProcess, good: RedisServer) -> None:
    assert exporter.get("/health", timeout=5).status == 200
    result, _ = timed_get(exporter, scrape_path(good.port))
    assert_up(result)


def rss(exporter: ExporterProcess) -> int:
    return psutil.Process(exporter.proc.pid).memory_info().rss


@contextlib.contextmanager
def paused(server: RedisServer, seconds: int) -> Iterator[None]:
    """``DEBUG SLEEP seconds`` from another client; the block ends when the server answers again (or died)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=seconds + 10) as sock:
        sock.sendall(f"DEBUG SLEEP {seconds}\r\n".encode())
        time.sleep(0.2)  # let the server pick the command up before the test scrapes
        yield
        if server.proc.poll() is None:
            assert sock.recv(64).startswith(b"+OK")


def wait_until_exporter_disconnected(server: RedisServer, timeout: float = 10.0) -> None:
    """Until the server has closed the exporter's connection (CLIENT LIST shows no ``name=cachewatch``)."""
    deadline = time.monotonic() + timeout
    while "name=cachewatch" in server.cli("CLIENT", "LIST"):
        assert time.monotonic() < deadline, "the server kept the exporter's connection"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def exporter() -> Iterator[ExporterProcess]:
    """May scrape anything on 127.0.0.1."""
    with start_exporter("--allow-target", "127.0.0.1:*", "--scrape-timeout", "5s") as proc:
        yield proc


@pytest.fixture(scope="module")
def narrow_exporter(redis_primary: RedisServer) -> Iterator[ExporterProcess]:
    """May scrape only the good Redis."""
    with start_exporter("--allow-target", redis_primary.addr, "--scrape-timeout", "5s") as proc:
        yield proc


@pytest.fixture(scope="module")
def protected_redis() -> Iterator[RedisServer]:
    server = start_redis(password="right-pw")
    yield server
    server.stop()


# --- unreachable and hostile targets ------------------------------------------------------------------


def test_closed_port_reports_connection_refused(exporter: ExporterProcess, redis_primary: RedisServer) -> None:
    assert_fails_in_time(exporter, scrape_path(closed_ports(1)[0]), "connection_refused")
    assert_still_serving(exporter, redis_primary)


def test_black_hole_times_out_before_prometheus_gives_up(exporter: ExporterProcess,
                                                         redis_primary: RedisServer) -> None:
    with BlackHole() as hole:
        assert_fails_in_time(exporter, scrape_path(hole.port), "timeout", timeout=1.5)
        assert hole.connections == 1
    assert_still_serving(exporter, redis_primary)


@pytest.mark.parametrize("server", [
    pytest.param(lambda: GarbageSpeaker(), id="invalid_type_byte_and_random_bytes"),
    pytest.param(lambda: GarbageSpeaker(b"$abc\r\n"), id="bad_bulk_length"),
    pytest.param(lambda: GarbageSpeaker(b"*-5\r\n"), id="bad_array_length"),
    pytest.param(lambda: RespServer(lambda command: b":1\r\n"), id="info_answered_with_an_integer"),
])
def test_garbage_reply_reports_protocol_error(exporter: ExporterProcess, redis_primary: RedisServer,
                                              server) -> None:
    with server() as garbage:
        for _ in range(2):  # and again, on whatever connection state the first failure left
            assert_fails_in_time(exporter, scrape_path(garbage.port), "protocol_error")
    assert_still_serving(exporter, redis_primary)


def test_server_hanging_up_on_connect_reports_connection_closed(exporter: ExporterProcess,
                                                                redis_primary: RedisServer) -> None:
    with ConnectionCounter() as hang_up:
        assert_fails_in_time(exporter, scrape_path(hang_up.port), "connection_closed")
    assert_still_serving(exporter, redis_primary)


# --- authentication -----------------------------------------------------------------------------------


def main_target_exporter(redis: RedisServer, good: RedisServer, password: str | None):
    env = {"REDIS_PASSWORD": password} if password is not None else None
    return start_exporter("--redis-addr", redis.url, "--allow-target", good.addr, "--scrape-timeout", "5s",
                          env=env)


def test_right_password_scrapes_the_protected_server(protected_redis: RedisServer,
                                                     redis_primary: RedisServer) -> None:
    """Control for the two failures below: the same setup with the right password works."""
    with main_target_exporter(protected_redis, redis_primary, "right-pw") as proc:
        assert_up(timed_get(proc, "/metrics")[0])


def test_wrong_password_reports_auth_failed(protected_redis: RedisServer, redis_primary: RedisServer) -> None:
    with main_target_exporter(protected_redis, redis_primary, "wrong-pw") as proc:
        result = assert_fails_in_time(proc, "/metrics", "auth_failed")
        assert_still_serving(proc, redis_primary)
        for secret in ("wrong-pw", "right-pw"):
            assert secret not in result.body
            assert secret not in proc.logs()


def test_no_password_for_a_protected_server_reports_auth_required(protected_redis: RedisServer,
                                                                  redis_primary: RedisServer) -> None:
    """Without a password the connect succeeds (no AUTH is sent) and INFO answers NOAUTH."""
    with main_target_exporter(protected_redis, redis_primary, None) as proc:
        assert_fails_in_time(proc, "/metrics", "auth_required")
        assert_still_serving(proc, redis_primary)


# --- a Redis that dies or stalls ----------------------------------------------------------------------


def test_killed_redis_reports_down_then_reconnects_after_restart(exporter: ExporterProcess,
                                                                 redis_primary: RedisServer) -> None:
    server = start_redis()
    port = server.port
    try:
        assert_up(timed_get(exporter, scrape_path(port))[0])
        server.kill()
        # The persistent connection died with the server: found either on use or before reconnecting.
        assert_fails_in_time(exporter, scrape_path(port), {"connection_closed", "connection_refused"})
        assert_fails_in_time(exporter, scrape_path(port), "connection_refused")
        assert_still_serving(exporter, redis_primary)
    finally:
        server.stop()
    server = start_redis(port=port)
    try:
        assert_up(timed_get(exporter, scrape_path(port))[0])
    finally:
        server.stop()


def test_redis_killed_during_a_scrape_reports_connection_closed(exporter: ExporterProcess,
                                                                redis_primary: RedisServer) -> None:
    """The scrape in flight ends with the connection, not at its deadline."""
    server = start_redis("--enable-debug-command", "yes")
    try:
        assert_up(timed_get(exporter, scrape_path(server.port))[0])
        with paused(server, 5), ThreadPoolExecutor(1) as pool:
            pending = pool.submit(timed_get, exporter, scrape_path(server.port))
            time.sleep(0.5)  # the scrape now waits for the paused server's replies
            server.kill()
            result, elapsed = pending.result()
        assert_down(result, "connection_closed")
        assert elapsed < DEFAULT_TIMEOUT
        assert_still_serving(exporter, redis_primary)
    finally:
        server.stop()


def test_restarted_redis_is_up_on_the_first_scrape_after_restart(exporter: ExporterProcess) -> None:
    server = start_redis()
    port = server.port
    try:
        assert_up(timed_get(exporter, scrape_path(port))[0])
        server.kill()
    finally:
        server.stop()
    server = start_redis(port=port)  # restarted between two scrapes, as in a rolling restart
    try:
        assert_up(timed_get(exporter, scrape_path(port))[0])
    finally:
        server.stop()


def test_redis_closing_idle_clients_does_not_make_redis_up_flap(exporter: ExporterProcess) -> None:
    """A server with ``timeout 1`` (idle clients are closed) scraped less often than that."""
    server = start_redis("--timeout", "1")
    try:
        assert_up(timed_get(exporter, scrape_path(server.port))[0])
        wait_until_exporter_disconnected(server)
        assert_up(timed_get(exporter, scrape_path(server.port))[0])
    finally:
        server.stop()


def test_paused_redis_times_out_then_recovers(exporter: ExporterProcess, redis_primary: RedisServer) -> None:
    server = start_redis("--enable-debug-command", "yes")
    try:
        assert_up(timed_get(exporter, scrape_path(server.port))[0])  # a persistent connection exists
        with paused(server, 2):  # outlasts the 1 s scrape deadline with room to spare; then it answers again
            assert_fails_in_time(exporter, scrape_path(server.port), "timeout", timeout=1.0)
            assert_still_serving(exporter, redis_primary)  # a stalled target blocks nobody else
        assert_up(timed_get(exporter, scrape_path(server.port))[0])
    finally:
        server.stop()


# --- huge replies ---------------------------------------------------------------------------------------


# The slow stream always runs into the deadline, so it gets a short one; the fast ones stop at the size limit.
@pytest.mark.parametrize(("server", "reason", "timeout"), [
    pytest.param(lambda: EndlessInfoServer(), "reply_too_large", 2.0, id="declares_2GB_streams_fast"),
    pytest.param(lambda: EndlessInfoServer(rate=2 * MB), "timeout", 1.0, id="declares_2GB_streams_slowly"),
    pytest.param(lambda: BigInfoServer(50 * MB), "reply_too_large", 2.0, id="real_50MB_bulk"),
])
def test_huge_info_reply_is_cut_off_without_eating_memory(exporter: ExporterProcess, redis_primary: RedisServer,
                                                          server, reason: str, timeout: float) -> None:
    before = rss(exporter)
    with server() as huge:
        for _ in range(3):
            assert_fails_in_time(exporter, scrape_path(huge.port), reason, timeout=timeout)
    grown = rss(exporter) - before
    assert grown <= 64 * MB, f"exporter RSS grew by {grown / MB:.1f} MB"
    assert_still_serving(exporter, redis_primary)


# --- refused /scrape requests -----------------------------------------------------------------------------


@pytest.mark.parametrize("target", [
    "unix:///tmp/x",
    "redis://:s3cret-in-url@127.0.0.1:{port}",
    "redis://monitor:s3cret-in-url@127.0.0.1:{port}",
    "http://127.0.0.1:{port}",
    "redis://127.0.0.1:99999",
    "redis://127.0.0.1:{port}/notadb",
    "redis://127.0.0.1:{port}?db=1",
    "redis://:{port}",
    "",
])
def test_bad_scrape_target_is_refused_with_4xx(exporter: ExporterProcess, redis_primary: RedisServer,
                                               target: str) -> None:
    with ConnectionCounter() as counter:
        result = exporter.get(scrape_path(target.format(port=counter.port)))
        assert 400 <= result.status < 500, f"HTTP {result.status}: {result.body[:300]}"
        assert "s3cret-in-url" not in result.body
        assert_not_contacted(counter)
    assert "s3cret-in-url" not in exporter.logs()
    assert exporter.get("/scrape").status == 400  # no target at all
    assert_still_serving(exporter, redis_primary)


def assert_not_contacted(server: FakeServer) -> None:
    time.sleep(0.2)  # a connection the exporter started in the background would have arrived by now
    assert server.connections == 0, f"the exporter connected {server.connections} time(s)"


@pytest.mark.parametrize("target", [
    "redis://127.0.0.1:{port}",
    "127.0.0.1:{port}",
    "rediss://127.0.0.1:{port}",
    "valkey://monitor@127.0.0.1:{port}/1",
    "localhost:{port}",
])
def test_target_outside_the_allowlist_is_refused_and_never_contacted(
        narrow_exporter: ExporterProcess, redis_primary: RedisServer, target: str) -> None:
    with ConnectionCounter() as counter:
        text = quote(target.format(port=counter.port), safe="")
        for route in ("/scrape", "/discover-cluster-nodes"):
            result = narrow_exporter.get(f"{route}?target={text}")
            assert result.status == 403, f"{route}: HTTP {result.status}: {result.body[:300]}"
        assert_not_contacted(counter)
    assert_still_serving(narrow_exporter, redis_primary)  # the allowlisted target is scraped


# --- no leaks ---------------------------------------------------------------------------------------------


class KeepAliveClient:
    """One persistent HTTP connection that scrapes and returns the scrape-error reason."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def scrape(self, path: str, timeout: str) -> str:
        self.conn.request("GET", path, headers={TIMEOUT_HEADER: timeout})
        response = self.conn.getresponse()
        body = response.read().decode()
        assert response.status == 200, f"HTTP {response.status}: {body[:300]}"
        assert "\nredis_up 0\n" in f"\n{body}", body[:2000]
        match = ERROR_SERIES.search(body)
        assert match and match[2] == "1", body[:2000]
        return match[1]

    def close(self) -> None:
        self.conn.close()


def scrape_round_robin(clients: list[KeepAliveClient], paths: list[str], total: int) -> Counter[str]:
    """``total`` scrapes spread over ``paths``, one thread per client; returns reason counts."""
    lock = threading.Lock()
    reasons: Counter[str] = Counter()

    def worker(index: int) -> None:
        mine: Counter[str] = Counter()
        for n in range(index, total, len(clients)):
            mine[clients[index].scrape(paths[n % len(paths)], "0.1")] += 1
        with lock:
            reasons.update(mine)

    with ThreadPoolExecutor(len(clients)) as pool:
        for future in [pool.submit(worker, i) for i in range(len(clients))]:
            future.result()
    return reasons


def settled_usage(process: psutil.Process) -> tuple[int, int]:
    time.sleep(0.5)  # let closing transports finish
    return process.num_fds(), process.memory_info().rss


def test_ten_thousand_dead_target_scrapes_leak_no_fds_or_memory(redis_primary: RedisServer) -> None:
    with BlackHole() as hole, start_exporter("--allow-target", "127.0.0.1:*", "--scrape-timeout", "2s") as proc:
        paths = [scrape_path(port) for port in closed_ports(50)] + [scrape_path(hole.port)]
        process = psutil.Process(proc.proc.pid)
        # 16 clients: the black hole's timeouts overlap instead of queueing (the run is CPU-bound, not idle)
        clients = [KeepAliveClient(proc.port) for _ in range(16)]
        try:
            warm_up = scrape_round_robin(clients, paths, 500)
            fds_before, rss_before = settled_usage(process)
            reasons = scrape_round_robin(clients, paths, 10_000)
            fds_after, rss_after = settled_usage(process)
        finally:
            for client in clients:
                client.close()
        assert set(warm_up) | set(reasons) == {"connection_refused", "timeout"}, reasons
        assert reasons.total() == 10_000
        assert fds_after - fds_before <= 5, f"open fds {fds_before} → {fds_after}"
        assert rss_after - rss_before <= 10 * MB, f"RSS grew by {(rss_after - rss_before) / MB:.1f} MB"
        # 10,500 failures of 51 targets, each with one reason: one log line per target (rate-limited per reason)
        assert proc.logs().count('"msg": "scrape failed"') == len(paths)
        assert_still_serving(proc, redis_primary)
