"""The idempotent writer: one episode per firing, whatever Alertmanager's delivery does (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest

from cachewatch.alert_lifecycle.intake import NOTIFY_DEDUP, Intake, IntakeSettings
from cachewatch.alert_lifecycle.model import Observation, Source
from cachewatch.alert_lifecycle.payload import PayloadError, parse_webhook
from cachewatch.alert_lifecycle.store import repository as repo
from cachewatch.alert_lifecycle.store.engine import Store

T0 = 1_800_000_000.0
LABELS = {"alertname": "RedisDown", "team": "platform", "cluster": "sessions", "region": "eu",
          "severity": "critical", "instance": "10.0.0.1:6379"}


def seen(status: str = "firing", at: float = T0 + 30, starts: float = T0, ends: float | None = None,
         notified: bool = True, source: Source = Source.WEBHOOK, fingerprint: str = "f00d", **kw) -> Observation:
    return Observation(fingerprint=fingerprint, labels=kw.pop("labels", LABELS), annotations={}, starts_at=starts,
                       status=status, seen_at=at, source=source, ends_at=ends, notified=notified, **kw)


def episodes(store: Store) -> list[dict]:
    with store.read() as conn:
        return sorted(repo.list_episodes(conn, repo.EpisodeFilter()), key=lambda e: (e["starts_at"], e["generation"]))


def kinds(store: Store, episode_id: str) -> list[str]:
    with store.read() as conn:
        return [e["kind"] for e in repo.events_of(conn, episode_id)]


def test_fire_repeat_resolve_is_one_episode_with_its_timeline(store: Store) -> None:
    intake = Intake(store)
    assert intake.ingest([seen()]) == {"new": 1}
    intake.ingest([seen(at=T0 + 3600 * 4)])  # repeat_interval re-send: a second notification, same episode
    intake.ingest([seen("resolved", at=T0 + 3600 * 5, ends=T0 + 3600 * 5 - 20)])
    [ep] = episodes(store)
    assert (ep["state"], ep["ends_at"], ep["notifications"], ep["resolution_inferred"]) == (
        "resolved", T0 + 3600 * 5 - 20, 3, False)
    assert ep["first_notified_at"] == T0 + 30
    assert kinds(store, ep["id"]) == ["fired", "notified", "notified", "resolved", "notified"]


def test_ha_pair_duplicates_and_replays_change_nothing(store: Store) -> None:
    intake = Intake(store)
    intake.ingest([seen(at=T0 + 30)])
    assert intake.ingest([seen(at=T0 + 30 + NOTIFY_DEDUP / 4)]) == {"duplicate": 1}  # the second Alertmanager
    intake.ingest([seen("resolved", at=T0 + 300, ends=T0 + 290)])
    assert intake.ingest([seen("resolved", at=T0 + 310, ends=T0 + 290)]) == {"duplicate": 1}
    [ep] = episodes(store)
    assert ep["notifications"] == 2


def test_an_exact_payload_replay_is_recognised_before_any_work(store: Store) -> None:
    body = json.dumps({"version": "4", "status": "firing", "receiver": "cachewatch-history", "groupKey": "{}:{}",
                       "truncatedAlerts": 0, "alerts": [{"status": "firing", "labels": LABELS, "annotations": {},
                                                         "startsAt": "2027-01-15T08:00:00.123456789Z",
                                                         "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "f00d"}]})
    intake = Intake(store)
    observations, record = parse_webhook(body.encode(), T0)
    assert intake.ingest(observations, record) == {"new": 1}
    observations, record = parse_webhook(body.encode(), T0 + 5)
    assert intake.ingest(observations, record) == {"replay": 1}
    assert len(episodes(store)) == 1


def test_a_new_firing_after_a_real_resolve_is_a_new_episode_and_flapping_is_marked(store: Store) -> None:
    intake = Intake(store, IntakeSettings(flap_window=3600, flap_episodes=3))
    for n in range(3):
        start = T0 + n * 600
        intake.ingest([seen(at=start + 30, starts=start)])
        intake.ingest([seen("resolved", at=start + 200, starts=start, ends=start + 180)])
    eps = episodes(store)
    assert [e["state"] for e in eps] == ["resolved"] * 3
    assert [e["flapping"] for e in eps] == [False, False, True]


def test_a_prometheus_restart_continues_the_episode(store: Store) -> None:
    """A restart re-sets startsAt while the alert keeps firing: the new start joins the open episode."""
    intake = Intake(store, IntakeSettings(merge_grace=300))
    intake.ingest([seen(at=T0 + 30)])
    assert intake.ingest([seen(at=T0 + 200, starts=T0 + 180)]) == {"update": 1}
    intake.ingest([seen("resolved", at=T0 + 900, starts=T0 + 180, ends=T0 + 880)])
    [ep] = episodes(store)
    assert (ep["starts_at"], ep["ends_at"], ep["state"]) == (T0, T0 + 880, "resolved")
    assert "merged" in kinds(store, ep["id"])


def test_a_late_firing_duplicate_never_undoes_a_real_resolve(store: Store) -> None:
    intake = Intake(store)
    intake.ingest([seen("resolved", at=T0 + 300, ends=T0 + 290)])
    intake.ingest([seen(at=T0 + 301)])
    [ep] = episodes(store)
    assert (ep["state"], ep["ends_at"]) == ("resolved", T0 + 290)


def test_an_inferred_resolve_is_undone_when_the_alert_is_seen_again_and_corrected_by_the_real_one(
        store: Store) -> None:
    intake = Intake(store)
    intake.ingest([seen(at=T0 + 30)])
    intake.ingest([seen("resolved", at=T0 + 400, ends=T0 + 390, inferred=True, notified=False,
                        source=Source.RECONCILER)])
    intake.ingest([seen(at=T0 + 420, notified=False, source=Source.RECONCILER)])  # Alertmanager came back
    [ep] = episodes(store)
    assert (ep["state"], ep["ends_at"]) == ("firing", None)
    intake.ingest([seen("resolved", at=T0 + 500, ends=T0 + 480, inferred=True, notified=False,
                        source=Source.RECONCILER)])
    intake.ingest([seen("resolved", at=T0 + 510, ends=T0 + 470)])  # the webhook's real endsAt
    [ep] = episodes(store)
    assert (ep["ends_at"], ep["resolution_inferred"]) == (T0 + 470, False)


def test_a_lost_resolve_is_inferred_when_a_later_firing_arrives(store: Store) -> None:
    intake = Intake(store, IntakeSettings(merge_grace=300))
    intake.ingest([seen(at=T0 + 30, timeout_at=T0 + 270)])
    intake.ingest([seen(at=T0 + 7230, starts=T0 + 7200)])  # two hours later: the resolve in between was lost
    first, second = episodes(store)
    assert (first["state"], first["ends_at"], first["resolution_inferred"]) == ("resolved", T0 + 270, True)
    assert second["state"] == "firing"


def test_closed_while_firing_reopens_as_a_linked_episode(store: Store) -> None:
    intake = Intake(store)
    intake.ingest([seen(at=T0 + 30)])
    [ep] = episodes(store)
    with store.write() as conn:
        repo.update(conn, ep["id"], state="closed", closed_at=T0 + 60, closed_by="alice", classification="expected",
                    closed_while_firing=True)
    intake.ingest([seen(at=T0 + 90, notified=False, source=Source.RECONCILER)])
    old, new = episodes(store)
    assert (old["state"], new["state"], new["reopened_from"], new["generation"]) == ("closed", "firing", old["id"], 1)
    intake.ingest([seen("resolved", at=T0 + 900, ends=T0 + 880)])
    old, new = episodes(store)
    assert (new["state"], new["ends_at"]) == ("resolved", T0 + 880)
    assert "reopened" in kinds(store, old["id"])


def test_our_escalation_alert_is_an_event_of_its_episode_not_an_episode(store: Store) -> None:
    intake = Intake(store)
    intake.ingest([seen(at=T0 + 30)])
    [ep] = episodes(store)
    labels = {"alertname": "CachewatchAckTimeout", "escalation": "ack-timeout", "episode": ep["id"],
              "team": "platform", "severity": "critical"}
    assert intake.ingest([seen(at=T0 + 960, fingerprint="e5c", labels=labels)]) == {"update": 1}
    assert intake.ingest([seen(at=T0 + 990, fingerprint="e5c", labels=labels)]) == {"duplicate": 1}
    assert len(episodes(store)) == 1
    assert kinds(store, ep["id"]).count("escalation_notified") == 1


def test_labels_with_sql_metacharacters_are_stored_verbatim(store: Store) -> None:
    nasty = {**LABELS, "cluster": "x'); DROP TABLE episodes; --", "note": "\" OR 1=1 --"}
    Intake(store).ingest([seen(labels=nasty)])
    [ep] = episodes(store)
    assert ep["labels"] == nasty and ep["cluster"] == nasty["cluster"]


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "Invalid JSON"),
    (b'{"version": "3", "status": "firing", "alerts": []}', "version"),
    (b'{"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {}, "startsAt": "yesterday",'
     b' "fingerprint": "ab"}]}', "startsAt"),
    (b'{"version": "4", "status": "weird", "alerts": []}', "status"),
])
def test_a_bad_payload_is_refused_with_its_reason(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        parse_webhook(body, T0)


def test_posts_committed_together_each_get_their_own_result(store: Store) -> None:
    body = json.dumps({"version": "4", "status": "firing", "receiver": "cachewatch-history", "alerts": [
        {"status": "firing", "labels": LABELS, "annotations": {}, "startsAt": "2027-01-15T08:00:00Z",
         "fingerprint": "f00d"}]}).encode()
    first, again = parse_webhook(body, T0), parse_webhook(body, T0 + 1)
    other = ([seen(fingerprint="beef", labels={**LABELS, "instance": "10.0.0.2:6379"})], None)
    assert Intake(store).ingest_group([first, again, other]) == [{"new": 1}, {"replay": 1}, {"new": 1}]
    assert len(episodes(store)) == 2


def test_a_webhook_resolve_at_the_known_timeout_is_inferred(store: Store) -> None:
    """Prometheus went away: Alertmanager resolves the alert at the endsAt its API showed, and says "resolved"."""
    intake = Intake(store)
    intake.ingest([seen(at=T0 + 30, notified=False, source=Source.RECONCILER, timeout_at=T0 + 270)])
    intake.ingest([seen("resolved", at=T0 + 300, ends=T0 + 270)])
    [ep] = episodes(store)
    assert (ep["ends_at"], ep["resolution_inferred"]) == (T0 + 270, True)
