"""The asyncio read-through cache: same layers, spans, metrics and failure policy as :mod:`.read_through`, for
``redis.asyncio`` clients and async loaders.

Spans follow contextvars, so tasks that a loader spawns (``asyncio.gather``, ``create_task``, ``TaskGroup``)
are children of ``origin.load`` without any help.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from opentelemetry.trace import Span, SpanKind
from redis.exceptions import RedisError

from cachewatch.tracing.layers.core import CacheCore, Progress, WarmReport
from cachewatch.tracing.layers.local_cache import MISSING
from cachewatch.tracing.layers.single_flight import AsyncSingleFlight

AsyncLoader = Callable[[str], Awaitable[Any]]
AsyncLoadMany = Callable[[list[str]], Awaitable[Mapping[str, Any]]]


class AsyncReadThroughCache(CacheCore):
    """Read-through cache for ``redis.asyncio.Redis`` / ``RedisCluster`` with an async ``loader(key)`` and an
    optional async ``load_many(keys) -> {key: value}`` for :meth:`warm`. Options as :class:`CacheCore`."""

    def __init__(self, client: Any, loader: AsyncLoader, *, load_many: AsyncLoadMany | None = None,
                 **options: Any) -> None:
        super().__init__(**options)
        self.client = client
        self.loader = loader
        self.load_many = load_many
        self.flights = AsyncSingleFlight()

    async def get(self, key: str) -> Any:
        """The value of ``key`` from the first layer that has it; a miss loads it once (per event loop) and
        stores it in Redis and the L1."""
        key_class = self.key_class(key)
        with self.spans.current("cache.get", attributes=self.attributes(key_class, key)) as span:
            layer = None
            try:
                layer, value = await self._lookup(key, key_class, span)
                return value
            finally:
                self.finish_get(span, key_class, layer)

    async def _lookup(self, key: str, key_class: str, span: Span) -> tuple[str, Any]:
        value = self.l1_get(key, key_class)
        if value is not MISSING:
            return "l1", value
        try:
            value, reachable = self.decode(await self.client.get(key), span, key_class), True
        except RedisError as exc:
            if not self.fail_open:
                raise
            value, reachable = MISSING, self.failed_open(span, exc, key_class)
        if value is not MISSING:
            self.remember(key, value)
            return "redis", value
        value, leader = await self.flights.run(key, lambda: self._load(key, key_class, span, reachable))
        if not leader:
            span.set_attribute("cache.coalesced", True)
        return "origin", value

    async def _load(self, key: str, key_class: str, span: Span, store: bool) -> Any:
        with self.spans.current("origin.load", attributes=self.attributes(key_class, **{"cache.layer": "origin"})):
            try:
                value = await self.loader(key)
            except Exception as exc:
                self.log("origin_failed", exc, key_class)  # the spans record it as it escapes
                raise
        data = self.serializer.dumps(value)
        if store:
            try:
                await self.client.set(key, data, px=self.ttl_ms)
            except RedisError as exc:
                self.note("set_failed", span, exc, key_class)
        self.remember(key, value)
        return value

    async def invalidate(self, *keys: str) -> int:
        """Delete ``keys`` from Redis and this L1, then tell other processes' L1s; returns Redis's DEL count."""
        if not keys:
            return 0
        with self.spans.current("cache.invalidate", SpanKind.PRODUCER, self.invalidate_attributes(keys)) as span:
            try:
                deleted = await self.client.delete(*keys)
            finally:
                if self.local is not None:
                    self.local.delete(*keys)
            await self.client.publish(self.channel, self.message(keys))
            span.set_attribute("cache.invalidation.deleted", deleted)
            return deleted

    async def warm(self, keys: Iterable[str], *, batch_size: int = 100,
                   progress: Progress | None = None) -> WarmReport:
        """Preload Redis (not the L1) batch by batch, like the sync ``warm``; without ``load_many`` a batch's
        loads run concurrently (at most ``batch_size`` at once)."""
        batches = self.warm_plan(keys, batch_size)
        total = sum(map(len, batches))
        report, done = WarmReport(), 0
        with self.spans.current("cache.warm", attributes=self.warm_attributes(total, batch_size)) as span:
            for index, batch in enumerate(batches):
                step = await self._warm_batch(batch, span)
                report, done = report + step, done + len(batch)
                self.warm_batch_done(span, index, step)
                if progress is not None:
                    progress(done, total)
            self.warm_done(span, report)
        return report

    async def _warm_batch(self, batch: list[str], warm_span: Span) -> WarmReport:
        missing = [key for key, raw in zip(batch, await self.client.mget(batch), strict=True) if raw is None]
        cached = WarmReport(already_cached=len(batch) - len(missing))
        if not missing:
            return cached
        with self.spans.current("origin.load", attributes={**self._base, "cache.layer": "origin",
                                                           "cache.warm.batch_size": len(missing)}) as load_span:
            values, failed = await self._load_batch(missing, load_span)
        if not values:
            return cached + failed
        pipe = self.client.pipeline(transaction=False)
        for key, data in values.items():
            pipe.set(key, data, px=self.ttl_ms)
        return cached + failed + self.store_results(list(values), await pipe.execute(raise_on_error=False), warm_span)

    async def _load_batch(self, missing: list[str], span: Span) -> tuple[dict[str, bytes], WarmReport]:
        if self.load_many is not None:
            try:
                found = dict(await self.load_many(missing))
            except Exception as exc:
                return {}, self.batch_failed(span, missing, exc)
            return self.serialize_batch(missing, found, span)
        outcomes = await asyncio.gather(*map(self.loader, missing), return_exceptions=True)
        for outcome in outcomes:  # a cancellation or KeyboardInterrupt is not a failed load: let it through
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome
        return self.serialize_batch(missing, dict(zip(missing, outcomes, strict=True)), span)
