"""The interfaces the original brief named, as thin facades over the same metrics and spans ``instrument`` uses.

For code that is not a redis-py call (an application-level cache decision, a non-Redis store, a batch job):
what it records lands in the same series and traces as the instrumented client's, under the same names.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from prometheus_client import CollectorRegistry

from cachewatch.tracing.metrics import metrics_for
from cachewatch.tracing.operations import MAX_OPERATIONS, OTHER, error_type
from cachewatch.tracing.spans import SpanFactory, record_error

_OPERATION = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")


class CacheMetricsCollector:
    """``record_cache_hit`` / ``record_cache_miss`` / ``record_error`` / ``record_resource_usage`` for one cache."""

    def __init__(self, cache: str = "default", registry: CollectorRegistry | None = None) -> None:
        self.cache = cache
        self.metrics = metrics_for(registry)
        self._operations: set[str] = set()
        self._lock = threading.Lock()

    def _operation(self, operation: str) -> str:
        """Operation labels stay bounded: a fixed pattern, and at most MAX_OPERATIONS distinct ones."""
        if not isinstance(operation, str) or not _OPERATION.match(operation):
            raise ValueError(f"operation {operation!r}: allowed a name matching {_OPERATION.pattern}")
        if operation in self._operations:
            return operation
        with self._lock:
            if len(self._operations) >= MAX_OPERATIONS:
                return OTHER
            self._operations.add(operation)
        return operation

    def record_cache_hit(self, operation: str = "get", count: int = 1, key_class: str = "") -> None:
        self.metrics.request(self.cache, self._operation(operation), True, key_class, count)

    def record_cache_miss(self, operation: str = "get", count: int = 1, key_class: str = "") -> None:
        self.metrics.request(self.cache, self._operation(operation), False, key_class, count)

    def record_error(self, operation: str, error: BaseException | str) -> None:
        """``error`` is the exception (typed like the instrumented client's errors) or a short type name."""
        kind = error if isinstance(error, str) else error_type(error)
        if not _OPERATION.match(kind):
            raise ValueError(f"error type {kind!r}: allowed a name matching {_OPERATION.pattern}")
        self.metrics.errors.labels(self.cache, self._operation(operation), kind).inc()

    def record_resource_usage(self, *, in_use: int, idle: int, max_connections: int) -> None:
        """Connection-pool use of a pool the library does not instrument (it shows beside instrumented ones)."""
        if min(in_use, idle, max_connections) < 0:
            raise ValueError("in_use, idle and max_connections must be ≥ 0")
        self.metrics.collector.record_pool(self.cache, in_use, idle, max_connections)


class CacheTracingService:
    """``trace_cache_operation`` (a span, current for the block) and ``trace_cache_hit`` / ``_miss`` / ``_error``
    on it (or on the current span)."""

    def __init__(self, cache: str = "default", tracer_provider: trace.TracerProvider | None = None) -> None:
        self.cache = cache
        self.spans = SpanFactory(tracer_provider)

    @contextmanager
    def trace_cache_operation(self, operation: str, attributes: dict[str, Any] | None = None) -> Iterator[Span]:
        attrs = {"cache.name": self.cache, "cache.operation": operation, **(attributes or {})}
        with self.spans.current(f"cache.{operation}", SpanKind.INTERNAL, attrs) as span:
            yield span

    def trace_cache_hit(self, span: Span | None = None) -> None:
        (span or trace.get_current_span()).set_attribute("cache.hit", True)

    def trace_cache_miss(self, span: Span | None = None) -> None:
        (span or trace.get_current_span()).set_attribute("cache.hit", False)

    def trace_cache_error(self, error: BaseException, span: Span | None = None) -> None:
        record_error(span or trace.get_current_span(), error)
