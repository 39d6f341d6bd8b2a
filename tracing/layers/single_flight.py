"""Single-flight: concurrent loads of one missing key share the first caller's origin call, so a hot key that
expires does not send a stampede to the origin. One for threads, one for an asyncio event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any


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


class AsyncSingleFlight:
    """Concurrent loads of one key on this event loop share the first caller's call.

    A waiter that is cancelled does not cancel the shared load (``shield``); if the leader is cancelled, the
    waiters retry instead of inheriting a cancellation that was not theirs."""

    def __init__(self) -> None:
        self._calls: dict[Hashable, asyncio.Future[Any]] = {}
        self._waiters: dict[Hashable, int] = {}

    async def run(self, key: Hashable, fn: Callable[[], Awaitable[Any]]) -> tuple[Any, bool]:
        while (call := self._calls.get(key)) is not None:
            self._waiters[key] = self._waiters.get(key, 0) + 1
            try:
                return await asyncio.shield(call), False
            except asyncio.CancelledError:
                if not call.cancelled() or asyncio.current_task().cancelling():
                    raise
            finally:
                self._waiters[key] -= 1
                if not self._waiters[key]:
                    del self._waiters[key]
        return await self._lead(key, fn), True

    async def _lead(self, key: Hashable, fn: Callable[[], Awaitable[Any]]) -> Any:
        call = self._calls[key] = asyncio.get_running_loop().create_future()
        try:
            value = await fn()
        except Exception as exc:
            call.set_exception(exc)
            call.exception()  # retrieved: no "exception was never retrieved" warning when nobody waits
            raise
        except BaseException:
            call.cancel()
            raise
        else:
            call.set_result(value)
            return value
        finally:
            del self._calls[key]

    def waiting(self, key: Hashable) -> int:
        return self._waiters.get(key, 0)

