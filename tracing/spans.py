"""Span creation for the client library: the cheap sampling path of :mod:`.sampling`, error recording that
follows the DB semantic conventions, and current-span scopes for the cache layers."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation import _SPAN_KEY
from redis.exceptions import WatchError

from cachewatch.logs import redact
from cachewatch.tracing.export import ExportProcessor
from cachewatch.tracing.operations import span_error_type, status_code
from cachewatch.tracing.sampling import MASK64, Plan, StagedIdGenerator, plan_of


def _current_context_getter() -> Callable[[], Any] | None:
    """The ``get`` of the contextvar behind OpenTelemetry's default runtime context, to read the current span in
    two C calls instead of the API's five Python ones (a microsecond per command in place); None when another
    runtime context is configured, and then the API is used."""
    try:
        from opentelemetry.context import _RUNTIME_CONTEXT
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

        if type(_RUNTIME_CONTEXT) is ContextVarsRuntimeContext:
            return _RUNTIME_CONTEXT._current_context.get
    except (ImportError, AttributeError):
        pass
    return None


_context_var_get = _current_context_getter()

SCOPE = "cachewatch.tracing"
Attributes = dict[str, Any]
_getrandbits = random.getrandbits
_time_ns = time.time_ns
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_UNSET = Status(StatusCode.UNSET)
_CLIENT = SpanKind.CLIENT

# Processors whose on_start does nothing: with only these on the provider, a leaf span can skip the SDK's
# mutable span and go to on_end as the ReadableSpan the SDK would have built (see LeafSpan). Checked once per
# provider (``_sink_for``), never per operation.
ON_END_ONLY_PROCESSORS: tuple[type, ...] = (BatchSpanProcessor, SimpleSpanProcessor, ExportProcessor)


class LeafSpan:
    """A recording span for one Redis operation, about 5× cheaper than the SDK's.

    The SDK's ``_Span`` takes a lock, bounds its attributes, runs processors' ``on_start`` and, at ``end()``,
    copies itself into a ``ReadableSpan`` for ``on_end``. A Redis call has a handful of attributes, no
    children and no ``on_start`` consumers (checked when the provider is resolved), so this builds that same
    ``ReadableSpan`` directly at ``end()``. Used only for sampled leaf spans; everything else is the SDK's.
    """

    __slots__ = ("_attributes", "_context", "_ended", "_events", "_name", "_parent", "_sink", "_start", "_status")

    def __init__(self, sink: SpanSink, name: str, context: SpanContext, parent: SpanContext | None,
                 attributes: Attributes, start_time: int) -> None:
        self._sink, self._name, self._context, self._parent = sink, name, context, parent
        self._attributes, self._start = attributes, start_time
        self._events: list[Event] = []
        self._status = _UNSET
        self._ended = False

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return not self._ended

    def set_attribute(self, key: str, value: Any) -> None:
        if not self._ended:
            self._attributes[key] = value

    def add_event(self, name: str, attributes: Attributes | None = None, timestamp: int | None = None) -> None:
        if not self._ended:
            self._events.append(Event(name, attributes, timestamp))

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if not self._ended:
            self._status = status if isinstance(status, Status) else Status(status, description)

    def end(self, end_time: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        sink = self._sink
        sink.processor.on_end(ReadableSpan(
            name=self._name, context=self._context, parent=self._parent, resource=sink.resource,
            attributes=self._attributes, events=self._events, kind=_CLIENT, status=self._status,
            start_time=self._start, end_time=end_time or _time_ns(), instrumentation_scope=sink.scope))


class SpanSink:
    """Where LeafSpans go: the provider's processors, resource and our instrumentation scope."""

    __slots__ = ("processor", "random_ids", "resource", "scope")

    def __init__(self, tracer: Any, random_ids: bool) -> None:
        self.processor = tracer.span_processor
        self.resource = tracer.resource
        self.scope = tracer._instrumentation_scope
        self.random_ids = random_ids


