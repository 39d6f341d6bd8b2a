"""``cachewatch demo``: a local redis-server, the exporter in front of it, and a sample of its output."""

from __future__ import annotations

import asyncio
import contextlib
import random
import urllib.request

from cachewatch.exporter.app import Exporter
from cachewatch.exporter.options import ExporterSettings
from cachewatch.local_redis import start_redis

SAMPLE_PREFIXES = (
    "redis_up ", "redis_instance_info", "redis_memory_used_bytes", "redis_connected_clients ",
    "redis_keyspace_hits_total", "redis_keyspace_misses_total", 'redis_commands_total{cmd="get"}',
    'redis_commands_latencies_usec_bucket{cmd="get"', "redis_db_keys{db=\"db0\"}", "redis_acl_denials_total",
    "redis_exporter_last_scrape_duration_seconds", "redis_exporter_last_scrape_error",
)


def _traffic(port: int) -> None:
    """Some hits, misses and an auth failure, so the sample shows live numbers."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(port=port)
    for i in range(100):
        client.set(f"demo:key:{i}", "x" * (i * 10))
    for i in range(150):
        client.get(f"demo:key:{i}")  # 100 hits, 50 misses
    with contextlib.suppress(redis.exceptions.RedisError):  # one attempt, no retry: one ACL LOG auth entry
        redis.Redis(port=port, username="nobody", password="wrong", protocol=2,
                    retry=Retry(NoBackoff(), 0)).ping()


async def _run(addr: str, listen: str, serve: bool, traffic_port: int | None) -> None:
    host, _, port = listen.rpartition(":")
    # Latency data is normally refreshed every 60 s; the demo's two scrapes are a second apart.
    exporter = Exporter(ExporterSettings(redis_addr=addr, listen=listen, latency_refresh_interval=0.001))
    await exporter.start(host, int(port))
    url = f"http://{host or '127.0.0.1'}:{exporter.port}/metrics"
    try:
        await asyncio.to_thread(urllib.request.urlopen, url)  # first scrape: ACL LOG baseline, probes
        if traffic_port is not None:
            await asyncio.to_thread(_traffic, traffic_port)
        body = (await asyncio.to_thread(lambda: urllib.request.urlopen(url).read())).decode()
        lines = [ln for ln in body.splitlines() if not ln.startswith("#")]
        print(f"==> {url}: {len(lines)} series in {len({ln.split('{')[0].split(' ')[0] for ln in lines})} names;"
              " a sample:")
        for line in lines:
            if line.startswith(SAMPLE_PREFIXES):
                print("   ", line)
        if serve:
            print(f"==> serving {url} (and /scrape, /health) until Ctrl-C")
            await asyncio.Event().wait()
    finally:
        await exporter.close()


CLIENT_SAMPLE_PREFIXES = ("cache_requests_total", "db_client_operation_duration_seconds_count",
                          "cache_pool_connections", "cache_connection_create_seconds_count",
                          "cache_tracing_spans_exported_total")


def client_demo(port: int) -> None:
    """The client library: an instrumented client behind a read-through cache, 100% of traces kept in memory
    (in production: ``configure_tracing()`` sends them over OTLP to Jaeger), then the metrics and one trace."""
    import redis
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from prometheus_client import CollectorRegistry, generate_latest

    from cachewatch.tracing import LocalCache, ReadThroughCache, configure_tracing

    print("==> client library: an instrumented redis-py client behind a read-through cache (L1 → Redis → origin)")
    registry, spans = CollectorRegistry(), InMemorySpanExporter()
    tracing = configure_tracing(service_name="cachewatch-demo", sample_ratio=1.0, exporter=spans,
                                registry=registry, set_global=False)
    client = tracing.instrument(redis.Redis(port=port), cache="users").client
    users = ReadThroughCache(client, lambda key: {"id": key, "name": f"user {key}"}, name="users", ttl=60,
                             local=LocalCache(max_items=20, ttl=30), registry=registry,
                             tracer_provider=tracing.provider)
    rng = random.Random(1)
    for _ in range(300):
        users.get(f"user:{int(80 * rng.random() ** 3)}")  # a few hot users (L1 hits), a long tail (Redis, origin)
    tracing.processor.force_flush()
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith(CLIENT_SAMPLE_PREFIXES) and float(line.rsplit(" ", 1)[1]):
            print("   ", line)
    finished = spans.get_finished_spans()
    first = next(s for s in finished if s.name == "cache.get")
    tree = [s for s in finished if s.context.trace_id == first.context.trace_id]
    print(f"==> {len(finished)} spans; the trace of the first read (a miss everywhere):")
    for span in sorted(tree, key=lambda s: s.start_time):
        depth = 0 if span.parent is None else 1
        attrs = {k: v for k, v in span.attributes.items() if k in ("db.operation.name", "cache.hit", "cache.layer")}
        print(f"    {'  ' * depth}{span.name} {attrs}")
    tracing.shutdown()


def demo(redis_addr: str | None, listen: str, serve: bool) -> int:
    server = None
    if not redis_addr:
        print("==> starting a local redis-server on a free port")
        server = start_redis()
        redis_addr = server.url
    print(f"==> exporter for {redis_addr}")
    try:
        if server is not None:
            client_demo(server.port)
        asyncio.run(_run(redis_addr, listen, serve, server.port if server else None))
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()
            print("==> stopped the local redis-server")
    return 0
