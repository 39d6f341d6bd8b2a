"""An application, its tests and the libraries around it cannot tell an instrumented client from a plain one,
except through the telemetry: mocks, shared pools and their classes, ``type()`` and ``repr()``, freeing by
reference counting (``__del__`` on time), many clients on one tracer provider, forks, copies and pickling."""

from __future__ import annotations

import asyncio
import copy
import gc
import logging
import os
import pickle
import re
import uuid
import weakref
from collections.abc import Callable, Iterator
from typing import Any
from unittest.mock import Mock

import pytest
import redis
import redis.asyncio
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from prometheus_client import CollectorRegistry

from cachewatch.local_redis import RedisServer
from cachewatch.tracing import instrument, instrumentation_of
from tests.support.tracing import Recorder, prefix, recorder

REQ = "cache_requests_total"
DUR = "db_client_operation_duration_seconds_count"


@pytest.fixture
def rec() -> Recorder:
    return recorder()


@pytest.fixture
def no_gc() -> Iterator[None]:
    """The cyclic collector off: what is freed here is freed by reference counting alone."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def traced(client: Any, rec: Recorder, cache: str = "default") -> Any:
    return instrument(client, tracer_provider=rec.provider, registry=rec.registry, cache=cache).client


def same_repr(a: Any, b: Any) -> bool:
    """Equal reprs but for object addresses (a Retry object's default repr shows one)."""
    return re.sub(r" at 0x[0-9a-f]+", "", repr(a)) == re.sub(r" at 0x[0-9a-f]+", "", repr(b))


def named_connections(server: RedisServer, name: str) -> int:
    listing = redis.Redis(port=server.port).client_list()
    return sum(1 for entry in listing if entry.get("name") == name)


def wait_until(condition: Callable[[], bool], what: str, tries: int = 200) -> None:
    """Poll (the server notices a closed socket on its next event-loop turn); no timing is asserted."""
    for _ in range(tries):
        if condition():
            return
        os.sched_yield()
        asyncio.run(asyncio.sleep(0.01))
    raise AssertionError(f"timed out waiting for {what}")


# --- 1. set-up never reaches the application ------------------------------------------------------------------
def test_a_mocked_pool_is_left_uninstrumented_and_logged_once(caplog: pytest.LogCaptureFixture,
                                                              rec: Recorder) -> None:
    caplog.set_level(logging.WARNING, logger="cachewatch.tracing")
    pools = [Mock(spec=redis.ConnectionPool) for _ in range(2)]
    for pool in pools:
        handle = instrument(redis.Redis(connection_pool=pool), tracer_provider=rec.provider,
                            registry=rec.registry)
        assert handle.client.connection_pool is pool
        assert "get_connection" not in vars(pool) or isinstance(pool.get_connection, Mock)
    assert type(pools[0]).__name__ == type(Mock(spec=redis.ConnectionPool)).__name__
    skipped = [r for r in caplog.records if "left uninstrumented" in r.getMessage()]
    assert len(skipped) == 1  # once, not once per client


def test_a_pool_with_a_mocked_connection_class_does_not_break_instrument(redis_app: RedisServer,
                                                                         rec: Recorder) -> None:
    connection_class = Mock(spec=redis.Connection)
    pool = redis.ConnectionPool(port=redis_app.port, connection_class=connection_class)
    client = traced(redis.Redis(connection_pool=pool), rec)
    assert pool.connection_class is connection_class and instrumentation_of(client) is not None


def test_a_mocked_client_stays_a_plain_mock(rec: Recorder) -> None:
    mocked = Mock(spec=redis.Redis)
    instrument(mocked, tracer_provider=rec.provider, registry=rec.registry)
    mocked.get("k")
    mocked.get.assert_called_once_with("k")
    assert isinstance(mocked.execute_command, Mock)
    assert instrumentation_of(mocked) is None


# --- 2. a shared pool, its class, type() and repr() ------------------------------------------------------------
def test_a_shared_pool_and_its_classes_are_unchanged(redis_app: RedisServer, rec: Recorder) -> None:
    p = prefix("shared")
    pool = redis.ConnectionPool(port=redis_app.port)
    mine, other = redis.Redis(connection_pool=pool), redis.Redis(connection_pool=pool)
    plain_twin = redis.Redis(connection_pool=redis.ConnectionPool(port=redis_app.port))
    before = (repr(mine), repr(pool), type(pool), pool.connection_class)
    traced(mine, rec, cache="mine")
    mine.get(f"{p}k")
    other.get(f"{p}k")
    connection = pool.get_connection()
    try:
        assert pool.connection_class is redis.Connection
        assert type(connection) is redis.Connection and type(connection).__name__ == "Connection"
        assert same_repr(connection, plain_twin.connection_pool.make_connection())
    finally:
        pool.release(connection)
    assert (repr(mine), repr(pool), type(pool), pool.connection_class) == before
    assert type(mine) is redis.Redis and same_repr(mine, plain_twin)
    # only the instrumented client is counted, though the other one uses the same pool
    assert rec.value(REQ, cache="mine", operation="GET", result="miss", key_class="") == 1
    assert rec.value("cache_connection_create_seconds_count", cache="mine") == 1


def test_connection_set_up_is_still_timed_and_reconnects_counted(redis_app: RedisServer, rec: Recorder) -> None:
    client = traced(redis.Redis(port=redis_app.port), rec, cache="connects")
    client.ping()
    client.ping()  # the open connection is reused: no new set-up
    assert rec.value("cache_connection_create_seconds_count", cache="connects") == 1
    client.connection_pool.disconnect()
    client.ping()
    assert rec.value("cache_connection_create_seconds_count", cache="connects") == 2


# --- 3. many clients on one ratio-sampled provider ---------------------------------------------------------------
def test_five_thousand_clients_on_one_ratio_sampled_provider_are_all_counted(redis_app: RedisServer) -> None:
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.01)))
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    registry = CollectorRegistry()
    pool = redis.ConnectionPool(port=redis_app.port)
    key = prefix("many") + "k"
    for _ in range(5000):  # a client per request on a shared pool, as some applications do
        client = redis.Redis(connection_pool=pool)
        instrument(client, tracer_provider=provider, registry=registry, cache="many")
        client.get(key)
    assert registry.get_sample_value(REQ, {"cache": "many", "operation": "GET", "result": "miss",
                                           "key_class": ""}) == 5000


