"""Spans over the wire to OTLP receivers (HTTP and gRPC), and the promise that a dead or hung trace backend
never hurts the application: every command still answers right, the export queue stays bounded, every span is
accounted for (exported, dropped by reason, or still queued), and shutdown returns leaving no thread behind.

The global tracer provider is never set in this process (other tests rely on it staying unset); the one test
that needs it runs in a subprocess.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
import redis
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanContext, TraceFlags
from prometheus_client import CollectorRegistry

from cachewatch.local_redis import RedisServer, free_port
from cachewatch.tracing import ExportProcessor, Tracing, TracingSettings, configure_tracing, instrument
from tests.support.fake_servers import BlackHole, OtlpGrpcReceiver, OtlpHttpReceiver, ReceivedSpan
from tests.support.paths import ROOT

EXPORTED = "cache_tracing_spans_exported_total"
DROPPED = "cache_tracing_spans_dropped_total"
REASONS = ("queue_full", "export_failed", "shutdown")
WORKER = "cachewatch-span-export"
HANG_GUARD = 30.0  # seconds; a guard against hangs, never a performance bound
PROTOCOLS = {"http/protobuf": OtlpHttpReceiver, "grpc": OtlpGrpcReceiver}


# --- helpers ----------------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's or CI's OTEL_* variables must not leak into what these tests pin."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


@pytest.fixture
def threads_before() -> set[threading.Thread]:
    return set(threading.enumerate())


def new_threads(before: set[threading.Thread]) -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t not in before and t.is_alive())


def assert_no_threads_left(before: set[threading.Thread]) -> None:
    """Everything a test started has been joined (receivers join theirs on exit, shutdown joins the worker)."""
    assert new_threads(before) == []


def prefix(name: str) -> str:
    """Keys no other test touches (tests share one redis-server)."""
    return f"t-export:{name}:{uuid.uuid4().hex[:8]}:"


def start_tracing(registry: CollectorRegistry, spec_tracing: Any = None, **overrides: Any) -> Tracing:
    return configure_tracing(spec_tracing, set_global=False, registry=registry, **overrides)


def client_for(server: RedisServer, tracing: Tracing, registry: CollectorRegistry, **kwargs: Any) -> redis.Redis:
    client = redis.Redis(port=server.port)
    instrument(client, tracer_provider=tracing.provider, registry=registry, cache="export", **kwargs)
    return client


def shutdown(tracing: Tracing) -> None:
    """Shut down, failing (instead of hanging the suite) if it does not return."""
    done = threading.Thread(target=tracing.shutdown, name="test-shutdown")
    done.start()
    done.join(HANG_GUARD)
    assert not done.is_alive(), f"shutdown did not return within {HANG_GUARD}s"


def exported(registry: CollectorRegistry) -> float:
    return registry.get_sample_value(EXPORTED) or 0.0


def dropped(registry: CollectorRegistry, reason: str) -> float:
    return registry.get_sample_value(DROPPED, {"reason": reason}) or 0.0


def accounted(registry: CollectorRegistry, tracing: Tracing) -> float:
    return exported(registry) + sum(dropped(registry, r) for r in REASONS) + tracing.processor.queued


class CountingExporter(SpanExporter):
    """Counts spans created (behind a SimpleSpanProcessor, which the fast leaf-span path accepts)."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self.lock:
            self.count += len(spans)
        return SpanExportResult.SUCCESS


def count_created(tracing: Tracing) -> CountingExporter:
    counter = CountingExporter()
    tracing.provider.add_span_processor(SimpleSpanProcessor(counter))
    return counter


def by_name(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.name == name]


