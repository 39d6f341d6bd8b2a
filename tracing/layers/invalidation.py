"""Cross-process L1 invalidation over Redis pub/sub, carrying W3C trace context so receivers join the trace.

A cache's ``invalidate(*keys)`` deletes the keys from Redis, drops them from its own L1, then PUBLISHes one JSON
message on ``cachewatch:invalidate:<cache name>``::

    {"v": 1, "cache": "users", "sender": "<uuid4 hex>", "keys": ["user:1"], "traceparent": "00-…", "tracestate": "…"}

A subscriber in every other process evicts those keys from its L1 inside a CONSUMER span
``cache.invalidation.receive`` whose parent is the sender's ``cache.invalidate`` span. Pub/sub is at-most-once: a
subscriber that loses its connection clears its whole L1, since it may have missed invalidations meanwhile.
Malformed messages are logged, counted (``cache_errors_total{operation="invalidation.receive"}``) and skipped.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from redis.exceptions import RedisError

from cachewatch.tracing.layers.local_cache import LocalCache
from cachewatch.tracing.metrics import ClientMetrics
from cachewatch.tracing.operations import error_type
from cachewatch.tracing.spans import SpanFactory

log = logging.getLogger("cachewatch.tracing.invalidation")
CHANNEL_PREFIX = "cachewatch:invalidate:"
VERSION = 1
MAX_KEYS = 10_000  # a message naming more keys than this is treated as garbage, not evicted key by key
RECEIVE_OPERATION = "invalidation.receive"
PROPAGATOR = TraceContextTextMapPropagator()
RECONNECT_BACKOFF = 0.5


def default_channel(cache_name: str) -> str:
    return f"{CHANNEL_PREFIX}{cache_name}"


class Invalidatable(Protocol):
    """What a subscriber needs from a cache (sync or async): its identity, its L1 and its telemetry."""

    name: str
    channel: str
    sender_id: str
    local: LocalCache | None
    spans: SpanFactory
    metrics: ClientMetrics


@dataclass(frozen=True, slots=True)
class Invalidation:
    cache: str
    sender: str
    keys: tuple[str, ...]
    carrier: dict[str, str]


def encode_message(cache: str, sender: str, keys: tuple[str, ...]) -> str:
    """The message for ``keys``, with the *current* trace context injected (call it inside the sender's span)."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return json.dumps({"v": VERSION, "cache": cache, "sender": sender, "keys": list(keys), **carrier},
                      separators=(",", ":"), ensure_ascii=False)


def decode_message(data: Any) -> Invalidation:
    """Parse a message; ``ValueError`` says why it is not one of ours."""
    if isinstance(data, bytes | bytearray):
        data = bytes(data).decode("utf-8")
    if not isinstance(data, str):
        raise ValueError(f"payload of type {type(data).__name__}")
    body = json.loads(data)
    if not isinstance(body, dict) or body.get("v") != VERSION:
        raise ValueError("not a version-1 invalidation object")
    keys, sender, cache = body.get("keys"), body.get("sender"), body.get("cache")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or len(keys) > MAX_KEYS:
        raise ValueError(f"keys must be a list of at most {MAX_KEYS} strings")
    if not isinstance(sender, str) or not isinstance(cache, str):
        raise ValueError("sender and cache must be strings")
    carrier = {name: body[name] for name in PROPAGATOR.fields if isinstance(body.get(name), str)}
    return Invalidation(cache, sender, tuple(keys), carrier)


@dataclass
class ReceiveStats:
    """Counters of one subscriber (also exported as metrics); written by the subscriber's thread or task only."""

    received: int = 0  # messages that evicted (or would have evicted) keys from this L1
    own: int = 0  # this cache's own messages, skipped: its L1 was already dropped by invalidate()
    malformed: int = 0
    evicted: int = 0  # L1 entries actually dropped
    reconnects: int = 0


def receive(cache: Invalidatable, data: Any, stats: ReceiveStats) -> None:
    """Handle one pub/sub payload: evict its keys inside a CONSUMER span parented by the sender's span."""
    try:
        message = decode_message(data)
    except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors too
        stats.malformed += 1
        cache.metrics.errors.labels(cache.name, RECEIVE_OPERATION, "malformed").inc()
        log.warning("ignored a malformed invalidation message",
                    extra={"cache": cache.name, "channel": cache.channel, "reason": str(exc)[:200]})
        return
    if message.sender == cache.sender_id or message.cache != cache.name:
        stats.own += message.sender == cache.sender_id
        return
    attributes = {"cache.name": cache.name, "cache.keys.count": len(message.keys), "messaging.system": "redis",
                  "messaging.destination.name": cache.channel, "messaging.operation.type": "receive"}
    token = otel_context.attach(PROPAGATOR.extract(message.carrier, context=Context()))
    try:
        with cache.spans.current("cache.invalidation.receive", SpanKind.CONSUMER, attributes) as span:
            evicted = cache.local.delete(*message.keys) if cache.local is not None else 0
            span.set_attribute("cache.invalidation.evicted", evicted)
    finally:
        otel_context.detach(token)
    stats.received += 1
    stats.evicted += evicted


