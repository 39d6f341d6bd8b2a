"""Read-through caching in layers (optional in-process L1 → Redis → origin loader), traced and counted.

A miss everywhere gives one span tree, so a slow read shows *which* layer was slow::

    cache.get ─┬─ cache.l1.get    (INTERNAL; only with an L1)
               ├─ GET             (CLIENT; from cachewatch.tracing.instrument, when the client is instrumented)
               ├─ origin.load     (INTERNAL)
               └─ SET             (CLIENT; PX = the cache's ttl)

An L1 hit stops after ``cache.l1.get``, a Redis hit after ``GET``. ``cache_requests_total`` counts
``operation="l1.get"`` per L1 lookup and ``operation="cache.get"`` per read-through (hit = served without the
origin); the Redis GET is counted by the instrumented client itself, never here.

Failure policy: the loader's exceptions propagate unchanged (recorded on ``origin.load`` and ``cache.get``); a
Redis error on GET is recorded and the origin serves the read (``fail_open=True``, the default); a Redis error on
SET after a load is recorded and the loaded value is returned. L1 hands back the very object it holds: treat
cached values as immutable.

This module holds what the sync and asyncio caches share (:class:`CacheCore`) and the sync cache.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import Span, SpanKind, TracerProvider
from prometheus_client import CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cachewatch.logs import redact
from cachewatch.tracing.invalidation import default_channel, encode_message
from cachewatch.tracing.keys import KeyClassifier
from cachewatch.tracing.local_cache import MISSING, LocalCache
from cachewatch.tracing.metrics import metrics_for
from cachewatch.tracing.operations import error_type, span_error_type
from cachewatch.tracing.serializers import DEFAULT_SERIALIZER, Serializer
from cachewatch.tracing.spans import Attributes, SpanFactory, record_error

log = logging.getLogger("cachewatch.tracing.layers")

Loader = Callable[[str], Any]
LoadMany = Callable[[list[str]], Mapping[str, Any]]
Progress = Callable[[int, int], None]

CACHE_LAYERS = frozenset({"l1", "redis"})  # served from one of these = a hit
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)  # after these, a SET in the same read would fail too

# Handled failures: span event name and log message. One table, so every path is logged and traced alike.
EVENTS: dict[str, tuple[str, str]] = {
    "origin_failed": ("cache.origin_failed", "origin load failed; the error propagates to the caller"),
    "get_failed": ("cache.fail_open", "redis GET failed; serving the read from the origin (fail open)"),
    "set_failed": ("cache.set_failed", "redis SET failed after a load; returning the loaded value uncached"),
    "corrupt": ("cache.corrupt_value", "cached value could not be decoded; reloading it from the origin"),
    "warm_failed": ("cache.warm_failed", "origin load failed while warming; key skipped"),
}


class LogThrottle:
    """At most one line per event kind per interval, with a count of those suppressed: a Redis outage at
    100k reads/s must not become 100k log lines/s."""

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def admit(self, kind: str) -> int | None:
        """None to stay quiet, else how many lines of this kind were suppressed since the last one."""
        now = self._clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return None
            self._last[kind] = now
            return self._suppressed.pop(kind, 0)


@dataclass(frozen=True, slots=True)
class WarmReport:
    """What ``warm`` did: keys loaded and stored, keys Redis already had, keys whose load failed."""

    loaded: int = 0
    already_cached: int = 0
    failed: int = 0
    failed_keys: tuple[str, ...] = field(default=(), repr=False)

    def __add__(self, other: WarmReport) -> WarmReport:
        return WarmReport(self.loaded + other.loaded, self.already_cached + other.already_cached,
                          self.failed + other.failed, self.failed_keys + other.failed_keys)

    @property
    def total(self) -> int:
        return self.loaded + self.already_cached + self.failed


class SingleFlight:
    """Concurrent loads of one key in this process share the first caller's call (threads)."""

    @dataclass
    class _Call:
        done: threading.Event = field(default_factory=threading.Event)
        value: Any = None
        error: BaseException | None = None
        ok: bool = False
        waiters: int = 0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[Hashable, SingleFlight._Call] = {}

    def run(self, key: Hashable, fn: Callable[[], Any]) -> tuple[Any, bool]:
        """``(value, True)`` for the caller that ran ``fn``, ``(value, False)`` for those that waited on it. A
        waiter re-raises the leader's exception; if the leader died of a non-Exception (KeyboardInterrupt),
        waiters retry rather than inherit it."""
        while True:
            with self._lock:
                call = self._calls.get(key)
                leader = call is None
                if leader:
                    call = self._calls[key] = SingleFlight._Call()
                else:
                    call.waiters += 1
            if leader:
                return self._lead(key, call, fn), True
            call.done.wait()
            if call.ok:
                return call.value, False
            if call.error is not None:
                raise call.error

    def _lead(self, key: Hashable, call: _Call, fn: Callable[[], Any]) -> Any:
        try:
            call.value = fn()
            call.ok = True
            return call.value
        except Exception as exc:
            call.error = exc
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()

    def waiting(self, key: Hashable) -> int:
        """How many callers wait on the load of ``key`` now (tests use it to line callers up)."""
        with self._lock:
            call = self._calls.get(key)
            return 0 if call is None else call.waiters