# --- 4. freed by reference counting ----------------------------------------------------------------------------
def freed(make: Callable[[], Any], use: Callable[[Any], Any]) -> bool:
    """Whether the object ``make`` returns is gone as soon as the last reference is dropped (no gc.collect)."""
    obj = make()
    use(obj)
    ref = weakref.ref(obj)
    del obj
    return ref() is None


def test_clients_and_pipelines_are_freed_without_the_cyclic_collector(no_gc: None, redis_app: RedisServer,
                                                                      rec: Recorder) -> None:
    p = prefix("freed")
    assert freed(lambda: traced(redis.Redis(port=redis_app.port), rec), lambda c: c.get(f"{p}k"))
    client = traced(redis.Redis(port=redis_app.port), rec)
    assert freed(lambda: client.pipeline(), lambda pipe: pipe.get(f"{p}k").set(f"{p}k", 1).execute())
    assert freed(lambda: client.pipeline(transaction=False), lambda pipe: pipe.get(f"{p}k").execute())
    assert freed(lambda: traced(redis.Redis(port=redis_app.port), rec), lambda c: c.pipeline())


def test_async_clients_and_pipelines_are_freed_without_the_cyclic_collector(no_gc: None, redis_app: RedisServer,
                                                                            rec: Recorder) -> None:
    p = prefix("afreed")

    async def scenario() -> tuple[bool, bool]:
        client = traced(redis.asyncio.Redis(port=redis_app.port), rec)
        await client.get(f"{p}k")
        pipe = client.pipeline()
        pipe.get(f"{p}k")
        await pipe.execute()
        pipe_ref = weakref.ref(pipe)
        del pipe
        await client.aclose()
        client_ref = weakref.ref(client)
        del client
        return client_ref() is None, pipe_ref() is None

    assert asyncio.run(scenario()) == (True, True)


