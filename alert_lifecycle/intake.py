"""The one idempotent writer: every leg (webhook, reconciler, API) hands it Observations.

Rules, each for a trap of a history built on Alertmanager (../shared/reference/alert-lifecycle.md §4):
- an episode is fingerprint + startsAt; a startsAt already known (``episode_keys``) is the same episode, so HA
  duplicates, repeats and replays never open a second one, and a unique key makes racing replicas retry;
- a later startsAt continues the latest episode while it still fires, or when its end was only inferred and the
  new start is within ``merge_grace`` of it (a Prometheus restart re-sets startsAt); after a real resolve it is a
  new episode (a flap), and an older episode still open with no resolve is resolved as *inferred* (its resolve
  was lost);
- a firing alert never un-resolves an episode whose resolve came from Prometheus (a late HA duplicate); it does
  undo an inferred resolve (Alertmanager restarted, the alert came back with the same startsAt);
- notifications of the same status within ``NOTIFY_DEDUP`` seconds are one notification (an HA pair); a later
  one with the same status is a repeat and counts;
- an episode closed by a human while its alert still fired reopens as a linked episode at the next firing
  sighting after the close;
- our own escalation alerts are not episodes: they become an ``escalation_notified`` event of their episode.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from cachewatch.alert_lifecycle.model import (
    ESCALATION_LABEL,
    ESCALATION_VALUE,
    EpisodeState,
    EventKind,
    Observation,
    episode_id,
    micros,
)
from cachewatch.alert_lifecycle.observer import Effects, NullObserver, Observer
from cachewatch.alert_lifecycle.store import repository as repo
from cachewatch.alert_lifecycle.store.engine import Store

NOTIFY_DEDUP = 60.0  # seconds: HA peers deliver within k × 15 s peer timeout; repeat_interval is hours
TIMEOUT_MATCH = 1.0  # seconds: an endsAt this close to the known timeout is the timeout
RETRIES = 5  # a unique-key race with another replica: re-read and apply again
COPIED_LABELS = ("alertname", "team", "cluster", "region", "severity")
LIVE = (EpisodeState.FIRING, EpisodeState.ACKED)


@dataclass(frozen=True)
class IntakeSettings:
    merge_grace: float = 300.0
    flap_window: float = 3600.0
    flap_episodes: int = 3


class Intake:
    def __init__(self, store: Store, settings: IntakeSettings | None = None, observer: Observer | None = None):
        self.store = store
        self.settings = settings or IntakeSettings()
        self.observer = observer or NullObserver()

    def ingest(self, observations: Iterable[Observation], payload: dict | None = None) -> Counter[str]:
        """Apply observations in one transaction; ``payload`` (a webhook's hash and header fields) makes an exact
        replay a no-op. Returns how many observations had each result (new, update, duplicate, ignored)."""
        return self.ingest_group([(list(observations), payload)])[0]

    def ingest_group(self, items: list[tuple[list[Observation], dict | None]]) -> list[Counter[str]]:
        """Several webhook posts in one transaction (group commit: posts that arrive while the previous group is
        being written share the next commit). One result per item, in order."""
        for attempt in range(RETRIES):
            effects, outcome = Effects(), []
            try:
                with self.store.write() as conn:
                    for observations, payload in items:
                        results = Counter[str]()
                        if payload is not None and not repo.remember_payload(conn, **payload):
                            results["replay"] = len(observations)
                        else:
                            for obs in observations:
                                results[self._apply(conn, obs, effects)] += 1
                        outcome.append(results)
            except sa.exc.IntegrityError:
                if attempt == RETRIES - 1:
                    raise
                continue
            effects.flush(self.observer)
            for (observations, _), results in zip(items, outcome, strict=True):
                source = str(observations[0].source) if observations else "webhook"
                for result, count in results.items():
                    self.observer.ingested(source, result, count)
            return outcome
        raise AssertionError("unreachable")

    # --- one observation ------------------------------------------------------------------------------
    def _apply(self, conn: sa.Connection, obs: Observation, effects: Effects) -> str:
        if obs.labels.get(ESCALATION_LABEL) == ESCALATION_VALUE:
            return self._escalation_seen(conn, obs)
        result = "update"
        ep = repo.episode_by_key(conn, obs.fingerprint, micros(obs.starts_at), lock=True)
        if ep is None:
            prior = repo.latest_episode(conn, obs.fingerprint, lock=True)
            if prior is not None and self._continues(prior, obs):
                repo.add_key(conn, obs.fingerprint, micros(obs.starts_at), prior["id"])
                repo.append_event(conn, prior["id"], EventKind.MERGED, obs.seen_at, source=obs.source,
                                  detail={"starts_at": obs.starts_at})
                ep = prior
            else:
                if prior is not None and prior["state"] in LIVE and prior["ends_at"] is None:
                    self._lost_resolve(conn, prior, effects)
                ep = self._open(conn, obs, effects)
                result = "new"
        elif ep["closed_while_firing"] and obs.firing and ep["ends_at"] is None and obs.seen_at > ep["closed_at"]:
            ep = self._reopen(conn, ep, obs, effects)
            result = "new"
        changes = self._signal(conn, ep, obs, effects)
        if obs.notified:
            changes.update(self._notification(conn, ep, obs, effects))
        if obs.seen_at > ep["last_seen_at"]:
            changes["last_seen_at"] = obs.seen_at
        repo.update(conn, ep["id"], **changes)
        if result == "update" and set(changes) <= {"last_seen_at", "timeout_at"}:
            result = "duplicate"
        return result

    def _continues(self, prior: dict, obs: Observation) -> bool:
        if obs.starts_at <= prior["starts_at"] or prior["state"] == EpisodeState.CLOSED:
            return False
        if prior["state"] in LIVE and prior["ends_at"] is None:
            return obs.starts_at <= prior["last_seen_at"] + self.settings.merge_grace
        if prior["resolution_inferred"]:
            return obs.starts_at <= (prior["ends_at"] or prior["last_seen_at"]) + self.settings.merge_grace
        return False

    def _open(self, conn: sa.Connection, obs: Observation, effects: Effects, generation: int = 0,
              reopened_from: str | None = None) -> dict:
        values = {
            "id": episode_id(obs.fingerprint, obs.starts_at, generation), "fingerprint": obs.fingerprint,
            "generation": generation, **{name: obs.labels.get(name, "")[:200] for name in COPIED_LABELS},
            "labels": obs.labels, "annotations": obs.annotations, "generator_url": obs.generator_url,
            "state": str(EpisodeState.FIRING), "starts_at": obs.starts_at, "first_seen_at": obs.seen_at,
            "last_seen_at": obs.seen_at, "reopened_from": reopened_from, "notifications": 0,
            "resolution_inferred": False, "closed_while_firing": False, "flapping": False,
            "escalation_active": False,
        }
        if generation == 0:
            since = obs.starts_at - self.settings.flap_window
            values["flapping"] = repo.count_since(conn, obs.fingerprint, since) + 1 >= self.settings.flap_episodes
        values = repo.insert_episode(conn, values)
        if reopened_from is None:
            repo.add_key(conn, obs.fingerprint, micros(obs.starts_at), values["id"])
        repo.append_event(conn, values["id"], EventKind.FIRED, obs.starts_at, source=obs.source,
                          detail={"seen_at": obs.seen_at})
        effects.episode_opened(values, values["flapping"])
        return values

    def _reopen(self, conn: sa.Connection, closed: dict, obs: Observation, effects: Effects) -> dict:
        fresh = self._open(conn, obs, effects, generation=closed["generation"] + 1, reopened_from=closed["id"])
        repo.move_keys(conn, closed["id"], fresh["id"])
        repo.update(conn, closed["id"], closed_while_firing=False)
        repo.append_event(conn, fresh["id"], EventKind.REOPENED, obs.seen_at, source=obs.source,
                          detail={"from": closed["id"]})
        repo.append_event(conn, closed["id"], EventKind.REOPENED, obs.seen_at, source=obs.source,
                          detail={"to": fresh["id"]})
        return fresh

    def _lost_resolve(self, conn: sa.Connection, prior: dict, effects: Effects) -> None:
        ends = prior["timeout_at"] or prior["last_seen_at"]
        repo.update(conn, prior["id"], state=str(EpisodeState.RESOLVED), ends_at=ends, resolution_inferred=True)
        repo.append_event(conn, prior["id"], EventKind.RESOLVED, ends, source="intake",
                          detail={"inferred": True, "why": "a newer firing of the same alert arrived"})
        effects.resolved(prior, ends - prior["starts_at"], True)

    def _signal(self, conn: sa.Connection, ep: dict, obs: Observation, effects: Effects) -> dict:
        """Firing or resolved: the alert's own state, as Prometheus/Alertmanager tell it."""
        if obs.firing:
            changes: dict = {}
            if obs.timeout_at is not None and obs.timeout_at != ep["timeout_at"]:
                changes["timeout_at"] = obs.timeout_at
            if ep["missing_since"] is not None:
                changes["missing_since"] = None
            if ep["ends_at"] is not None and ep["resolution_inferred"]:
                changes.update(ends_at=None, resolution_inferred=False)
                if ep["state"] == EpisodeState.RESOLVED:
                    changes["state"] = str(EpisodeState.ACKED if ep["acked_by"] else EpisodeState.FIRING)
                repo.append_event(conn, ep["id"], EventKind.FIRED, obs.seen_at, source=obs.source,
                                  detail={"after": "inferred resolve"})
            return changes
        ends = obs.ends_at if obs.ends_at is not None else obs.seen_at
        # A resolve whose endsAt is the timeout Alertmanager's API showed for the firing alert: Alertmanager gave
        # up on it (Prometheus stopped sending), nobody said "resolved".
        inferred = obs.inferred or (ep["timeout_at"] is not None and abs(ends - ep["timeout_at"]) < TIMEOUT_MATCH)
        if ep["ends_at"] is None:
            changes = {"ends_at": ends, "resolution_inferred": inferred, "missing_since": None}
            if ep["state"] in LIVE:
                changes["state"] = str(EpisodeState.RESOLVED)
            repo.append_event(conn, ep["id"], EventKind.RESOLVED, ends, source=obs.source,
                              detail={"inferred": inferred, **obs.detail})
            effects.resolved({**ep, **changes}, ends - ep["starts_at"], inferred)
            return changes
        if ep["resolution_inferred"] and not inferred:  # the real endsAt arrived after an inferred one
            effects.resolved(ep, ends - ep["starts_at"], False)
            return {"ends_at": ends, "resolution_inferred": False}
        return {}

    def _notification(self, conn: sa.Connection, ep: dict, obs: Observation, effects: Effects) -> dict:
        last = ep["last_notified_at"]
        if ep["last_notified_status"] == obs.status and last is not None and abs(obs.seen_at - last) < NOTIFY_DEDUP:
            return {}
        changes = {"last_notified_at": obs.seen_at, "last_notified_status": obs.status,
                   "notifications": ep["notifications"] + 1}
        if ep["first_notified_at"] is None and obs.firing:
            changes["first_notified_at"] = obs.seen_at
        repo.append_event(conn, ep["id"], EventKind.NOTIFIED, obs.seen_at, source=obs.source,
                          detail={"status": obs.status, **obs.detail})
        effects.notified({**ep, **changes})
        return changes

    def _escalation_seen(self, conn: sa.Connection, obs: Observation) -> str:
        target = repo.episode(conn, obs.labels.get("episode", ""))
        if target is None or not obs.notified or not obs.firing:
            return "ignored"
        if repo.has_event(conn, target["id"], EventKind.ESCALATION_NOTIFIED):
            return "duplicate"
        repo.append_event(conn, target["id"], EventKind.ESCALATION_NOTIFIED, obs.seen_at, source=obs.source)
        return "update"
