"""The sync read-through cache against a real redis-server: span trees, counters, invalidation across clients,
warming, failure paths, single-flight, and the L1 and serializers as units."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
import redis
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from cachewatch.local_redis import free_port
from cachewatch.logs import JsonFormatter, LogRateLimiter
from cachewatch.tracing.layers import ReadThroughCache, WarmReport
from cachewatch.tracing.layers.invalidation import InvalidationSubscriber, decode_message, default_channel
from cachewatch.tracing.layers.local_cache import MISSING, LocalCache
from cachewatch.tracing.layers.serializers import BytesSerializer, JsonSerializer
from tests.support.cache_layers import NO_RETRY, Tracing, leaf, requests

LAYERS_LOGGER = "cachewatch.tracing.layers"


# --- helpers --------------------------------------------------------------------------------------------------
def wait_for(condition: Callable[[], bool], what: str, deadline: float = 10.0) -> None:
    """Wait for another thread's work (a condition, not a duration: the deadline only bounds a hang)."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Origin:
    """A loader that counts calls and can fail for chosen keys."""

    def __init__(self, fail: Sequence[str] = (), gate: threading.Event | None = None) -> None:
        self.calls: list[str] = []
        self.fail = set(fail)
        self.gate = gate
        self.lock = threading.Lock()

    def __call__(self, key: str) -> Any:
        with self.lock:
            self.calls.append(key)
        if self.gate is not None:
            assert self.gate.wait(10), "gate never opened"
        if key in self.fail:
            raise LookupError(f"origin has no {key}")
        return {"key": key, "version": len(self.calls)}



# --- fixtures -----------------------------------------------------------------------------------------------
@pytest.fixture
def client(redis_app) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_app.url)
    yield c
    c.close()


@pytest.fixture
def instrumented(redis_app, tracing: Tracing, registry: CollectorRegistry) -> Iterator[Callable[..., redis.Redis]]:
    """Clients instrumented by cachewatch.tracing.instrument with this test's provider and registry."""
    from cachewatch.tracing.instrument import instrument, uninstrument

    made: list[redis.Redis] = []

    def make(cache: str = "users", url: str | None = None, **kwargs: Any) -> redis.Redis:
        c = redis.Redis.from_url(url or redis_app.url, **kwargs)
        instrument(c, tracer_provider=tracing.provider, registry=registry, cache=cache)
        made.append(c)
        return c

    yield make
    for c in made:
        uninstrument(c)
        c.close()


def make_cache(client: Any, tracing: Tracing, registry: CollectorRegistry, loader: Callable[[str], Any],
               **options: Any) -> ReadThroughCache:
    options.setdefault("name", "users")
    return ReadThroughCache(client, loader, tracer_provider=tracing.provider, registry=registry, **options)


# --- span trees (with the instrumented client's Redis spans) ----------------------------------------------------
def test_span_tree_full_miss_redis_hit_and_l1_hit(instrumented, tracing, registry, prefix) -> None:
    key = prefix + "u1"
    cache = make_cache(instrumented(), tracing, registry, Origin(), local=LocalCache())

    cache.get(key)
    assert tracing.tree() == [("cache.get", leaf("cache.l1.get", "GET", "origin.load", "SET"))]
    assert dict(tracing.one("cache.get").attributes) == {"cache.name": "users", "cache.hit": False,
                                                         "cache.layer": "origin"}
    assert dict(tracing.one("cache.l1.get").attributes) == {"cache.name": "users", "cache.layer": "l1",
                                                            "cache.hit": False}
    assert dict(tracing.one("origin.load").attributes) == {"cache.name": "users", "cache.layer": "origin"}
    assert {s.name: s.kind for s in tracing.spans} == {"cache.get": SpanKind.INTERNAL, "cache.l1.get":
                                                       SpanKind.INTERNAL, "GET": SpanKind.CLIENT,
                                                       "origin.load": SpanKind.INTERNAL, "SET": SpanKind.CLIENT}
    assert len({s.context.trace_id for s in tracing.spans}) == 1

    tracing.clear()
    cache.local.clear()
    cache.get(key)
    assert tracing.tree() == [("cache.get", leaf("cache.l1.get", "GET"))]
    assert dict(tracing.one("cache.get").attributes) == {"cache.name": "users", "cache.hit": True,
                                                         "cache.layer": "redis"}

    tracing.clear()
    cache.get(key)
    assert tracing.tree() == [("cache.get", leaf("cache.l1.get"))]
    assert dict(tracing.one("cache.get").attributes) == {"cache.name": "users", "cache.hit": True,
                                                         "cache.layer": "l1"}
    assert dict(tracing.one("cache.l1.get").attributes)["cache.hit"] is True


