"""The lifecycle's Prometheus metrics (cachewatch_alert_*, help text from the catalog), observed as events happen.

Counters and histograms are per process: with several replicas, sum them in PromQL. The open-episodes gauge is
read from the store at scrape time, so every replica reports the same shared truth.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from cachewatch.alert_lifecycle.model import EpisodeState
from cachewatch.alert_lifecycle.store.engine import Store
from cachewatch.alert_lifecycle.store.schema import episodes
from cachewatch.catalog import family

BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)  # seconds: minutes to a day


def _help(name: str) -> str:
    return family(name).help


class _OpenEpisodes(Collector):
    def __init__(self, store: Store):
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        name = "cachewatch_alert_open_episodes"
        gauge = GaugeMetricFamily(name, _help(name), labels=["state", "team", "severity"])
        query = (sa.select(episodes.c.state, episodes.c.team, episodes.c.severity, sa.func.count())
                 .where(episodes.c.state != str(EpisodeState.CLOSED))
                 .group_by(episodes.c.state, episodes.c.team, episodes.c.severity))
        with self.store.read() as conn:
            for state, team, severity, count in conn.execute(query):
                gauge.add_metric([state, team, severity], count)
        yield gauge


class LifecycleMetrics:
    """An Observer that turns lifecycle events into metrics; ``render()`` is the /metrics body."""

    def __init__(self, store: Store | None = None, teams: Iterable[str] = ()):
        self.registry = CollectorRegistry(auto_describe=True)
        alert = ("alertname", "team", "cluster", "severity")
        team = ("team", "severity")

        def counter(name: str, labels: tuple[str, ...]) -> Counter:
            return Counter(name.removesuffix("_total"), _help(name), labels, registry=self.registry)

        def histogram(name: str) -> Histogram:
            return Histogram(name, _help(name), team, buckets=BUCKETS, registry=self.registry)

        self.episodes = counter("cachewatch_alert_episodes_total", alert)
        self.notifications = counter("cachewatch_alert_notifications_total", alert)
        self.classified = counter("cachewatch_alert_classified_total", ("classification", *alert))
        self.flapping = counter("cachewatch_alert_flapping_episodes_total", alert)
        self.escalations = counter("cachewatch_alert_escalations_total", team)
        self.ingest = counter("cachewatch_alert_history_ingest_total", ("source", "result"))
        self.am_errors = counter("cachewatch_alert_alertmanager_errors_total", ("operation",))
        self.ack_seconds = histogram("cachewatch_alert_ack_seconds")
        self.resolve_seconds = histogram("cachewatch_alert_resolve_seconds")
        self.close_seconds = histogram("cachewatch_alert_close_seconds")
        self.reconciled_at = Gauge("cachewatch_alert_reconcile_timestamp_seconds",
                                   _help("cachewatch_alert_reconcile_timestamp_seconds"), registry=self.registry)
        if store is not None:
            self.registry.register(_OpenEpisodes(store))
        for name in teams:  # series exist from the start, so increase() sees the first event of each
            for severity in ("critical", "warning", "info"):
                for metric in (self.ack_seconds, self.resolve_seconds, self.close_seconds, self.escalations):
                    metric.labels(name, severity)

    @staticmethod
    def _alert(ep: dict) -> tuple[str, str, str, str]:
        return ep["alertname"], ep["team"], ep["cluster"], ep["severity"]

    def episode_opened(self, episode: dict, flapping: bool) -> None:
        self.episodes.labels(*self._alert(episode)).inc()
        if flapping:
            self.flapping.labels(*self._alert(episode)).inc()

    def notified(self, episode: dict) -> None:
        self.notifications.labels(*self._alert(episode)).inc()

    def acked(self, episode: dict, seconds: float | None) -> None:
        if seconds is not None:
            self.ack_seconds.labels(episode["team"], episode["severity"]).observe(max(0.0, seconds))

    def resolved(self, episode: dict, seconds: float, inferred: bool) -> None:
        if not inferred:
            self.resolve_seconds.labels(episode["team"], episode["severity"]).observe(max(0.0, seconds))

    def closed(self, episode: dict, seconds: float, classification: str) -> None:
        self.close_seconds.labels(episode["team"], episode["severity"]).observe(max(0.0, seconds))
        self.classified.labels(classification, *self._alert(episode)).inc()

    def escalated(self, episode: dict) -> None:
        self.escalations.labels(episode["team"], episode["severity"]).inc()

    def ingested(self, source: str, result: str, count: int = 1) -> None:
        self.ingest.labels(source, result).inc(count)

    def alertmanager_error(self, operation: str) -> None:
        self.am_errors.labels(operation).inc()

    def reconciled(self, at: float) -> None:
        self.reconciled_at.set(at)

    def render(self) -> bytes:
        return generate_latest(self.registry)
