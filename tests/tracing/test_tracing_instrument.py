"""instrument() on the sync client: exact counters, spans per the DB semantic conventions, pipelines, errors,
pools, and the promise that the application sees exactly what plain redis-py gives it."""

from __future__ import annotations

import threading

import pytest
import redis
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics
from redis.backoff import NoBackoff
from redis.retry import Retry

from cachewatch.local_redis import RedisServer, free_port
from cachewatch.tracing import instrument, instrumentation_of, uninstrument
from cachewatch.tracing.metrics import DURATION_BUCKETS
from cachewatch.tracing.operations import MAX_OPERATIONS
from tests.support.fake_servers import BlackHole
from tests.support.tracing import Recorder, prefix, recorder

REQ = "cache_requests_total"
DUR = "db_client_operation_duration_seconds_count"
NO_RETRY = Retry(NoBackoff(), 0)  # one attempt: the error, not redis-py's retries, is under test


@pytest.fixture
def rec() -> Recorder:
    return recorder()


def client_for(server: RedisServer, rec: Recorder, **kwargs) -> redis.Redis:
    client = redis.Redis(port=server.port, **kwargs.pop("client_kwargs", {}))
    instrument(client, tracer_provider=rec.provider, registry=rec.registry, **kwargs)
    return client


def test_known_workload_gives_exact_hit_and_miss_counts(redis_app: RedisServer, rec: Recorder) -> None:
    p = prefix("workload")
    client = client_for(redis_app, rec, cache="sessions")
    for i in range(90):
        client.set(f"{p}{i}", i)
    for i in range(1000):
        client.get(f"{p}{i % 100}")  # keys 90..99 do not exist: 100 of the 1000 GETs miss
    assert rec.value(REQ, cache="sessions", operation="GET", result="hit", key_class="") == 900
    assert rec.value(REQ, cache="sessions", operation="GET", result="miss", key_class="") == 100
    assert rec.value(DUR, db_system_name="redis", db_operation_name="GET", cache="sessions") == 1000
    assert rec.value(DUR, db_system_name="redis", db_operation_name="SET", cache="sessions") == 90
    assert rec.value(REQ, cache="sessions", operation="SET", result="hit", key_class="") == 0  # writes are not reads


def test_mget_and_hmget_count_per_key_and_field(redis_app: RedisServer, rec: Recorder) -> None:
    p = prefix("mget")
    client = client_for(redis_app, rec)
    client.set(f"{p}a", 1)
    client.hset(f"{p}h", mapping={"f1": 1})
    assert client.mget(f"{p}a", f"{p}b", f"{p}c") == [b"1", None, None]
    assert client.hmget(f"{p}h", ["f1", "f2"]) == [b"1", None]
    assert client.exists(f"{p}a", f"{p}nope") == 1
    assert rec.value(REQ, cache="default", operation="MGET", result="hit", key_class="") == 1
    assert rec.value(REQ, cache="default", operation="MGET", result="miss", key_class="") == 2
    assert rec.value(REQ, cache="default", operation="HMGET", result="hit", key_class="") == 1
    assert rec.value(REQ, cache="default", operation="HMGET", result="miss", key_class="") == 1
    assert rec.value(REQ, cache="default", operation="EXISTS", result="hit", key_class="") == 1
    assert rec.value(REQ, cache="default", operation="EXISTS", result="miss", key_class="") == 1


def _outcomes(client: redis.Redis, p: str) -> list[object]:
    """Replies, or (exception class, message), for a mix of commands including failing ones."""
    calls = [
        lambda: client.set(f"{p}s", "v"), lambda: client.get(f"{p}s"), lambda: client.get(f"{p}none"),
        lambda: client.lpush(f"{p}s", 1), lambda: client.incr(f"{p}s"), lambda: client.hgetall(f"{p}none"),
        lambda: client.execute_command("NOSUCHCOMMAND"), lambda: client.mget([]),
        lambda: client.delete(f"{p}s"),
    ]
    out: list[object] = []
    for call in calls:
        try:
            out.append(call())
        except Exception as exc:
            out.append((type(exc), str(exc)))
    return out