def test_span_tree_without_l1_and_under_an_application_span(instrumented, tracing, registry, prefix) -> None:
    cache = make_cache(instrumented(), tracing, registry, Origin())
    with tracing.provider.get_tracer("app").start_as_current_span("handler"):
        cache.get(prefix + "k")
    assert tracing.tree() == [("handler", [("cache.get", leaf("GET", "origin.load", "SET"))])]


def test_set_uses_the_ttl_and_the_json_serializer(client, tracing, registry, prefix) -> None:
    key = prefix + "k"
    cache = make_cache(client, tracing, registry, lambda k: {"a": [1, "é"]}, ttl=60)
    assert cache.get(key) == {"a": [1, "é"]}
    assert json.loads(client.get(key)) == {"a": [1, "é"]}
    assert 0 < client.pttl(key) <= 60_000


def test_raw_key_only_on_opt_in_and_key_class_from_the_classifier(client, tracing, registry, prefix) -> None:
    key = prefix + "user:42"
    classes = {"user": f"{prefix}user:*"}
    make_cache(client, tracing, registry, Origin(), local=LocalCache(), key_classes=classes).get(key)
    for span in tracing.spans:
        assert key not in json.dumps(dict(span.attributes)), span.name
        assert span.attributes["cache.key_class"] == "user"
    assert requests(registry, "users", "cache.get", "miss", "user") == 1

    tracing.clear()
    other = prefix + "user:43"
    make_cache(client, tracing, registry, Origin(), record_keys=True).get(other)
    assert tracing.one("cache.get").attributes["cache.key"] == other
    assert "cache.key" not in tracing.one("origin.load").attributes


# --- metrics ----------------------------------------------------------------------------------------------------
def test_counters_for_a_known_workload(instrumented, tracing, registry, prefix) -> None:
    a, b = prefix + "a", prefix + "b"
    cache = make_cache(instrumented(), tracing, registry, Origin(), local=LocalCache())
    cache.get(a)  # miss everywhere
    cache.get(a)  # L1 hit
    cache.get(b)  # miss everywhere
    cache.local.clear()
    cache.get(a)  # Redis hit
    cache.get(b)  # Redis hit
    cache.get(b)  # L1 hit
    assert requests(registry, "users", "l1.get", "hit") == 2
    assert requests(registry, "users", "l1.get", "miss") == 4
    assert requests(registry, "users", "cache.get", "hit") == 4
    assert requests(registry, "users", "cache.get", "miss") == 2
    # the Redis GETs are the instrumented client's to count, once each: 4 lookups, 2 found
    assert requests(registry, "users", "GET", "hit") == 2
    assert requests(registry, "users", "GET", "miss") == 2


def test_without_l1_only_the_read_through_is_counted(client, tracing, registry, prefix) -> None:
    cache = make_cache(client, tracing, registry, Origin())
    cache.get(prefix + "a")
    cache.get(prefix + "a")
    assert requests(registry, "users", "cache.get", "miss") == 1
    assert requests(registry, "users", "cache.get", "hit") == 1
    assert requests(registry, "users", "l1.get", "hit") + requests(registry, "users", "l1.get", "miss") == 0


