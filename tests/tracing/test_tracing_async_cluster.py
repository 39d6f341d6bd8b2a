"""instrument() on redis.asyncio.Redis and on the sync and asyncio RedisCluster clients, against real servers."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from opentelemetry import trace

from cachewatch.local_redis import RedisCluster, RedisServer
from cachewatch.tracing import instrument, uninstrument
from tests.support.tracing import Recorder, prefix, recorder

REQ = "cache_requests_total"


@pytest.fixture
def rec() -> Recorder:
    return recorder()


def hits(rec: Recorder, cache: str, operation: str = "GET") -> tuple[float, float]:
    return (rec.value(REQ, cache=cache, operation=operation, result="hit", key_class=""),
            rec.value(REQ, cache=cache, operation=operation, result="miss", key_class=""))


# --- asyncio ----------------------------------------------------------------------------------------------------
def test_async_client_counts_exactly_and_traces(redis_app: RedisServer, rec: Recorder) -> None:
    p = prefix("async")

    async def main() -> None:
        client = redis.asyncio.Redis(port=redis_app.port)
        instrument(client, tracer_provider=rec.provider, registry=rec.registry, cache="aio")
        for i in range(9):
            await client.set(f"{p}{i}", i)
        for i in range(100):
            assert await client.get(f"{p}{i % 10}") == (None if i % 10 == 9 else str(i % 10).encode())
        await client.aclose()

    asyncio.run(main())
    assert hits(rec, "aio") == (90, 10)
    get = rec.spans("GET")[0]
    assert get.attributes["db.system.name"] == "redis" and get.attributes["server.port"] == redis_app.port
    assert rec.value("cache_connection_create_seconds_count", cache="aio") == 1  # one connection, reused
    assert rec.value("cache_pool_wait_seconds_count", cache="aio") == 0  # a non-blocking pool never waits


def test_async_context_survives_tasks_and_gather(redis_app: RedisServer, rec: Recorder) -> None:
    p = prefix("ctx")
    tracer = rec.provider.get_tracer("test")

    async def worker(client: redis.asyncio.Redis, i: int) -> None:
        await asyncio.sleep(0)
        await client.get(f"{p}{i}")

    async def main() -> dict[str, int]:
        client = redis.asyncio.Redis(port=redis_app.port)
        instrument(client, tracer_provider=rec.provider, registry=rec.registry)
        ids = {}
        for name in ("request-a", "request-b"):
            with tracer.start_as_current_span(name) as span:
                ids[name] = span.get_span_context().span_id
                await asyncio.gather(*(asyncio.create_task(worker(client, i)) for i in range(5)))
        await client.aclose()
        return ids

    ids = asyncio.run(main())
    parents = [s.parent.span_id for s in rec.spans("GET")]
    assert sorted(parents) == sorted([ids["request-a"]] * 5 + [ids["request-b"]] * 5)


def test_async_pipeline_transaction_and_errors(redis_app: RedisServer, rec: Recorder) -> None:
    p = prefix("apipe")

    async def main() -> None:
        client = redis.asyncio.Redis(port=redis_app.port)
        instrument(client, tracer_provider=rec.provider, registry=rec.registry, cache="aio")
        await client.set(f"{p}a", "1")
        async with client.pipeline(transaction=False) as pipe:
            pipe.get(f"{p}a").get(f"{p}b")
            assert await pipe.execute() == [b"1", None]
        async with client.pipeline(transaction=True) as pipe:
            await pipe.watch(f"{p}a")
            assert await pipe.get(f"{p}a") == b"1"  # immediate while watching
            pipe.multi()
            pipe.set(f"{p}a", "2").set(f"{p}b", "2")
            assert await pipe.execute() == [True, True]
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            await client.lpush(f"{p}a", 1)
        await client.aclose()

    asyncio.run(main())
    names = [s.name for s in rec.spans()]
    assert names[1:] == ["PIPELINE GET", "WATCH", "GET", "MULTI SET", "LPUSH"]
    assert rec.spans("PIPELINE GET")[0].attributes["db.operation.batch.size"] == 2
    assert hits(rec, "aio") == (2, 1)
    assert rec.value("cache_errors_total", cache="aio", operation="LPUSH", error_type="WRONGTYPE") == 1


def test_async_uninstrument(redis_app: RedisServer, rec: Recorder) -> None:
    async def main() -> None:
        client = redis.asyncio.Redis(port=redis_app.port)
        instrument(client, tracer_provider=rec.provider, registry=rec.registry)
        uninstrument(client)
        await client.get(prefix("aundo") + "k")
        await client.aclose()

    asyncio.run(main())
    assert rec.spans() == []


# --- cluster ----------------------------------------------------------------------------------------------------
def _owner_port(cluster: RedisCluster, key: str) -> int:
    client = redis.cluster.RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)
    try:
        return client.get_node_from_key(key).port
    finally:
        client.close()


def test_cluster_client_spans_name_the_node_that_owns_the_key(redis_cluster: RedisCluster, rec: Recorder) -> None:
    p = prefix("cluster")
    client = redis.cluster.RedisCluster(host="127.0.0.1", port=redis_cluster.nodes[0].port)
    instrument(client, tracer_provider=rec.provider, registry=rec.registry, cache="clu")
    keys = [f"{p}{i}" for i in range(12)]
    for key in keys[:10]:
        client.set(key, "v")
    for key in keys:
        client.get(key)
    assert hits(rec, "clu") == (10, 2)
    ports = {s.attributes["server.port"] for s in rec.spans("GET")}
    assert len(ports) > 1  # twelve keys spread over three primaries
    for span in rec.spans("GET"):
        assert span.attributes["db.namespace"] == "0"
    last = rec.spans("GET")[-1]
    assert last.attributes["server.port"] == _owner_port(redis_cluster, keys[-1])
    assert rec.value("cache_pool_connections", cache="clu", state="idle") >= 1
    client.close()


def test_cluster_pipeline_counts_reads_and_is_one_span(redis_cluster: RedisCluster, rec: Recorder) -> None:
    p = prefix("cpipe")
    client = redis.cluster.RedisCluster(host="127.0.0.1", port=redis_cluster.nodes[0].port)
    instrument(client, tracer_provider=rec.provider, registry=rec.registry, cache="clu")
    client.set(f"{p}a", 1)
    pipe = client.pipeline()
    for key in ("a", "b", "c"):
        pipe.get(f"{p}{key}")
    assert pipe.execute() == [b"1", None, None]
    (span,) = rec.spans("PIPELINE GET")
    assert span.attributes["db.operation.batch.size"] == 3
    assert hits(rec, "clu") == (1, 2)
    client.close()


def test_async_cluster_client(redis_cluster: RedisCluster, rec: Recorder) -> None:
    p = prefix("acluster")

    async def main() -> None:
        client = redis.asyncio.cluster.RedisCluster(host="127.0.0.1", port=redis_cluster.nodes[0].port)
        instrument(client, tracer_provider=rec.provider, registry=rec.registry, cache="aclu")
        for i in range(6):
            await client.set(f"{p}{i}", i)
        for i in range(8):
            await client.get(f"{p}{i}")
        pipe = client.pipeline()
        pipe.get(f"{p}0").get(f"{p}7")
        assert await pipe.execute() == [b"0", None]
        assert rec.value("cache_pool_connections", cache="aclu", state="idle") >= 1
        await client.aclose()

    asyncio.run(main())
    assert hits(rec, "aclu") == (7, 3)
    assert len({s.attributes["server.port"] for s in rec.spans("GET")}) > 1
    assert trace.get_current_span() is trace.INVALID_SPAN
