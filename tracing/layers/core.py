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

This module holds what the sync and asyncio caches share: :class:`CacheCore` (configuration, attributes,
metrics, failure notes; no I/O) and :class:`WarmReport`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import Span, TracerProvider
from prometheus_client import CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cachewatch.logs import LogRateLimiter, redact
from cachewatch.tracing.keys import KeyClassifier
from cachewatch.tracing.layers.invalidation import default_channel, encode_message
from cachewatch.tracing.layers.local_cache import MISSING, LocalCache
from cachewatch.tracing.layers.serializers import DEFAULT_SERIALIZER, Serializer
from cachewatch.tracing.metrics import metrics_for
from cachewatch.tracing.operations import error_type, span_error_type
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


class CacheCore:
    """Configuration, attributes, metrics and failure notes shared by
    :class:`~cachewatch.tracing.layers.read_through.ReadThroughCache` and
    :class:`~cachewatch.tracing.layers.read_through_async.AsyncReadThroughCache`; no I/O here.

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
        # At most one line per failure kind a second, with a count of those suppressed: a Redis outage at
        # 100k reads/s must not become 100k log lines/s.
        self.throttle = LogRateLimiter(interval=1.0, burst=1)
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
