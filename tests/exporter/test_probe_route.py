"""The exporter's /probe route end to end: a real `cachewatch exporter` process serving the health part's
probe (wired in by the CLI), real redis-servers, and the same allowlist and credentials as /scrape."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest

from cachewatch.exporter.app import Exporter
from cachewatch.exporter.options import build_settings
from cachewatch.local_redis import RedisServer, start_redis, start_replica
from tests.support.exporter_process import ExporterProcess, http_get, start_exporter
from tests.support.fake_servers import BlackHole

PASSWORD = "probe-route-pw-3c9e"
TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"


@pytest.fixture(scope="module")
def primary() -> Iterator[RedisServer]:
    server = start_redis("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru", password=PASSWORD)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replica(primary: RedisServer) -> Iterator[RedisServer]:
    server = start_replica(primary)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def exporter(primary: RedisServer, replica: RedisServer, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[ExporterProcess]:
    """Allows 127.0.0.1:* and knows both servers' password from redis_exporter's password file."""
    password_file = tmp_path_factory.mktemp("probe-route") / "passwords.json"
    password_file.write_text(json.dumps({server.url: PASSWORD for server in (primary, replica)}))
    with start_exporter("--allow-target", "127.0.0.1:*", "--password-file", str(password_file)) as process:
        yield process
    password_file.unlink()


def test_health_probe_answers_with_the_probe_families(exporter: ExporterProcess, primary: RedisServer) -> None:
    result = exporter.get(f"/probe?target={primary.url}&module=health")
    assert result.status == 200 and result.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert result.value("redis_probe_success") == 1
    for phase in ("connect", "auth", "ping", "checks"):
        assert result.value(f'redis_probe_duration_seconds{{phase="{phase}"}}') >= 0
    assert result.value('redis_health_state{state="healthy"}') == 1
    assert "# TYPE redis_health_check_status gauge" in result.body
    assert result.value("redis_up") is None  # a probe is not a scrape


def test_module_defaults_to_health(exporter: ExporterProcess, primary: RedisServer) -> None:
    result = exporter.get(f"/probe?target={primary.addr}")
    assert result.status == 200 and result.value('redis_probe_duration_seconds{phase="checks"}') is not None


def test_replication_probe_reports_the_delay_per_replica(exporter: ExporterProcess, primary: RedisServer,
                                                         replica: RedisServer) -> None:
    result = exporter.get(f"/probe?target={primary.url}&module=replication")
    assert result.value("redis_probe_success") == 1
    assert result.value(f'redis_replication_probe_success{{replica="{replica.addr}"}}') == 1
    assert result.value(f'redis_replication_probe_delay_seconds{{replica="{replica.addr}"}}') >= 0


def test_a_target_outside_the_allowlist_is_refused(exporter: ExporterProcess) -> None:
    result = exporter.get("/probe?target=redis://10.1.2.3:6379")
    assert result.status == 403 and "not allowed" in result.body


def test_an_unknown_module_is_a_bad_request_naming_the_allowed_ones(exporter: ExporterProcess,
                                                                    primary: RedisServer) -> None:
    result = exporter.get(f"/probe?target={primary.url}&module=diagnose")
    assert result.status == 400
    assert all(name in result.body for name in ("health", "replication", "config"))
    assert exporter.get(f"/probe?target={primary.url}&kind=database").status == 400
    assert exporter.get("/probe?module=health").status == 400  # no target


def test_a_wrong_password_is_a_failed_probe_not_an_error(exporter: ExporterProcess) -> None:
    other = start_redis(password="a-password-the-exporter-does-not-know")
    try:
        result = exporter.get(f"/probe?target={other.url}")
    finally:
        other.stop()
    assert result.status == 200 and result.value("redis_probe_success") == 0
    assert result.value('redis_probe_duration_seconds{phase="ping"}') is not None  # NOAUTH: no password sent
    assert result.value('redis_health_state{state="unhealthy"}') == 1


def test_a_black_hole_answers_within_the_scrape_timeout_header(exporter: ExporterProcess) -> None:
    with BlackHole() as hole:
        start = time.monotonic()
        result = exporter.get(f"/probe?target=127.0.0.1:{hole.port}", {TIMEOUT_HEADER: "1"})
        elapsed = time.monotonic() - start
    assert result.status == 200 and result.value("redis_probe_success") == 0
    assert result.value('redis_probe_duration_seconds{phase="ping"}') > 0
    assert elapsed < 1.0 + 0.4  # the header's 1 s, not the configured 10 s (margin for a loaded machine)


def test_a_probe_waits_as_long_as_its_job_allows_beyond_the_exporters_scrape_timeout() -> None:
    """A stalled replica's heartbeat delay is the time the probe waited: capping the wait at the exporter's own
    scrape_timeout would report every stall as at most that, under a critical threshold set above it."""
    with BlackHole() as hole, start_exporter("--allow-target", "127.0.0.1:*", "--scrape-timeout", "1s") as process:
        result = process.get(f"/probe?target=127.0.0.1:{hole.port}", {TIMEOUT_HEADER: "3"})
    assert result.status == 200 and result.value("redis_probe_success") == 0
    assert result.value('redis_probe_duration_seconds{phase="ping"}') > 1.5  # the header's 3 s, not the 1 s


def test_probe_requests_are_counted(exporter: ExporterProcess, primary: RedisServer) -> None:
    exporter.get(f"/probe?target={primary.url}")
    metrics = exporter.get("/metrics")
    assert metrics.value('redis_exporter_http_requests_total{route="/probe",code="200"}') >= 1


def test_without_a_prober_probe_is_not_found() -> None:
    async def main() -> tuple[int, str]:
        exporter = Exporter(build_settings(None, {"allow_any_target": True}, env={}))
        await exporter.start("127.0.0.1", 0)
        try:
            result = await asyncio.to_thread(http_get, exporter.port, "/probe?target=127.0.0.1:6379")
        finally:
            await exporter.close()
        return result.status, result.body

    status, body = asyncio.run(main())
    assert status == 404 and "probing is not enabled" in body
