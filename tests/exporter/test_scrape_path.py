"""What one scrape costs Redis: one round trip, cached CONFIG and capabilities, a persistent connection."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

from cachewatch.exporter.info_parser import parse_info
from cachewatch.local_redis import RedisServer, start_redis
from cachewatch.redis_text import parse_pairs
from tests.support.exporter_process import ExporterProcess, start_exporter


@pytest.fixture
def fresh_redis() -> RedisServer:
    server = start_redis()
    yield server
    server.stop()


def server_stats(server: RedisServer) -> tuple[dict[str, str], dict[str, int]]:
    """INFO fields and calls per command, read with redis-cli (its own calls are visible, so subtract them)."""
    info = parse_info(server.cli("INFO", "ALL"))
    calls = {cmd: int(parse_pairs(raw)["calls"]) for cmd, raw in info.commandstats.items()}
    return info.fields, calls


def scrape_n(exporter: ExporterProcess, n: int, path: str = "/metrics") -> None:
    for _ in range(n):
        assert exporter.get(path).status == 200


def test_scrapes_reuse_one_connection_and_send_one_pipelined_read(fresh_redis: RedisServer) -> None:
    with start_exporter("--redis-addr", fresh_redis.url) as exporter:
        scrape_n(exporter, 2)  # connect, probe, baseline
        before, _ = server_stats(fresh_redis)
        scrape_n(exporter, 20)
        after, _ = server_stats(fresh_redis)
    # redis-cli itself opens one connection per call: only that one between the two snapshots.
    assert int(after["total_connections_received"]) - int(before["total_connections_received"]) == 1
    # One read event per scrape (the whole pipeline arrives together), plus redis-cli's own.
    reads = int(after["total_reads_processed"]) - int(before["total_reads_processed"])
    assert reads <= 20 + 3


def test_config_get_is_cached_and_refused_probes_are_not_repeated(fresh_redis: RedisServer) -> None:
    with start_exporter("--redis-addr", fresh_redis.url) as exporter:
        scrape_n(exporter, 1)
        fields_before, calls_before = server_stats(fresh_redis)
        scrape_n(exporter, 15)
        fields_after, calls_after = server_stats(fresh_redis)
    assert calls_after.get("config|get", 0) - calls_before.get("config|get", 0) == 0  # refreshed every 60 s
    assert calls_after.get("info", 0) - calls_before.get("info", 0) == 15 + 1  # + redis-cli's INFO
    # CLUSTER INFO fails on a standalone server; it was probed once and never sent again.
    assert calls_after.get("cluster|info", 0) == calls_before.get("cluster|info", 0)
    assert fields_after.get("total_error_replies") == fields_before.get("total_error_replies")


def test_concurrent_scrapes_of_one_target_share_a_round_trip(fresh_redis: RedisServer) -> None:
    with start_exporter("--redis-addr", fresh_redis.url, "--allow-target", "127.0.0.1:*") as exporter:
        scrape_n(exporter, 1)
        _, before = server_stats(fresh_redis)
        # Hold the server for 600 ms so that 8 scrapes surely overlap, then release them together.
        pause = concurrent.futures.ThreadPoolExecutor(1).submit(fresh_redis.cli, "DEBUG", "SLEEP", "0.6")
        time.sleep(0.2)  # let redis-cli start and the sleep begin
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: exporter.get(f"/scrape?target={fresh_redis.url}"), range(8)))
        pause.result()
        _, after = server_stats(fresh_redis)
        shared = exporter.get("/metrics").value("redis_exporter_shared_scrapes_total")
    assert all(r.status == 200 and r.value("redis_up") == 1 for r in results)
    assert after["info"] - before["info"] <= 2 + 1  # at most two round trips for 8 scrapes, + redis-cli
    assert shared and shared >= 6


def test_scrape_deadline_follows_prometheus_timeout_header(fresh_redis: RedisServer) -> None:
    with start_exporter("--redis-addr", fresh_redis.url) as exporter:
        scrape_n(exporter, 1)
        pause = concurrent.futures.ThreadPoolExecutor(1).submit(fresh_redis.cli, "DEBUG", "SLEEP", "2")
        time.sleep(0.1)
        start = time.monotonic()
        result = exporter.get("/metrics", {"X-Prometheus-Scrape-Timeout-Seconds": "1"})
        elapsed = time.monotonic() - start
        pause.result()
        recovered = exporter.get("/metrics")
    assert result.value("redis_up") == 0
    assert result.value('redis_exporter_last_scrape_error{err="timeout"}') == 1
    assert elapsed < 1.0 + 0.5
    assert recovered.value("redis_up") == 1  # reconnected after the timed-out connection was dropped


def test_connect_time_is_reported_once_connected(fresh_redis: RedisServer) -> None:
    with start_exporter("--redis-addr", fresh_redis.url) as exporter:
        result = exporter.get("/metrics")
    connect = result.value("redis_exporter_last_scrape_connect_time_seconds")
    assert connect is not None and 0 < connect < 1


def test_latency_data_is_refreshed_on_its_interval_and_served_from_cache_between(fresh_redis: RedisServer,
                                                                                  tmp_path) -> None:
    config = tmp_path / "exporter.yml"
    config.write_text("latency_refresh_interval: 500ms\n")
    fresh_redis.cli("SET", "k", "v")
    fresh_redis.cli("GET", "k")
    with start_exporter("--redis-addr", fresh_redis.url, "--config", str(config)) as exporter:
        first = exporter.get("/metrics")
        _, before = server_stats(fresh_redis)
        cached = [exporter.get("/metrics") for _ in range(10)]
        _, middle = server_stats(fresh_redis)
        time.sleep(0.6)
        refreshed = exporter.get("/metrics")
        _, after = server_stats(fresh_redis)
    bucket = 'redis_commands_latencies_usec_count{cmd="get"}'
    quantile = 'redis_latency_percentiles_usec{cmd="get",quantile="99"}'
    assert middle.get("latency|histogram", 0) == before.get("latency|histogram", 0)  # not sent while cached
    assert after["latency|histogram"] == middle.get("latency|histogram", 0) + 1
    for result in (first, *cached, refreshed):
        assert result.value(bucket) == 1 and result.value(quantile) is not None


def test_a_scrape_asks_info_for_the_sections_it_reads_and_not_for_modules(fresh_redis: RedisServer) -> None:
    with start_exporter("--redis-addr", fresh_redis.url) as exporter:
        scrape_n(exporter, 2)  # connect, full fetch, CONFIG
        fresh_redis.cli("CONFIG", "SET", "slowlog-log-slower-than", "0")  # from now on every command is logged
        scrape_n(exporter, 2)
        entries = fresh_redis.cli("SLOWLOG", "GET", "100")
    words = entries.splitlines()  # redis-cli prints each entry's arguments one per line
    assert "INFO" in words and "commandstats" in words and "keyspace" in words and "memory" in words
    assert "modules" not in words and "default" not in words and "ALL" not in words


def test_config_is_fetched_again_only_after_a_config_set(fresh_redis: RedisServer) -> None:
    with start_exporter("--redis-addr", fresh_redis.url) as exporter:
        scrape_n(exporter, 1)
        _, before = server_stats(fresh_redis)
        scrape_n(exporter, 5)
        _, quiet = server_stats(fresh_redis)
        fresh_redis.cli("CONFIG", "SET", "maxmemory", "123456789")
        changed = exporter.get("/metrics")
        _, after = server_stats(fresh_redis)
        scrape_n(exporter, 5)
        _, later = server_stats(fresh_redis)
    assert quiet.get("config|get", 0) == before.get("config|get", 0)
    assert changed.value("redis_config_maxmemory") == 123456789  # at the first scrape after the change
    assert after["config|get"] == quiet.get("config|get", 0) + 1
    assert later["config|get"] == after["config|get"]


def test_slowlog_get_is_sent_only_when_the_log_changed_and_its_newest_entry_is_served(
        fresh_redis: RedisServer) -> None:
    with start_exporter("--redis-addr", fresh_redis.url) as exporter:
        scrape_n(exporter, 2)
        _, before = server_stats(fresh_redis)
        scrape_n(exporter, 5)
        _, quiet = server_stats(fresh_redis)
        fresh_redis.cli("DEBUG", "SLEEP", "0.02")  # slower than the default 10 ms: one slowlog entry
        first = exporter.get("/metrics")
        fresh_redis.cli("SLOWLOG", "RESET")
        fresh_redis.cli("DEBUG", "SLEEP", "0.03")  # the same length as before, a newer entry
        second = exporter.get("/metrics")
        _, after = server_stats(fresh_redis)
    assert quiet.get("slowlog|get", 0) == before.get("slowlog|get", 0)
    assert first.value("redis_slowlog_length") == 1 and second.value("redis_slowlog_length") == 1
    assert second.value("redis_slowlog_last_id") == first.value("redis_slowlog_last_id") + 1
    assert 0.02 <= first.value("redis_last_slow_execution_duration_seconds") < 0.03 <= (
        second.value("redis_last_slow_execution_duration_seconds"))
    assert after["slowlog|get"] == quiet.get("slowlog|get", 0) + 2


def test_concurrent_metrics_requests_each_get_the_exporter_series_once(fresh_redis: RedisServer) -> None:
    with start_exporter("--redis-addr", fresh_redis.url) as exporter:
        scrape_n(exporter, 1)
        pause = concurrent.futures.ThreadPoolExecutor(1).submit(fresh_redis.cli, "DEBUG", "SLEEP", "0.5")
        time.sleep(0.2)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: exporter.get("/metrics"), range(4)))
        pause.result()
        shared = exporter.get("/metrics").value("redis_exporter_shared_scrapes_total")
    assert shared and shared >= 2  # the requests did share a round trip ...
    for result in results:  # ... and none of them saw another's own series added to the shared result
        assert sum(line.startswith("redis_exporter_build_info") for line in result.series()) == 1
