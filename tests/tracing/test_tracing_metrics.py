"""The client library's metrics plumbing: exact lock-free counts under threads, counts that survive their
threads and clients, exposition that promtool accepts, the brief's facades, and JSON logs with trace ids."""

from __future__ import annotations

import contextlib
import gc
import io
import json
import logging
import subprocess
import threading
from collections.abc import Iterator

import pytest
import redis
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry, generate_latest

from cachewatch.local_redis import RedisServer
from cachewatch.logs import JsonFormatter, LogRateLimiter
from cachewatch.tracing import CacheMetricsCollector, CacheTracingService, instrument, metrics_for
from cachewatch.tracing.accumulators import KeyedCounts, OpStats
from tests.support.tracing import prefix, recorder

REQ = "cache_requests_total"


@contextlib.contextmanager
def json_lines(logger_name: str) -> Iterator[io.StringIO]:
    """What ``logger_name`` writes while the block runs, formatted by cachewatch's JsonFormatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def test_op_stats_are_exact_across_threads_and_after_they_end() -> None:
    stats = OpStats((0.001, 0.01))

    def work() -> None:
        for i in range(20_000):
            slots = stats.observe(0.0005 if i % 2 else 0.005)
            slots[stats.hits] += 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    totals = stats.totals()
    assert totals[:3] == [80_000, 80_000, 0] and totals[stats.hits] == 160_000
    assert totals[stats.sum] == pytest.approx(80_000 * 0.0005 + 80_000 * 0.005)
    assert stats.totals() == totals  # folding finished threads loses nothing and counts nothing twice
    assert stats._threads == []  # their slots were folded into the retired total


def test_keyed_counts_are_exact_across_threads() -> None:
    counts = KeyedCounts()
    threads = [threading.Thread(target=lambda: [counts.add(("a",)) for _ in range(10_000)]) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts.totals() == {("a",): 60_000}


def test_counts_of_a_dropped_client_stay(redis_app: RedisServer) -> None:
    registry = CollectorRegistry()
    client = redis.Redis(port=redis_app.port)
    instrument(client, registry=registry, cache="gone", tracer_provider=recorder().provider)
    client.get(prefix("gone") + "k")
    client.close()
    del client
    gc.collect()
    assert registry.get_sample_value(REQ, {"cache": "gone", "operation": "GET", "result": "miss",
                                            "key_class": ""}) == 1
    assert registry.get_sample_value("db_client_operation_duration_seconds_count",
                                     {"db_system_name": "redis", "db_operation_name": "GET", "cache": "gone"}) == 1


def test_two_clients_with_one_cache_name_add_up(redis_app: RedisServer) -> None:
    rec = recorder()
    for _ in range(2):
        client = redis.Redis(port=redis_app.port)
        instrument(client, registry=rec.registry, tracer_provider=rec.provider, cache="shared")
        client.get(prefix("shared") + "k")
    assert rec.value(REQ, cache="shared", operation="GET", result="miss", key_class="") == 2
    text = generate_latest(rec.registry).decode()
    assert text.count('db_client_operation_duration_seconds_count{cache="shared"') == 1


def test_exposition_passes_promtool(redis_app: RedisServer, tmp_path) -> None:
    from cachewatch.local_redis import require_binary

    rec = recorder()
    client = redis.Redis(port=redis_app.port)
    instrument(client, registry=rec.registry, tracer_provider=rec.provider, cache="lint")
    p = prefix("lint")
    client.set(f"{p}k", 1)
    client.get(f"{p}k")
    with pytest.raises(redis.ResponseError):
        client.lpush(f"{p}k", 1)
    text = generate_latest(rec.registry)
    out = subprocess.run([require_binary("promtool"), "check", "metrics"], input=text, capture_output=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()


def test_metrics_collector_facade_lands_in_the_same_series() -> None:
    registry = CollectorRegistry()
    facade = CacheMetricsCollector(cache="catalog", registry=registry)
    facade.record_cache_hit("get")
    facade.record_cache_hit("get", count=2)
    facade.record_cache_miss("get")
    facade.record_error("get", redis.TimeoutError("slow"))
    facade.record_error("get", "serialization")
    facade.record_resource_usage(in_use=3, idle=7, max_connections=50)
    value = registry.get_sample_value
    assert value(REQ, {"cache": "catalog", "operation": "get", "result": "hit", "key_class": ""}) == 3
    assert value(REQ, {"cache": "catalog", "operation": "get", "result": "miss", "key_class": ""}) == 1
    assert value("cache_errors_total", {"cache": "catalog", "operation": "get", "error_type": "timeout"}) == 1
    assert value("cache_errors_total", {"cache": "catalog", "operation": "get", "error_type": "serialization"}) == 1
    assert value("cache_pool_connections", {"cache": "catalog", "state": "idle"}) == 7
    assert value("cache_pool_max_connections", {"cache": "catalog"}) == 50
    assert metrics_for(registry) is facade.metrics
    with pytest.raises(ValueError, match="operation"):
        facade.record_cache_hit("user:1234 raw key")


def test_tracing_service_facade_spans() -> None:
    rec = recorder()
    service = CacheTracingService(cache="catalog", tracer_provider=rec.provider)
    with service.trace_cache_operation("get") as span:
        service.trace_cache_miss(span)
    with pytest.raises(KeyError), service.trace_cache_operation("get"):
        service.trace_cache_hit()
        raise KeyError("boom")
    miss, failed = rec.spans("cache.get")
    assert miss.kind is SpanKind.INTERNAL
    assert dict(miss.attributes) == {"cache.name": "catalog", "cache.operation": "get", "cache.hit": False}
    assert failed.attributes["cache.hit"] is True and failed.attributes["error.type"] == "KeyError"
    assert failed.status.status_code is StatusCode.ERROR


def test_error_and_slow_logs_are_json_with_trace_ids(redis_app: RedisServer) -> None:
    rec = recorder()
    with json_lines("cachewatch.tracing") as stream:
        client = redis.Redis(port=redis_app.port)
        instrument(client, registry=rec.registry, tracer_provider=rec.provider, cache="logs", slow_threshold=0.005)
        p = prefix("logs")
        client.set(f"{p}s", "v")
        with pytest.raises(redis.ResponseError):
            client.lpush(f"{p}s", 1)
        client.execute_command("DEBUG", "SLEEP", "0.01")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    failed = next(line for line in lines if line["msg"] == "cache operation failed")
    slow = next(line for line in lines if line["msg"] == "slow operation")
    (lpush,) = rec.spans("LPUSH")
    assert failed["trace_id"] == f"{lpush.context.trace_id:032x}"
    assert failed["span_id"] == f"{lpush.context.span_id:016x}"
    assert failed["error_type"] == "WRONGTYPE" and failed["operation"] == "LPUSH" and failed["cache"] == "logs"
    assert slow["operation"] == "DEBUG" and slow["duration_ms"] >= 5 and len(slow["trace_id"]) == 32
    assert p not in stream.getvalue()  # keys stay out of logs


def test_application_logs_inside_a_span_carry_its_ids() -> None:
    rec = recorder()
    log = logging.getLogger("app.test")
    with json_lines("app.test") as stream:
        with rec.provider.get_tracer("t").start_as_current_span("request") as span:
            log.warning("inside")
        log.warning("outside")
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert "trace_id" not in outside


def test_log_lines_are_rate_limited_with_a_suppressed_count(redis_app: RedisServer) -> None:
    rec = recorder()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("cachewatch.tracing")
    handler = Keep()
    logger.addHandler(handler)
    try:
        client = redis.Redis(port=redis_app.port)
        handle = instrument(client, registry=rec.registry, tracer_provider=rec.provider, cache="flood")
        now = [100.0]
        limiter = handle.telemetry.limiter
        handle.telemetry.limiter = LogRateLimiter(interval=limiter.interval, burst=limiter.burst, clock=lambda: now[0])
        p = prefix("flood")
        client.set(f"{p}s", "v")
        for second in range(2):
            now[0] = 100.0 + second
            for _ in range(100):
                with pytest.raises(redis.ResponseError):
                    client.lpush(f"{p}s", 1)
    finally:
        logger.removeHandler(handler)
    assert len(records) == 20  # ten a second
    assert getattr(records[10], "suppressed", 0) == 90 and not hasattr(records[11], "suppressed")
    assert rec.value("cache_errors_total", cache="flood", operation="LPUSH", error_type="WRONGTYPE") == 200


def test_a_pool_shared_by_two_clients_is_reported_once(redis_app: RedisServer) -> None:
    rec = recorder()
    pool = redis.ConnectionPool(port=redis_app.port)
    first, second = redis.Redis(connection_pool=pool), redis.Redis(connection_pool=pool)
    for client in (first, second):
        instrument(client, registry=rec.registry, tracer_provider=rec.provider, cache="shared-pool")
        client.get(prefix("sharedpool") + "k")
    assert rec.value("cache_pool_connections", cache="shared-pool", state="idle") == 1
    assert rec.value("cache_connection_create_seconds_count", cache="shared-pool") == 1