# --- failures ---------------------------------------------------------------------------------------------------
def test_loader_error_propagates_unchanged_and_marks_both_spans(client, tracing, registry, prefix, caplog) -> None:
    key = prefix + "missing"
    origin = Origin(fail=[key])
    cache = make_cache(client, tracing, registry, origin, local=LocalCache())
    with caplog.at_level(logging.WARNING, LAYERS_LOGGER), pytest.raises(LookupError) as raised:
        cache.get(key)
    assert str(raised.value) == f"origin has no {key}"
    assert tracing.tree() == [("cache.get", leaf("cache.l1.get", "origin.load"))]
    for name in ("cache.get", "origin.load"):
        span = tracing.one(name)
        assert span.status.status_code is StatusCode.ERROR, name
        assert span.attributes["error.type"] == "LookupError"
        assert [e.name for e in span.events] == ["exception"]
    assert client.exists(key) == 0
    assert key not in cache.local
    assert requests(registry, "users", "cache.get", "miss") == 1

    (record,) = [r for r in caplog.records if r.name == LAYERS_LOGGER]
    line = json.loads(JsonFormatter().format(record))
    assert line["logger"] == LAYERS_LOGGER and line["level"] == "warning"
    assert (line["event"], line["error_type"], line["cache"]) == ("cache.origin_failed", "LookupError", "users")
    assert key not in json.dumps(line)


def test_loader_exception_is_the_same_object(client, tracing, registry, prefix) -> None:
    error = RuntimeError("application bug")

    def loader(_key: str) -> Any:
        raise error

    with pytest.raises(RuntimeError) as raised:
        make_cache(client, tracing, registry, loader).get(prefix + "k")
    assert raised.value is error


def test_redis_down_fails_open_to_the_origin(tracing, registry, prefix, caplog) -> None:
    down = redis.Redis(port=free_port(), **NO_RETRY)
    origin = Origin()
    cache = make_cache(down, tracing, registry, origin, local=LocalCache())
    with caplog.at_level(logging.WARNING, LAYERS_LOGGER):
        assert cache.get(prefix + "k") == {"key": prefix + "k", "version": 1}
    assert origin.calls == [prefix + "k"]
    span = tracing.one("cache.get")
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["cache.fail_open"] is True
    assert span.attributes["cache.layer"] == "origin"
    (event,) = span.events  # no SET attempt on an unreachable server: one event, not two
    assert event.name == "cache.fail_open"
    assert event.attributes["error.type"] == "redis.exceptions.ConnectionError"
    assert [json.loads(JsonFormatter().format(r))["event"] for r in caplog.records] == ["cache.fail_open"]
    # the loaded value still serves the next read from the L1
    assert cache.get(prefix + "k") == {"key": prefix + "k", "version": 1}
    assert origin.calls == [prefix + "k"]
    down.close()


def test_redis_down_fails_closed_when_configured(tracing, registry, prefix) -> None:
    down = redis.Redis(port=free_port(), **NO_RETRY)
    origin = Origin()
    with pytest.raises(redis.ConnectionError):
        make_cache(down, tracing, registry, origin, fail_open=False).get(prefix + "k")
    assert origin.calls == []
    span = tracing.one("cache.get")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "redis.exceptions.ConnectionError"
    down.close()


def test_set_error_after_a_load_is_recorded_and_the_value_returned(redis_app, client, tracing, registry,
                                                                   prefix) -> None:
    user = f"cw_noset_{uuid.uuid4().hex[:8]}"
    client.execute_command("ACL", "SETUSER", user, "on", ">noset-pw", "~*", "&*", "+@all", "-set")
    try:
        limited = redis.Redis(port=redis_app.port, username=user, password="noset-pw")
        cache = make_cache(limited, tracing, registry, Origin(), local=LocalCache())
        assert cache.get(prefix + "k") == {"key": prefix + "k", "version": 1}
        span = tracing.one("cache.get")
        assert span.status.status_code is StatusCode.UNSET
        assert [e.name for e in span.events] == ["cache.set_failed"]
        assert "error.type" in span.events[0].attributes
        assert client.exists(prefix + "k") == 0
        assert prefix + "k" in cache.local
        limited.close()
    finally:
        client.execute_command("ACL", "DELUSER", user)


def test_corrupt_redis_value_is_reloaded_not_fatal(client, tracing, registry, prefix) -> None:
    key = prefix + "k"
    client.set(key, b"{not json")
    assert make_cache(client, tracing, registry, Origin()).get(key)["key"] == key
    assert [e.name for e in tracing.one("cache.get").events] == ["cache.corrupt_value"]
    assert json.loads(client.get(key))["key"] == key


