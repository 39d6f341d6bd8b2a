"""``instrument(client)`` / ``uninstrument(client)`` for redis-py clients: sync, asyncio, and both clusters.

Per instance, not by patching classes: other clients in the process (a library's own, the exporter's) stay
untouched, two clients can report under different ``cache`` names, and undoing it is deleting attributes.
Nothing an application can compare changes: ``type()`` of the client, its pool, the pool's ``connection_class``
and its connections, their ``repr()``, and the way the client is freed (no reference cycle: what the client
holds refers back to it weakly). Telemetry set-up never raises into the application: a part that cannot be
instrumented (a mocked pool, say) is left as it is, and the log says so once.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
    ASYNC_POOLS,
    BLOCKING_POOLS,
    SYNC_POOLS,
    ConnectWatch,
    async_ensure,
    async_wait,
    cluster_pools_reader,
    make_connection,
    pool_reader,
    sync_checkout,
)
from cachewatch.tracing.spans import SpanFactory
from cachewatch.tracing.telemetry import Telemetry
from cachewatch.tracing.wrappers import async_command, pipeline_factory, sync_command

log = logging.getLogger("cachewatch.tracing")
MARK = "_cachewatch_instrumentation"
POOL_MARK = "_cachewatch_pool_wrapped"
_warned: set[str] = set()

Undo = Callable[[Any], None]  # takes the client: the steps never hold it


class State:
    """What ``instrument`` did to one client, kept in the client's ``__dict__``: no reference to the client
    itself (the undo steps take it as an argument), so the client is still freed by reference counting."""

    __slots__ = ("__weakref__", "handle", "telemetry", "undo")

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.undo: list[Undo] = []
        self.handle: weakref.ref[Instrumentation] | None = None

    def remove(self, client: Any) -> None:
        for step in reversed(self.undo):
            step(client)
        self.undo.clear()


@dataclass(eq=False)
class Instrumentation:
    """The handle ``instrument`` returns: holds the client (``instrument(redis.Redis()).client`` keeps it
    alive), while the client holds only the state, so nothing forms a cycle."""

    client: Any
    state: State

    @property
    def telemetry(self) -> Telemetry:
        return self.state.telemetry

    def remove(self) -> None:
        self.state.remove(self.client)


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


def _report(skipped: dict[str, BaseException], client: Any) -> None:
    """Say once (per client type and set of parts) what was left uninstrumented and why; the client works."""
    key = f"{type(client).__qualname__}: {', '.join(skipped)}"
    if skipped and key not in _warned:
        _warned.add(key)
        reasons = "; ".join(f"{part}: {type(exc).__name__}: {exc}" for part, exc in skipped.items())
        log.warning("cachewatch: left uninstrumented on a %s (the client works as before): %s",
                    type(client).__qualname__, reasons)


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
    Arguments are checked (a wrong one raises); what goes wrong past them is logged and left uninstrumented.
    """
    kind = _kind_of(client)
    existing = instrumentation_of(client)
    if existing is not None:
        return existing
    if not isinstance(cache, str) or not cache:
        raise ValueError(f"cache: a short fixed name is required, got {cache!r}")
    if slow_threshold <= 0:
        raise ValueError(f"slow_threshold: seconds > 0 required, got {slow_threshold!r}")
    classifier = KeyClassifier(key_classes) if key_classes else None
    metrics = metrics_for(registry)
    skipped: dict[str, BaseException] = {}
    try:
        tel = Telemetry(metrics, SpanFactory(tracer_provider), cache=cache, server=_server_of(client, kind),
                        namespace=_namespace_of(client, kind), key_classes=classifier, query_text=db_query_text,
                        slow_threshold=slow_threshold, node_of=_cluster_node_of(client) if kind.cluster else None)
    except Exception as exc:
        tel = Telemetry(metrics, SpanFactory(tracer_provider), cache=cache, server=("", None), namespace="0",
                        key_classes=classifier, query_text=db_query_text, slow_threshold=slow_threshold)
        skipped["the server address on spans"] = exc
    state = State(tel)
    handle = Instrumentation(client, state)
    try:
        command = async_command if kind.is_async else sync_command
        _patch(state, client, "execute_command", command(client, tel))
        _patch(state, client, "pipeline", pipeline_factory(client, tel, kind.is_async))
    except Exception as exc:
        state.remove(client)
        skipped["the commands"] = exc
        _report(skipped, client)
        return handle
    try:
        # a pool shared by several clients is wrapped and reported once, by the first of them
        if kind.cluster or _wrap_pool(state, client.connection_pool, tel):
            token = metrics.collector.add_pool(cache, cluster_pools_reader(client, kind.is_async) if kind.cluster
                                               else pool_reader(client.connection_pool))
            state.undo.append(lambda _client: metrics.collector.remove_pool(token))
    except Exception as exc:
        skipped["the connection pool"] = exc
    _report(skipped, client)
    client.__dict__[MARK] = state
    state.undo.append(lambda target: target.__dict__.pop(MARK, None))
    state.handle = weakref.ref(handle)
    return handle


