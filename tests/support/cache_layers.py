"""Helpers for the cache-layer tests (sync and asyncio): an explicit span pipeline with a trace-tree view, the
request counter lookup, and a client option that fails at once instead of retrying."""

from __future__ import annotations

from collections import defaultdict

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from redis.backoff import NoBackoff
from redis.retry import Retry

NO_RETRY = {"retry": Retry(NoBackoff(), 0), "socket_connect_timeout": 2}


class Tracing:
    """An explicit SDK provider with an in-memory exporter (the global provider is never touched)."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    @property
    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        (span,) = self.named(name)
        return span

    def tree(self) -> list[tuple[str, list]]:
        """``[(name, [children...])]`` in start order: what a trace view shows."""
        spans = sorted(self.spans, key=lambda s: s.start_time)
        ids = {s.context.span_id for s in spans}
        children: dict[int | None, list[ReadableSpan]] = defaultdict(list)
        for s in spans:
            parent = s.parent.span_id if s.parent is not None and s.parent.span_id in ids else None
            children[parent].append(s)

        def node(s: ReadableSpan) -> tuple[str, list]:
            return (s.name, [node(c) for c in children[s.context.span_id]])

        return [node(s) for s in children[None]]

    def clear(self) -> None:
        self.exporter.clear()


def leaf(*names: str) -> list[tuple[str, list]]:
    """Spans without children, in a ``Tracing.tree()``."""
    return [(name, []) for name in names]


def requests(registry: CollectorRegistry, cache: str, operation: str, result: str, key_class: str = "") -> float:
    """``cache_requests_total`` of one series, 0 when it does not exist (yet)."""
    labels = {"cache": cache, "operation": operation, "result": result, "key_class": key_class}
    return registry.get_sample_value("cache_requests_total", labels) or 0.0