# --- spans over the wire ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_spans_arrive_with_resource_db_attributes_and_the_callers_trace(
        protocol: str, redis_app: RedisServer, threads_before: set[threading.Thread]) -> None:
    registry = CollectorRegistry()
    p = prefix("wire")
    with PROTOCOLS[protocol]() as receiver:
        tracing = start_tracing(registry, service_name="checkout", sample_ratio=1.0, otlp_protocol=protocol,
                                otlp_endpoint=receiver.endpoint, resource_attributes={"deployment.environment": "test"})
        client = client_for(redis_app, tracing, registry)
        with tracing.provider.get_tracer("test").start_as_current_span("handle-request") as parent:
            assert client.set(f"{p}k", "v") is True
            assert client.get(f"{p}k") == b"v"
            assert client.get(f"{p}missing") is None
        shutdown(tracing)
        spans = receiver.wait_for(4)
    assert receiver.errors == []
    assert_no_threads_left(threads_before)

    ctx = parent.get_span_context()
    trace_id, parent_id = f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
    (root,) = by_name(spans, "handle-request")
    assert (root.trace_id, root.span_id, root.parent_span_id) == (trace_id, parent_id, "")
    commands = [s for s in spans if s.name != "handle-request"]
    assert sorted(s.name for s in commands) == ["GET", "GET", "SET"]
    for span in spans:
        assert span.service_name == "checkout"
        assert span.resource["deployment.environment"] == "test"
    for span in commands:
        assert span.kind == "CLIENT"
        assert span.trace_id == trace_id and span.parent_span_id == parent_id
        assert span.status_code == "UNSET"
        assert span.scope == "cachewatch.tracing"
        attrs = span.attributes
        assert attrs["db.system.name"] == "redis"
        assert attrs["db.operation.name"] == span.name
        assert attrs["db.namespace"] == "0"
        assert attrs["server.address"] == client.connection_pool.connection_kwargs.get("host", "localhost")
        assert attrs["server.port"] == redis_app.port
        assert "db.query.text" not in attrs  # off by default: values never leave the process
    assert sorted(s.attributes["cache.hit"] for s in by_name(commands, "GET")) == [False, True]
    assert exported(registry) == 4
    assert all(dropped(registry, r) == 0 for r in REASONS)


