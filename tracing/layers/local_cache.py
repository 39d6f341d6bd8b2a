"""The in-process L1: a bounded TTL + LRU map in front of Redis.

Bounded (``max_items``) so a hot process cannot grow without limit; a monotonic clock so wall-clock jumps
(NTP, DST) neither expire everything nor keep entries forever; one lock so threads (and the invalidation
subscriber's thread) can share it. The clock is injectable so tests move time instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Final

MISSING: Final = object()  # a cached None is a value, so absence needs its own sentinel


class LocalCache:
    """TTL + LRU cache. ``get`` returns :data:`MISSING` for absent or expired entries."""

    def __init__(self, max_items: int = 1024, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        if max_items < 1:
            raise ValueError(f"max_items={max_items!r}: allowed 1 or more")
        if ttl <= 0:
            raise ValueError(f"ttl={ttl!r}: allowed a positive number of seconds")
        self.max_items = max_items
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.evictions = 0  # live entries dropped for capacity (not expiries): a sign max_items is too small

    def get(self, key: Hashable) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return MISSING
            if entry[0] <= self._clock():
                del self._entries[key]
                return MISSING
            self._entries.move_to_end(key)
            return entry[1]

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> None:
        now = self._clock()
        with self._lock:
            self._entries[key] = (now + (self.ttl if ttl is None else ttl), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_items:
                _, (expires, _) = self._entries.popitem(last=False)  # least recently used, O(1)
                self.evictions += expires > now

    def delete(self, *keys: Hashable) -> int:
        """Drop ``keys``; returns how many were present (expired or not)."""
        with self._lock:
            return sum(self._entries.pop(key, MISSING) is not MISSING for key in keys)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return self.get(key) is not MISSING