def test_cached_none_is_a_value_not_a_miss(client, tracing, registry, prefix) -> None:
    calls: list[str] = []
    cache = make_cache(client, tracing, registry, lambda k: calls.append(k), local=LocalCache())
    assert cache.get(prefix + "k") is None
    cache.local.clear()
    assert cache.get(prefix + "k") is None
    assert cache.get(prefix + "k") is None
    assert len(calls) == 1


# --- single-flight ----------------------------------------------------------------------------------------------
def test_concurrent_misses_call_the_origin_once(client, tracing, registry, prefix) -> None:
    n, key = 8, prefix + "hot"
    gate = threading.Event()
    origin = Origin(gate=gate)
    cache = make_cache(client, tracing, registry, origin)
    results: list[Any] = [None] * n

    def read(i: int) -> None:
        results[i] = cache.get(key)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    wait_for(lambda: cache.flights.waiting(key) == n - 1, "all readers to join the load")
    gate.set()
    for t in threads:
        t.join()
    assert origin.calls == [key]
    assert results == [{"key": key, "version": 1}] * n
    assert len(tracing.named("origin.load")) == 1
    assert sum(bool(s.attributes.get("cache.coalesced")) for s in tracing.named("cache.get")) == n - 1
    assert requests(registry, "users", "cache.get", "miss") == n


def test_waiters_get_the_leaders_exception(client, tracing, registry, prefix) -> None:
    n, key = 4, prefix + "bad"
    gate = threading.Event()
    cache = make_cache(client, tracing, registry, Origin(fail=[key], gate=gate))
    errors: list[BaseException] = []

    def read() -> None:
        try:
            cache.get(key)
        except LookupError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(n)]
    for t in threads:
        t.start()
    wait_for(lambda: cache.flights.waiting(key) == n - 1, "all readers to join the load")
    gate.set()
    for t in threads:
        t.join()
    assert len(errors) == n and len({id(e) for e in errors}) == 1
    assert all(s.status.status_code is StatusCode.ERROR for s in tracing.named("cache.get"))


# --- invalidation -----------------------------------------------------------------------------------------------
def test_invalidation_reaches_another_cache_and_joins_the_senders_trace(redis_app, registry, prefix) -> None:
    name = f"inv-{uuid.uuid4().hex[:8]}"
    key = prefix + "k"
    sender_tracing, receiver_tracing = Tracing(), Tracing()  # as if in two processes
    sender_client, receiver_client = redis.Redis.from_url(redis_app.url), redis.Redis.from_url(redis_app.url)
    sender = make_cache(sender_client, sender_tracing, registry, Origin(), name=name, local=LocalCache())
    receiver = make_cache(receiver_client, receiver_tracing, registry, Origin(), name=name, local=LocalCache())
    sender.get(key)
    receiver.get(key)
    assert key in receiver.local

    with InvalidationSubscriber(receiver_client, receiver) as subscriber:
        receiver.invalidate(prefix + "other")  # its own message: skipped by its subscriber
        assert sender.invalidate(key) == 1
        wait_for(lambda: subscriber.stats.received == 1, "the invalidation to arrive")
        assert subscriber.stats.own == 1
    assert key not in receiver.local and key not in sender.local
    assert sender_client.exists(key) == 0

    sent = sender_tracing.one("cache.invalidate")
    received = receiver_tracing.one("cache.invalidation.receive")
    assert received.kind is SpanKind.CONSUMER and sent.kind is SpanKind.PRODUCER
    assert received.parent.span_id == sent.context.span_id
    assert received.context.trace_id == sent.context.trace_id
    assert received.parent.is_remote
    assert dict(received.attributes) == {
        "cache.name": name, "cache.keys.count": 1, "messaging.system": "redis",
        "messaging.destination.name": default_channel(name), "messaging.operation.type": "receive",
        "cache.invalidation.evicted": 1,
    }
    assert dict(sent.attributes)["cache.invalidation.deleted"] == 1
    sender_client.close()
    receiver_client.close()