class CacheCore:
    """Configuration, attributes, metrics and failure notes shared by :class:`ReadThroughCache` and
    :class:`~cachewatch.tracing.layers_async.AsyncReadThroughCache`; no I/O here.

    Options: ``name`` (the ``cache`` label and ``cache.name``; use the one given to ``instrument``), ``ttl``
    (seconds, Redis entries), ``local`` (an L1, or None), ``serializer`` (default JSON, bytes raw),
    ``tracer_provider``/``registry`` (default: the global ones), ``key_classes`` (``{"user": "user:*"}``:
    ``cache.key_class`` attribute and ``key_class`` label), ``record_keys`` (put the raw key on ``cache.get``;
    off by default: keys can be personal data), ``fail_open`` (serve from the origin when Redis GET fails),
    ``channel`` (invalidation channel, default ``cachewatch:invalidate:<name>``)."""

    def __init__(self, *, name: str = "default", ttl: float = 300.0, local: LocalCache | None = None,
                 serializer: Serializer = DEFAULT_SERIALIZER, tracer_provider: TracerProvider | None = None,
                 registry: CollectorRegistry | None = None, key_classes: Mapping[str, str] | None = None,
                 record_keys: bool = False, fail_open: bool = True, channel: str | None = None) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl={ttl!r}: allowed a positive number of seconds (Redis entries always expire)")
        self.name = name
        self.ttl = ttl
        self.ttl_ms = max(1, round(ttl * 1000))
        self.local = local
        self.serializer = serializer
        self.spans = SpanFactory(tracer_provider)
        self.metrics = metrics_for(registry)
        self.classifier = KeyClassifier(key_classes) if key_classes else None
        self.record_keys = record_keys
        self.fail_open = fail_open
        self.channel = channel or default_channel(name)
        self.sender_id = uuid.uuid4().hex  # lets this cache's subscriber skip its own invalidations
        self.throttle = LogThrottle()
        self._base: Attributes = {"cache.name": name}

    # --- attributes and metrics -----------------------------------------------------------------------------
    def key_class(self, key: str) -> str:
        return self.classifier.classify(key) if self.classifier is not None else ""

    def attributes(self, key_class: str, key: str | None = None, **extra: Any) -> Attributes:
        """Span attributes: the cache name, the key class (with a classifier), the raw key only if opted in."""
        attributes = {**self._base, **extra}
        if key_class:
            attributes["cache.key_class"] = key_class
        if key is not None and self.record_keys:
            attributes["cache.key"] = key
        return attributes

    def finish_get(self, span: Span, key_class: str, layer: str | None) -> None:
        hit = layer in CACHE_LAYERS
        span.set_attribute("cache.hit", hit)
        if layer is not None:
            span.set_attribute("cache.layer", layer)
        self.metrics.request(self.name, "cache.get", hit, key_class)

    # --- layers without I/O ---------------------------------------------------------------------------------
    def l1_get(self, key: str, key_class: str) -> Any:
        """The L1 lookup in its own span; MISSING on a miss (or when there is no L1)."""
        if self.local is None:
            return MISSING
        with self.spans.current("cache.l1.get", attributes=self.attributes(key_class, **{"cache.layer": "l1"})) as s:
            value = self.local.get(key)
            hit = value is not MISSING
            s.set_attribute("cache.hit", hit)
        self.metrics.request(self.name, "l1.get", hit, key_class)
        return value

    def decode(self, raw: Any, span: Span, key_class: str) -> Any:
        """A Redis reply as a value, MISSING for nil or for bytes the serializer rejects (reloaded, not fatal)."""
        if raw is None:
            return MISSING
        try:
            return self.serializer.loads(raw)
        except (ValueError, TypeError) as exc:
            self.note("corrupt", span, exc, key_class)
            return MISSING

    def remember(self, key: str, value: Any) -> None:
        if self.local is not None:
            self.local.set(key, value)

    # --- handled failures -----------------------------------------------------------------------------------
    def note(self, kind: str, span: Span, exc: BaseException, key_class: str) -> None:
        """Trace (as a span event; the span's status stays OK) and log a failure the cache handles."""
        if span.is_recording():
            span.add_event(EVENTS[kind][0], {"error.type": span_error_type(exc), "exception.message": redact(str(exc))})
        self.log(kind, exc, key_class)

    def log(self, kind: str, exc: BaseException, key_class: str) -> None:
        suppressed = self.throttle.admit(kind)
        if suppressed is not None:
            event, message = EVENTS[kind]
            log.warning(message, extra={"cache": self.name, "event": event, "error_type": error_type(exc),
                                        "key_class": key_class, "suppressed": suppressed})

    def failed_open(self, span: Span, exc: RedisError, key_class: str) -> bool:
        """Record a GET failure served by the origin; returns whether Redis still looks worth a SET."""
        span.set_attribute("cache.fail_open", True)
        self.note("get_failed", span, exc, key_class)
        return not isinstance(exc, UNREACHABLE)

    # --- warming and invalidation helpers -------------------------------------------------------------------
    def warm_attributes(self, total: int, batch_size: int) -> Attributes:
        return {**self._base, "cache.warm.keys": total, "cache.warm.batch_size": batch_size}

    def batch_failed(self, span: Span, keys: list[str], exc: BaseException) -> WarmReport:
        """Loads that failed while warming: counted, logged, and the first one marks the origin.load span."""
        if span.is_recording() and span.status.is_ok:
            record_error(span, exc)
        self.log("warm_failed", exc, "")
        return WarmReport(failed=len(keys), failed_keys=tuple(keys))

    def warm_batch_done(self, span: Span, index: int, step: WarmReport) -> None:
        span.add_event("cache.warm.batch", {"batch": index, "loaded": step.loaded,
                                            "already_cached": step.already_cached, "failed": step.failed})

    def warm_done(self, span: Span, report: WarmReport) -> None:
        span.set_attributes({"cache.warm.loaded": report.loaded, "cache.warm.already_cached": report.already_cached,
                             "cache.warm.failed": report.failed})

    def invalidate_attributes(self, keys: tuple[str, ...]) -> Attributes:
        return {**self._base, "cache.keys.count": len(keys), "messaging.system": "redis",
                "messaging.destination.name": self.channel, "messaging.operation.type": "send"}

    def message(self, keys: tuple[str, ...]) -> str:
        return encode_message(self.name, self.sender_id, keys)

    def serialize_batch(self, missing: list[str], results: Mapping[str, Any],
                        span: Span) -> tuple[dict[str, bytes], WarmReport]:
        """Loaded values as bytes; a key fails when its load raised (the exception is its result), when
        ``load_many`` left it out, or when the serializer rejects its value."""
        values: dict[str, bytes] = {}
        failed: list[str] = []
        first: BaseException | None = None
        for key in missing:
            result = results.get(key, MISSING)
            error: BaseException | None = result if isinstance(result, Exception) else None
            if result is MISSING:
                error = LookupError("load_many returned no value for a requested key")
            if error is None:
                try:
                    values[key] = self.serializer.dumps(result)
                except Exception as exc:
                    error = exc
            if error is not None:
                failed.append(key)
                first = first or error
        return values, (self.batch_failed(span, failed, first) if first is not None else WarmReport())

    def warm_plan(self, keys: Iterable[str], batch_size: int) -> list[list[str]]:
        """Unique keys (first occurrence wins) in batches of ``batch_size``."""
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r}: allowed 1 or more")
        unique = list(dict.fromkeys(keys))
        return [unique[i:i + batch_size] for i in range(0, len(unique), batch_size)]

    def store_results(self, keys: list[str], replies: list[Any], span: Span) -> WarmReport:
        """Pipeline replies of a warm batch's SETs: a per-command error reply fails that key only."""
        failed = [key for key, reply in zip(keys, replies, strict=True) if isinstance(reply, Exception)]
        if failed:
            first = next(r for r in replies if isinstance(r, Exception))
            return WarmReport(loaded=len(keys) - len(failed)) + self.batch_failed(span, failed, first)
        return WarmReport(loaded=len(keys))


