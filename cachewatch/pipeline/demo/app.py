"""The demo's application: a redis-py client instrumented with cachewatch.tracing behind a read-through cache
(L1 → Redis → origin), under steady traffic, with its prometheus_client metrics on /metrics for Prometheus (the
spec's ``applications``). Its spans stay in memory (in production ``configure_tracing()`` sends them over OTLP to
Jaeger); the first few traces are kept so one can be shown."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence

import redis
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry, start_http_server

from cachewatch.tracing import LocalCache, ReadThroughCache, configure_tracing

REQUEST_PAUSE = 0.02  # about 50 reads a second: live numbers, little CPU on a small machine
HOT_USERS = 80
SLOW = 0.5


class FirstTraces(SpanExporter):
    """Keeps the spans of the first ``keep`` traces and counts the rest: bounded however long ``--serve`` runs."""

    def __init__(self, keep: int = 20) -> None:
        self.keep, self.exported = keep, 0
        self.spans: list[ReadableSpan] = []
        self._traces: set[int] = set()
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            for span in spans:
                self.exported += 1
                trace_id = span.context.trace_id
                if trace_id in self._traces or len(self._traces) < self.keep:
                    self._traces.add(trace_id)
                    self.spans.append(span)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def first_miss(self) -> list[ReadableSpan]:
        """The spans of the first read that went all the way to the origin, in start order."""
        with self._lock:
            spans = list(self.spans)
        loads = [s for s in spans if s.name == "origin.load"]
        if not loads:
            return []
        trace_id = loads[0].context.trace_id
        return sorted((s for s in spans if s.context.trace_id == trace_id), key=lambda s: s.start_time)


class DemoApp:
    """Reads users through the cache on a thread until ``stop()``; serves /metrics on ``port``."""

    def __init__(self, redis_port: int, password: str, host: str, port: int) -> None:
        self.registry, self.spans = CollectorRegistry(), FirstTraces()
        # Every trace kept (the demo shows one); slow operations logged only past half a second, not 10 ms: on a
        # busy two-core machine a GET now and then takes longer, and those log lines would clutter the story.
        self.tracing = configure_tracing(service_name="demo-app", sample_ratio=1.0, exporter=self.spans,
                                         registry=self.registry, set_global=False, slow_threshold=SLOW)
        raw = redis.Redis(port=redis_port, password=password, socket_timeout=1)
        client = self.tracing.instrument(raw, cache="users").client
        self.users = ReadThroughCache(client, lambda key: {"id": key, "name": f"user {key}"}, name="users", ttl=60,
                                      local=LocalCache(max_items=20, ttl=30), registry=self.registry,
                                      tracer_provider=self.tracing.provider)
        self.reads = 0
        self._stop = threading.Event()
        self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        self._thread = threading.Thread(target=self._traffic, name="demo-app", daemon=True)
        self._thread.start()

    def _traffic(self) -> None:
        rng = random.Random(1)
        while not self._stop.wait(REQUEST_PAUSE):
            try:  # a few hot users (L1 hits), a long tail (Redis, then the origin)
                self.users.get(f"user:{int(HOT_USERS * rng.random() ** 3)}")
                self.reads += 1
            except redis.RedisError:
                pass  # the primary is never the demo's fault; a hiccup must not end the traffic

    def flush(self) -> None:
        self.tracing.processor.force_flush()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.shutdown()
        self._server.server_close()
        self.tracing.shutdown()
