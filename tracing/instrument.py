"""``instrument(client)`` / ``uninstrument(client)`` for redis-py clients: sync, asyncio, and both clusters.

Per instance, not by patching classes: other clients in the process (a library's own, the exporter's) stay
untouched, two clients can report under different ``cache`` names, and undoing it is deleting attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from opentelemetry import trace
from prometheus_client import CollectorRegistry

from cachewatch.tracing.keys import KeyClassifier
from cachewatch.tracing.metrics import metrics_for
from cachewatch.tracing.pools import (
    BLOCKING_POOLS,
    cluster_pools_reader,
    counted_connection_class,
    pool_reader,
    timed_get_connection,
)
from cachewatch.tracing.spans import SpanFactory
from cachewatch.tracing.telemetry import Telemetry
from cachewatch.tracing.wrappers import async_command, pipeline_factory, sync_command

MARK = "_cachewatch_instrumentation"
POOL_MARK = "_cachewatch_pool_wrapped"
PATCHED = ("execute_command", "pipeline")


@dataclass
class Instrumentation:
    """What ``instrument`` did to one client, so that ``uninstrument`` can undo exactly that."""

    client: Any
    telemetry: Telemetry
    undo: list[Callable[[], None]] = field(default_factory=list)

    def remove(self) -> None:
        for step in reversed(self.undo):
            step()
        self.undo.clear()


@dataclass(frozen=True)
class ClientKind:
    """How to instrument one family of redis-py clients."""

    is_async: bool
    cluster: bool


# Order matters only if redis-py ever makes one of these subclass another.
KINDS: tuple[tuple[type, ClientKind], ...] = (
    (redis.asyncio.cluster.RedisCluster, ClientKind(is_async=True, cluster=True)),
    (redis.cluster.RedisCluster, ClientKind(is_async=False, cluster=True)),
    (redis.asyncio.Redis, ClientKind(is_async=True, cluster=False)),
    (redis.Redis, ClientKind(is_async=False, cluster=False)),
)


def _kind_of(client: Any) -> ClientKind:
    for cls, kind in KINDS:
        if isinstance(client, cls):
            return kind
    allowed = ", ".join(f"{cls.__module__}.{cls.__qualname__}" for cls, _ in KINDS)
    raise TypeError(f"instrument() takes a redis-py client ({allowed}), got {type(client).__qualname__}")


def instrument(client: Any, *, tracer_provider: trace.TracerProvider | None = None,
               registry: CollectorRegistry | None = None, cache: str = "default",
               key_classes: Mapping[str, str] | None = None, db_query_text: bool = False,
               slow_threshold: float = 0.01) -> Instrumentation:
    """Record metrics and spans for every command of ``client`` (and of the pipelines it creates).

    ``cache`` names the client in every series (keep it to a few fixed values); ``key_classes`` maps class
    names to key glob patterns for the ``key_class`` label (all other keys are ``other``); ``db_query_text``
    adds the sanitized command (``SET ? ?``) to spans; operations slower than ``slow_threshold`` seconds are
    logged. Defaults: the global tracer provider (looked up again when the application sets it later) and
    prometheus_client's default registry. Instrumenting an instrumented client returns the existing handle.
    """
    kind = _kind_of(client)
    existing = client.__dict__.get(MARK)
    if existing is not None:
        return existing
    if not isinstance(cache, str) or not cache:
        raise ValueError(f"cache: a short fixed name is required, got {cache!r}")
    if slow_threshold <= 0:
        raise ValueError(f"slow_threshold: seconds > 0 required, got {slow_threshold!r}")
    metrics = metrics_for(registry)
    tel = Telemetry(metrics, SpanFactory(tracer_provider), cache=cache, server=_server_of(client, kind),
                    namespace=_namespace_of(client, kind), key_classes=KeyClassifier(key_classes) if key_classes
                    else None, query_text=db_query_text, slow_threshold=slow_threshold,
                    node_of=_cluster_node_of(client) if kind.cluster else None)
    handle = Instrumentation(client, tel)
    command = async_command if kind.is_async else sync_command
    _patch(handle, client, "execute_command", command(client.execute_command, tel))
    _patch(handle, client, "pipeline", pipeline_factory(client.pipeline, tel, kind.is_async))
    # a pool shared by several clients is wrapped and reported once, by the first of them
    if kind.cluster or _wrap_pool(handle, client.connection_pool, tel, kind.is_async):
        token = metrics.collector.add_pool(cache, cluster_pools_reader(client, kind.is_async) if kind.cluster
                                           else pool_reader(client.connection_pool))
        handle.undo.append(lambda: metrics.collector.remove_pool(token))
    client.__dict__[MARK] = handle
    handle.undo.append(lambda: client.__dict__.pop(MARK, None))
    return handle


def uninstrument(client: Any) -> None:
    """Undo ``instrument``; pipelines created before keep recording until they are dropped. No-op when the
    client is not instrumented."""
    handle = client.__dict__.get(MARK)
    if handle is not None:
        handle.remove()


def instrumentation_of(client: Any) -> Instrumentation | None:
    return client.__dict__.get(MARK)


def _patch(handle: Instrumentation, target: Any, name: str, replacement: Callable[..., Any]) -> None:
    had = name in target.__dict__
    previous = target.__dict__.get(name)
    setattr(target, name, replacement)

    def restore() -> None:
        if had:
            target.__dict__[name] = previous
        else:
            target.__dict__.pop(name, None)

    handle.undo.append(restore)


def _wrap_pool(handle: Instrumentation, pool: Any, tel: Telemetry, is_async: bool) -> bool:
    """Connection set-up time and failures for every pool, wait time for blocking pools; once per pool even when
    several clients share it (False when another client already did). Nothing here runs per command except a
    blocking pool's timed checkout."""
    if pool.__dict__.get(POOL_MARK):
        return False
    base = pool.connection_class
    counted = counted_connection_class(base, tel, is_async)
    pool.connection_class = counted

    def restore_class() -> None:
        counted.cachewatch_active = False  # connections made meanwhile stop reporting
        if pool.connection_class is counted:
            pool.connection_class = base

    handle.undo.append(restore_class)
    if isinstance(pool, BLOCKING_POOLS):
        _patch(handle, pool, "get_connection", timed_get_connection(pool.get_connection, tel, is_async))
    pool.__dict__[POOL_MARK] = True
    handle.undo.append(lambda: pool.__dict__.pop(POOL_MARK, None))
    return True


# --- what the spans say about the server -------------------------------------------------------------------------
def _server_of(client: Any, kind: ClientKind) -> tuple[str, int | None]:
    if kind.cluster:
        node = client.get_default_node()
        return (str(node.host), int(node.port)) if node is not None else ("", None)
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return (str(kwargs["path"]), None)
    return (str(kwargs.get("host", "localhost")), int(kwargs.get("port", 6379)))


def _namespace_of(client: Any, kind: ClientKind) -> str:
    """``db.namespace``: the database index given at connect time (a SELECT later is not followed)."""
    if kind.cluster:
        return "0"
    return str(client.connection_pool.connection_kwargs.get("db", 0) or 0)


def _cluster_node_of(client: Any) -> Callable[[Sequence[Any]], tuple[str, int | None]]:
    """The node owning the command's first key (computed for sampled spans only)."""

    def node_of(args: Sequence[Any]) -> tuple[str, int | None]:
        node = None
        if len(args) > 1:
            try:
                node = client.get_node_from_key(args[1])
            except Exception:
                node = None
        node = node or client.get_default_node()
        return (str(node.host), int(node.port)) if node is not None else ("", None)

    return node_of