def test_invalidate_message_format(client, tracing, registry, prefix) -> None:
    cache = make_cache(client, tracing, registry, Origin(), name="fmt")
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(cache.channel)
    wait_for(lambda: client.pubsub_numsub(cache.channel)[0][1] == 1, "the subscription")
    cache.invalidate(prefix + "a", prefix + "b")
    message = None
    while message is None:
        message = pubsub.get_message(timeout=5)
    pubsub.close()
    body = json.loads(message["data"])
    assert set(body) == {"v", "cache", "sender", "keys", "traceparent"}
    assert (body["v"], body["cache"], body["sender"], body["keys"]) == (1, "fmt", cache.sender_id,
                                                                        [prefix + "a", prefix + "b"])
    span = tracing.one("cache.invalidate")
    version, trace_id, span_id, flags = body["traceparent"].split("-")
    assert (version, trace_id, span_id) == ("00", f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}")
    assert int(flags, 16) & 1  # sampled
    assert decode_message(message["data"]).keys == (prefix + "a", prefix + "b")


def test_subscriber_survives_garbage_and_leaves_nothing_behind(redis_app, client, tracing, registry,
                                                               prefix) -> None:
    name = f"garbage-{uuid.uuid4().hex[:8]}"
    receiver = make_cache(client, tracing, registry, Origin(), name=name, local=LocalCache())
    sender = make_cache(redis.Redis.from_url(redis_app.url), Tracing(), registry, Origin(), name=name)
    receiver.local.set(prefix + "k", 1)
    before = {t.ident for t in threading.enumerate()}
    subscriber = InvalidationSubscriber(client, receiver).start()
    assert subscriber.running
    for junk in (b"not json", b"\xff\xfe", b"[]", b'{"v":1}', b'{"v":1,"cache":"x","sender":"s","keys":[1]}'):
        client.publish(receiver.channel, junk)
    sender.invalidate(prefix + "k")
    wait_for(lambda: subscriber.stats.received == 1, "the valid message after the garbage")
    assert subscriber.stats.malformed == 5
    assert registry.get_sample_value("cache_errors_total", {"cache": name, "operation": "invalidation.receive",
                                                            "error_type": "malformed"}) == 5
    assert prefix + "k" not in receiver.local
    assert [s.name for s in tracing.spans] == ["cache.invalidation.receive"]  # garbage makes no spans

    subscriber.stop()
    assert not subscriber.running
    assert {t.ident for t in threading.enumerate()} <= before
    wait_for(lambda: client.pubsub_numsub(receiver.channel)[0][1] == 0, "the pub/sub connection to close")
    sender.client.close()


# --- warming ----------------------------------------------------------------------------------------------------
def test_warm_reports_progress_and_outcome(client, tracing, registry, prefix) -> None:
    keys = [f"{prefix}{i}" for i in range(10)]
    for key in keys[:3]:
        client.set(key, b'"already"')
    origin = Origin(fail=[keys[7]])
    cache = make_cache(client, tracing, registry, origin, ttl=120)
    calls: list[tuple[int, int]] = []
    report = cache.warm([*keys, keys[0]], batch_size=4, progress=lambda done, total: calls.append((done, total)))

    assert calls == [(4, 10), (8, 10), (10, 10)]
    assert report == WarmReport(loaded=6, already_cached=3, failed=1, failed_keys=(keys[7],))
    assert report.failed_keys == (keys[7],) and report.total == 10
    assert sorted(origin.calls) == sorted(keys[3:])
    assert [json.loads(v) if v else None for v in client.mget(keys)][:3] == ["already"] * 3
    assert client.exists(keys[7]) == 0
    assert all(0 < client.pttl(k) <= 120_000 for k in keys[3:] if k != keys[7])

    warm = tracing.one("cache.warm")
    assert [dict(e.attributes) for e in warm.events] == [
        {"batch": 0, "loaded": 1, "already_cached": 3, "failed": 0},
        {"batch": 1, "loaded": 3, "already_cached": 0, "failed": 1},
        {"batch": 2, "loaded": 2, "already_cached": 0, "failed": 0},
    ]
    assert {k: v for k, v in warm.attributes.items() if k.startswith("cache.warm.")} == {
        "cache.warm.keys": 10, "cache.warm.batch_size": 4, "cache.warm.loaded": 6,
        "cache.warm.already_cached": 3, "cache.warm.failed": 1}
    loads = tracing.named("origin.load")
    assert [s.status.status_code for s in loads] == [StatusCode.UNSET, StatusCode.ERROR, StatusCode.UNSET]
    assert len(tracing.named("cache.get")) == 0


