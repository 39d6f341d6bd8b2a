"""MTTA, MTTR, time to close, noisiest, flapping and the false-positive rate equal hand-computed values on a
fixture history (SQLite and PostgreSQL)."""

from __future__ import annotations

from cachewatch.alert_lifecycle.analytics import report
from cachewatch.alert_lifecycle.intake import Intake
from cachewatch.alert_lifecycle.model import Observation, Source
from cachewatch.alert_lifecycle.store import repository as repo
from cachewatch.alert_lifecycle.store.engine import Store

T0 = 1_800_000_000.0
# (fingerprint, alertname, team, cluster, starts, first notification, first ack, end, inferred, closed, class)
HISTORY = [
    ("a1", "RedisDown", "platform", "sessions", 0, 30, 90, 600, False, 900, "actionable"),
    ("b2", "RedisMemoryHigh", "platform", "sessions", 1000, 1010, 1130, 1300, True, 2000, "false_positive"),
    ("b2", "RedisMemoryHigh", "platform", "sessions", 5000, 5005, None, 5600, False, None, None),
    ("c3", "RedisDown", "commerce", "carts", 8000, None, None, None, False, None, None),
]


def load(store: Store) -> None:
    intake = Intake(store)
    for fp, name, team, cluster, starts, notified, acked, ends, inferred, closed, kind in HISTORY:
        labels = {"alertname": name, "team": team, "cluster": cluster, "severity": "critical"}
        first = Observation(fp, labels, {}, T0 + starts, "firing", T0 + (notified or starts), Source.WEBHOOK,
                            notified=notified is not None)
        intake.ingest([first])
        if ends is not None:
            intake.ingest([Observation(fp, labels, {}, T0 + starts, "resolved", T0 + ends + 5, Source.RECONCILER,
                                       ends_at=T0 + ends, inferred=inferred)])
        with store.write() as conn:
            ep = repo.latest_episode(conn, fp)
            changes = {}
            if acked is not None:
                changes.update(first_ack_at=T0 + acked, first_ack_by="alice")
            if closed is not None:
                changes.update(state="closed", closed_at=T0 + closed, closed_by="alice", classification=kind)
            repo.update(conn, ep["id"], **changes)


def test_every_figure_matches_the_hand_computed_value(store: Store) -> None:
    load(store)
    figures = report(store, T0, T0 + 86400, now=T0 + 9000, flap_window=3600, flap_episodes=2)
    assert figures["episodes"] == 4
    assert figures["mtta_seconds"] == 90.0  # mean(90-30, 1130-1010); never-acked and never-notified left out
    assert figures["mttr_seconds"] == 600.0  # mean(600, 600): the inferred resolve of b2's first episode left out
    assert figures["time_to_close_seconds"] == 950.0  # mean(900, 2000-1000)
    assert figures["acked_share"] == 0.5
    assert figures["false_positive_rate"] == 0.5  # one of two classified
    assert figures["unclassified_share"] == 0.5
    assert [(n["alertname"], n["cluster"], n["episodes"], n["notifications"]) for n in figures["noisiest"]] == [
        ("RedisMemoryHigh", "sessions", 2, 2), ("RedisDown", "sessions", 1, 1), ("RedisDown", "carts", 1, 0)]
    assert figures["noisiest"][2]["firing_minutes"] == 16.7  # still firing: 1000 s up to now
    assert figures["flapping"] == []  # b2's episodes are 4000 s apart
    assert [(d["day"], d["episodes"]) for d in figures["trend"]] == [("2027-01-15", 4)]


def test_flapping_uses_the_window(store: Store) -> None:
    load(store)
    figures = report(store, T0, T0 + 86400, flap_window=4000, flap_episodes=2)
    assert [(f["fingerprint"], f["episodes"]) for f in figures["flapping"]] == [("b2", 2)]


def test_filters_and_time_range(store: Store) -> None:
    load(store)
    commerce = report(store, T0, T0 + 86400, team="commerce")
    assert (commerce["episodes"], commerce["mtta_seconds"], commerce["mttr_seconds"]) == (1, None, None)
    early = report(store, T0, T0 + 4000)
    assert (early["episodes"], early["mttr_seconds"]) == (2, 600.0)
    assert report(store, T0 + 10**6, T0 + 2 * 10**6)["episodes"] == 0