def _sink_for(tracer: Any) -> SpanSink | None:
    """A sink when every processor of the provider only consumes ended spans, else None (use the SDK)."""
    processors = getattr(getattr(tracer, "span_processor", None), "_span_processors", None)
    if processors is None or not all(isinstance(p, ON_END_ONLY_PROCESSORS) for p in processors):
        return None
    if not hasattr(tracer, "_instrumentation_scope") or not hasattr(tracer, "resource"):
        return None
    ids = getattr(tracer, "id_generator", None)
    return SpanSink(tracer, bool(ids is not None and ids.is_trace_id_random()))


def record_error(span: Span, exc: BaseException) -> None:
    """``error.type``, ``db.response.status_code``, ERROR status and an exception event (message redacted).

    A WATCH conflict is optimistic locking doing its job: it is noted, not marked as an error."""
    if not span.is_recording():
        return
    if isinstance(exc, WatchError):
        span.add_event("watch_conflict")
        return
    span.set_attribute("error.type", span_error_type(exc))
    code = status_code(exc)
    if code is not None:
        span.set_attribute("db.response.status_code", code)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    span.add_event("exception", {"exception.type": span_error_type(exc), "exception.message": redact(str(exc))})


class SpanFactory:
    """Spans of one tracer provider (explicit, or the global one, resolved again when it changes)."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None, scope: str = SCOPE) -> None:
        self._explicit = tracer_provider
        self._scope = scope
        self._provider: trace.TracerProvider | None = None
        self._tracer: Any = None
        self._plan: Plan | None = None
        self._ids: StagedIdGenerator | None = None
        self._sink: SpanSink | None = None
        self._checked: tuple | None = None  # the processors the sink was checked against
        self._off = True  # no SDK behind the provider: nothing can record

    # --- provider resolution -------------------------------------------------------------------------------
    def _refresh(self) -> None:
        provider = self._explicit or trace.get_tracer_provider()
        if provider is not self._provider:
            self._resolve(provider)

    def _resolve(self, provider: trace.TracerProvider) -> None:
        from cachewatch import __version__

        tracer = provider.get_tracer(self._scope, __version__)
        sdk = isinstance(provider, SdkTracerProvider)
        plan = plan_of(provider.sampler) if sdk else None
        ids = sink = None
        if plan is not None and hasattr(tracer, "id_generator"):
            ids = tracer.id_generator
            if not isinstance(ids, StagedIdGenerator):  # one per tracer: the SDK hands every client the same one
                ids = StagedIdGenerator(ids)
                tracer.id_generator = ids
            sink = _sink_for(tracer)
        self._tracer, self._plan, self._ids, self._sink = tracer, (plan if ids is not None else None), ids, sink
        self._checked = sink.processor._span_processors if sink is not None else None
        self._off = not sdk and isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
        self._provider = provider

    @property
    def disabled(self) -> bool:
        """True for good: the explicit provider is the API's no-op one (metrics only)."""
        return isinstance(self._explicit, trace.NoOpTracerProvider)

    @property
    def keeps_unsampled(self) -> bool:
        """True under AlwaysRecordSampler: unsampled operations that fail or run slow still get a span."""
        self._refresh()
        return self._plan is not None and self._plan.record_all

    # --- leaf spans (one Redis operation): nothing allocated when not sampled --------------------------------
    def start_leaf(self, name: str, attributes: Callable[[str, Any], Attributes], args: Any = (),
                   start_time: int | None = None) -> Any:
        """A started CLIENT span if this operation is sampled, else None. Not made current: a Redis call has
        no children. ``attributes(name, args)`` runs only for a span that will record; ``start_time`` (ns)
        backdates the span when the decision comes after the call."""
        if self._explicit is None or self._provider is None:
            self._refresh()
        if self._off:
            return None
        plan = self._plan
        if plan is None:
            span = self._tracer.start_span(name, kind=_CLIENT, attributes=attributes(name, args),
                                           start_time=start_time)
            return span if span.is_recording() else None
        current = _context_var_get().get(_SPAN_KEY) if _context_var_get is not None else trace.get_current_span()
        parent = current.get_span_context() if current is not None else None
        if parent is not None and parent.is_valid:
            if not parent.trace_flags.sampled:
                return None
            trace_id = parent.trace_id
        else:
            parent = None
            trace_id = _getrandbits(128) or 1
            if trace_id & MASK64 >= plan.bound:
                return None
        sink = self._sink
        if sink is not None and sink.processor._span_processors is self._checked:
            return self._leaf(sink, name, trace_id, parent, True, attributes(name, args), start_time)
        if parent is None:
            self._ids.stage(trace_id)
        return self._tracer.start_span(name, kind=_CLIENT, attributes=attributes(name, args), start_time=start_time)

    def late_leaf(self, name: str, attributes: Attributes, start_ns: int) -> Any:
        """A span for an unsampled operation that turned out worth keeping (keep-errors-and-slow mode): recorded
        but not sampled; the export processor keeps it because it failed or ran slow."""
        self._refresh()
        parent = trace.get_current_span().get_span_context()
        parent = parent if parent.is_valid else None
        sink = self._sink
        if sink is not None and sink.processor._span_processors is self._checked:
            trace_id = parent.trace_id if parent is not None else (_getrandbits(128) or 1)
            return self._leaf(sink, name, trace_id, parent, False, attributes, start_ns)
        return self._tracer.start_span(name, kind=_CLIENT, attributes=attributes, start_time=start_ns)

    @staticmethod
    def _leaf(sink: SpanSink, name: str, trace_id: int, parent: SpanContext | None, sampled: bool,
              attributes: Attributes, start_time: int | None) -> LeafSpan:
        if parent is not None:
            flags = parent.trace_flags & TraceFlags.RANDOM_TRACE_ID
            state = parent.trace_state
        else:
            flags = TraceFlags.RANDOM_TRACE_ID if sink.random_ids else 0
            state = None
        if sampled:
            flags |= TraceFlags.SAMPLED
        context = SpanContext(trace_id, _getrandbits(64) or 1, False, TraceFlags(flags), state)
        return LeafSpan(sink, name, context, parent, attributes, start_time or _time_ns())

    # --- current spans (cache layers): children follow their parent's decision ------------------------------
    def start(self, name: str, kind: SpanKind = SpanKind.INTERNAL, attributes: Attributes | None = None) -> Span:
        """A started span, never None: unsampled, it is a non-recording span with a valid context, so that
        Redis calls beneath it see an unsampled parent instead of starting traces of their own."""
        self._refresh()
        if self._off:
            return trace.INVALID_SPAN
        plan = self._plan
        if plan is None or plan.record_all:
            return self._tracer.start_span(name, kind=kind, attributes=attributes)
        parent = trace.get_current_span().get_span_context()
        if parent.is_valid:
            if parent.trace_flags.sampled:
                return self._tracer.start_span(name, kind=kind, attributes=attributes)
            trace_id = parent.trace_id
        else:
            trace_id = _getrandbits(128) or 1
            if trace_id & MASK64 < plan.bound:
                self._ids.stage(trace_id)
                return self._tracer.start_span(name, kind=kind, attributes=attributes)
        return NonRecordingSpan(SpanContext(trace_id, _getrandbits(64) or 1, False, _NOT_SAMPLED))

    @contextmanager
    def current(self, name: str, kind: SpanKind = SpanKind.INTERNAL,
                attributes: Attributes | None = None) -> Iterator[Span]:
        """Start a span, make it current for the block, record an escaping exception on it, end it."""
        span = self.start(name, kind, attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield span
        except BaseException as exc:
            record_error(span, exc)
            raise
        finally:
            otel_context.detach(token)
            span.end()