def test_standard_compression_variable_still_applies_to_otlp_http(
        redis_app: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """make_exporter sets endpoint and timeout only, so OTEL_EXPORTER_OTLP_COMPRESSION keeps working."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    registry = CollectorRegistry()
    with OtlpHttpReceiver() as receiver:
        tracing = start_tracing(registry, sample_ratio=1.0, otlp_endpoint=receiver.endpoint)
        client_for(redis_app, tracing, registry).get(f"{prefix('gzip')}k")
        shutdown(tracing)
        (span,) = receiver.wait_for(1)
    assert span.name == "GET"
    assert receiver.headers[-1].get("content-encoding") == "gzip"


def test_service_name_and_ratio_come_from_a_spec_like_object(redis_app: RedisServer) -> None:
    registry = CollectorRegistry()
    p = prefix("spec")
    with OtlpHttpReceiver() as receiver:
        spec = SimpleNamespace(service_name="from-spec", sample_ratio=1.0, otlp_endpoint=receiver.endpoint,
                               unrelated_field="ignored")
        tracing = start_tracing(registry, spec_tracing=spec)
        client = client_for(redis_app, tracing, registry)
        client.get(f"{p}k")
        shutdown(tracing)
        (span,) = receiver.wait_for(1)
    assert tracing.settings.sample_ratio == 1.0
    assert (span.service_name, span.name) == ("from-spec", "GET")


def test_a_spec_ratio_of_zero_exports_nothing(redis_app: RedisServer) -> None:
    registry = CollectorRegistry()
    p = prefix("zero")
    with OtlpHttpReceiver() as receiver:
        tracing = start_tracing(registry, SimpleNamespace(sample_ratio=0.0, otlp_endpoint=receiver.endpoint))
        client = client_for(redis_app, tracing, registry)
        for i in range(50):
            client.set(f"{p}{i}", i)
        shutdown(tracing)  # flushes: whatever was going to arrive has arrived
    assert receiver.spans == [] and receiver.requests == 0
    assert exported(registry) == 0 and all(dropped(registry, r) == 0 for r in REASONS)


def test_otel_environment_routes_spans_over_grpc_despite_the_spec(
        redis_app: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = CollectorRegistry()
    p = prefix("env")
    with OtlpGrpcReceiver() as receiver:
        monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
        monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        spec = SimpleNamespace(service_name="from-spec", sample_ratio=0.0, otlp_endpoint="http://127.0.0.1:1",
                               otlp_protocol="http/protobuf")
        tracing = start_tracing(registry, spec)
        client = client_for(redis_app, tracing, registry)
        client.get(f"{p}k")
        shutdown(tracing)
        (span,) = receiver.wait_for(1)
    assert (span.service_name, span.name) == ("from-env", "GET")


def test_global_provider_exports_at_exit_without_an_explicit_shutdown(redis_app: RedisServer) -> None:
    """The quick start (configure_tracing() sets the global provider; instrument() finds it) in a process of its
    own; spans still queued when the application exits are flushed by the provider's exit hook."""
    script = textwrap.dedent("""
        import sys
        import redis
        from prometheus_client import CollectorRegistry
        from cachewatch.tracing import configure_tracing, instrument
        configure_tracing(registry=CollectorRegistry())
        client = redis.Redis(port=int(sys.argv[1]))
        instrument(client, registry=CollectorRegistry())
        client.set(sys.argv[2], "v")
        assert client.get(sys.argv[2]) == b"v"
    """)
    with OtlpHttpReceiver() as receiver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(OTEL_SERVICE_NAME="subprocess-app", OTEL_TRACES_SAMPLER="parentbased_always_on",
                   OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
        done = subprocess.run([sys.executable, "-c", script, str(redis_app.port), f"{prefix('global')}k"], env=env,
                              capture_output=True, text=True, timeout=HANG_GUARD)
        assert done.returncode == 0, done.stderr
        spans = receiver.wait_for(2)
    assert sorted((s.service_name, s.name) for s in spans) == [("subprocess-app", "GET"), ("subprocess-app", "SET")]


# --- a dead or hung backend -------------------------------------------------------------------------------------------
class ClosedPort:
    """Jaeger down: a port nobody listens on (connection refused)."""

    def __enter__(self) -> ClosedPort:
        self.endpoint = f"http://127.0.0.1:{free_port()}"
        return self

    def __exit__(self, *exc: object) -> None:
        pass


BACKENDS = {"down": ClosedPort, "hung": BlackHole}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_dead_backend_never_hurts_the_application_and_every_span_is_accounted_for(
        backend: str, protocol: str, redis_app: RedisServer, threads_before: set[threading.Thread]) -> None:
    registry = CollectorRegistry()
    p = prefix(f"{backend}-{protocol}")
    keys = {f"{p}{i}": f"value-{i}".encode() for i in range(20)}
    gets = 3000
    with BACKENDS[backend]() as dead:
        tracing = start_tracing(registry, sample_ratio=1.0, otlp_protocol=protocol, otlp_endpoint=dead.endpoint,
                                export_queue_size=16, export_timeout=0.5)
        created = count_created(tracing)
        client = client_for(redis_app, tracing, registry)
        for key, value in keys.items():
            client.set(key, value)
        peak = 0
        names = list(keys)
        for i in range(gets):
            key = names[i % len(names)]
            assert client.get(key) == keys[key]
            peak = max(peak, tracing.processor.queued)
        shutdown(tracing)
        assert WORKER not in new_threads(threads_before)
    assert_no_threads_left(threads_before)

    commands = len(keys) + gets
    assert peak <= 16
    assert created.count == commands
    assert exported(registry) == 0
    assert dropped(registry, "queue_full") + dropped(registry, "export_failed") > 0
    assert tracing.processor.queued == 0
    assert accounted(registry, tracing) == commands
    hits = registry.get_sample_value("cache_requests_total", {"cache": "export", "operation": "GET", "result": "hit",
                                                              "key_class": ""})
    assert hits == gets  # the client's own metrics are untouched by the export trouble


def test_bound_and_accounting_hold_with_many_application_threads(
        redis_app: RedisServer, threads_before: set[threading.Thread]) -> None:
    registry = CollectorRegistry()
    p = prefix("threads")
    per_thread, workers = 400, 6
    peaks: list[int] = []
    failures: list[BaseException] = []
    with BlackHole() as hung:
        tracing = start_tracing(registry, sample_ratio=1.0, otlp_endpoint=hung.endpoint, export_queue_size=16,
                                export_timeout=0.5)
        client = client_for(redis_app, tracing, registry)
        client.set(f"{p}k", "v")

        def app() -> None:
            peak = 0
            try:
                for _ in range(per_thread):
                    assert client.get(f"{p}k") == b"v"
                    peak = max(peak, tracing.processor.queued)
            except BaseException as exc:  # reported below, in the test's thread
                failures.append(exc)
            peaks.append(peak)

        threads = [threading.Thread(target=app, name=f"test-app-{i}") for i in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(HANG_GUARD)
        shutdown(tracing)
    client.close()
    assert failures == []
    assert_no_threads_left(threads_before)
    assert max(peaks) <= 16
    assert accounted(registry, tracing) == 1 + per_thread * workers


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_rejecting_receiver_counts_export_failed(protocol: str, redis_app: RedisServer) -> None:
    registry = CollectorRegistry()
    p = prefix("rejecting")
    receiver = OtlpHttpReceiver(status=503) if protocol == "http/protobuf" else OtlpGrpcReceiver(
        code=grpc.StatusCode.UNAVAILABLE)
    with receiver:
        tracing = start_tracing(registry, sample_ratio=1.0, otlp_protocol=protocol, otlp_endpoint=receiver.endpoint,
                                export_timeout=0.5)
        client = client_for(redis_app, tracing, registry)
        for i in range(10):
            assert client.set(f"{p}{i}", i) is True
        shutdown(tracing)
    assert receiver.rejected >= 1 and receiver.spans == []
    assert dropped(registry, "export_failed") == 10
    assert exported(registry) == 0
    assert dropped(registry, "queue_full") == dropped(registry, "shutdown") == 0


def test_password_in_the_endpoint_stays_out_of_export_failure_logs(
        redis_app: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    caplog.set_level(logging.DEBUG)
    tracing = start_tracing(registry, sample_ratio=1.0, export_timeout=0.5,
                            otlp_endpoint=f"http://collector:hunter2secret@127.0.0.1:{free_port()}")
    client = client_for(redis_app, tracing, registry)
    client.get(f"{prefix('secret')}k")
    shutdown(tracing)
    assert dropped(registry, "export_failed") == 1
    assert caplog.records  # the failure was logged...
    assert "hunter2secret" not in caplog.text  # ...without the password


# --- keep errors and slow operations (sample_ratio=0) -----------------------------------------------------------------
def test_keep_mode_exports_errors_and_slow_commands_but_not_fast_ones(redis_app: RedisServer) -> None:
    registry = CollectorRegistry()
    p = prefix("keep")
    threshold = 0.005
    with OtlpHttpReceiver() as receiver:
        tracing = start_tracing(registry, sample_ratio=0.0, keep_errors_and_slow=True, slow_threshold=threshold,
                                otlp_endpoint=receiver.endpoint)
        client = client_for(redis_app, tracing, registry, slow_threshold=threshold)
        client.set(f"{p}string", "v")
        for _ in range(200):
            assert client.get(f"{p}string") == b"v"
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            client.lpush(f"{p}string", "x")
        assert client.execute_command("DEBUG", "SLEEP", "0.02") in (b"OK", "OK", True)
        shutdown(tracing)
    spans = receiver.spans

    (failed,) = by_name(spans, "LPUSH")
    assert failed.status_code == "ERROR"
    assert failed.attributes["error.type"]
    assert failed.attributes["db.system.name"] == "redis"
    slow = [s for s in spans if s.name.startswith("DEBUG")]
    assert len(slow) == 1 and slow[0].duration >= 0.02
    # Fast GETs are not exported. A GET the machine happened to stall is legitimately slow, so instead of
    # assuming none stalled: every exported GET was slow, and no more were exported than the histogram saw slow.
    fast_enough = registry.get_sample_value("db_client_operation_duration_seconds_bucket",
                                            {"db_system_name": "redis", "db_operation_name": "GET", "cache": "export",
                                             "le": str(threshold)})
    total = registry.get_sample_value("db_client_operation_duration_seconds_count",
                                      {"db_system_name": "redis", "db_operation_name": "GET", "cache": "export"})
    assert total == 200
    exported_gets = by_name(spans, "GET")
    assert all(s.duration >= threshold for s in exported_gets)
    assert len(exported_gets) <= total - fast_enough
    assert not [s for s in spans if s.name == "SET" and s.duration < threshold]


# --- settings: spec < OTEL_* < arguments, and errors that name the setting --------------------------------------------
SPEC = SimpleNamespace(service_name="spec-svc", sample_ratio=0.5, otlp_endpoint="http://spec-collector:4318",
                       otlp_protocol="http/protobuf", export_queue_size=64)


def test_spec_values_apply_when_nothing_overrides_them() -> None:
    settings = TracingSettings.from_sources(SPEC)
    assert (settings.service_name, settings.sample_ratio, settings.otlp_endpoint, settings.otlp_protocol,
            settings.export_queue_size) == ("spec-svc", 0.5, "http://spec-collector:4318", "http/protobuf", 64)
    assert TracingSettings.from_sources() == TracingSettings()


def test_otel_environment_overrides_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "env-svc")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env-collector:4317/")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    settings = TracingSettings.from_sources(SPEC)
    assert (settings.service_name, settings.sample_ratio, settings.otlp_endpoint, settings.otlp_protocol) == (
        "env-svc", 0.25, "http://env-collector:4317", "grpc")
    assert settings.export_queue_size == 64  # no OTEL_* variable for it: the spec's value stays


@pytest.mark.parametrize(("sampler", "arg", "ratio"), [
    ("always_on", None, 1.0), ("parentbased_always_off", None, 0.0), ("traceidratio", None, 1.0),
    ("traceidratio", "0.125", 0.125),
])
def test_otel_traces_sampler_sets_the_ratio(sampler: str, arg: str | None, ratio: float,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    if arg is not None:
        monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", arg)
    assert TracingSettings.from_sources(SPEC).sample_ratio == ratio


def test_signal_specific_otel_variables_beat_the_generic_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces-only:4318/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    settings = TracingSettings.from_sources()
    assert (settings.otlp_endpoint, settings.otlp_protocol) == ("http://traces-only:4318", "grpc")


def test_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "env-svc")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env-collector:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    settings = TracingSettings.from_sources(SPEC, service_name="arg-svc", sample_ratio=0.0,
                                            otlp_endpoint="https://arg-collector:4318",
                                            otlp_protocol="http/protobuf")
    assert (settings.service_name, settings.sample_ratio, settings.otlp_endpoint, settings.otlp_protocol) == (
        "arg-svc", 0.0, "https://arg-collector:4318", "http/protobuf")


def test_a_none_argument_means_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "env-svc")
    assert TracingSettings.from_sources(SPEC, service_name=None).service_name == "env-svc"


@pytest.mark.parametrize(("env", "overrides", "expected"), [
    ({}, {"otlp_protocol": "thrift"}, ["otlp_protocol", "'thrift'", "http/protobuf", "grpc"]),
    ({"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}, {}, ["otlp_protocol", "'thrift'", "http/protobuf", "grpc"]),
    ({}, {"sample_ratio": 1.5}, ["sample_ratio", "1.5", "0.0 to 1.0"]),
    ({}, {"sample_ratio": -0.1}, ["sample_ratio", "-0.1", "0.0 to 1.0"]),
    ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, {},
     ["OTEL_TRACES_SAMPLER_ARG", "1.5", "0.0 to 1.0"]),
    ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}, {},
     ["OTEL_TRACES_SAMPLER_ARG", "half", "0.0 to 1.0"]),
    ({"OTEL_TRACES_SAMPLER": "jaeger_remote"}, {},
     ["OTEL_TRACES_SAMPLER", "jaeger_remote", "parentbased_traceidratio", "always_on"]),
    ({}, {"otlp_endpoint": "collector:4318"}, ["otlp_endpoint", "collector:4318", "http(s)://host:port"]),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, {}, ["otlp_endpoint", "http(s)://host:port"]),
    ({}, {"export_queue_size": 0}, ["export_queue_size", "0", ">= 1"]),
    ({}, {"export_timeout": 0}, ["export_timeout", "> 0"]),
    ({}, {"slow_threshold": -1}, ["slow_threshold", "> 0"]),
    ({}, {"sampling": 0.1}, ["unknown tracing settings", "sampling", "sample_ratio"]),
])
def test_bad_settings_raise_naming_the_setting_and_what_is_allowed(
        env: dict[str, str], overrides: dict[str, Any], expected: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as raised:
        configure_tracing(set_global=False, registry=CollectorRegistry(), **overrides)
    for text in expected:
        assert text in str(raised.value)


def test_every_bad_setting_is_reported_at_once() -> None:
    with pytest.raises(ValueError) as raised:
        TracingSettings.from_sources(otlp_protocol="thrift", sample_ratio=2.0, otlp_endpoint="collector")
    assert len(str(raised.value).splitlines()) == 3


@pytest.mark.parametrize(("env", "overrides"), [
    ({}, {"otlp_endpoint": "admin:s3cretpass@collector:4318"}),
    ({}, {"otlp_endpoint": "ftp://admin:s3cretpass@collector:4318/x"}),
    ({}, {"otlp_endpoint": "s3cretpass@collector:4318"}),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "admin:s3cretpass@collector:4318"}, {}),
    ({}, {"otlp_endpoint": "http://admin:s3cretpass@collector:4317", "otlp_protocol": "grpc"}),
    ({}, {"otlp_endpoint": "http://admin:s3cretpass@collector:4318", "otlp_protocol": "thrift", "sample_ratio": 9}),
])
def test_a_password_in_the_endpoint_never_appears_in_the_error(
        env: dict[str, str], overrides: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as raised:
        TracingSettings.from_sources(**overrides)
    assert "s3cretpass" not in str(raised.value)
    assert "s3cretpass" not in repr(raised.value)


def test_grpc_endpoint_with_credentials_is_refused_with_the_way_to_send_them() -> None:
    """gRPC cannot use URL userinfo (the target would not even resolve) and the exporter logs its target on
    every failure; the error points at OTEL_EXPORTER_OTLP_HEADERS instead."""
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_HEADERS") as raised:
        TracingSettings.from_sources(otlp_endpoint="http://u:s3cretpass@collector:4317", otlp_protocol="grpc")
    assert "collector:4317" in str(raised.value) and "s3cretpass" not in str(raised.value)


# --- the processor alone: back-off and shutdown accounting -------------------------------------------------------
class FailingExporter(SpanExporter):
    """Refuses every batch, counting attempts; ``attempted`` is set at the first."""

    def __init__(self) -> None:
        self.calls = 0
        self.attempted = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        self.attempted.set()
        return SpanExportResult.FAILURE


def sampled_span(n: int) -> ReadableSpan:
    return ReadableSpan(name=f"s{n}", context=SpanContext(n + 1, n + 1, False, TraceFlags(TraceFlags.SAMPLED)))


def test_a_failing_backend_is_retried_once_per_round_not_in_a_tight_loop() -> None:
    """After a failed export the worker waits a round (schedule_delay) instead of encoding and failing batch
    after batch: the application keeps its CPU and the log one line per round. Shutdown ends the wait."""
    registry = CollectorRegistry()
    exporter = FailingExporter()
    processor = ExportProcessor(exporter, max_queue_size=8, max_batch_size=4, schedule_delay=60.0,
                                registry=registry, shutdown_timeout=5.0)
    for n in range(4):
        processor.on_end(sampled_span(n))  # a full batch wakes the worker
    assert exporter.attempted.wait(HANG_GUARD)
    for n in range(4, 1004):
        processor.on_end(sampled_span(n))  # would wake a worker that retried at once, again and again
    assert exporter.calls == 1
    assert processor.queued == 8
    stopping = threading.Thread(target=processor.shutdown)
    stopping.start()
    stopping.join(HANG_GUARD)
    assert not stopping.is_alive()  # the back-off wait did not hold shutdown for a minute
    assert processor.queued == 0
    total = sum(dropped(registry, r) for r in REASONS) + exported(registry)
    assert total == 1004


def test_spans_ending_after_shutdown_are_counted_but_unsampled_ones_are_not_drops() -> None:
    registry = CollectorRegistry()
    processor = ExportProcessor(FailingExporter(), registry=registry, keep_errors=True, shutdown_timeout=1.0)
    processor.shutdown()
    processor.on_end(sampled_span(1))
    unsampled = ReadableSpan(name="fast", context=SpanContext(9, 9, False, TraceFlags(TraceFlags.DEFAULT)))
    processor.on_end(unsampled)
    assert dropped(registry, "shutdown") == 1
    assert processor.queued == 0


@pytest.fixture(autouse=True)
def _no_worker_left(threads_before: set[threading.Thread]) -> Iterator[None]:
    """Every test here shuts its processors down: an export worker left running is a bug."""
    yield
    assert WORKER not in new_threads(threads_before)


def test_shutdown_returns_even_when_an_exporter_ignores_its_timeout() -> None:
    """A custom exporter stuck forever is abandoned after twice shutdown_timeout; once it comes back, its batch
    is still counted, so nothing is lost from the accounting."""
    registry = CollectorRegistry()
    release, entered = threading.Event(), threading.Event()

    class Stuck(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            entered.set()
            release.wait(HANG_GUARD)
            return SpanExportResult.FAILURE

    processor = ExportProcessor(Stuck(), max_queue_size=4, max_batch_size=2, registry=registry, shutdown_timeout=0.2)
    for n in range(6):
        processor.on_end(sampled_span(n))
    assert entered.wait(HANG_GUARD)
    stopping = threading.Thread(target=processor.shutdown)
    stopping.start()
    stopping.join(HANG_GUARD)
    assert not stopping.is_alive()
    release.set()
    processor._worker.join(HANG_GUARD)  # the abandoned worker finishes once its export returns
    assert sum(dropped(registry, r) for r in REASONS) + exported(registry) == 6


def test_the_fleet_specs_tracing_section_configures_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """configure_tracing(spec.tracing) with the real spec model (examples/fleet.py), not a stand-in."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from cachewatch.spec import load_spec

    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    spec = load_spec(ROOT / "examples" / "fleet.py")
    tracing = configure_tracing(spec.tracing, set_global=False, exporter=InMemorySpanExporter(),
                                registry=CollectorRegistry())
    try:
        expected = {name: getattr(spec.tracing, name) for name in ("service_name", "sample_ratio",
                    "keep_errors_and_slow", "slow_threshold", "otlp_endpoint", "otlp_protocol", "export_queue_size")}
        assert {name: getattr(tracing.settings, name) for name in expected} == expected
        assert tracing.processor.max_queue_size == spec.tracing.export_queue_size
    finally:
        tracing.shutdown()