def test_dropped_clients_close_their_server_connections(no_gc: None, redis_app: RedisServer,
                                                        rec: Recorder) -> None:
    name = f"cw-drop-{uuid.uuid4().hex[:8]}"
    for _ in range(20):
        client = traced(redis.Redis(port=redis_app.port, client_name=name), rec)
        client.get(prefix("drop") + "k")
        del client
    wait_until(lambda: named_connections(redis_app, name) == 0, "the dropped clients' connections to close")


def test_dropped_watching_pipelines_give_back_their_connection(no_gc: None, redis_app: RedisServer,
                                                               rec: Recorder) -> None:
    key = prefix("watch") + "k"

    def after_dropped_watches(client: redis.Redis) -> Any:
        for _ in range(3):
            pipe = client.pipeline()
            pipe.watch(key)
            del pipe  # no reset(): redis-py's __del__ gives the connection back
        return client.get(key)

    plain = redis.Redis(connection_pool=redis.ConnectionPool(port=redis_app.port, max_connections=1))
    ours = traced(redis.Redis(connection_pool=redis.ConnectionPool(port=redis_app.port, max_connections=1)), rec)
    assert after_dropped_watches(plain) is None
    assert after_dropped_watches(ours) is None


def test_a_cluster_client_is_freed_like_a_plain_one(no_gc: None, redis_cluster: Any, rec: Recorder) -> None:
    host, port = "127.0.0.1", redis_cluster.nodes[0].port
    p = prefix("cfreed")
    plain = freed(lambda: redis.RedisCluster(host=host, port=port), lambda c: c.get(f"{p}k"))
    ours = freed(lambda: traced(redis.RedisCluster(host=host, port=port), rec), lambda c: c.get(f"{p}k"))
    assert ours == plain


# --- more of the same kind --------------------------------------------------------------------------------------
def test_exceptions_through_the_wrappers_pickle_like_plain_ones(redis_app: RedisServer, rec: Recorder) -> None:
    client = traced(redis.Redis(port=redis_app.port), rec)
    with pytest.raises(redis.ResponseError) as caught:
        client.execute_command("NOSUCHCOMMAND")
    again = pickle.loads(pickle.dumps(caught.value))
    assert type(again) is redis.ResponseError and again.args == caught.value.args


def test_copies_pickling_and_weak_references_behave_as_on_a_plain_client(redis_app: RedisServer,
                                                                         rec: Recorder) -> None:
    p = prefix("copy")
    plain = redis.Redis(port=redis_app.port)
    ours = traced(redis.Redis(port=redis_app.port), rec, cache="copied")
    ours.set(f"{p}k", 1)
    twin = copy.copy(ours)
    assert twin.get(f"{p}k") == copy.copy(plain).get(f"{p}k") == b"1"
    for attempt in (copy.deepcopy, pickle.dumps):
        with pytest.raises(Exception) as plain_error:
            attempt(plain)
        with pytest.raises(Exception) as our_error:
            attempt(ours)
        assert type(our_error.value) is type(plain_error.value)
    assert weakref.ref(ours)() is ours


def test_a_forked_child_runs_its_first_command_and_the_parent_keeps_exact_counts(redis_app: RedisServer,
                                                                                 rec: Recorder) -> None:
    p = prefix("fork")
    client = traced(redis.Redis(port=redis_app.port), rec, cache="forked")
    client.set(f"{p}k", "v")
    assert client.get(f"{p}k") == b"v"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first command on the inherited client
        code = 1
        try:
            os.close(read)
            os.write(write, client.get(f"{p}k") or b"-")
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        reply = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and reply == b"v"
    assert client.get(f"{p}k") == b"v"
    assert rec.value(REQ, cache="forked", operation="GET", result="hit", key_class="") == 2
    assert rec.value(DUR, db_system_name="redis", db_operation_name="GET", cache="forked") == 2
