"""Spans to Jaeger (or any OTLP receiver) without ever slowing the application down.

``ExportProcessor`` batches like the SDK's BatchSpanProcessor and adds what an operator needs when the trace
backend is slow or down: a bounded queue whose overflow is counted (``cache_tracing_spans_dropped_total``),
export failures counted too, a shutdown that gives up after a deadline, and the keep-errors-and-slow mode:
under ``AlwaysRecordSampler`` it also exports unsampled spans that failed or ran slower than a threshold.
``configure_tracing`` builds the whole provider from the fleet spec's ``tracing`` section, the standard
``OTEL_*`` variables and arguments, in that order of increasing precedence.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry

from cachewatch.logs import REDACTED, redact
from cachewatch.tracing.metrics import metrics_for
from cachewatch.tracing.sampling import make_sampler, ratio_from_env
from cachewatch.tracing.spans import ON_END_ONLY_PROCESSORS

log = logging.getLogger("cachewatch.tracing.export")


class ExportProcessor(SpanProcessor):
    """Bounded, counted, non-blocking batching of ended spans to one exporter (one worker thread)."""

    def __init__(self, exporter: SpanExporter, *, max_queue_size: int = 2048, max_batch_size: int = 512,
                 schedule_delay: float = 1.0, keep_slower_than: float | None = None, keep_errors: bool = False,
                 registry: CollectorRegistry | None = None, shutdown_timeout: float = 5.0) -> None:
        if max_queue_size < 1 or max_batch_size < 1 or schedule_delay <= 0:
            raise ValueError("max_queue_size and max_batch_size must be ≥ 1 and schedule_delay > 0")
        self.exporter = exporter
        self.max_queue_size = max_queue_size
        self.max_batch_size = min(max_batch_size, max_queue_size)
        self.schedule_delay = schedule_delay
        self.keep_errors = keep_errors
        self.keep_slower_ns = int(keep_slower_than * 1e9) if keep_slower_than is not None else None
        self.shutdown_timeout = shutdown_timeout
        metrics = metrics_for(registry)
        self._exported = metrics.spans_exported
        self._dropped = {reason: metrics.spans_dropped.labels(reason)
                         for reason in ("queue_full", "export_failed", "shutdown")}
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._export_lock = threading.Lock()
        self._admit_lock = threading.Lock()  # check-and-append of producers, so the bound holds under threads
        self._wake = threading.Event()
        self._halt = threading.Event()  # set by shutdown: ends a back-off wait at once
        self._stopped = False
        self._deadline = 0.0  # monotonic end of the shutdown flush, set before _stopped
        self._start_worker()
        if hasattr(os, "register_at_fork"):
            ref = weakref.WeakMethod(self._after_fork)
            os.register_at_fork(after_in_child=lambda: (m := ref()) and m())

    # --- SpanProcessor -------------------------------------------------------------------------------------------
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags.sampled and not self._worth_keeping(span):
            return  # never meant for export: not a drop, even after shutdown
        queue = self._queue
        with self._admit_lock:  # check-and-append as one step; also orders it before shutdown's final count
            if self._stopped:
                reason = "shutdown"
            elif len(queue) < self.max_queue_size:
                queue.append(span)
                reason = ""
            else:
                reason = "queue_full"
        if reason:
            self._dropped[reason].inc()
        elif len(queue) >= self.max_batch_size:
            self._wake.set()

    def shutdown(self) -> None:
        """Export what is queued until ``shutdown_timeout``, then count the rest as dropped (``shutdown``).

        An export still in flight to a hung backend is not abandoned: the exporter is shut down (which ends the
        OTLP exporters' retry back-off and cancels gRPC calls) and the worker is awaited once more, bounded by
        ``shutdown_timeout`` again, so that its batch is counted and no worker thread outlives the call."""
        if self._stopped:
            return
        self._deadline = time.monotonic() + self.shutdown_timeout
        with self._admit_lock:
            self._stopped = True
        self._halt.set()
        self._wake.set()
        self._worker.join(self.shutdown_timeout)
        try:
            self.exporter.shutdown()
        except Exception:
            log.warning("span exporter shutdown failed", exc_info=True)
        self._worker.join(self.shutdown_timeout)
        if self._worker.is_alive():  # an exporter that ignores its own timeout: give up on it
            log.warning("span export still blocked %.1fs after shutdown; abandoning it", 2 * self.shutdown_timeout)
        left = self._take_all()
        if left:
            self._dropped["shutdown"].inc(left)

    @property
    def queued(self) -> int:
        """Spans waiting in the queue (never more than ``max_queue_size``); not those in an export in flight."""
        return len(self._queue)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000
        while self._queue and time.monotonic() < deadline:
            self._export_batch()
        return not self._queue

    # --- internals -----------------------------------------------------------------------------------------------
    def _worth_keeping(self, span: ReadableSpan) -> bool:
        """Keep mode: an unsampled (recorded) span is exported when it failed or ran slow."""
        if self.keep_errors and span.status.status_code is StatusCode.ERROR:
            return True
        slow = self.keep_slower_ns
        return slow is not None and span.end_time is not None and span.end_time - span.start_time >= slow

    def _start_worker(self) -> None:
        self._worker = threading.Thread(target=self._run, name="cachewatch-span-export", daemon=True)
        self._worker.start()

    def _after_fork(self) -> None:
        self._queue.clear()
        self._export_lock = threading.Lock()
        self._admit_lock = threading.Lock()
        self._wake = threading.Event()
        self._halt = threading.Event()
        if not self._stopped:
            self._start_worker()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.schedule_delay)
            self._wake.clear()
            while self._queue and not self._stopped:
                if not self._export_batch():
                    # The backend is failing. Retrying at once would burn the application's CPU (and GIL) on
                    # encoding and log an error per batch; wait a round, while spans overflow cheaply.
                    self._halt.wait(self.schedule_delay)
                    break
        # shutdown: flush until the deadline; shutdown() counts whatever is left
        while self._queue and time.monotonic() < self._deadline:
            self._export_batch()

    def _take_all(self) -> int:
        """Empty the queue and say how many spans it held. popleft() one by one, not len() then clear(): an
        abandoned worker may still be taking spans, and each span must be counted exactly once."""
        taken = 0
        while True:
            try:
                self._queue.popleft()
            except IndexError:
                return taken
            taken += 1

    def _export_batch(self) -> bool:
        """Export up to one batch; False when the exporter failed."""
        with self._export_lock:
            batch = []
            while self._queue and len(batch) < self.max_batch_size:
                batch.append(self._queue.popleft())
            if not batch:
                return True
            try:
                result = self.exporter.export(batch)
            except Exception as exc:  # the exporter's bug must not kill the worker
                log.warning("span export raised: %s", redact(str(exc)))
                result = SpanExportResult.FAILURE
            if result is SpanExportResult.SUCCESS:
                self._exported.inc(len(batch))
                return True
            self._dropped["export_failed"].inc(len(batch))
            return False


ON_END_ONLY_PROCESSORS.append(ExportProcessor)


# --- configuration ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TracingSettings:
    """Everything configure_tracing needs; from_sources() merges spec, environment and arguments."""

    service_name: str = "cachewatch-app"
    sample_ratio: float = 0.01
    keep_errors_and_slow: bool = False
    slow_threshold: float = 0.01
    otlp_endpoint: str = "http://127.0.0.1:4318"
    otlp_protocol: str = "http/protobuf"
    export_queue_size: int = 2048
    export_timeout: float = 5.0

    @classmethod
    def from_sources(cls, spec_tracing: Any = None, **overrides: Any) -> TracingSettings:
        values: dict[str, Any] = {}
        if spec_tracing is not None:
            for name in cls.__dataclass_fields__:
                if hasattr(spec_tracing, name):
                    values[name] = getattr(spec_tracing, name)
        values.update(_from_env(values.get("sample_ratio", cls.sample_ratio)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown tracing settings {unknown}; allowed: {', '.join(cls.__dataclass_fields__)}")
        settings = cls(**values)
        problems = _problems(settings)
        if problems:
            raise ValueError("\n".join(problems))
        return settings


PROTOCOLS = ("http/protobuf", "grpc")


def _problems(settings: TracingSettings) -> list[str]:
    """One line per bad setting: its name, its value (credentials scrubbed) and what is allowed. Checked here
    rather than where each value is used, so that every error names the setting the operator wrote."""
    problems = []
    protocol, endpoint = settings.otlp_protocol, settings.otlp_endpoint
    if protocol not in PROTOCOLS:
        problems.append(f"otlp_protocol {protocol!r}: allowed {', '.join(PROTOCOLS)}")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        problems.append(f"otlp_endpoint {_safe_endpoint(str(endpoint))!r}: allowed http(s)://host:port")
    elif protocol == "grpc" and "@" in urlsplit(endpoint).netloc:
        problems.append(f"otlp_endpoint {_safe_endpoint(endpoint)!r}: allowed http(s)://host:port without "
                        "user:password over grpc (send credentials with OTEL_EXPORTER_OTLP_HEADERS)")
    if not _number(settings.sample_ratio) or not 0.0 <= settings.sample_ratio <= 1.0:
        problems.append(f"sample_ratio {settings.sample_ratio!r}: allowed a number from 0.0 to 1.0")
    for name in ("slow_threshold", "export_timeout"):
        value = getattr(settings, name)
        if not _number(value) or not value > 0:
            problems.append(f"{name} {value!r}: allowed a number of seconds > 0")
    queue = settings.export_queue_size
    if not isinstance(queue, int) or isinstance(queue, bool) or queue < 1:
        problems.append(f"export_queue_size {queue!r}: allowed an integer >= 1")
    return problems


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _safe_endpoint(url: str) -> str:
    """``url`` with its userinfo scrubbed, with or without a scheme: ``redact`` only recognises
    ``scheme://user:password@``, and a scheme-less endpoint is exactly the one that ends up in an error."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = f"{REDACTED}@{authority.rpartition('@')[2]}"
    return redact(f"{scheme}{sep}{authority}{slash}{path}")


def _from_env(default_ratio: float) -> dict[str, Any]:
    env = os.environ
    values: dict[str, Any] = {}
    if env.get("OTEL_SERVICE_NAME"):
        values["service_name"] = env["OTEL_SERVICE_NAME"]
    if env.get("OTEL_TRACES_SAMPLER"):
        values["sample_ratio"] = ratio_from_env(default_ratio)
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if endpoint:
        values["otlp_endpoint"] = endpoint.removesuffix("/v1/traces").rstrip("/")
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol:
        values["otlp_protocol"] = protocol
    return values


def make_exporter(settings: TracingSettings) -> SpanExporter:
    """OTLP over HTTP (``/v1/traces``) or gRPC, to Jaeger's native receiver (4318 / 4317)."""
    if settings.otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        # host:port only: gRPC takes credentials in headers, and the exporter logs its target on every failure
        url = urlsplit(settings.otlp_endpoint)
        return GrpcExporter(endpoint=url.netloc.rpartition("@")[2], insecure=url.scheme == "http",
                            timeout=settings.export_timeout)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=f"{settings.otlp_endpoint}/v1/traces", timeout=settings.export_timeout)