def test_replies_and_exceptions_are_exactly_plain_redis_py(redis_app: RedisServer, rec: Recorder) -> None:
    plain = redis.Redis(port=redis_app.port)
    instrumented = client_for(redis_app, rec)
    assert _outcomes(instrumented, prefix("same")) == _outcomes(plain, prefix("same"))


def test_a_failing_telemetry_never_reaches_the_application(redis_app: RedisServer, rec: Recorder,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    p = prefix("broken")
    client = client_for(redis_app, rec)
    tel = instrumentation_of(client).telemetry

    def boom(*args, **kwargs):
        raise RuntimeError("telemetry bug")

    class Broken:
        def __getattr__(self, name: str):
            raise RuntimeError("telemetry bug")

    client.get(f"{p}warm")  # the GET op exists: its counting path is the one inlined in the wrapper
    for name in ("start", "succeeded", "failed", "stats"):
        if name == "stats":
            for op in tel.ops.values():
                monkeypatch.setattr(op, "stats", Broken())
        elif name == "start":
            monkeypatch.setattr(tel.spans, "start_leaf", boom)
        else:
            monkeypatch.setattr(tel, name, boom)
        assert client.set(f"{p}k", "v") is True
        assert client.get(f"{p}k") == b"v"
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            client.lpush(f"{p}k", 1)
        monkeypatch.undo()


def test_get_span_follows_the_db_semantic_conventions(redis_app: RedisServer, rec: Recorder) -> None:
    p = prefix("semconv")
    client = client_for(redis_app, rec, client_kwargs={"db": 3}, cache="users")
    client.set(f"{p}k", "v")
    client.get(f"{p}k")
    client.get(f"{p}missing")
    hit, miss = rec.spans("GET")
    assert hit.kind is SpanKind.CLIENT
    assert dict(hit.attributes) == {
        "db.system.name": "redis", "db.operation.name": "GET", "db.namespace": "3",
        "server.address": "localhost", "server.port": redis_app.port, "cache.name": "users", "cache.hit": True,
    }
    assert miss.attributes["cache.hit"] is False
    assert "db.query.text" not in hit.attributes  # values and keys stay out unless asked for
    assert hit.status.status_code is StatusCode.UNSET


def test_query_text_is_opt_in_and_sanitized(redis_app: RedisServer, rec: Recorder) -> None:
    client = client_for(redis_app, rec, db_query_text=True)
    client.set(prefix("q") + "secret-key", "secret-value")
    (span,) = rec.spans("SET")
    assert span.attributes["db.query.text"] == "SET ? ?"


def test_server_error_sets_error_type_status_code_and_counts_by_class(redis_app: RedisServer,
                                                                        rec: Recorder) -> None:
    p = prefix("err")
    client = client_for(redis_app, rec)
    client.set(f"{p}s", "v")
    with pytest.raises(redis.ResponseError):
        client.lpush(f"{p}s", 1)
    with pytest.raises(redis.ResponseError):
        client.execute_command("NOSUCHCOMMAND")
    (span,) = rec.spans("LPUSH")
    assert span.attributes["error.type"] == "WRONGTYPE"
    assert span.attributes["db.response.status_code"] == "WRONGTYPE"
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    assert rec.value("cache_errors_total", cache="default", operation="LPUSH", error_type="WRONGTYPE") == 1
    assert rec.value("cache_errors_total", cache="default", operation="NOSUCHCOMMAND", error_type="ERR") == 1


def test_timeouts_and_refused_connections_are_typed(rec: Recorder) -> None:
    with BlackHole() as hole:
        hung = redis.Redis(port=hole.port, socket_timeout=0.2, socket_connect_timeout=0.5, retry=NO_RETRY)
        instrument(hung, tracer_provider=rec.provider, registry=rec.registry, cache="hung")
        with pytest.raises(redis.TimeoutError):
            hung.get("k")
    refused = redis.Redis(port=free_port(), socket_connect_timeout=0.5, retry=NO_RETRY)
    instrument(refused, tracer_provider=rec.provider, registry=rec.registry, cache="down")
    with pytest.raises(redis.ConnectionError):
        refused.get("k")
    assert rec.value("cache_errors_total", cache="hung", operation="GET", error_type="timeout") == 1
    assert rec.value("cache_errors_total", cache="down", operation="GET", error_type="connection") == 1
    assert rec.value("cache_connection_errors_total", cache="down") >= 1
    assert {s.attributes["error.type"] for s in rec.spans("GET")} == {"redis.exceptions.TimeoutError",
                                                                       "redis.exceptions.ConnectionError"}


def test_pipeline_is_one_batch_span_and_counts_each_read(redis_app: RedisServer, rec: Recorder) -> None:
    p = prefix("pipe")
    client = client_for(redis_app, rec)
    client.set(f"{p}a", 1)
    pipe = client.pipeline(transaction=False)
    pipe.get(f"{p}a").get(f"{p}b").set(f"{p}c", 3)
    assert pipe.execute() == [b"1", None, True]
    (span,) = rec.spans("PIPELINE")
    assert span.attributes["db.operation.name"] == "PIPELINE"
    assert span.attributes["db.operation.batch.size"] == 3
    assert (span.attributes["cache.hit_count"], span.attributes["cache.miss_count"]) == (1, 1)
    assert rec.value(REQ, cache="default", operation="GET", result="hit", key_class="") == 1
    assert rec.value(REQ, cache="default", operation="GET", result="miss", key_class="") == 1
    assert rec.value(DUR, db_system_name="redis", db_operation_name="PIPELINE", cache="default") == 1
    assert rec.value(DUR, db_system_name="redis", db_operation_name="GET", cache="default") == 0  # one operation


def test_transaction_is_multi_and_watch_commands_are_their_own_spans(redis_app: RedisServer,
                                                                      rec: Recorder) -> None:
    p = prefix("multi")
    client = client_for(redis_app, rec)
    client.set(f"{p}n", 1)

    def bump(pipe: redis.client.Pipeline) -> None:
        current = int(pipe.get(f"{p}n"))  # immediate: runs while WATCHing
        pipe.multi()
        pipe.set(f"{p}n", current + 1)
        pipe.set(f"{p}m", current + 1)

    assert client.transaction(bump, f"{p}n") == [True, True]
    assert [s.name for s in rec.spans()][-3:] == ["WATCH", "GET", "MULTI SET"]
    multi = rec.spans("MULTI SET")[0]
    assert multi.attributes["db.operation.batch.size"] == 2
    with client.pipeline() as pipe:
        pipe.get(f"{p}n").incr(f"{p}n")
        assert pipe.execute() == [b"2", 3]
    assert rec.spans()[-1].name == "MULTI"


def test_watch_conflict_is_counted_but_not_an_error_span(redis_app: RedisServer, rec: Recorder) -> None:
    p = prefix("watch")
    client = client_for(redis_app, rec)
    other = redis.Redis(port=redis_app.port)
    with client.pipeline() as pipe:
        pipe.watch(f"{p}k")
        other.set(f"{p}k", "changed")
        pipe.multi()
        pipe.set(f"{p}k", "mine")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    (span,) = rec.spans("MULTI SET")
    assert span.status.status_code is StatusCode.UNSET
    assert rec.value("cache_errors_total", cache="default", operation="MULTI SET", error_type="watch") == 1


def test_spans_join_the_applications_trace_and_respect_its_sampling(redis_app: RedisServer) -> None:
    rec = recorder(ParentBased(TraceIdRatioBased(0.0)))  # roots never sampled: only parents decide
    p = prefix("parent")
    client = client_for(redis_app, rec)
    client.get(f"{p}root")
    assert rec.spans() == []
    sampled = SpanContext(0x1234, 0x99, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    with trace.use_span(NonRecordingSpan(sampled)):
        client.get(f"{p}child")
    (child,) = rec.spans("GET")
    assert child.context.trace_id == 0x1234 and child.parent.span_id == 0x99
    unsampled = SpanContext(0x5678, 0x98, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    with trace.use_span(NonRecordingSpan(unsampled)):
        client.get(f"{p}dropped")
    assert len(rec.spans()) == 1


def test_exemplars_carry_trace_ids_of_sampled_spans_only(redis_app: RedisServer) -> None:
    p = prefix("exemplar")
    sampled = recorder()
    client_for(redis_app, sampled).get(f"{p}k")
    (span,) = sampled.spans("GET")
    text = openmetrics(sampled.registry).decode()
    assert f'trace_id="{span.context.trace_id:032x}"' in text
    dropped = recorder(ParentBased(ALWAYS_OFF))
    client_for(redis_app, dropped).get(f"{p}k")
    assert "trace_id" not in openmetrics(dropped.registry).decode()


def test_duration_buckets_resolve_below_100_microseconds() -> None:
    assert sum(1 for b in DURATION_BUCKETS if b < 0.0001) >= 2


def test_instrument_is_idempotent_and_uninstrument_restores_the_client(redis_app: RedisServer,
                                                                       rec: Recorder) -> None:
    p = prefix("undo")
    client = redis.Redis(port=redis_app.port)
    first = instrument(client, tracer_provider=rec.provider, registry=rec.registry)
    assert instrument(client, tracer_provider=rec.provider, registry=rec.registry) is first
    client.get(f"{p}k")
    assert rec.value(REQ, cache="default", operation="GET", result="miss", key_class="") == 1
    uninstrument(client)
    assert "execute_command" not in vars(client) and "pipeline" not in vars(client)
    assert "get_connection" not in vars(client.connection_pool)
    assert instrumentation_of(client) is None
    client.get(f"{p}k")
    client.pipeline().get(f"{p}k").execute()
    assert rec.value(REQ, cache="default", operation="GET", result="miss", key_class="") == 1
    assert len(rec.spans()) == 1
    uninstrument(client)  # a second time is a no-op


def test_other_clients_of_the_same_class_are_untouched(redis_app: RedisServer, rec: Recorder) -> None:
    client_for(redis_app, rec)
    bystander = redis.Redis(port=redis_app.port)
    bystander.get(prefix("bystander") + "k")
    assert rec.spans() == []


def test_pool_gauges_wait_histogram_and_max(redis_app: RedisServer, rec: Recorder) -> None:
    pool = redis.BlockingConnectionPool(port=redis_app.port, max_connections=2, timeout=5)
    client = redis.Redis(connection_pool=pool)
    instrument(client, tracer_provider=rec.provider, registry=rec.registry, cache="pool")
    p = prefix("pool")
    client.set(f"{p}k", "v")
    assert rec.value("cache_pool_connections", cache="pool", state="idle") == 1
    assert rec.value("cache_pool_connections", cache="pool", state="in_use") == 0
    assert rec.value("cache_pool_max_connections", cache="pool") == 2
    held = [pool.get_connection(), pool.get_connection()]  # the pool is now exhausted
    assert rec.value("cache_pool_connections", cache="pool", state="in_use") == 2
    waiting = threading.Thread(target=client.get, args=(f"{p}k",))
    waiting.start()
    release = threading.Timer(0.2, pool.release, [held[0]])
    release.start()
    waiting.join(10)
    pool.release(held[1])
    # three acquisitions without waiting, one that waited 0.2 s for the release: only it lands above 100 ms (a
    # boundary far from both, so a busy machine delaying a free acquisition by a few ms does not move it)
    assert rec.value("cache_pool_wait_seconds_count", cache="pool") == 4
    assert rec.value("cache_pool_wait_seconds_bucket", cache="pool", le="0.1") == 3


def test_key_classes_label_bounded_classes_and_never_raw_keys(redis_app: RedisServer, rec: Recorder) -> None:
    p = prefix("classes")
    client = client_for(redis_app, rec, key_classes={"user": f"{p}user:*", "session": f"{p}sess:*"})
    client.set(f"{p}user:1", "x")
    client.get(f"{p}user:1")
    client.get(f"{p}sess:abc")
    client.get(f"{p}misc")
    client.mget(f"{p}user:1", f"{p}sess:1")
    assert rec.value(REQ, cache="default", operation="GET", result="hit", key_class="user") == 1
    assert rec.value(REQ, cache="default", operation="GET", result="miss", key_class="session") == 1
    assert rec.value(REQ, cache="default", operation="GET", result="miss", key_class="other") == 1
    assert rec.value(REQ, cache="default", operation="MGET", result="hit", key_class="user") == 1
    assert rec.value(REQ, cache="default", operation="MGET", result="miss", key_class="session") == 1
    assert p not in openmetrics(rec.registry).decode()


@pytest.mark.parametrize("bad", [{"other": "x*"}, {"Bad Name": "x*"}, {f"c{i}": "x*" for i in range(40)},
                                 {"user": ""}])
def test_bad_key_classes_are_refused_with_the_reason(redis_app: RedisServer, rec: Recorder, bad: dict) -> None:
    with pytest.raises(ValueError, match="key_classes"):
        client_for(redis_app, rec, key_classes=bad)


def test_operation_labels_stay_bounded(redis_app: RedisServer, rec: Recorder) -> None:
    client = client_for(redis_app, rec)
    for i in range(2 * MAX_OPERATIONS + 50):
        with pytest.raises(redis.ResponseError):
            client.execute_command(f"GENERATED{i}")
    operations = {s.labels["db_operation_name"] for m in rec.registry.collect() for s in m.samples
                  if m.name == "db_client_operation_duration_seconds" and s.name.endswith("_count")}
    assert len(operations) == MAX_OPERATIONS + 1 and "OTHER" in operations
    assert len(instrumentation_of(client).telemetry.ops) <= 2 * MAX_OPERATIONS  # nor does the name cache grow
    assert rec.value("cache_errors_total", cache="default", operation="OTHER", error_type="ERR") == MAX_OPERATIONS + 50


def test_not_a_redis_client_is_refused_by_name(rec: Recorder) -> None:
    with pytest.raises(TypeError, match="redis-py client"):
        instrument(object(), tracer_provider=rec.provider, registry=rec.registry)


def test_without_an_sdk_nothing_is_traced_but_metrics_still_count(redis_app: RedisServer) -> None:
    rec = recorder()
    client = redis.Redis(port=redis_app.port)
    instrument(client, tracer_provider=trace.NoOpTracerProvider(), registry=rec.registry)
    client.get(prefix("nosdk") + "k")
    assert rec.value(REQ, cache="default", operation="GET", result="miss", key_class="") == 1


def test_a_processor_with_on_start_gets_real_sdk_spans(redis_app: RedisServer) -> None:
    """LeafSpan skips on_start; a provider whose processors need it must get the SDK's own spans."""
    from opentelemetry.sdk.trace import SpanProcessor

    started: list[str] = []

    class Enricher(SpanProcessor):
        def on_start(self, span, parent_context=None) -> None:
            started.append(span.name)
            span.set_attribute("enriched", True)

    rec = recorder()
    rec.provider.add_span_processor(Enricher())
    client_for(redis_app, rec).get(prefix("onstart") + "k")
    (span,) = rec.spans("GET")
    assert started == ["GET"] and span.attributes["enriched"] is True


def test_global_provider_is_looked_up_when_the_application_sets_it_later(redis_app: RedisServer) -> None:
    import subprocess
    import sys

    script = f"""
import redis
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from cachewatch.tracing import instrument
client = redis.Redis(port={redis_app.port})
instrument(client)                      # before any provider exists: the API's proxy
client.get("global:before")
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
client.get("global:after")
print([s.name for s in exporter.get_finished_spans()])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "['GET']"


def test_provider_with_custom_sampler_uses_the_sdk_path(redis_app: RedisServer) -> None:
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    class OnlyGets(Sampler):
        def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                          trace_state=None) -> SamplingResult:
            return SamplingResult(Decision.RECORD_AND_SAMPLE if name == "GET" else Decision.DROP)

        def get_description(self) -> str:
            return "OnlyGets"

    rec = recorder(OnlyGets())
    client = client_for(redis_app, rec)
    p = prefix("custom")
    client.set(f"{p}k", 1)
    client.get(f"{p}k")
    assert [s.name for s in rec.spans()] == ["GET"]
    assert isinstance(rec.provider, TracerProvider)
