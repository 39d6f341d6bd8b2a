"""Connection pools of instrumented clients: gauges read at scrape time, connection set-up timed and its failures
counted at checkout, and the wait of blocking pools timed.

The pool's class, its ``connection_class`` and the connections' classes are never changed (other clients may
share the pool, and applications compare them): the checkout method of this one pool instance is wrapped, and
it holds the pool weakly, so the pool is still freed by reference counting. Whether a checkout had to connect
is told by a connect callback redis-py runs after each successful (re)connect, so no connection is touched per
command.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio

from cachewatch.tracing.metrics import PoolReader

if TYPE_CHECKING:
    from cachewatch.tracing.telemetry import Telemetry

BLOCKING_POOLS = (redis.BlockingConnectionPool, redis.asyncio.BlockingConnectionPool)
SYNC_POOLS = (redis.ConnectionPool,)
ASYNC_POOLS = (redis.asyncio.ConnectionPool,)
# Exceptions of a checkout that mean the connection could not be set up.
CONNECT_FAILURES = (redis.ConnectionError, redis.TimeoutError, OSError)
_perf = time.perf_counter


def pool_reader(pool: Any) -> PoolReader:
    """A scrape-time reader of a redis-py pool (sync, blocking or asyncio), holding it weakly."""
    ref = weakref.ref(pool)

    def read() -> tuple[int, int, int] | None:
        target = ref()
        if target is None:
            return None
        idle = len(target._get_free_connections())
        in_use = len(target._get_in_use_connections())
        return (in_use, idle, int(getattr(target, "max_connections", 0) or 0))

    return read


def cluster_pools_reader(client: Any, is_async: bool) -> PoolReader:
    """Sum of the per-node connection pools of a cluster client, read at scrape time."""
    ref = weakref.ref(client)

    def read() -> tuple[int, int, int] | None:
        target = ref()
        if target is None:
            return None
        in_use = idle = maximum = 0
        for node in target.get_nodes():
            if is_async:
                total, free = len(node._connections), len(node._free)
                in_use, idle, maximum = in_use + total - free, idle + free, maximum + node.max_connections
            elif node.redis_connection is not None:
                state = pool_reader(node.redis_connection.connection_pool)()
                if state is not None:
                    in_use, idle, maximum = in_use + state[0], idle + state[1], maximum + state[2]
        return (in_use, idle, maximum)

    return read


class ConnectWatch:
    """Counts successful (re)connects of one pool's connections through redis-py's connect callbacks, which
    redis-py holds as weak methods: a connection never keeps this alive."""

    __slots__ = ("__weakref__", "connects")

    def __init__(self) -> None:
        self.connects = 0

    def connected(self, _connection: Any) -> None:
        self.connects += 1

    def watch(self, connection: Any) -> Any:
        connection.register_connect_callback(self.connected)
        return connection

    def watch_existing(self, pool: Any) -> None:
        """Connections the pool made before it was instrumented."""
        for connection in (*pool._get_free_connections(), *pool._get_in_use_connections()):
            self.watch(connection)


def make_connection(pool: Any, watch: ConnectWatch) -> Callable[[], Any]:
    """``pool.make_connection`` of one pool (sync or asyncio; rare: new connections only): the new connection
    reports its connects to ``watch``."""
    ref, make = weakref.ref(pool), type(pool).make_connection

    def make_connection() -> Any:
        return watch.watch(make(ref()))

    return make_connection


def sync_checkout(pool: Any, tel: Telemetry, watch: ConnectWatch) -> Callable[..., Any]:
    """``pool.get_connection`` of one sync pool: the connection set-up (first connect and reconnects) timed and
    its failures counted; for blocking pools the whole checkout (the wait for a free connection) too."""
    ref, checkout = weakref.ref(pool), type(pool).get_connection
    created = tel.metrics.connect_time.labels(tel.cache)
    failures = tel.metrics.connection_errors.labels(tel.cache)
    wait = tel.metrics.pool_wait.labels(tel.cache) if isinstance(pool, BLOCKING_POOLS) else None

    def get_connection(*args: Any, **kwargs: Any) -> Any:
        connects = watch.connects
        start = _perf()
        try:
            connection = checkout(ref(), *args, **kwargs)
        except redis.exceptions.MaxConnectionsError:
            raise
        except CONNECT_FAILURES:
            failures.inc()
            raise
        if wait is not None:
            wait.observe(_perf() - start)
        if connects != watch.connects:
            created.observe(_perf() - start)
        return connection

    return get_connection


def async_ensure(pool: Any, tel: Telemetry) -> Callable[..., Any]:
    """``pool.ensure_connection`` of one asyncio pool: when the connection is already connected (nearly every
    checkout) it hands back redis-py's own coroutine untouched; otherwise the set-up is timed."""
    ref, ensure = weakref.ref(pool), type(pool).ensure_connection
    created = tel.metrics.connect_time.labels(tel.cache)
    failures = tel.metrics.connection_errors.labels(tel.cache)

    async def timed(target: Any, connection: Any) -> None:
        start = _perf()
        try:
            await ensure(target, connection)
        except CONNECT_FAILURES:
            failures.inc()
            raise
        created.observe(_perf() - start)

    def ensure_connection(connection: Any) -> Any:
        if connection.is_connected:
            return ensure(ref(), connection)
        return timed(ref(), connection)

    return ensure_connection


def async_wait(pool: Any, tel: Telemetry) -> Callable[..., Any]:
    """``get_connection`` of one asyncio blocking pool, timed: the wait for a free connection."""
    ref, checkout = weakref.ref(pool), type(pool).get_connection
    wait = tel.metrics.pool_wait.labels(tel.cache)

    async def get_connection(*args: Any, **kwargs: Any) -> Any:
        start = _perf()
        connection = await checkout(ref(), *args, **kwargs)
        wait.observe(_perf() - start)
        return connection

    return get_connection
