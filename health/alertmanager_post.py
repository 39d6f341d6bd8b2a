"""Unhealthy nodes → Alertmanager's API (``POST /api/v2/alerts``): notification stays with Alertmanager.

One ``RedisNodeUnhealthy`` alert per unhealthy node with ``endsAt`` three intervals ahead, so Alertmanager
resolves it by itself if the poster stops; a node that recovers gets one more post with ``endsAt`` = now.
``RedisNodeUnhealthy`` is the name of no Prometheus rule (alert_rules/), so the two never merge. Used by
``CacheHealthMonitor.run`` and by ``cachewatch health --watch 30s --alertmanager URL``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit, urlunsplit

from cachewatch.health.evaluate import NodeHealth
from cachewatch.logs import LogRateLimiter, iso_time, redact, register_secret

ALERT_NAME = "RedisNodeUnhealthy"
ALERTS_PATH = "/api/v2/alerts"
SOURCE = "cachewatch-health"
ENDS_AFTER_INTERVALS = 3  # a missed post or two does not resolve the alert; a stopped poster does
LOG_REPEAT_SECONDS = 300.0
log = logging.getLogger("cachewatch.health.monitor")


def alert(health: NodeHealth, *, now: float, ends: float) -> dict[str, object]:
    """One Alertmanager v2 alert for a node (``ends`` ≤ now resolves it)."""
    critical = [c.id for c in health.checks if c.status == "critical"]
    labels = {"alertname": ALERT_NAME, "instance": health.address, "cluster": health.cluster,
              "severity": "critical", "source": SOURCE}
    return {
        "labels": {k: v for k, v in labels.items() if v},  # a spec-less target has no cluster
        "annotations": {
            "summary": f"Redis node {health.address} is unhealthy",
            "description": f"critical checks: {', '.join(critical) or 'none'} (cachewatch health)",
        },
        "startsAt": iso_time(now), "endsAt": iso_time(ends),
    }


def split_userinfo(url: str) -> tuple[str, dict[str, str]]:
    """urllib does not take ``user:password@`` from a URL: send it as basic auth (the password registered for
    scrubbing), and the URL without it."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    register_secret(parts.password)
    token = base64.b64encode(f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()).decode()
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=netloc)), {"Authorization": f"Basic {token}"}


class AlertmanagerPoster:
    """Fires for unhealthy nodes and resolves those that were firing and are not any more, after every cycle."""

    def __init__(self, url: str, *, interval: float, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.interval = interval
        self.timeout = timeout
        self.firing: set[str] = set()  # addresses whose alert Alertmanager holds as active
        self._failures_logged = LogRateLimiter(interval=LOG_REPEAT_SECONDS, burst=1)  # keyed by failure kind

    async def update(self, results: Sequence[NodeHealth]) -> None:
        """Post this cycle's changes. A failed resolve is retried next cycle; a failed fire is anyway (the node
        is still unhealthy). Never raises: a dead Alertmanager is logged, rate-limited."""
        now = time.time()
        unhealthy = {h.address for h in results if h.state == "unhealthy"}
        alerts = [alert(h, now=now, ends=now + ENDS_AFTER_INTERVALS * self.interval if h.address in unhealthy
                        else now) for h in results if h.address in unhealthy | self.firing]
        if not alerts:
            return
        posted = await asyncio.to_thread(self._post, alerts)
        self.firing = unhealthy if posted else self.firing | unhealthy

    def _post(self, alerts: list[dict[str, object]]) -> bool:
        url, auth = split_userinfo(f"{self.url}{ALERTS_PATH}")
        request = urllib.request.Request(url, data=json.dumps(alerts).encode(), method="POST",
                                         headers={"Content-Type": "application/json", **auth})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
            return True
        except Exception as exc:  # a dead or refusing Alertmanager is logged, never the loop's end
            self._log_failure(url, exc)
            return False

    def _log_failure(self, url: str, exc: Exception) -> None:
        kind = f"HTTP {exc.code}" if isinstance(exc, urllib.error.HTTPError) else type(exc).__name__
        suppressed = self._failures_logged.admit(kind)
        if suppressed is None:
            return
        extra: dict[str, object] = {"url": redact(url), "reason": kind, "detail": redact(str(exc))[:200]}
        if suppressed:
            extra["suppressed"] = suppressed
        log.warning("alertmanager post failed", extra=extra)