def _lost_connection(cache: Invalidatable, exc: BaseException, stats: ReceiveStats) -> None:
    """Messages may have been missed while disconnected: forget the whole L1 rather than serve stale values."""
    stats.reconnects += 1
    cache.metrics.errors.labels(cache.name, RECEIVE_OPERATION, error_type(exc)).inc()
    if cache.local is not None:
        cache.local.clear()
    log.warning("invalidation subscriber lost its connection; L1 cleared, resubscribing",
                extra={"cache": cache.name, "channel": cache.channel, "error_type": error_type(exc)})


def _confirmed(message: dict[str, Any] | None) -> bool:
    return bool(message) and message.get("type") in ("subscribe", b"subscribe")


class InvalidationSubscriber:
    """A daemon thread that applies other processes' invalidations to ``cache``'s L1.

    ``start()`` returns once Redis has confirmed the subscription, so anything published afterwards is seen;
    ``stop()`` joins the thread and closes the pub/sub connection. Also a context manager."""

    def __init__(self, client: Any, cache: Invalidatable, *, poll_interval: float = 0.2,
                 reconnect_backoff: float = RECONNECT_BACKOFF) -> None:
        self.client = client
        self.cache = cache
        self.poll_interval = poll_interval
        self.reconnect_backoff = reconnect_backoff
        self.stats = ReceiveStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pubsub: Any = None

    def start(self, timeout: float = 5.0) -> InvalidationSubscriber:
        if self._thread is not None:
            raise RuntimeError("subscriber already started")
        self._pubsub = self.client.pubsub()
        try:
            self._pubsub.subscribe(self.cache.channel)
            deadline = time.monotonic() + timeout
            while not _confirmed(self._pubsub.get_message(timeout=self.poll_interval)):
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"no SUBSCRIBE confirmation for {self.cache.channel} within {timeout}s")
        except BaseException:
            self._pubsub.close()
            self._pubsub = None
            raise
        self._stop.clear()
        # An empty context: the thread must not inherit the starter's current span.
        run = contextvars.Context().run
        self._thread = threading.Thread(target=run, args=(self._run,), daemon=True,
                                        name=f"cachewatch-invalidation-{self.cache.name}")
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._pubsub.get_message(ignore_subscribe_messages=True, timeout=self.poll_interval)
            except RedisError as exc:
                _lost_connection(self.cache, exc, self.stats)
                self._stop.wait(self.reconnect_backoff)
                continue
            if message is not None and message.get("type") in ("message", b"message"):
                receive(self.cache, message["data"], self.stats)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._pubsub is not None:
            self._pubsub.close()
            self._pubsub = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> InvalidationSubscriber:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class AsyncInvalidationSubscriber:
    """The asyncio twin of :class:`InvalidationSubscriber`: one task on the running loop.

    ``await start()`` returns once the subscription is confirmed; ``await stop()`` cancels the task and closes the
    pub/sub connection. Also an async context manager."""

    def __init__(self, client: Any, cache: Invalidatable, *, poll_interval: float = 0.2,
                 reconnect_backoff: float = RECONNECT_BACKOFF) -> None:
        self.client = client
        self.cache = cache
        self.poll_interval = poll_interval
        self.reconnect_backoff = reconnect_backoff
        self.stats = ReceiveStats()
        self._task: asyncio.Task[None] | None = None
        self._pubsub: Any = None

    async def start(self, timeout: float = 5.0) -> AsyncInvalidationSubscriber:
        if self._task is not None:
            raise RuntimeError("subscriber already started")
        self._pubsub = self.client.pubsub()
        try:
            await self._pubsub.subscribe(self.cache.channel)
            async with asyncio.timeout(timeout):
                while not _confirmed(await self._pubsub.get_message(timeout=self.poll_interval)):
                    pass
        except BaseException:
            await self._pubsub.aclose()
            self._pubsub = None
            raise
        # An empty context: the task must not inherit the starter's current span.
        self._task = asyncio.create_task(self._run(), name=f"cachewatch-invalidation-{self.cache.name}",
                                         context=contextvars.Context())
        return self

    async def _run(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=self.poll_interval)
            except RedisError as exc:
                _lost_connection(self.cache, exc, self.stats)
                await asyncio.sleep(self.reconnect_backoff)
                continue
            if message is not None and message.get("type") in ("message", b"message"):
                receive(self.cache, message["data"], self.stats)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def __aenter__(self) -> AsyncInvalidationSubscriber:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
