"""Connection pools of instrumented clients: gauges read at scrape time, connection set-up timed and its failures
counted by a subclass of the pool's connection class, and the wait of blocking pools timed.

Nothing here runs per command, except a blocking pool's timed checkout: an ordinary pool never waits (it opens a
connection instead), so timing its checkout would only add cost to every command.
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


def timed_get_connection(original: Callable[..., Any], tel: Telemetry, is_async: bool) -> Callable[..., Any]:
    """A blocking pool's ``get_connection``, timed: the wait for a free connection (or for the pool's timeout)."""
    wait = tel.metrics.pool_wait.labels(tel.cache)
    if is_async:
        async def get_connection_async(*args: Any, **kwargs: Any) -> Any:
            start = _perf()
            connection = await original(*args, **kwargs)
            wait.observe(_perf() - start)
            return connection

        return get_connection_async

    def get_connection(*args: Any, **kwargs: Any) -> Any:
        start = _perf()
        connection = original(*args, **kwargs)
        wait.observe(_perf() - start)
        return connection

    return get_connection


def counted_connection_class(base: type, tel: Telemetry, is_async: bool) -> type:
    """A subclass of the pool's connection class whose ``connect`` times new connections and counts failures.

    redis-py calls ``connect()`` on every checkout; an already connected connection returns at once, before the
    retry wrapper the base class would go through, so the common case costs nothing extra."""
    created = tel.metrics.connect_time.labels(tel.cache)
    failures = tel.metrics.connection_errors.labels(tel.cache)
    connect = base.connect

    if is_async:
        async def connect_async(self: Any) -> None:
            if self.is_connected or not type(self).cachewatch_active:
                return await connect(self)
            start = _perf()
            try:
                await connect(self)
            except BaseException:
                failures.inc()
                raise
            created.observe(_perf() - start)

        body = {"connect": connect_async}
    else:
        def connect_sync(self: Any) -> None:
            if self._sock:
                return None
            if not type(self).cachewatch_active:
                return connect(self)
            start = _perf()
            try:
                connect(self)
            except BaseException:
                failures.inc()
                raise
            created.observe(_perf() - start)
            return None

        body = {"connect": connect_sync}
    return type(f"Counted{base.__name__}", (base,), {**body, "cachewatch_active": True, "__module__": __name__})
