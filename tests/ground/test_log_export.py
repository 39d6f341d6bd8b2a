"""Logs over OTLP/HTTP: the wire format a receiver decodes (ExportLogsServiceRequest: resource service.name, body,
severity, trace_id/span_id of the span the line was logged in), the standard environment variables, what is
sampled and capped, a bounded queue that never blocks, and the real exporter, alert service and client library
sending their lines."""

from __future__ import annotations

import gzip
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk.trace import TracerProvider

from cachewatch.local_redis import RedisServer, free_port
from cachewatch.log_export import (
    SUPPRESSED,
    Admission,
    ExportConfig,
    LogExportError,
    OtlpLogHandler,
    config_from_env,
)
from cachewatch.logs import REDACTED, redact, register_secret
from cachewatch.tracing import instrument
from tests.support.exporter_process import _start, start_exporter
from tests.support.tracing import recorder


# --- a receiver that keeps the raw protobuf --------------------------------------------------------------------
@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    request: ExportLogsServiceRequest

    def records(self) -> list[tuple[dict[str, Any], str, Any]]:
        """(resource attributes, scope name, log record) of every record."""
        out = []
        for resource_logs in self.request.resource_logs:
            resource = {kv.key: kv.value.string_value for kv in resource_logs.resource.attributes}
            for scope_logs in resource_logs.scope_logs:
                out += [(resource, scope_logs.scope.name, record) for record in scope_logs.log_records]
        return out


class OtlpReceiver:
    """An OTLP/HTTP logs endpoint on a free 127.0.0.1 port that decodes every POST (gzip or not)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                got = Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, ExportLogsServiceRequest.FromString(raw)
                )
                with receiver._cond:
                    receiver.received.append(got)
                    receiver._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/logs"

    def records(self) -> list[tuple[dict[str, Any], str, Any]]:
        with self._cond:
            return [r for got in self.received for r in got.records()]

    def wait_for(self, done: Callable[[list], bool], timeout: float, what: str) -> list:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not done([r for got in self.received for r in got.records()]):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{what}: not received within {timeout:.0f}s; got {self.records()}")
                self._cond.wait(left)
        return self.records()

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A logger of its own, not propagating: the test's handler sees only the test's lines."""
    named = logging.getLogger(f"cachewatch.test.log_export.{time.monotonic_ns()}")
    named.propagate, named.level = False, logging.DEBUG
    yield named
    for handler in list(named.handlers):
        named.removeHandler(handler)
        handler.close()


def attributes(record: Any) -> dict[str, Any]:
    out = {}
    for kv in record.attributes:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out


# --- the wire format -------------------------------------------------------------------------------------------
def test_records_carry_body_severity_resource_and_the_span_they_were_logged_in(
    receiver: OtlpReceiver, logger: logging.Logger
) -> None:
    register_secret("hunter2-log-export")
    handler = OtlpLogHandler(
        ExportConfig(
            endpoint=receiver.url,
            service_name="checkout",
            resource={"service.name": "checkout", "deployment.environment": "test"},
        )
    )
    logger.addHandler(handler)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("GET /cart") as span:
        logger.warning("cache slow", extra={"cache": "sessions", "duration_ms": 12.5, "attempt": 2, "retry": True})
        context = span.get_span_context()
    try:
        raise ConnectionError("redis://app:hunter2-log-export@10.0.0.1:6379 refused")
    except ConnectionError:
        logger.error("lost the cache (password hunter2-log-export)", exc_info=True)
    assert handler.flush(timeout=10)

    (got,) = receiver.received
    assert got.path == "/v1/logs" and got.headers["content-type"] == "application/x-protobuf"
    (resource, scope, warning), (_, _, error) = got.records()
    assert resource == {"service.name": "checkout", "deployment.environment": "test"}
    assert scope == logger.name
    assert warning.body.string_value == "cache slow"
    assert (warning.severity_number, warning.severity_text) == (13, "WARNING")
    assert warning.trace_id == context.trace_id.to_bytes(16, "big")
    assert warning.span_id == context.span_id.to_bytes(8, "big")
    assert warning.flags == 1 and warning.time_unix_nano > 0
    assert attributes(warning) == {"cache": "sessions", "duration_ms": 12.5, "attempt": 2, "retry": True}
    assert (error.severity_number, error.severity_text) == (17, "ERROR")
    assert error.trace_id == b"" and error.span_id == b""  # logged outside any span
    assert error.body.string_value == f"lost the cache (password {REDACTED})"
    error_attributes = attributes(error)
    assert error_attributes["exception.type"] == "ConnectionError"
    assert "hunter2" not in str(error_attributes) and REDACTED in error_attributes["exception.message"]
    assert handler.stats["sent"] == 2


