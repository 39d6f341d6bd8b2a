"""``CacheAlertingSystem``: the brief's four methods, over the lifecycle store, its actions and Alertmanager.

It shares the service's database (the SQLite file or the PostgreSQL URL), so an ack made here shows in the
console and an escalation the service posts knows about it. ``evaluate_alert_conditions`` evaluates the health
check table (cachewatch.checks) with the spec's thresholds in-process: the same levels the generated alerts use,
for dry runs and tests; production alerting stays with Prometheus.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from cachewatch.alert_lifecycle.actions import Lifecycle
from cachewatch.alert_lifecycle.alertmanager_api import AlertmanagerAPI
from cachewatch.alert_lifecycle.analytics import report
from cachewatch.alert_lifecycle.model import format_time
from cachewatch.alert_lifecycle.policy import Policy
from cachewatch.alert_lifecycle.store import repository as repo
from cachewatch.alert_lifecycle.store.engine import open_store
from cachewatch.checks import CHECKS
from cachewatch.checks.model import Snapshot
from cachewatch.spec import FleetSpec

SEVERITIES = ("critical", "warning", "info")


def _alertmanager_url(address: str) -> str:
    return address if "://" in address else f"http://{address}"


class CacheAlertingSystem:
    """Alerts for one fleet spec: evaluate, send, acknowledge, resolve (and read the history and analytics)."""

    def __init__(self, spec: FleetSpec, database: str | None = None, alertmanager_urls: list[str] | None = None):
        self.spec = spec
        self.policy = Policy.from_spec(spec)
        self.store = open_store(database)
        urls = alertmanager_urls if alertmanager_urls is not None else spec.links.alertmanager_urls
        self.alertmanager_urls = [_alertmanager_url(u) for u in urls]

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> CacheAlertingSystem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the brief's four methods ------------------------------------------------------------------------
    def evaluate_alert_conditions(self, metrics: Mapping[str, Any], cluster: str | None = None,
                                  previous: Mapping[str, Any] | None = None) -> list[dict]:
        """INFO fields of one node (``metrics``; ``previous`` an earlier sample for the rate checks) → the checks
        that fail at the spec's levels for ``cluster``, worst first, as alerts ready for ``send_alert``."""
        target = next((c for _, c in self.spec.clusters if c.name == cluster), None)
        thresholds = self.spec.thresholds_for(target) if target else self.spec.thresholds
        overrides = self.spec.checks_for(target) if target else self.spec.checks
        snap = Snapshot(info={k: str(v) for k, v in metrics.items()}, kind=target.kind if target else "cache",
                        taken=time.time())
        prev = Snapshot(info={k: str(v) for k, v in previous.items()}) if previous is not None else None
        out = []
        for check in CHECKS.values():
            if snap.kind not in check.kinds:
                continue
            try:
                value = check.measure(snap, prev)
            except (KeyError, ValueError, ZeroDivisionError, TypeError):
                continue  # the sample lacks what this check reads
            override = overrides.get(check.id)
            levels = check.levels(thresholds, override.given() if override else None)
            severity = check.severity(value, levels) if value is not None else None
            if severity is None:
                continue
            alert_as = (check.metrics.alerts or {}).get(severity) if check.metrics else None
            out.append({"alertname": alert_as.name if alert_as else "RedisHealthCheckCritical",
                        "severity": (alert_as.severity or severity).value if alert_as else severity.value,
                        "check": check.id, "value": value, "threshold": getattr(levels, severity.value),
                        "summary": check.title, "cluster": cluster or ""})
        return sorted(out, key=lambda a: SEVERITIES.index(a["severity"]))

    def send_alert(self, alert: Mapping[str, Any], severity: str | None = None,
                   labels: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None,
                   duration: float = 300.0) -> dict:
        """Post one alert to every Alertmanager; routing (team, severity → channels) stays with the generated
        routes, and the history route gives it an episode like any other alert."""
        cluster = labels.get("cluster") if labels else alert.get("cluster")
        team = next((c.team for _, c in self.spec.clusters if c.name == cluster), self.spec.owner_of_fleet)
        now = time.time()
        posted = {
            "labels": {"alertname": str(alert["alertname"]), "severity": severity or str(alert.get("severity",
                                                                                               "warning")),
                       "team": team, **({"cluster": cluster} if cluster else {}), **(labels or {})},
            "annotations": {**({"summary": alert["summary"]} if alert.get("summary") else {}), **(annotations or {})},
            "startsAt": format_time(now), "endsAt": format_time(now + duration),
        }
        self._run(self._post(posted))
        return posted

    def acknowledge_alert(self, alert_id: str, user: str, comment: str = "") -> dict:
        """``alert_id``: an episode id, or a fingerprint (its newest episode)."""
        return self._run(self._with_lifecycle(lambda life: life.ack(alert_id, user, comment)))

    def resolve_alert(self, alert_id: str, user: str, resolution_notes: str,
                      classification: str = "actionable") -> dict:
        return self._run(self._with_lifecycle(lambda life: life.close(alert_id, user, resolution_notes,
                                                                      classification)))

    # --- history and analytics ---------------------------------------------------------------------------
    def history(self, **filters: Any) -> list[dict]:
        with self.store.read() as conn:
            return repo.list_episodes(conn, repo.EpisodeFilter(**filters))

    def analytics(self, since: float, until: float | None = None, **filters: Any) -> dict:
        life = self.spec.alert_lifecycle
        return report(self.store, since, until or time.time(), flap_window=life.flap_window,
                      flap_episodes=life.flap_episodes, **filters)

    # --- plumbing ----------------------------------------------------------------------------------------
    async def _post(self, alert: dict) -> None:
        async with AlertmanagerAPI(self.alertmanager_urls) as api:
            await api.post_alerts([alert])

    async def _with_lifecycle(self, act):
        if not self.alertmanager_urls:  # no Alertmanager: acks are recorded, never silences
            return await act(Lifecycle(self.store, self.policy, None))
        async with AlertmanagerAPI(self.alertmanager_urls) as api:
            return await act(Lifecycle(self.store, self.policy, api))

    @staticmethod
    def _run(coro):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        coro.close()
        raise RuntimeError("CacheAlertingSystem's methods are synchronous; inside an event loop use "
                           "cachewatch.alert_lifecycle.actions.Lifecycle directly")
