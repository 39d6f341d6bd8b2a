"""The sync read-through cache: L1 → Redis → origin for a redis-py client, with the layers, spans, metrics and
failure policy of :class:`~cachewatch.tracing.layers.core.CacheCore`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.trace import Span, SpanKind
from redis.exceptions import RedisError

from cachewatch.tracing.layers.core import CacheCore, Loader, LoadMany, Progress, WarmReport
from cachewatch.tracing.layers.local_cache import MISSING
from cachewatch.tracing.layers.single_flight import SingleFlight


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