@dataclass
class Tracing:
    """What configure_tracing built; ``shutdown()`` flushes within the processor's deadline."""

    provider: TracerProvider
    processor: ExportProcessor
    settings: TracingSettings
    registry: CollectorRegistry | None = None

    def shutdown(self) -> None:
        self.provider.shutdown()

    def instrument(self, client: Any, **kwargs: Any) -> Any:
        """``instrument(client)`` with this provider and the same slow threshold, so that in keep-errors-and-slow
        mode every operation the processor would keep as slow also gets a span."""
        from cachewatch.tracing.instrument import instrument

        kwargs.setdefault("tracer_provider", self.provider)
        kwargs.setdefault("slow_threshold", self.settings.slow_threshold)
        kwargs.setdefault("registry", self.registry)
        return instrument(client, **kwargs)


def configure_tracing(spec_tracing: Any = None, *, registry: CollectorRegistry | None = None,
                      set_global: bool = True, exporter: SpanExporter | None = None,
                      resource_attributes: dict[str, str] | None = None, **overrides: Any) -> Tracing:
    """A TracerProvider with ParentBased(TraceIdRatioBased) sampling and OTLP export, from the fleet spec's
    ``tracing`` section (``spec.tracing``), ``OTEL_*`` variables and keyword overrides (``sample_ratio=``,
    ``otlp_endpoint=``, ...). ``exporter`` replaces the OTLP exporter (tests, custom backends)."""
    settings = TracingSettings.from_sources(spec_tracing, **overrides)
    resource = Resource.create({SERVICE_NAME: settings.service_name, **(resource_attributes or {})})
    provider = TracerProvider(resource=resource,
                              sampler=make_sampler(settings.sample_ratio, settings.keep_errors_and_slow))
    keep = settings.keep_errors_and_slow
    processor = ExportProcessor(exporter or make_exporter(settings), max_queue_size=settings.export_queue_size,
                                keep_errors=keep, keep_slower_than=settings.slow_threshold if keep else None,
                                registry=registry, shutdown_timeout=settings.export_timeout)
    provider.add_span_processor(processor)
    if set_global:
        trace.set_tracer_provider(provider)
    return Tracing(provider, processor, settings, registry)