def uninstrument(client: Any) -> None:
    """Undo ``instrument``; pipelines created before keep recording until they are dropped. No-op when the
    client is not instrumented."""
    state = vars(client).get(MARK) if hasattr(client, "__dict__") else None
    if isinstance(state, State):
        state.remove(client)


def instrumentation_of(client: Any) -> Instrumentation | None:
    """The handle of an instrumented client (the same one while the application holds it), else None."""
    state = vars(client).get(MARK) if hasattr(client, "__dict__") else None
    if not isinstance(state, State):
        return None
    handle = state.handle() if state.handle is not None else None
    if handle is None:
        handle = Instrumentation(client, state)
        state.handle = weakref.ref(handle)
    return handle


def _patch(state: State, target: Any, name: str, replacement: Callable[..., Any]) -> None:
    """Set ``replacement`` as an instance attribute; the undo step restores what the instance had (``target``
    is held strongly only when it is not the client: a pool, which never refers back to the client)."""
    had = name in target.__dict__
    previous = target.__dict__.get(name)
    setattr(target, name, replacement)
    holder = weakref.ref(target)

    def restore(_client: Any) -> None:
        obj = holder()
        if obj is None:
            return
        if had:
            obj.__dict__[name] = previous
        else:
            obj.__dict__.pop(name, None)

    state.undo.append(restore)


def _wrap_pool(state: State, pool: Any, tel: Telemetry) -> bool:
    """Connection set-up time and failures for every pool, wait time for blocking pools; once per pool even when
    several clients share it (False when another client already did). The pool's class and connection class
    stay as they are; only this pool instance's checkout methods are wrapped. A pool of another type (a mock, a
    third-party pool) is left alone."""
    is_async = isinstance(pool, ASYNC_POOLS)
    if not is_async and not isinstance(pool, SYNC_POOLS):
        raise TypeError(f"not a redis-py connection pool: {type(pool).__qualname__}")
    if pool.__dict__.get(POOL_MARK):
        return False
    done = len(state.undo)
    try:
        if is_async:
            _patch(state, pool, "ensure_connection", async_ensure(pool, tel))
            if isinstance(pool, BLOCKING_POOLS):
                _patch(state, pool, "get_connection", async_wait(pool, tel))
        else:
            watch = ConnectWatch()
            watch.watch_existing(pool)
            _patch(state, pool, "make_connection", make_connection(pool, watch))
            _patch(state, pool, "get_connection", sync_checkout(pool, tel, watch))
    except Exception:
        for step in reversed(state.undo[done:]):
            step(None)
        del state.undo[done:]
        raise
    pool.__dict__[POOL_MARK] = True
    holder = weakref.ref(pool)
    state.undo.append(lambda _client: (holder() is not None and holder().__dict__.pop(POOL_MARK, None)))
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
    """The node owning the command's first key (computed for sampled spans only); holds the client weakly."""
    ref = weakref.ref(client)

    def node_of(args: Sequence[Any]) -> tuple[str, int | None]:
        client = ref()
        if client is None:
            return ("", None)
        node = None
        if len(args) > 1:
            try:
                node = client.get_node_from_key(args[1])
            except Exception:
                node = None
        node = node or client.get_default_node()
        return (str(node.host), int(node.port)) if node is not None else ("", None)

    return node_of
