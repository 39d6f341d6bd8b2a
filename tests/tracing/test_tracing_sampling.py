"""The hot path's own sampling decision must be the SDK sampler's decision, never an approximation of it."""

from __future__ import annotations

import random

import pytest
import redis
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    AlwaysRecordSampler,
    Decision,
    ParentBased,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from cachewatch.local_redis import RedisServer
from cachewatch.tracing import instrument
from cachewatch.tracing.sampling import ALWAYS, Plan, StagedIdGenerator, make_sampler, plan_of, ratio_from_env
from cachewatch.tracing.spans import LeafSpan, SpanFactory
from tests.support.tracing import prefix, recorder


def attrs(name: str, args: object) -> dict:
    return {"db.operation.name": name}


@pytest.mark.parametrize(("sampler", "plan"), [
    (ParentBased(ALWAYS_ON), Plan(ALWAYS, False)),
    (ParentBased(ALWAYS_OFF), Plan(0, False)),
    (ParentBased(TraceIdRatioBased(0.25)), Plan(TraceIdRatioBased(0.25).bound, False)),
    (AlwaysRecordSampler(ParentBased(TraceIdRatioBased(0.5))), Plan(TraceIdRatioBased(0.5).bound, True)),
    (TraceIdRatioBased(0.5), None),  # ignores parents: the SDK decides
    (ParentBased(ALWAYS_ON, remote_parent_not_sampled=ALWAYS_ON), None),
])
def test_plan_reads_only_samplers_it_can_reproduce(sampler, plan) -> None:
    assert plan_of(sampler) == plan


def test_root_decisions_are_exactly_the_sdk_samplers() -> None:
    ratio = 0.3
    rec = recorder(ParentBased(TraceIdRatioBased(ratio)))
    factory = SpanFactory(rec.provider)
    sdk_sampler = TraceIdRatioBased(ratio)
    random.seed(7)
    started = [factory.start_leaf("GET", attrs) for _ in range(4000)]
    kept = [s for s in started if s is not None]
    for span in kept:
        decision = sdk_sampler.should_sample(None, span.get_span_context().trace_id, "GET").decision
        assert decision is Decision.RECORD_AND_SAMPLE
        span.end()
    assert 0.25 < len(kept) / len(started) < 0.35  # binomial(4000, 0.3): ±7 standard deviations
    assert len(rec.spans("GET")) == len(kept)


def test_leaf_spans_are_leafspans_with_the_sdks_flags() -> None:
    rec = recorder()
    span = SpanFactory(rec.provider).start_leaf("GET", attrs)
    assert isinstance(span, LeafSpan)
    ctx = span.get_span_context()
    assert ctx.trace_flags.sampled and ctx.trace_flags.random_trace_id
    span.end()
    span.end()  # a second end is ignored, like the SDK's
    (done,) = rec.spans()
    assert done.context == ctx and done.parent is None and done.end_time >= done.start_time


def test_children_follow_their_parent_whatever_the_ratio() -> None:
    rec = recorder(ParentBased(ALWAYS_OFF))
    factory = SpanFactory(rec.provider)
    sampled = SpanContext(0xABC, 0x1, True, TraceFlags(TraceFlags.SAMPLED), None)
    with trace.use_span(NonRecordingSpan(sampled)):
        span = factory.start_leaf("GET", attrs)
    assert span is not None and span.get_span_context().trace_id == 0xABC
    span.end()
    assert rec.spans()[0].parent.span_id == 0x1


def test_unsampled_layer_span_keeps_redis_calls_beneath_it_unsampled() -> None:
    rec = recorder(ParentBased(TraceIdRatioBased(0.5)))
    factory = SpanFactory(rec.provider)
    random.seed(3)
    for _ in range(200):
        with factory.current("cache.get") as outer:
            inner = factory.start_leaf("GET", attrs)
            assert (inner is not None) == outer.get_span_context().trace_flags.sampled
            if inner is not None:
                assert inner.get_span_context().trace_id == outer.get_span_context().trace_id
                inner.end()


def test_staged_trace_id_is_used_once_then_the_real_generator_again() -> None:
    class Fixed:
        def generate_trace_id(self) -> int:
            return 42

        def generate_span_id(self) -> int:
            return 7

        def is_trace_id_random(self) -> bool:
            return True

    ids = StagedIdGenerator(Fixed())
    ids.stage(99)
    assert [ids.generate_trace_id(), ids.generate_trace_id()] == [99, 42]


def test_keep_errors_and_slow_spans_unsampled_failures(redis_app: RedisServer) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from prometheus_client import CollectorRegistry

    from cachewatch.tracing.export import ExportProcessor

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=make_sampler(0.0, keep_errors_and_slow=True))
    registry = CollectorRegistry()
    # slow = 200 ms: far above what a SET takes even on a busy machine, so only the DEBUG SLEEP is slow
    processor = ExportProcessor(exporter, keep_errors=True, keep_slower_than=0.2, registry=registry)
    provider.add_span_processor(processor)
    client = redis.Redis(port=redis_app.port)
    instrument(client, tracer_provider=provider, registry=registry, slow_threshold=0.2)
    p = prefix("keep")
    client.set(f"{p}s", "v")
    with pytest.raises(redis.ResponseError):
        client.lpush(f"{p}s", 1)
    client.execute_command("DEBUG", "SLEEP", "0.25")
    processor.force_flush()
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == ["DEBUG", "LPUSH"]
    assert all(not s.context.trace_flags.sampled for s in exporter.get_finished_spans())
    provider.shutdown()


@pytest.mark.parametrize(("env", "expected"), [
    ({}, 0.05),
    ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.2"}, 0.2),
    ({"OTEL_TRACES_SAMPLER": "always_on"}, 1.0),
    ({"OTEL_TRACES_SAMPLER": "parentbased_always_off"}, 0.0),
    ({"OTEL_TRACES_SAMPLER": "traceidratio"}, 1.0),
])
def test_ratio_from_standard_environment(monkeypatch: pytest.MonkeyPatch, env: dict, expected: float) -> None:
    for name in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert ratio_from_env(0.05) == expected


def test_unusable_environment_sampler_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "jaeger_remote")
    with pytest.raises(ValueError, match="OTEL_TRACES_SAMPLER='jaeger_remote': allowed parentbased_traceidratio"):
        ratio_from_env(0.01)