class ReadThroughCache(CacheCore):
    """Read-through cache for a sync redis-py client (``redis.Redis``, ``RedisCluster``; instrument it with
    ``cachewatch.tracing.instrument`` to get the Redis spans and command metrics).

    ``loader(key)`` fetches a missing value from the origin; ``load_many(keys) -> {key: value}`` (optional)
    serves :meth:`warm` in bulk. Keys are ``str``. See :class:`CacheCore` for the other options."""

    def __init__(self, client: Any, loader: Loader, *, load_many: LoadMany | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.client = client
        self.loader = loader
        self.load_many = load_many
        self.flights = SingleFlight()

    def get(self, key: str) -> Any:
        """The value of ``key`` from the first layer that has it; a miss loads it once (per process) and stores
        it in Redis and the L1."""
        key_class = self.key_class(key)
        with self.spans.current("cache.get", attributes=self.attributes(key_class, key)) as span:
            layer = None
            try:
                layer, value = self._lookup(key, key_class, span)
                return value
            finally:
                self.finish_get(span, key_class, layer)

    def _lookup(self, key: str, key_class: str, span: Span) -> tuple[str, Any]:
        value = self.l1_get(key, key_class)
        if value is not MISSING:
            return "l1", value
        try:
            value, reachable = self.decode(self.client.get(key), span, key_class), True
        except RedisError as exc:
            if not self.fail_open:
                raise
            value, reachable = MISSING, self.failed_open(span, exc, key_class)
        if value is not MISSING:
            self.remember(key, value)
            return "redis", value
        value, leader = self.flights.run(key, lambda: self._load(key, key_class, span, reachable))
        if not leader:
            span.set_attribute("cache.coalesced", True)
        return "origin", value

    def _load(self, key: str, key_class: str, span: Span, store: bool) -> Any:
        with self.spans.current("origin.load", attributes=self.attributes(key_class, **{"cache.layer": "origin"})):
            try:
                value = self.loader(key)
            except Exception as exc:
                self.log("origin_failed", exc, key_class)  # the spans record it as it escapes
                raise
        data = self.serializer.dumps(value)
        if store:
            try:
                self.client.set(key, data, px=self.ttl_ms)
            except RedisError as exc:
                self.note("set_failed", span, exc, key_class)
        self.remember(key, value)
        return value

    def invalidate(self, *keys: str) -> int:
        """Delete ``keys`` from Redis and this L1, then tell other processes' L1s; returns Redis's DEL count."""
        if not keys:
            return 0
        with self.spans.current("cache.invalidate", SpanKind.PRODUCER, self.invalidate_attributes(keys)) as span:
            try:
                deleted = self.client.delete(*keys)
            finally:
                if self.local is not None:
                    self.local.delete(*keys)
            self.client.publish(self.channel, self.message(keys))
            span.set_attribute("cache.invalidation.deleted", deleted)
            return deleted

    def warm(self, keys: Iterable[str], *, batch_size: int = 100, progress: Progress | None = None) -> WarmReport:
        """Preload Redis (not the L1): per batch, MGET, load the missing keys (``load_many`` if given, else one
        by one), SET them with the ttl in one pipeline, then ``progress(done, total)``. Failed loads are counted
        and logged, not raised; Redis errors are raised."""
        batches = self.warm_plan(keys, batch_size)
        total = sum(map(len, batches))
        report, done = WarmReport(), 0
        with self.spans.current("cache.warm", attributes=self.warm_attributes(total, batch_size)) as span:
            for index, batch in enumerate(batches):
                step = self._warm_batch(batch, span)
                report, done = report + step, done + len(batch)
                self.warm_batch_done(span, index, step)
                if progress is not None:
                    progress(done, total)
            self.warm_done(span, report)
        return report

    def _warm_batch(self, batch: list[str], warm_span: Span) -> WarmReport:
        missing = [key for key, raw in zip(batch, self.client.mget(batch), strict=True) if raw is None]
        cached = WarmReport(already_cached=len(batch) - len(missing))
        if not missing:
            return cached
        with self.spans.current("origin.load", attributes={**self._base, "cache.layer": "origin",
                                                           "cache.warm.batch_size": len(missing)}) as load_span:
            values, failed = self._load_batch(missing, load_span)
        if not values:
            return cached + failed
        pipe = self.client.pipeline(transaction=False)
        for key, data in values.items():
            pipe.set(key, data, px=self.ttl_ms)
        return cached + failed + self.store_results(list(values), pipe.execute(raise_on_error=False), warm_span)

    def _load_batch(self, missing: list[str], span: Span) -> tuple[dict[str, bytes], WarmReport]:
        """Serialized values of the keys that loaded, and a report of those that did not."""
        if self.load_many is not None:
            try:
                found = dict(self.load_many(missing))
            except Exception as exc:
                return {}, self.batch_failed(span, missing, exc)
            results: dict[str, Any] = {key: found[key] for key in missing if key in found}
        else:
            results = {}
            for key in missing:
                try:
                    results[key] = self.loader(key)
                except Exception as exc:
                    results[key] = exc
        return self.serialize_batch(missing, results, span)
