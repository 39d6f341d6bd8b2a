"""The asyncio read-through cache against a real redis-server: span trees, context across tasks, counters,
single-flight across tasks, failures, invalidation with the async subscriber, warming."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import pytest
import redis.asyncio as aioredis
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError

from cachewatch.local_redis import free_port
from cachewatch.tracing.instrument import instrument, uninstrument
from cachewatch.tracing.layers import AsyncReadThroughCache, LocalCache, WarmReport
from cachewatch.tracing.layers.invalidation import AsyncInvalidationSubscriber
from cachewatch.tracing.layers.single_flight import AsyncSingleFlight
from tests.support.cache_layers import NO_RETRY, Tracing, leaf, requests


class AsyncOrigin:
    """An async loader that counts calls, can fail for chosen keys and can wait for a gate."""

    def __init__(self, fail: Sequence[str] = (), gate: asyncio.Event | None = None) -> None:
        self.calls: list[str] = []
        self.fail = set(fail)
        self.gate = gate

    async def __call__(self, key: str) -> Any:
        self.calls.append(key)
        if self.gate is not None:
            await self.gate.wait()
        if key in self.fail:
            raise LookupError(f"origin has no {key}")
        return {"key": key, "version": len(self.calls)}


async def until(condition: Callable[[], bool], what: str, deadline: float = 10.0) -> None:
    """Yield to the loop until ``condition`` holds (the deadline only bounds a hang)."""
    async with asyncio.timeout(deadline):
        while not condition():
            await asyncio.sleep(0.002)
    assert condition(), what


@pytest.fixture
def run(redis_app, tracing: Tracing, registry: CollectorRegistry) -> Callable[..., Any]:
    """``run(body)`` runs ``body(client)`` on a fresh loop with an async client (instrumented with this test's
    provider and registry when ``instrumented=True``), closing the client afterwards."""

    def run_(body: Callable[[aioredis.Redis], Coroutine[Any, Any, Any]], *, instrumented: bool = False,
             url: str | None = None, **kwargs: Any) -> Any:
        async def main() -> Any:
            client = aioredis.Redis.from_url(url or redis_app.url, **kwargs)
            if instrumented:
                instrument(client, tracer_provider=tracing.provider, registry=registry, cache="users")
            try:
                return await body(client)
            finally:
                if instrumented:
                    uninstrument(client)
                await client.aclose()

        return asyncio.run(main())

    return run_


def make_cache(client: Any, tracing: Tracing, registry: CollectorRegistry, loader: Callable[[str], Awaitable[Any]],
               **options: Any) -> AsyncReadThroughCache:
    options.setdefault("name", "users")
    return AsyncReadThroughCache(client, loader, tracer_provider=tracing.provider, registry=registry, **options)


# --- span trees and context ----------------------------------------------------------------------------------
def test_span_tree_full_miss_redis_hit_and_l1_hit(run, tracing, registry, prefix) -> None:
    key = prefix + "u1"

    async def body(client: aioredis.Redis) -> None:
        cache = make_cache(client, tracing, registry, AsyncOrigin(), local=LocalCache())
        await cache.get(key)
        assert tracing.tree() == [("cache.get", leaf("cache.l1.get", "GET", "origin.load", "SET"))]
        assert dict(tracing.one("cache.get").attributes) == {"cache.name": "users", "cache.hit": False,
                                                             "cache.layer": "origin"}
        assert dict(tracing.one("cache.l1.get").attributes) == {"cache.name": "users", "cache.layer": "l1",
                                                                "cache.hit": False}
        assert dict(tracing.one("origin.load").attributes) == {"cache.name": "users", "cache.layer": "origin"}
        tracing.clear()
        cache.local.clear()
        await cache.get(key)
        assert tracing.tree() == [("cache.get", leaf("cache.l1.get", "GET"))]
        assert tracing.one("cache.get").attributes["cache.layer"] == "redis"
        tracing.clear()
        await cache.get(key)
        assert tracing.tree() == [("cache.get", leaf("cache.l1.get"))]
        assert tracing.one("cache.get").attributes["cache.layer"] == "l1"

    run(body, instrumented=True)


def test_tasks_spawned_by_the_loader_are_children_of_origin_load(run, tracing, registry, prefix) -> None:
    tracer = tracing.provider.get_tracer("app")

    async def part(name: str) -> str:
        with tracer.start_as_current_span(name):
            await asyncio.sleep(0)
            return name

    async def loader(key: str) -> list[str]:
        parts = list(await asyncio.gather(part("fetch.profile"), part("fetch.orders")))
        async with asyncio.TaskGroup() as group:
            task = group.create_task(part("fetch.prefs"))
        return [*parts, task.result()]

    async def body(client: aioredis.Redis) -> None:
        cache = make_cache(client, tracing, registry, loader)
        assert await cache.get(prefix + "k") == ["fetch.profile", "fetch.orders", "fetch.prefs"]

    run(body, instrumented=True)
    load = tracing.one("origin.load")
    for name in ("fetch.profile", "fetch.orders", "fetch.prefs"):
        assert tracing.one(name).parent.span_id == load.context.span_id, name
    assert tracing.tree() == [("cache.get", [("GET", []), ("origin.load", leaf("fetch.profile", "fetch.orders",
                                                                                "fetch.prefs")), ("SET", [])])]


def test_concurrent_gets_keep_their_own_trees(run, tracing, registry, prefix) -> None:
    async def body(client: aioredis.Redis) -> None:
        cache = make_cache(client, tracing, registry, AsyncOrigin())
        with tracing.provider.get_tracer("app").start_as_current_span("handler"):
            await asyncio.gather(*(cache.get(f"{prefix}{i}") for i in range(5)))

    run(body, instrumented=True)
    (handler,) = tracing.tree()
    assert handler[0] == "handler"
    assert handler[1] == [("cache.get", leaf("GET", "origin.load", "SET"))] * 5
    assert trace.get_current_span() is trace.INVALID_SPAN  # nothing leaked into the caller's context


# --- metrics ----------------------------------------------------------------------------------------------------
def test_counters_for_a_known_workload(run, tracing, registry, prefix) -> None:
    a, b = prefix + "a", prefix + "b"

    async def body(client: aioredis.Redis) -> None:
        cache = make_cache(client, tracing, registry, AsyncOrigin(), local=LocalCache())
        for key in (a, a, b):
            await cache.get(key)
        cache.local.clear()
        for key in (a, b, b):
            await cache.get(key)

    run(body, instrumented=True)
    assert requests(registry, "users", "l1.get", "hit") == 2
    assert requests(registry, "users", "l1.get", "miss") == 4
    assert requests(registry, "users", "cache.get", "hit") == 4
    assert requests(registry, "users", "cache.get", "miss") == 2
    assert requests(registry, "users", "GET", "hit") == 2
    assert requests(registry, "users", "GET", "miss") == 2


# --- single-flight ----------------------------------------------------------------------------------------------
def test_concurrent_misses_call_the_origin_once(run, tracing, registry, prefix) -> None:
    n, key = 10, prefix + "hot"

    async def body(client: aioredis.Redis) -> list[Any]:
        gate = asyncio.Event()
        origin = AsyncOrigin(gate=gate)
        cache = make_cache(client, tracing, registry, origin)
        readers = [asyncio.create_task(cache.get(key)) for _ in range(n)]
        await until(lambda: cache.flights.waiting(key) == n - 1, "all readers to join the load")
        gate.set()
        results = await asyncio.gather(*readers)
        assert origin.calls == [key]
        return results

    assert run(body) == [{"key": key, "version": 1}] * n
    assert len(tracing.named("origin.load")) == 1
    assert sum(bool(s.attributes.get("cache.coalesced")) for s in tracing.named("cache.get")) == n - 1
    assert requests(registry, "users", "cache.get", "miss") == n


def test_single_flight_cancellation_is_not_shared() -> None:
    async def main() -> None:
        flights = AsyncSingleFlight()
        gate = asyncio.Event()
        calls: list[int] = []

        async def load() -> str:
            calls.append(1)
            await gate.wait()
            return "value"

        leader = asyncio.create_task(flights.run("k", load))
        waiter = asyncio.create_task(flights.run("k", load))
        impatient = asyncio.create_task(flights.run("k", load))
        await until(lambda: flights.waiting("k") == 2, "two waiters")
        impatient.cancel()  # a waiter's cancellation leaves the load alone
        await asyncio.gather(impatient, return_exceptions=True)
        assert flights.waiting("k") == 1 and not leader.done()
        leader.cancel()  # the leader's cancellation makes the waiter retry, not fail
        await asyncio.gather(leader, return_exceptions=True)
        await until(lambda: len(calls) == 2, "the waiter to take over")
        gate.set()
        assert await waiter == ("value", True)
        assert leader.cancelled() and impatient.cancelled()

    asyncio.run(main())


# --- failures ---------------------------------------------------------------------------------------------------
def test_loader_error_propagates_unchanged(run, tracing, registry, prefix) -> None:
    error = RuntimeError("application bug")

    async def loader(_key: str) -> Any:
        raise error

    async def body(client: aioredis.Redis) -> None:
        cache = make_cache(client, tracing, registry, loader, local=LocalCache())
        with pytest.raises(RuntimeError) as raised:
            await cache.get(prefix + "k")
        assert raised.value is error
        assert tracing.tree() == [("cache.get", leaf("cache.l1.get", "GET", "origin.load"))]
        assert await client.exists(prefix + "k") == 0

    run(body, instrumented=True)
    for name in ("cache.get", "origin.load"):
        assert tracing.one(name).status.status_code is StatusCode.ERROR
        assert tracing.one(name).attributes["error.type"] == "RuntimeError"
    assert requests(registry, "users", "cache.get", "miss") == 1


def test_redis_down_fails_open_then_closed(run, tracing, registry, prefix) -> None:
    origin = AsyncOrigin()

    async def body(client: aioredis.Redis) -> None:
        assert await make_cache(client, tracing, registry, origin).get(prefix + "k") == {"key": prefix + "k",
                                                                                        "version": 1}
        with pytest.raises(RedisConnectionError):
            await make_cache(client, tracing, registry, origin, fail_open=False).get(prefix + "k")

    run(body, url=f"redis://127.0.0.1:{free_port()}", **NO_RETRY)
    assert origin.calls == [prefix + "k"]
    opened, closed = tracing.named("cache.get")
    assert opened.status.status_code is StatusCode.UNSET and opened.attributes["cache.fail_open"] is True
    assert [e.name for e in opened.events] == ["cache.fail_open"]
    assert closed.status.status_code is StatusCode.ERROR
    assert closed.attributes["error.type"] == "redis.exceptions.ConnectionError"


# --- invalidation -----------------------------------------------------------------------------------------------
def test_invalidation_reaches_another_cache_and_joins_the_senders_trace(run, redis_app, registry, prefix) -> None:
    name = f"ainv-{uuid.uuid4().hex[:8]}"
    key = prefix + "k"
    sender_tracing, receiver_tracing = Tracing(), Tracing()

    async def body(sender_client: aioredis.Redis) -> None:
        receiver_client = aioredis.Redis.from_url(redis_app.url)
        sender = make_cache(sender_client, sender_tracing, registry, AsyncOrigin(), name=name)
        receiver = make_cache(receiver_client, receiver_tracing, registry, AsyncOrigin(), name=name,
                              local=LocalCache())
        await receiver.get(key)
        async with AsyncInvalidationSubscriber(receiver_client, receiver) as subscriber:
            await receiver_client.publish(receiver.channel, b"garbage")
            assert await sender.invalidate(key) == 1
            await until(lambda: subscriber.stats.received == 1, "the invalidation")
            assert subscriber.stats.malformed == 1
            task = subscriber._task
        assert not subscriber.running and task.done()
        assert key not in receiver.local
        await until_numsub_zero(sender_client, receiver.channel)
        await receiver_client.aclose()

    run(body)
    sent = sender_tracing.one("cache.invalidate")
    received = receiver_tracing.one("cache.invalidation.receive")
    assert received.kind is SpanKind.CONSUMER
    assert received.parent.span_id == sent.context.span_id
    assert received.context.trace_id == sent.context.trace_id
    assert received.attributes["cache.invalidation.evicted"] == 1
    assert registry.get_sample_value("cache_errors_total", {"cache": name, "operation": "invalidation.receive",
                                                            "error_type": "malformed"}) == 1


async def until_numsub_zero(client: aioredis.Redis, channel: str) -> None:
    async with asyncio.timeout(10):
        while (await client.pubsub_numsub(channel))[0][1]:
            await asyncio.sleep(0.005)


# --- warming ----------------------------------------------------------------------------------------------------
def test_warm_reports_progress_and_outcome(run, tracing, registry, prefix) -> None:
    keys = [f"{prefix}{i}" for i in range(7)]
    calls: list[tuple[int, int]] = []

    async def body(client: aioredis.Redis) -> WarmReport:
        await client.set(keys[0], b'"already"')
        cache = make_cache(client, tracing, registry, AsyncOrigin(fail=[keys[5]]), ttl=30)
        tracing.clear()
        report = await cache.warm(keys, batch_size=3, progress=lambda done, total: calls.append((done, total)))
        assert tracing.tree() == [("cache.warm", leaf("MGET", "origin.load", "PIPELINE SET", "MGET", "origin.load",
                                                      "PIPELINE SET", "MGET", "origin.load", "PIPELINE SET"))]
        ttls = [await client.pttl(k) for k in keys if k not in (keys[0], keys[5])]
        assert all(0 < ttl <= 30_000 for ttl in ttls)
        return report

    report = run(body, instrumented=True)
    assert calls == [(3, 7), (6, 7), (7, 7)]
    assert report == WarmReport(loaded=5, already_cached=1, failed=1, failed_keys=(keys[5],))
    assert [e.attributes["failed"] for e in tracing.one("cache.warm").events] == [0, 1, 0]


def test_warm_with_load_many(run, tracing, registry, prefix) -> None:
    keys = [f"{prefix}{i}" for i in range(4)]
    seen: list[list[str]] = []

    async def load_many(missing: list[str]) -> dict[str, str]:
        seen.append(missing)
        if keys[3] in missing:
            raise TimeoutError("origin overloaded")
        return {k: k for k in missing}

    async def body(client: aioredis.Redis) -> WarmReport:
        return await make_cache(client, tracing, registry, AsyncOrigin(), load_many=load_many).warm(keys,
                                                                                                   batch_size=2)

    assert run(body) == WarmReport(loaded=2, already_cached=0, failed=2, failed_keys=(keys[2], keys[3]))
    assert seen == [keys[:2], keys[2:]]
    first, second = tracing.named("origin.load")
    assert first.status.status_code is StatusCode.UNSET
    assert second.status.status_code is StatusCode.ERROR and second.attributes["error.type"] == "TimeoutError"


def test_async_subscriber_resubscribes_after_losing_its_connection(run, redis_app, tracing, registry,
                                                                   prefix) -> None:
    name = f"areconnect-{uuid.uuid4().hex[:8]}"

    async def body(client: aioredis.Redis) -> None:
        receiver = make_cache(client, tracing, registry, AsyncOrigin(), name=name, local=LocalCache())
        sender = make_cache(client, Tracing(), registry, AsyncOrigin(), name=name)
        async with AsyncInvalidationSubscriber(client, receiver, reconnect_backoff=0.01) as subscriber:
            receiver.local.set(prefix + "a", 1)
            host, port = subscriber._pubsub.connection._writer.get_extra_info("sockname")[:2]
            await client.execute_command("CLIENT", "KILL", "ADDR", f"{host}:{port}")
            await until(lambda: subscriber.stats.reconnects == 1, "the subscriber to notice")
            assert len(receiver.local) == 0
            async with asyncio.timeout(10):
                while (await client.pubsub_numsub(receiver.channel))[0][1] != 1:
                    await asyncio.sleep(0.005)
            receiver.local.set(prefix + "b", 2)
            await sender.invalidate(prefix + "b")
            await until(lambda: subscriber.stats.received == 1, "an invalidation after the reconnect")
        assert prefix + "b" not in receiver.local

    run(body)
