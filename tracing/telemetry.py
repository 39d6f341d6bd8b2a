"""What one instrumented client records per operation: metrics (cached prometheus_client children), the span,
and a rate-limited JSON log line for errors and slow operations. Shared by the sync and asyncio wrappers.

Every method here is called inside ``try`` blocks of the wrappers: if recording fails, the command's result or
exception reaches the application unchanged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span

from cachewatch.logs import LogRateLimiter, trace_ids
from cachewatch.tracing.accumulators import OpStats
from cachewatch.tracing.keys import KeyClassifier
from cachewatch.tracing.metrics import DB_SYSTEM, DURATION_BUCKETS, ClientMetrics
from cachewatch.tracing.operations import (
    MAX_OPERATIONS,
    OTHER,
    PER_KEY_REPLIES,
    READS,
    HitCounter,
    error_type,
    normalize,
    sanitize,
    single_reply,
)
from cachewatch.tracing.spans import SpanFactory, record_error

log = logging.getLogger("cachewatch.tracing")
Attributes = dict[str, Any]


@dataclass(slots=True)
class Op:
    """One operation label of one client: its lock-free stats and, once they happen, its error counters."""

    name: str
    stats: OpStats
    reads: HitCounter | None
    fast: bool = False  # a non-read or a single-key read of an unclassified client: the inlined path counts it
    single: bool = False  # a single-key read: a nil reply is a miss
    errors: dict[str, Any] = field(default_factory=dict)


class Telemetry:
    """Recording for one client: ``cache`` names it in every series."""

    def __init__(self, metrics: ClientMetrics, spans: SpanFactory, *, cache: str, server: tuple[str, int | None],
                 namespace: str, key_classes: KeyClassifier | None, query_text: bool, slow_threshold: float,
                 node_of: Callable[[Sequence[Any]], tuple[str, int | None]] | None = None) -> None:
        self.metrics = metrics
        self.spans = spans
        self.cache = cache
        self.server = server
        self.namespace = namespace
        self.key_classes = key_classes
        self.query_text = query_text
        self.slow_threshold = slow_threshold
        self.node_of = node_of
        self.ops: dict[Any, Op] = {}
        # At most 10 log lines a second per client; the next line says how many were suppressed. An outage at a
        # million operations a second must not become a million log lines a second.
        self.limiter = LogRateLimiter(interval=1.0, burst=10)
        self._lock = threading.Lock()
        metrics.collector.register(self)

    # --- operations ----------------------------------------------------------------------------------------
    def op(self, raw_name: Any) -> Op:
        """The Op of a command name as the application passed it (cached under that exact name)."""
        found = self.ops.get(raw_name)
        if found is not None:
            return found
        with self._lock:
            name = normalize(raw_name)
            known = {op.name for op in self.ops.values()}
            if name not in known and len(known) >= MAX_OPERATIONS:
                name = OTHER
            op = self._build(name)
            if name != OTHER or len(self.ops) < 2 * MAX_OPERATIONS:  # generated names must not grow the cache
                self.ops[raw_name] = op
            return op

    def _build(self, name: str) -> Op:
        for op in self.ops.values():
            if op.name == name:
                return op
        reads = READS.get(name)
        single = reads is single_reply
        return Op(name=name, stats=OpStats(DURATION_BUCKETS), reads=reads, single=single,
                  fast=self.key_classes is None and (reads is None or single))

    # --- spans ---------------------------------------------------------------------------------------------
    def attributes(self, name: str, args: Sequence[Any] = (), batch: int = 0) -> Attributes:
        address, port = self.node_of(args) if self.node_of is not None and args else self.server
        attrs: Attributes = {"db.system.name": DB_SYSTEM, "db.operation.name": name, "db.namespace": self.namespace,
                             "server.address": address, "cache.name": self.cache}
        if port is not None:
            attrs["server.port"] = port
        if batch:
            attrs["db.operation.batch.size"] = batch
        if self.query_text and args:
            attrs["db.query.text"] = sanitize(args)
        return attrs

    # --- outcomes ------------------------------------------------------------------------------------------
    def succeeded(self, op: Op, args: Sequence[Any], reply: Any, elapsed: float, span: Span | None) -> None:
        """Count a successful command that the wrappers' inlined path does not take (sampled, slow, multi-key,
        classified keys)."""
        stats = op.stats
        slots = stats.observe(elapsed)
        reads = op.reads
        if reads is None:
            if span is None and elapsed < self.slow_threshold:
                return
            hits = misses = 0
        elif reads is single_reply and self.key_classes is None:
            hits = 0 if reply is None else 1
            misses = 1 - hits
            slots[stats.hits + misses] += 1  # the misses slot follows the hits slot
            if span is None and elapsed < self.slow_threshold:
                return
        else:
            hits, misses = reads(reply, args)
            if self.key_classes is None:
                slots[stats.hits] += hits
                slots[stats.misses] += misses
            else:
                self._count_by_class(op, args, reply, hits, misses)
        if span is None:
            self._slow(op, args, elapsed)
            return
        if reads is not None:
            _set_hit(span, hits, misses)
        ctx = span.get_span_context()
        if ctx.trace_flags.sampled:
            stats.exemplar(elapsed, ctx)
        if elapsed >= self.slow_threshold:
            self._log("slow operation", op.name, elapsed, span, None)
        span.end()

    def failed(self, op: Op, args: Sequence[Any], exc: BaseException, elapsed: float, span: Span | None) -> None:
        kind = error_type(exc)
        counter = op.errors.get(kind)
        if counter is None:
            counter = op.errors.setdefault(kind, self.metrics.errors.labels(self.cache, op.name, kind))
        counter.inc()
        op.stats.observe(elapsed)
        if span is None and self.spans.keeps_unsampled:
            span = self.spans.late_leaf(op.name, self.attributes(op.name, args), started_ns(elapsed))
        if span is not None:
            record_error(span, exc)
            ctx = span.get_span_context()
            if ctx.trace_flags.sampled:
                op.stats.exemplar(elapsed, ctx)
        if kind != "watch":
            self._log("cache operation failed", op.name, elapsed, span, kind)
        if span is not None:
            span.end()

    def _slow(self, op: Op, args: Sequence[Any], elapsed: float) -> None:
        if elapsed < self.slow_threshold:
            return
        span = None
        if self.spans.keeps_unsampled:
            span = self.spans.late_leaf(op.name, self.attributes(op.name, args), started_ns(elapsed))
        self._log("slow operation", op.name, elapsed, span, None)
        if span is not None:
            span.end()

    def _count_by_class(self, op: Op, args: Sequence[Any], reply: Any, hits: int, misses: int) -> None:
        classify, request = self.key_classes.classify, self.metrics.request
        if op.name in PER_KEY_REPLIES and isinstance(reply, list | tuple):
            for key, value in zip(args[1:], reply, strict=False):
                request(self.cache, op.name, value is not None, classify(key))
            return
        key_class = classify(args[1]) if len(args) > 1 else "other"
        request(self.cache, op.name, True, key_class, hits)
        request(self.cache, op.name, False, key_class, misses)

    def _log(self, message: str, operation: str, elapsed: float, span: Span | None, kind: str | None) -> None:
        suppressed = self.limiter.admit()
        if suppressed is None:
            return
        ctx = (span or trace.get_current_span()).get_span_context()
        extra: dict[str, Any] = {"cache": self.cache, "operation": operation,
                                 "duration_ms": round(elapsed * 1000, 3)}
        if kind is not None:
            extra["error_type"] = kind
        if ctx.is_valid:
            extra.update(trace_ids(ctx))
        if suppressed:
            extra["suppressed"] = suppressed
        log.warning(message, extra=extra)

    # --- pipelines -----------------------------------------------------------------------------------------
    def batch_name(self, kind: str, queued: Sequence[Sequence[Any]]) -> str:
        """``PIPELINE``/``MULTI``, or ``PIPELINE GET`` when every queued command is the same (DB semconv)."""
        ops, op_of = self.ops, self.op
        names = {(ops.get(args[0]) or op_of(args[0])).name for args in queued if args}
        return f"{kind} {names.pop()}" if len(names) == 1 else kind

    def count_batch(self, queued: Sequence[Sequence[Any]], replies: Sequence[Any]) -> tuple[int, int]:
        """Hits and misses of the read commands inside a pipeline, per command, from their replies."""
        total_hits = total_misses = 0
        ops, op_of, classified = self.ops, self.op, self.key_classes is not None
        for args, reply in zip(queued, replies, strict=False):
            if not args or isinstance(reply, BaseException):
                continue
            op = ops.get(args[0]) or op_of(args[0])
            if op.reads is None:
                continue
            if op.single:
                hits = 0 if reply is None else 1
                misses = 1 - hits
            else:
                hits, misses = op.reads(reply, args)
            total_hits += hits
            total_misses += misses
            if classified:
                self._count_by_class(op, args, reply, hits, misses)
            else:
                stats = op.stats
                try:
                    slots = stats.local.slots
                except AttributeError:
                    slots = stats.slots()
                slots[stats.hits] += hits
                slots[stats.misses] += misses
        return total_hits, total_misses


def started_ns(elapsed: float) -> int:
    """Wall-clock start of an operation that just ended after ``elapsed`` seconds (for spans made after it)."""
    return time.time_ns() - int(elapsed * 1e9)


def _set_hit(span: Span, hits: int, misses: int) -> None:
    if hits + misses == 1:
        span.set_attribute("cache.hit", hits == 1)
    elif hits + misses > 1:
        span.set_attribute("cache.hit_count", hits)
        span.set_attribute("cache.miss_count", misses)