def test_warm_uses_load_many_per_batch(client, tracing, registry, prefix) -> None:
    keys = [f"{prefix}{i}" for i in range(5)]
    batches: list[list[str]] = []

    def load_many(missing: list[str]) -> dict[str, Any]:
        batches.append(missing)
        return {k: k.upper() for k in missing if k != keys[4]}

    cache = make_cache(client, tracing, registry, Origin(), load_many=load_many)
    report = cache.warm(keys, batch_size=2)
    assert batches == [keys[0:2], keys[2:4], keys[4:]]
    assert report == WarmReport(loaded=4, already_cached=0, failed=1, failed_keys=(keys[4],))
    assert cache.warm(keys, batch_size=2) == WarmReport(already_cached=4, failed=1, failed_keys=(keys[4],))


def test_warm_span_tree(instrumented, tracing, registry, prefix) -> None:
    keys = [f"{prefix}{i}" for i in range(3)]
    make_cache(instrumented(), tracing, registry, Origin()).warm(keys, batch_size=2)
    assert tracing.tree() == [("cache.warm", leaf("MGET", "origin.load", "PIPELINE SET", "MGET", "origin.load",
                                                  "PIPELINE SET"))]


# --- L1 and serializers as units ----------------------------------------------------------------------------------
def test_l1_ttl_follows_the_injected_clock() -> None:
    clock = Clock()
    l1 = LocalCache(max_items=10, ttl=5, clock=clock)
    l1.set("a", 1)
    l1.set("b", 2, ttl=20)
    clock.now += 4.999
    assert l1.get("a") == 1
    clock.now += 0.001
    assert l1.get("a") is MISSING
    assert l1.get("b") == 2
    clock.now += 15
    assert "b" not in l1
    assert len(l1) == 0


def test_l1_lru_eviction_is_bounded_and_recency_aware() -> None:
    clock = Clock()
    l1 = LocalCache(max_items=3, ttl=60, clock=clock)
    for key in "abc":
        l1.set(key, key)
    assert l1.get("a") == "a"  # a is now the most recent; b the least
    l1.set("d", "d")
    assert [k for k in "abcd" if k in l1] == ["a", "c", "d"]
    assert l1.evictions == 1 and len(l1) == 3
    l1.set("c", "c2")  # overwrite refreshes recency, no eviction
    l1.set("e", "e")
    assert [k for k in "acde" if k in l1] == ["c", "d", "e"]
    assert l1.evictions == 2


def test_l1_expired_entries_leave_without_counting_as_evictions() -> None:
    clock = Clock()
    l1 = LocalCache(max_items=2, ttl=1, clock=clock)
    l1.set("a", 1)
    clock.now += 2
    l1.set("b", 2)
    l1.set("c", 3)
    assert l1.evictions == 0 and len(l1) == 2


def test_l1_delete_clear_and_validation() -> None:
    l1 = LocalCache(max_items=5)
    l1.set("a", None)
    l1.set("b", 2)
    assert l1.get("a") is None and "a" in l1
    assert l1.delete("a", "zz") == 1
    l1.clear()
    assert len(l1) == 0
    with pytest.raises(ValueError, match="max_items"):
        LocalCache(max_items=0)
    with pytest.raises(ValueError, match="ttl"):
        LocalCache(ttl=0)


