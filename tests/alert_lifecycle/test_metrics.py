"""The cachewatch_alert_* metrics: observed when their events happen, named as the catalog says."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from cachewatch.alert_lifecycle.intake import Intake
from cachewatch.alert_lifecycle.metrics import LifecycleMetrics
from cachewatch.alert_lifecycle.model import Observation, Source
from cachewatch.alert_lifecycle.store.engine import open_store
from cachewatch.catalog import CATALOG
from cachewatch.catalog.model import Source as CatalogSource

T0 = 1_800_000_000.0
LABELS = {"alertname": "RedisDown", "team": "platform", "cluster": "sessions", "severity": "critical"}


def samples(metrics: LifecycleMetrics) -> dict[tuple[str, tuple], float]:
    out = {}
    for fam in text_string_to_metric_families(metrics.render().decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_every_family_is_in_the_catalog_and_rendered(tmp_path) -> None:
    store = open_store(str(tmp_path / "a.db"))
    try:
        metrics = LifecycleMetrics(store)
        Intake(store, observer=metrics).ingest([Observation("ab", LABELS, {}, T0, "firing", T0 + 30, Source.WEBHOOK,
                                                            notified=True)])
        names = {fam.name for fam in text_string_to_metric_families(metrics.render().decode())}
        expected = {name.removesuffix("_total") for name, fam in CATALOG.items()
                    if fam.source == CatalogSource.LIFECYCLE}
        assert expected <= names
    finally:
        store.close()


def test_episodes_notifications_and_resolve_time_are_counted_once(tmp_path) -> None:
    store = open_store(str(tmp_path / "a.db"))
    try:
        metrics = LifecycleMetrics(store)
        intake = Intake(store, observer=metrics)
        firing = Observation("ab", LABELS, {}, T0, "firing", T0 + 30, Source.WEBHOOK, notified=True)
        intake.ingest([firing])
        intake.ingest([firing])  # an HA duplicate
        intake.ingest([Observation("ab", LABELS, {}, T0, "resolved", T0 + 400, Source.WEBHOOK, ends_at=T0 + 300,
                                   notified=True)])
        got = samples(metrics)
        alert = tuple(sorted(LABELS.items()))
        assert got[("cachewatch_alert_episodes_total", alert)] == 1
        assert got[("cachewatch_alert_notifications_total", alert)] == 2
        team = (("severity", "critical"), ("team", "platform"))
        assert got[("cachewatch_alert_resolve_seconds_sum", team)] == 300
        assert got[("cachewatch_alert_open_episodes", (("severity", "critical"), ("state", "resolved"),
                                                       ("team", "platform")))] == 1
        assert got[("cachewatch_alert_history_ingest_total", (("result", "duplicate"), ("source", "webhook")))] == 1
    finally:
        store.close()
