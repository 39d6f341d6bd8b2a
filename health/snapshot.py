"""One node, one pipelined round trip, one deadline: the only I/O the health checks need.

INFO, CONFIG GET, ACL LIST, SLOWLOG GET, LATENCY LATEST and CLUSTER INFO go out in one write
(``transaction=False``: no MULTI, and an error reply is returned in its slot, not raised). Everything that keeps
the node from answering (refused connection, TLS, wrong password, no reply before the deadline) becomes one typed
``NodeUnreachable`` with the phase it failed in, so the caller reports an unreachable node: never a hang, never a
crash of the whole run.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time

import redis.asyncio
import redis.exceptions

from cachewatch.checks import Snapshot
from cachewatch.health.replies import COMMANDS, build_snapshot
from cachewatch.logs import redact

# The first matching row names the phase a failure happened in (order matters: auth errors are connection errors).
PHASES: tuple[tuple[type[BaseException], str], ...] = (
    (redis.exceptions.AuthenticationError, "auth"),
    (TimeoutError, "timeout"),  # asyncio's deadline (asyncio.TimeoutError is TimeoutError since 3.11)
    (redis.exceptions.TimeoutError, "timeout"),
    (ssl.SSLError, "tls"),
    (redis.exceptions.ConnectionError, "connect"),
    (OSError, "connect"),
    (Exception, "reply"),  # a reply redis-py could not read (a non-Redis server, a protocol error)
)
CLEANUP_SECONDS = 1.0


class NodeUnreachable(Exception):
    """The node gave no usable answer. ``phase``: connect, tls, auth, timeout or reply; ``reason`` is safe to show
    (URL passwords and registered secrets are scrubbed)."""

    def __init__(self, phase: str, reason: str) -> None:
        super().__init__(f"{phase}: {reason}")
        self.phase = phase
        self.reason = reason


def classify(exc: BaseException, timeout: float) -> NodeUnreachable:
    """The typed error for whatever the round trip raised."""
    if isinstance(exc, redis.exceptions.ConnectionError):
        exc = _tls_cause(exc) or exc  # redis-py wraps TLS handshake failures in ConnectionError (twice, pipelined)
    phase = next(name for kind, name in PHASES if isinstance(exc, kind))
    reason = f"no reply within {timeout:g}s" if phase == "timeout" else (str(exc) or type(exc).__name__)
    return NodeUnreachable(phase, redact(reason))


def _tls_cause(exc: BaseException, depth: int = 4) -> ssl.SSLError | None:
    """The TLS error somewhere in the chain of causes, if any."""
    for _ in range(depth):
        nxt = exc.__cause__ or exc.__context__
        if nxt is None:
            return None
        if isinstance(nxt, ssl.SSLError):
            return nxt
        exc = nxt
    return None


async def take_snapshot(client: redis.asyncio.Redis, *, kind: str = "cache", timeout: float = 2.0) -> Snapshot:
    """What the node says about itself, in one round trip that ends within ``timeout`` seconds (connect and
    AUTH included when the client has no open connection yet)."""
    try:
        async with asyncio.timeout(timeout):
            replies = await _round_trip(client)
    except Exception as exc:  # every failure of one node's I/O is that node's result, not the run's crash
        await _drop_connections(client)
        raise classify(exc, timeout) from None
    return build_snapshot(replies, kind=kind, taken=time.time())


async def _round_trip(client: redis.asyncio.Redis) -> list[object]:
    """The pipeline, tried a second time (within the same deadline) after a connection error: a connection kept
    from the previous cycle may have been closed by the server since (a restart, ``timeout``), which says nothing
    about the node now. Credentials are never retried."""
    try:
        return await _pipeline(client)
    except redis.exceptions.AuthenticationError:
        raise
    except redis.exceptions.ConnectionError:
        return await _pipeline(client)


async def _pipeline(client: redis.asyncio.Redis) -> list[object]:
    pipe = client.pipeline(transaction=False)
    # Raw replies: redis-py's callbacks would turn INFO into typed, nested dicts; the checks read INFO's own text.
    pipe.response_callbacks = {}
    for _, command in COMMANDS:
        pipe.execute_command(*command)
    return await pipe.execute(raise_on_error=False)


async def _drop_connections(client: redis.asyncio.Redis) -> None:
    """After a failure a connection may hold half a reply; close them all so the next cycle starts clean."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLEANUP_SECONDS):
            await client.connection_pool.disconnect()