def test_l1_is_thread_safe_under_contention() -> None:
    l1 = LocalCache(max_items=50)

    def hammer(offset: int) -> None:
        for i in range(2000):
            l1.set((offset + i) % 80, i)
            l1.get((offset + i * 7) % 80)
            if i % 50 == 0:
                l1.delete(i % 80)

    threads = [threading.Thread(target=hammer, args=(n * 13,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(l1) <= 50


@pytest.mark.parametrize("value", [{"a": [1, 2.5, None, "é"]}, [], "text", 0, None, True])
def test_json_serializer_round_trips(value: Any) -> None:
    data = JsonSerializer().dumps(value)
    assert isinstance(data, bytes)
    assert JsonSerializer().loads(data) == value
    assert JsonSerializer().loads(data.decode()) == value  # decode_responses=True clients hand back str


@pytest.mark.parametrize("value", [b"", b"\x00\xff raw", b'{"looks":"like json"}', b"123"])
def test_json_serializer_passes_bytes_through(value: bytes) -> None:
    data = JsonSerializer().dumps(value)
    assert data == b"\xff" + value
    assert JsonSerializer().loads(data) == value


def test_bytes_serializer_is_the_identity() -> None:
    assert BytesSerializer().dumps(b"\x01\x02") == b"\x01\x02"
    assert BytesSerializer().dumps("é") == "é".encode()
    assert BytesSerializer().loads(b"x") == b"x"
    with pytest.raises(TypeError):
        BytesSerializer().dumps(3)


def test_cache_with_bytes_values(client, tracing, registry, prefix) -> None:
    cache = make_cache(client, tracing, registry, lambda k: b"\x89PNG", serializer=BytesSerializer())
    assert cache.get(prefix + "img") == b"\x89PNG"
    assert client.get(prefix + "img") == b"\x89PNG"
    assert cache.get(prefix + "img") == b"\x89PNG"


def test_log_throttle_counts_what_it_suppresses(client) -> None:
    configured = ReadThroughCache(client, Origin(), registry=CollectorRegistry()).throttle
    assert (configured.interval, configured.burst) == (1.0, 1)  # one line per failure kind a second
    clock = Clock()
    throttle = LogRateLimiter(interval=configured.interval, burst=configured.burst, clock=clock)
    assert throttle.admit("x") == 0
    assert throttle.admit("x") is None
    assert throttle.admit("y") == 0
    assert throttle.admit("x") is None
    clock.now += 1
    assert throttle.admit("x") == 2


def test_options_are_validated(client) -> None:
    with pytest.raises(ValueError, match="ttl"):
        ReadThroughCache(client, Origin(), ttl=0)
    cache = ReadThroughCache(client, Origin(), registry=CollectorRegistry())
    with pytest.raises(ValueError, match="batch_size"):
        cache.warm(["a"], batch_size=0)
    assert cache.invalidate() == 0


def kill_connection(client: redis.Redis, sock: Any) -> None:
    """Close one connection from the server side (as a failover or a proxy restart would)."""
    host, port = sock.getsockname()[:2]
    client.execute_command("CLIENT", "KILL", "ADDR", f"{host}:{port}")


def test_subscriber_clears_l1_and_resubscribes_after_losing_its_connection(redis_app, client, tracing, registry,
                                                                           prefix) -> None:
    name = f"reconnect-{uuid.uuid4().hex[:8]}"
    receiver = make_cache(client, tracing, registry, Origin(), name=name, local=LocalCache())
    sender = make_cache(redis.Redis.from_url(redis_app.url), Tracing(), registry, Origin(), name=name)
    with InvalidationSubscriber(client, receiver, reconnect_backoff=0.01) as subscriber:
        receiver.local.set(prefix + "a", 1)  # its invalidation could be lost while disconnected
        kill_connection(client, subscriber._pubsub.connection._sock)
        wait_for(lambda: subscriber.stats.reconnects == 1, "the subscriber to notice")
        assert len(receiver.local) == 0
        wait_for(lambda: client.pubsub_numsub(receiver.channel)[0][1] == 1, "the resubscription")
        receiver.local.set(prefix + "b", 2)
        sender.invalidate(prefix + "b")
        wait_for(lambda: subscriber.stats.received == 1, "an invalidation after the reconnect")
    assert prefix + "b" not in receiver.local
    assert registry.get_sample_value("cache_errors_total", {"cache": name, "operation": "invalidation.receive",
                                                            "error_type": "connection"}) == 1
    sender.client.close()


def test_unsampled_reads_still_count_and_record_no_spans(client, registry, prefix) -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(ALWAYS_OFF))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    cache = ReadThroughCache(client, Origin(), name="quiet", local=LocalCache(), tracer_provider=provider,
                             registry=registry)
    for _ in range(3):
        assert cache.get(prefix + "k")["key"] == prefix + "k"
    assert exporter.get_finished_spans() == ()
    assert requests(registry, "quiet", "cache.get", "miss") == 1
    assert requests(registry, "quiet", "cache.get", "hit") == 2
    assert requests(registry, "quiet", "l1.get", "hit") == 2