# --- configuration -------------------------------------------------------------------------------------------
def test_the_standard_environment_variables_configure_it(receiver: OtlpReceiver, logger: logging.Logger) -> None:
    base = receiver.url.removesuffix("/v1/logs")
    env = {
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": base + "/",
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "authorization=Bearer%20tok-9f8e7d,x-tenant=cache",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "2500",
        "OTEL_SERVICE_NAME": "login",
        "OTEL_RESOURCE_ATTRIBUTES": "service.name=ignored,region=eu-west",
        "CACHEWATCH_LOG_EXPORT_INFO_SAMPLE": "1",
    }
    config = config_from_env(env, service_name="cachewatch-exporter")
    assert config is not None and config.endpoint == receiver.url and config.timeout == 2.5
    assert config.resource == {"service.name": "login", "region": "eu-west"} and config.info_sample == 1.0
    handler = OtlpLogHandler(config)
    logger.addHandler(handler)
    logger.info("hello")
    assert handler.flush(timeout=10)
    (got,) = receiver.received
    assert got.headers["authorization"] == "Bearer tok-9f8e7d" and got.headers["x-tenant"] == "cache"
    # the credential is scrubbed from our logs; a tenant id is not a secret (scrubbing "cache" would shred them)
    assert redact("sent Bearer tok-9f8e7d") == f"sent {REDACTED}" and redact("cachewatch") == "cachewatch"
    assert got.headers["content-encoding"] == "gzip"
    assert [(r["service.name"], rec.body.string_value) for r, _, rec in got.records()] == [("login", "hello")]


@pytest.mark.parametrize(
    ("env", "endpoint"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, None),  # set for traces: logs need OTEL_LOGS_EXPORTER=otlp
        (
            {
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://logs:4318/v1/logs",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_LOGS_EXPORTER": "otlp",
            },
            "http://logs:4318/v1/logs",
        ),
        ({"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://logs:4318/v1/logs", "OTEL_LOGS_EXPORTER": "none"}, None),
    ],
)
def test_export_is_on_only_when_configured(env: dict[str, str], endpoint: str | None) -> None:
    config = config_from_env(env)
    assert (config.endpoint if config else None) == endpoint
    assert config_from_env(env, endpoint="http://flag:4318/v1/logs").endpoint == "http://flag:4318/v1/logs"


