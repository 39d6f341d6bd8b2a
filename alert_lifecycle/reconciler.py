"""The background half of the lifecycle: one pass every ``reconcile_interval`` over Alertmanager and the store.

A pass, in order:
a. read every member's alerts and ingest them: this catches what never reaches a webhook (silenced and inhibited
   alerts, truncated posts, webhooks lost while the service was down);
b. lost resolves: a live episode whose fingerprint + startsAt no member lists, once *every* member answered (a
   member that is down proves nothing), is marked ``missing_since``; after ``absent_grace`` (longer than
   Prometheus' 1 m resend, so an Alertmanager that restarted and forgot its alerts does not fake a resolve) it
   is resolved — *inferred* when it went missing after Alertmanager's own timeout (nobody said "resolved");
c. ack silences of resolved or closed episodes are expired, so a recurrence pages;
d. ack leases: a silence with less than half a lease left is extended (same silence id) up to ``ack_max``;
   past ``ack_max`` the ack expires and the alert pages again, on purpose;
e. ack-timeout escalation: post the escalation alert (escalation.py) once per episode, keep it alive while the
   episode stays unacked and firing, resolve it once the episode is acked, resolved or closed;
f. tell the observer the pass saw every member; purge past retention once a day.

Several replicas may run passes against one PostgreSQL at the same time: every write that must happen once
(mark missing, resolve, expire, renew, escalate) is a compare-and-set claim first and an Alertmanager call
second, and a failed call that must be retried undoes its claim. Store work runs in a worker thread so the
event loop (the webhook handler) is never blocked by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import sqlalchemy as sa

from cachewatch.alert_lifecycle import escalation
from cachewatch.alert_lifecycle.actions import Lifecycle, ack_comment
from cachewatch.alert_lifecycle.alertmanager_api import AlertmanagerAPI, AlertmanagerError, AlertsReading
from cachewatch.alert_lifecycle.intake import Intake
from cachewatch.alert_lifecycle.model import (
    ESCALATION_LABEL,
    ESCALATION_VALUE,
    EpisodeState,
    EventKind,
    Observation,
    Source,
    micros,
)
from cachewatch.alert_lifecycle.observer import NullObserver, Observer
from cachewatch.alert_lifecycle.payload import from_api_alert
from cachewatch.alert_lifecycle.policy import Policy
from cachewatch.alert_lifecycle.store import repository as repo
from cachewatch.alert_lifecycle.store.engine import Store

log = logging.getLogger(__name__)
Row = dict[str, Any]
T = TypeVar("T")

ABSENT_GRACE = 90.0  # seconds; > Prometheus' 1 m resend delay
PURGE_EVERY = 86400.0
LIVE = (EpisodeState.FIRING, EpisodeState.ACKED)
RELEASED = (EpisodeState.RESOLVED, EpisodeState.CLOSED)
UNACKING = (EventKind.UNACKED, EventKind.ACK_EXPIRED)
ROUTINE = frozenset({"alerts", "alerts_duplicate", "alerts_ignored", "missing"})  # a quiet pass logs at debug


class Reconciler:
    """One service replica's background work. ``run_once`` returns what it did as counts: alerts,
    alerts_<intake result>, members_failed, missing (absent, within the grace), resolved_lost,
    ack_silences_expired, acks_extended, acks_expired, escalated, escalations_reposted, escalations_ended, purged,
    and <operation>_failed for each Alertmanager call that failed."""

    def __init__(self, store: Store, intake: Intake, lifecycle: Lifecycle, policy: Policy,
                 alertmanager: AlertmanagerAPI, observer: Observer | None = None,
                 clock: Callable[[], float] = time.time, absent_grace: float = ABSENT_GRACE) -> None:
        self.store, self.intake, self.lifecycle, self.policy = store, intake, lifecycle, policy
        self.alertmanager = alertmanager
        self.observer = observer or NullObserver()
        self.clock = clock
        self.absent_grace = absent_grace
        self._purged_at: float | None = None

    # --- the pass -----------------------------------------------------------------------------------------
    async def run_once(self) -> dict[str, int]:
        now = self.clock()
        counts: Counter[str] = Counter()
        reading = await self._read_alerts(counts)
        if reading is not None:
            observations = self._observations(reading, now, counts)
            for result, count in (await _off_loop(self.intake.ingest, observations)).items():
                counts[f"alerts_{result}"] += count
            if not reading.failed and not counts["alerts_malformed"]:  # absence is proven only by a full reading
                await self._lost_resolves(observations, now, counts)
        await self._expire_released(counts)
        await self._ack_leases(await _off_loop(self._in_states, [EpisodeState.ACKED]), now, counts)
        await self._escalations(now, counts)
        if reading is not None and not reading.failed:
            self.observer.reconciled(now)
        await self._purge(now, counts)
        return dict(counts)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """A pass every ``reconcile_interval`` seconds until ``stop`` is set; a failing pass is logged, never
        fatal (the next one retries)."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                _log_pass(await self.run_once())
            except Exception as exc:  # the loop must outlive a database or Alertmanager outage
                bug = not isinstance(exc, AlertmanagerError | sa.exc.SQLAlchemyError)
                log.error("reconcile pass failed", exc_info=bug, extra={"error": _reason(exc)})
            wait = max(0.0, self.policy.reconcile_interval - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    async def expire_acks_of_resolved(self) -> dict[str, int]:
        """Step c alone, for the webhook handler right after a resolve arrived: the recurrence must page."""
        counts: Counter[str] = Counter()
        await self._expire_released(counts)
        return dict(counts)

    # --- a. read and ingest -------------------------------------------------------------------------------
    async def _read_alerts(self, counts: Counter[str]) -> AlertsReading | None:
        try:
            reading = await self.alertmanager.alerts()
        except AlertmanagerError as exc:
            self.observer.alertmanager_error("alerts")
            counts["members_failed"] += len(self.alertmanager.members)
            log.warning("no Alertmanager member answered", extra={"error": exc.reason})
            return None
        if reading.failed:
            self.observer.alertmanager_error("alerts")
            counts["members_failed"] += len(reading.failed)
            log.warning("Alertmanager members did not answer; no resolve is concluded this pass",
                        extra={"failed": reading.failed})
        return reading

    def _observations(self, reading: AlertsReading, now: float, counts: Counter[str]) -> list[Observation]:
        """Sorted by key, so replicas ingesting the same alerts lock rows in the same order (no deadlock)."""
        out = []
        for alert in reading.alerts:
            try:
                out.append(from_api_alert(alert, now))
            except (KeyError, TypeError, ValueError):
                counts["alerts_malformed"] += 1
        counts["alerts"] += len(out)
        return sorted(out, key=lambda obs: (obs.fingerprint, obs.starts_at))

    # --- b. lost resolves ---------------------------------------------------------------------------------
    async def _lost_resolves(self, observations: list[Observation], now: float, counts: Counter[str]) -> None:
        for ep in await _off_loop(self._absent, observations):
            since = ep["missing_since"]
            if since is None:
                if await self._claim(ep["id"], {"state": ep["state"], "missing_since": None}, missing_since=now):
                    counts["missing"] += 1
            elif now - since <= self.absent_grace:
                counts["missing"] += 1
            elif await self._claim(ep["id"], {"state": ep["state"], "missing_since": since}, missing_since=None):
                await _off_loop(self.intake.ingest, [_lost_resolve(ep, now)])
                counts["resolved_lost"] += 1

    def _absent(self, observations: list[Observation]) -> list[Row]:
        """Live episodes none of whose keys (its startsAt and any merged in) appears in the reading."""
        listed = {(obs.fingerprint, micros(obs.starts_at)) for obs in observations
                  if obs.labels.get(ESCALATION_LABEL) != ESCALATION_VALUE}
        with self.store.read() as conn:
            live = [ep for ep in repo.episodes_in_states(conn, LIVE) if ep["ends_at"] is None]
            candidates = {ep["fingerprint"] for ep in live}
            present = {found["id"] for fingerprint, starts_us in listed if fingerprint in candidates
                       and (found := repo.episode_by_key(conn, fingerprint, starts_us)) is not None}
        return [ep for ep in live if ep["id"] not in present]

    # --- c. expire the ack silences of resolved and closed episodes ---------------------------------------
    async def _expire_released(self, counts: Counter[str]) -> None:
        for ep in await _off_loop(self._released):
            silence_id = ep["ack_silence_id"]
            if not await self._claim(ep["id"], {"state": ep["state"], "ack_silence_id": silence_id},
                                     ack_silence_id=None, ack_silence_ends_at=None):
                continue  # another replica (or the unack/close action) took it
            if await self._expire_silence(silence_id, ep["id"]):  # a failure puts nothing back: the lease ends
                counts["ack_silences_expired"] += 1
            else:
                counts["ack_silence_expire_failed"] += 1

    def _released(self) -> list[Row]:
        with self.store.read() as conn:
            return [ep for ep in repo.episodes_needing_upkeep(conn)
                    if ep["state"] in RELEASED and ep["ack_silence_id"]]

    # --- d. ack leases ------------------------------------------------------------------------------------
    async def _ack_leases(self, acked: list[Row], now: float, counts: Counter[str]) -> None:
        for ep in acked:
            if ep["acked_at"] is not None and now >= ep["acked_at"] + self.policy.ack_max:
                await self._expire_ack(ep, now, counts)
            elif self._renewal_due(ep, now):
                await self._renew(ep, now, counts)

    def _renewal_due(self, ep: Row, now: float) -> bool:
        until, acked_at = ep["ack_silence_ends_at"], ep["acked_at"]
        if not ep["ack_silence_id"] or until is None or acked_at is None:
            return False
        return until - now < self.policy.ack_lease / 2 and until < acked_at + self.policy.ack_max

    async def _renew(self, ep: Row, now: float, counts: Counter[str]) -> None:
        old_until, old_id = ep["ack_silence_ends_at"], ep["ack_silence_id"]
        until = min(now + self.policy.ack_lease, ep["acked_at"] + self.policy.ack_max)
        if not await self._claim(ep["id"], {"state": EpisodeState.ACKED, "ack_silence_ends_at": old_until},
                                 ack_silence_ends_at=until):
            return  # another replica renews it, or it was unacked, taken over or resolved meanwhile
        comment = ack_comment(ep["id"], ep["acked_by"], await _off_loop(self._ack_note, ep["id"]))
        try:
            new_id = await self.alertmanager.create_silence(dict(ep["labels"]), now, until, ep["acked_by"],
                                                            comment, silence_id=old_id)
        except AlertmanagerError as exc:
            self.observer.alertmanager_error("silence_update")
            counts["ack_extend_failed"] += 1
            log.warning("ack silence not extended; the next pass retries",
                        extra={"episode": ep["id"], "error": exc.reason})
            await self._claim(ep["id"], {"ack_silence_ends_at": until}, ack_silence_ends_at=old_until)
            return
        if await _off_loop(self._record_extension, ep["id"], old_id, new_id, until, now):
            counts["acks_extended"] += 1
        else:  # unacked or resolved while we talked to Alertmanager: the replacement must not outlive the ack
            await self._expire_silence(new_id, ep["id"])

    def _record_extension(self, episode_id: str, old_id: str, new_id: str, until: float, now: float) -> bool:
        with self.store.write() as conn:
            if new_id != old_id and not repo.claim_where(conn, episode_id, {"ack_silence_id": old_id},
                                                   ack_silence_id=new_id):
                return False
            repo.append_event(conn, episode_id, EventKind.ACK_EXTENDED, now, source=Source.RECONCILER,
                              detail={"silence_id": new_id, "until": until,
                                      **({"replaced": old_id} if new_id != old_id else {})})
        return True

    def _ack_note(self, episode_id: str) -> str:
        """The comment of the ack being renewed, so the silence keeps saying what the person wrote."""
        with self.store.read() as conn:
            acks = [e for e in repo.events_of(conn, episode_id) if e["kind"] == EventKind.ACKED]
        return str(acks[-1]["detail"].get("comment") or "") if acks else ""

    async def _expire_ack(self, ep: Row, now: float, counts: Counter[str]) -> None:
        silence_id = ep["ack_silence_id"]
        if not await _off_loop(self._record_ack_expiry, ep, now):
            return
        counts["acks_expired"] += 1
        if silence_id and not await self._expire_silence(silence_id, ep["id"]):
            counts["ack_silence_expire_failed"] += 1

    def _record_ack_expiry(self, ep: Row, now: float) -> bool:
        with self.store.write() as conn:
            won = repo.claim_where(conn, ep["id"], {"state": EpisodeState.ACKED, "acked_at": ep["acked_at"]},
                             state=str(EpisodeState.FIRING), acked_at=None, acked_by=None, ack_silence_id=None,
                             ack_silence_ends_at=None)
            if won:
                repo.append_event(conn, ep["id"], EventKind.ACK_EXPIRED, now, source=Source.RECONCILER,
                                  detail={"acked_by": ep["acked_by"], "acked_at": ep["acked_at"],
                                          "silence_id": ep["ack_silence_id"], "ack_max": self.policy.ack_max})
        return won

    # --- e. escalation ------------------------------------------------------------------------------------
    async def _escalations(self, now: float, counts: Counter[str]) -> None:
        episodes = await _off_loop(self._upkeep_episodes)
        escalated_now: set[str] = set()
        for ep in episodes:
            timeout = self.policy.ack_timeout(ep["team"], ep["severity"])
            if not escalation.due(ep, timeout, now):
                continue
            if ep["first_ack_at"] is not None:  # acked once: count from when it was last left unacked
                unacked_since = await _off_loop(self._unacked_since, ep["id"])
                if not escalation.due(ep, timeout, now, unacked_since):
                    continue
            if await self._escalate(ep, timeout, now, counts):
                escalated_now.add(ep["id"])
        for ep in episodes:
            if ep["escalation_active"] and ep["id"] not in escalated_now:
                await self._keep_or_end_escalation(ep, now, counts)

    async def _escalate(self, ep: Row, timeout: float | None, now: float, counts: Counter[str]) -> bool:
        if not await self._claim(ep["id"], {"state": EpisodeState.FIRING, "escalated_at": None},
                                 escalated_at=now, escalation_active=True):
            return False  # another replica escalated it, or it was acked meanwhile
        escalated = {**ep, "escalated_at": now, "escalation_active": True}
        alert = escalation.escalation_alert(escalated, self._repost_until(now), timeout)
        try:
            await self.alertmanager.post_alerts([alert])
        except AlertmanagerError as exc:
            self.observer.alertmanager_error("escalate")
            counts["escalation_failed"] += 1
            log.warning("escalation not posted; the next pass retries", extra={"episode": ep["id"],
                                                                                "error": exc.reason})
            await self._claim(ep["id"], {"escalated_at": now}, escalated_at=None, escalation_active=False)
            return False
        await _off_loop(self._append, ep["id"], EventKind.ESCALATED, now,
                        {"ack_timeout": timeout, "team": ep["team"], "severity": ep["severity"]})
        self.observer.escalated(escalated)
        counts["escalated"] += 1
        return True

    async def _keep_or_end_escalation(self, ep: Row, now: float, counts: Counter[str]) -> None:
        timeout = self.policy.ack_timeout(ep["team"], ep["severity"])
        if escalation.still_escalating(ep):  # Alertmanager resolves an alert that is not re-sent
            try:
                await self.alertmanager.post_alerts([escalation.escalation_alert(ep, self._repost_until(now),
                                                                                 timeout)])
                counts["escalations_reposted"] += 1
            except AlertmanagerError:
                self.observer.alertmanager_error("escalate")
                counts["escalation_repost_failed"] += 1
            return
        if not await self._claim(ep["id"], {"escalation_active": True}, escalation_active=False):
            return
        try:
            await self.alertmanager.post_alerts([escalation.escalation_alert(ep, now, timeout)])
            counts["escalations_ended"] += 1
        except AlertmanagerError:
            self.observer.alertmanager_error("escalate")
            counts["escalation_end_failed"] += 1
            await self._claim(ep["id"], {"escalation_active": False}, escalation_active=True)

    def _unacked_since(self, episode_id: str) -> float | None:
        with self.store.read() as conn:
            left = [e["at"] for e in repo.events_of(conn, episode_id) if e["kind"] in UNACKING]
        return max(left, default=None)

    def _repost_until(self, now: float) -> float:
        return escalation.repost_ends_at(now, self.policy.reconcile_interval)

    # --- f. retention -------------------------------------------------------------------------------------
    async def _purge(self, now: float, counts: Counter[str]) -> None:
        if self._purged_at is not None and now - self._purged_at < PURGE_EVERY:
            return
        counts["purged"] += await _off_loop(self._purge_before, now - self.policy.retention_days * 86400.0)
        self._purged_at = now

    def _purge_before(self, before: float) -> int:
        with self.store.write() as conn:
            return repo.purge(conn, before)

    # --- plumbing -----------------------------------------------------------------------------------------
    def _in_states(self, states: Iterable[EpisodeState]) -> list[Row]:
        with self.store.read() as conn:
            return repo.episodes_in_states(conn, states)

    def _upkeep_episodes(self) -> list[Row]:
        """Episodes a pass may have to act on: every live or resolved one, and closed ones still holding an ack
        silence or an escalation alert."""
        with self.store.read() as conn:
            return repo.episodes_needing_upkeep(conn)

    async def _claim(self, episode_id: str, expected: Row, **values: Any) -> bool:
        return await _off_loop(self._claim_sync, episode_id, expected, values)

    def _claim_sync(self, episode_id: str, expected: Row, values: Row) -> bool:
        with self.store.write() as conn:
            return repo.claim_where(conn, episode_id, expected, **values)

    def _append(self, episode_id: str, kind: EventKind, at: float, detail: Row) -> None:
        with self.store.write() as conn:
            repo.append_event(conn, episode_id, kind, at, source=Source.RECONCILER, detail=detail)

    async def _expire_silence(self, silence_id: str, episode_id: str) -> bool:
        try:
            await self.alertmanager.expire_silence(silence_id)
        except AlertmanagerError as exc:
            self.observer.alertmanager_error("silence_expire")
            log.warning("ack silence not expired; its lease ends it", extra={"episode": episode_id,
                                                                             "silence_id": silence_id,
                                                                             "error": exc.reason})
            return False
        return True


def _lost_resolve(ep: Row, now: float) -> Observation:
    """The resolve nobody sent: its end is when Alertmanager timed the alert out (inferred) or, for a real
    resolve we never saw (silenced, webhook lost), the first pass that missed it — an upper bound."""
    since, timeout = ep["missing_since"], ep["timeout_at"]
    inferred = timeout is None or since >= timeout
    if inferred:
        ends = timeout if timeout is not None else since
        detail = {"why": "absent from every Alertmanager after its timeout: nobody sent a resolve",
                  "timeout_at": timeout, "missing_since": since}
    else:
        ends = since
        detail = {"why": "absent from every Alertmanager before its timeout: resolved, resolve not seen",
                  "ended_after": ep["last_seen_at"], "ended_by": since, "exact_end": "unknown"}
    return Observation(fingerprint=ep["fingerprint"], labels=dict(ep["labels"]), annotations=dict(ep["annotations"]),
                       starts_at=ep["starts_at"], status="resolved", seen_at=now, source=Source.RECONCILER,
                       ends_at=ends, inferred=inferred, generator_url=ep["generator_url"] or "", detail=detail)


async def _off_loop(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(function, *args)


def _log_pass(counts: dict[str, int]) -> None:
    level = logging.DEBUG if set(counts) <= ROUTINE else logging.INFO
    log.log(level, "reconcile pass", extra={"counts": counts})


def _reason(exc: BaseException) -> str:
    """One line saying what failed: a database error's own message (not the SQL and its parameters)."""
    if isinstance(exc, AlertmanagerError):
        return str(exc)
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:500]
