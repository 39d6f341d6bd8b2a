"""The targets the exporter talks to: one TargetScraper (and persistent connection) each.

Bounded: targets idle for ``idle_ttl`` are closed, and past ``max_targets`` the least
recently used one is dropped, so a fleet exporter's memory and fds stay flat.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from cachewatch.exporter.credentials import Credentials
from cachewatch.exporter.scraper import ScrapeSettings, TargetScraper
from cachewatch.exporter.stats import ExporterStats
from cachewatch.exporter.targets import Target

PoolKey = tuple[Target, str]
SamplerFactory = Callable[[Target, Credentials], object | None]


class TargetPool:
    def __init__(self, settings: ScrapeSettings, stats: ExporterStats, *, idle_ttl: float, max_targets: int,
                 sampler_factory: SamplerFactory | None = None) -> None:
        self.settings = settings
        self.stats = stats
        self.idle_ttl = idle_ttl
        self.max_targets = max_targets
        self.sampler_factory = sampler_factory
        self._scrapers: dict[PoolKey, TargetScraper] = {}
        self._samplers: dict[PoolKey, object] = {}
        self._reaper: asyncio.Task | None = None
        self._stopping: set[asyncio.Task] = set()  # sampler shutdowns in progress (keep a reference)

    def get(self, target: Target, credentials: Credentials, profile: str = "") -> TargetScraper:
        key = (target, profile)
        scraper = self._scrapers.get(key)
        if scraper is not None and scraper.credentials != credentials:  # credentials reloaded
            self._drop(key)
            scraper = None
        if scraper is None:
            if len(self._scrapers) >= self.max_targets:
                self._drop(min(self._scrapers, key=lambda k: self._scrapers[k].last_used))
            sampler = self.sampler_factory(target, credentials) if self.sampler_factory else None
            extra = sampler.add_metrics if sampler is not None else None  # type: ignore[attr-defined]
            scraper = self._scrapers[key] = TargetScraper(target, credentials, self.settings, self.stats, extra)
            if sampler is not None:
                self._samplers[key] = sampler
                sampler.start()  # type: ignore[attr-defined]
            self.stats.targets = len(self._scrapers)
        return scraper

    def start(self) -> None:
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap_forever())

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for key in list(self._scrapers):
            self._drop(key)
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)

    def reap(self, now: float | None = None) -> int:
        """Close targets idle for longer than idle_ttl; returns how many were closed."""
        now = time.monotonic() if now is None else now
        idle = [k for k, s in self._scrapers.items() if now - s.last_used > self.idle_ttl]
        for key in idle:
            self._drop(key)
        return len(idle)

    def _drop(self, key: PoolKey) -> None:
        scraper = self._scrapers.pop(key, None)
        if scraper is not None:
            scraper.close()
        sampler = self._samplers.pop(key, None)
        if sampler is not None:
            task = asyncio.ensure_future(sampler.stop())  # type: ignore[attr-defined]
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        self.stats.targets = len(self._scrapers)

    async def _reap_forever(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(min(60.0, self.idle_ttl / 2))
                self.reap()