def test_settings_that_cannot_work_are_refused() -> None:
    with pytest.raises(LogExportError, match="http/protobuf only"):
        config_from_env(
            {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc"}
        )
    with pytest.raises(LogExportError, match="gzip or none"):
        config_from_env({"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"})


# --- what is exported, and how much -------------------------------------------------------------------------------
def record(level: int, msg: str = "m") -> logging.LogRecord:
    return logging.LogRecord("cachewatch.test", level, __file__, 1, msg, None, None)


def test_debug_never_info_sampled_by_trace_warnings_always_then_a_cap_per_second() -> None:
    now = [0.0]
    draws = iter([0.05, 0.5, 0.09, 0.95])
    admission = Admission(info_sample=0.1, max_per_second=5, clock=lambda: now[0], rng=lambda: next(draws))
    assert admission.admit(record(logging.DEBUG), "") == ("sampled_out", 0)
    assert [admission.admit(record(logging.INFO), "")[0] for _ in range(4)] == ["", "sampled_out", "", "sampled_out"]
    kept, dropped = "0" * 16 + "0fffffffffffffff", "0" * 16 + "f000000000000000"  # low 64 bits under/over 10 %
    assert all(admission.admit(record(logging.INFO), kept)[0] == "" for _ in range(2))
    assert all(admission.admit(record(logging.INFO), dropped) == ("sampled_out", 0) for _ in range(3))
    now[0] = 10.0  # a new second: the cap starts again
    outcomes = [admission.admit(record(logging.WARNING), "") for _ in range(25)]
    assert outcomes[:5] == [("", 0)] * 5 and outcomes[5:] == [("rate_limited", 0)] * 20
    now[0] = 11.0
    assert admission.admit(record(logging.ERROR), "") == ("", 20)  # the next line says how many the cap dropped


def test_the_cap_is_reported_on_the_wire(receiver: OtlpReceiver, logger: logging.Logger) -> None:
    now = [0.0]
    config = ExportConfig(endpoint=receiver.url, service_name="svc", max_per_second=3)
    handler = OtlpLogHandler(config, Admission(config.info_sample, config.max_per_second, clock=lambda: now[0]))
    logger.addHandler(handler)
    for i in range(50):
        logger.warning("outage line %d", i)
    now[0] = 1.5
    logger.warning("after the burst")
    assert handler.flush(timeout=10)
    records = [rec for _, _, rec in receiver.records()]
    assert [r.body.string_value for r in records] == [
        "outage line 0",
        "outage line 1",
        "outage line 2",
        "after the burst",
    ]
    assert attributes(records[-1])[SUPPRESSED] == 47
    assert handler.stats == {"sent": 4, "rate_limited": 47}


def test_a_dead_receiver_never_blocks_and_the_queue_stays_bounded(logger: logging.Logger) -> None:
    config = ExportConfig(
        endpoint=f"http://127.0.0.1:{free_port()}/v1/logs",
        service_name="svc",
        timeout=0.5,
        max_queue_size=10,
        max_batch_size=4,
        max_per_second=10_000,
    )
    handler = OtlpLogHandler(config)
    logger.addHandler(handler)
    for i in range(200):
        logger.warning("line %d", i)
        assert handler.queued <= 10
    assert handler.stats["queue_full"] >= 200 - 10 - handler.stats["export_failed"] - 4
    logger.removeHandler(handler)
    handler.close()
    assert handler.queued == 0
    stats = dict(handler.stats)
    assert sum(stats.values()) == 200 and stats.get("sent", 0) == 0, stats
    assert set(stats) <= {"queue_full", "export_failed", "shutdown"}


# --- the real components -----------------------------------------------------------------------------------------
def test_the_exporter_process_sends_its_warnings(receiver: OtlpReceiver) -> None:
    dead = f"redis://127.0.0.1:{free_port()}"
    with start_exporter("--redis-addr", dead, "--otlp-logs-endpoint", receiver.url) as exporter:
        assert "redis_up 0" in exporter.get("/metrics").body
        records = receiver.wait_for(
            lambda rs: any(r.body.string_value == "scrape failed" for _, _, r in rs),
            30,
            "the exporter's 'scrape failed' warning",
        )
    resource, scope, line = next((res, s, r) for res, s, r in records if r.body.string_value == "scrape failed")
    assert resource["service.name"] == "cachewatch-exporter" and scope == "cachewatch.exporter.scraper"
    assert line.severity_text == "WARNING" and attributes(line)["reason"] == "connection_refused"


def test_the_alert_service_sends_its_start_line(receiver: OtlpReceiver, tmp_path) -> None:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "cachewatch",
        "alerts",
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
        "--database",
        str(tmp_path / "alerts.db"),
        "--otlp-logs-endpoint",
        receiver.url,
    ]
    env = {**os.environ, "OTEL_SERVICE_NAME": "", "CACHEWATCH_LOG_EXPORT_INFO_SAMPLE": "1"}
    with _start(cmd, port, env, "cw-alerts-", "/healthz", None):
        records = receiver.wait_for(
            lambda rs: any(r.body.string_value == "serving the alert lifecycle" for _, _, r in rs),
            30,
            "the service's start line",
        )
    assert {res["service.name"] for res, _, _ in records} == {"cachewatch-alerts"}


def test_the_client_library_lines_carry_the_operation_span(receiver: OtlpReceiver, redis_app: RedisServer) -> None:
    rec = recorder()
    client = instrument(
        redis.Redis(host="127.0.0.1", port=redis_app.port),
        tracer_provider=rec.provider,
        registry=rec.registry,
        cache="sessions",
        slow_threshold=1e-9,
    )
    library = logging.getLogger("cachewatch.tracing")
    handler = OtlpLogHandler(ExportConfig(endpoint=receiver.url, service_name="checkout"))
    library.addHandler(handler)
    try:
        client.client.set("cw:log-export", "1")
    finally:
        library.removeHandler(handler)
    assert handler.flush(timeout=10)
    handler.close()
    (span,) = rec.spans()
    (_, scope, line), *_ = receiver.records()
    assert scope == "cachewatch.tracing" and line.severity_text == "WARNING"
    assert line.trace_id == span.context.trace_id.to_bytes(16, "big")
    assert line.span_id == span.context.span_id.to_bytes(8, "big")
    assert attributes(line)["cache"] == "sessions" and "trace_id" not in attributes(line)
