"""Spans to Jaeger (or any OTLP receiver) without ever slowing the application down.

``ExportProcessor`` batches like the SDK's BatchSpanProcessor and adds what an operator needs when the trace
backend is slow or down: a bounded queue whose overflow is counted (``cache_tracing_spans_dropped_total``),
export failures counted too, a shutdown that gives up after a deadline, and the keep-errors-and-slow mode:
under ``AlwaysRecordSampler`` it also exports unsampled spans that failed or ran slower than a threshold.
It only consumes ended spans (``on_start`` does nothing), which :mod:`.spans` relies on to build cheap leaf
spans; :mod:`.config` puts it on the provider.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry

from cachewatch.logs import redact
from cachewatch.tracing.metrics import metrics_for

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

