"""CacheHealthMonitor: the health checks as an asyncio API, and a 30 s loop that hands unhealthy nodes to
Alertmanager.

Four methods answer for one node, each with one snapshot (the previous one per node is kept, so the rate checks
work from the second call on): ``{"status", "checks", "timestamp"}``, plus ``"diagnostics"`` for
``run_diagnostic_tests``. The memory and replication views keep their category only; their status follows
``evaluate.node_state`` over those checks. An unreachable node keeps its ``net.connect`` result in every view: its
memory cannot be called healthy when nothing answered.

``run()`` checks every node each ``interval`` seconds (``run.cycle``: concurrent, bounded) and, when
``alertmanager_url`` is set, hands each cycle to ``alertmanager_post.AlertmanagerPoster``: one
``RedisNodeUnhealthy`` alert per unhealthy node, resolved when it recovers; notification (routing, grouping,
silences) stays with Alertmanager.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cachewatch.checks import Category
from cachewatch.health.alertmanager_post import ALERT_NAME, AlertmanagerPoster
from cachewatch.health.client import client_for
from cachewatch.health.evaluate import CONNECT_CHECK, CheckResult, NodeHealth, node_state
from cachewatch.health.report import check_dict, format_value
from cachewatch.health.run import CONCURRENCY, Node, Options, check_node, cycle
from cachewatch.health.targets import Credentials, Target, targets_from_spec, targets_from_urls
from cachewatch.logs import iso_time
from cachewatch.spec import FleetSpec

__all__ = ["ALERT_NAME", "CacheHealthMonitor", "diagnostics", "view"]
CHECK_KEYS = ("id", "category", "status", "value", "unit", "title", "fix")


def view(health: NodeHealth, categories: frozenset[str] | None = None) -> dict[str, Any]:
    """``{"status", "checks": [{id, category, status, value, unit, title, fix}], "timestamp"}`` over the checks
    of ``categories`` (all when None); an unreachable node's ``net.connect`` is always kept."""
    checks = tuple(c for c in health.checks
                   if categories is None or c.category in categories or (health.reason and c.id == CONNECT_CHECK))
    return {"status": node_state(checks), "checks": [_check(c) for c in checks],
            "timestamp": iso_time(health.timestamp)}


def _check(result: CheckResult) -> dict[str, object]:
    full = check_dict(result)
    return {key: full[key] for key in CHECK_KEYS}


def diagnostics(health: NodeHealth) -> list[dict[str, str]]:
    """Every check not passing (critical, warning, unknown, info; worst first): what was seen, why it matters,
    what to do."""
    return [{"id": c.id, "seen": f"{format_value(c)}{f' ({c.reason})' if c.reason else ''}", "why": c.why,
             "fix": c.fix} for c in health.not_passing]


class CacheHealthMonitor:
    """Health of a set of nodes on demand (the four methods) or every ``interval`` seconds (``run``). One client
    and one previous sample per node; close with ``aclose()`` or ``async with``."""

    def __init__(self, targets: Sequence[Target], credentials: Credentials | None = None, *,
                 interval: float = 30.0, timeout: float = 2.0, alertmanager_url: str | None = None,
                 concurrency: int = CONCURRENCY) -> None:
        self.interval = interval
        self.timeout = timeout
        self.alertmanager = AlertmanagerPoster(alertmanager_url, interval=interval, timeout=timeout) \
            if alertmanager_url else None
        self.options = Options(timeout=timeout, concurrency=concurrency)
        credentials = credentials or Credentials()
        self._nodes = {t.address: Node(t, client_for(t, credentials, timeout)) for t in targets}
        self._latest: dict[str, NodeHealth] = {}

    @classmethod
    def from_spec(cls, spec: FleetSpec, credentials: Credentials | None = None, **options: Any) -> CacheHealthMonitor:
        return cls(targets_from_spec(spec), credentials, **options)

    @classmethod
    def from_urls(cls, urls: Iterable[str], credentials: Credentials | None = None,
                  **options: Any) -> CacheHealthMonitor:
        return cls(targets_from_urls(urls), credentials, **options)

    @property
    def latest(self) -> Mapping[str, NodeHealth]:
        """The last result per node address (from ``run`` or any of the four methods)."""
        return dict(self._latest)

    async def __aenter__(self) -> CacheHealthMonitor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await asyncio.gather(*(n.client.aclose() for n in self._nodes.values()), return_exceptions=True)

    # --- on demand ------------------------------------------------------------------------------------------
    async def _check(self, address: str) -> NodeHealth:
        node = self._nodes.get(address)
        if node is None:
            raise KeyError(f"{address}: not a monitored node (one of {', '.join(self._nodes)})")
        health = await check_node(node, self.timeout)
        self._latest[address] = health
        return health

    async def check_cache_health(self, address: str) -> dict[str, Any]:
        """Every check on the node: ``{"status": healthy|degraded|unhealthy|unknown, "checks": [{id, category,
        status, value, unit, title, fix}, ...], "timestamp": ISO 8601 UTC}``."""
        return view(await self._check(address))

    async def check_memory_health(self, address: str) -> dict[str, Any]:
        """The memory checks only, same shape; status from those checks."""
        return view(await self._check(address), frozenset({Category.MEMORY.value}))

    async def check_replication_health(self, address: str) -> dict[str, Any]:
        """The replication checks only, same shape; status from those checks."""
        return view(await self._check(address), frozenset({Category.REPLICATION.value}))

    async def run_diagnostic_tests(self, address: str) -> dict[str, Any]:
        """Every check, same shape, plus ``"diagnostics": [{id, seen, why, fix}, ...]`` for each check not
        passing, worst first."""
        health = await self._check(address)
        return {**view(health), "diagnostics": diagnostics(health)}

    # --- the loop -------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Check every node each ``interval`` seconds until ``stop`` is set; cycles never overlap. Alert posts
        never stop the loop."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            started = time.monotonic()
            results = await cycle(list(self._nodes.values()), self.options)
            self._latest.update((h.address, h) for h in results)
            if self.alertmanager is not None:
                await self.alertmanager.update(results)
            try:
                async with asyncio.timeout(max(self.interval - (time.monotonic() - started), 0.0)):
                    await stop.wait()
            except TimeoutError:
                pass
