"""What a person does to an episode: acknowledge, unacknowledge, close with notes and a classification, note.

An ack with ack_mode ``silence`` is a leased Alertmanager silence matching exactly the alert's labels,
``createdBy`` the real user, comment starting ``ACK!`` (karma's convention); the reconciler renews it while the
alert fires, up to ``ack_max``, and it is expired at once on unack, close or resolve, so a recurrence pages.
With ack_mode ``notify`` the ack is recorded and notifications keep flowing (tickets).
Closing never posts an endsAt to Alertmanager: Prometheus would re-fire the alert (alerta-contrib's trap). A
closed episode whose alert still fires reopens as a linked episode at the next sighting (intake.py).
Every refusal raises an ``ActionError`` with the HTTP status the API answers, and changes nothing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from cachewatch.alert_lifecycle.alertmanager_api import AlertmanagerAPI, AlertmanagerError
from cachewatch.alert_lifecycle.model import Classification, EpisodeState, EventKind
from cachewatch.alert_lifecycle.observer import Effects, NullObserver, Observer
from cachewatch.alert_lifecycle.policy import Policy
from cachewatch.alert_lifecycle.store import repository as repo
from cachewatch.alert_lifecycle.store.engine import Store

MAX_TEXT = 10_000
ACK_PREFIX = "ACK!"


class ActionError(Exception):
    status = 400

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Invalid(ActionError):
    status = 422


class Forbidden(ActionError):
    status = 403


class NotFound(ActionError):
    status = 404


class Conflict(ActionError):
    status = 409


class Upstream(ActionError):
    status = 502


def ack_comment(episode_id: str, user: str, comment: str) -> str:
    text = f"{ACK_PREFIX} cachewatch episode={episode_id} by {user}"
    return f"{text}: {comment}" if comment else text


class Lifecycle:
    """The actions, over the store, the spec's policy and (optionally) Alertmanager."""

    def __init__(self, store: Store, policy: Policy, alertmanager: AlertmanagerAPI | None = None,
                 observer: Observer | None = None, clock: Callable[[], float] = time.time):
        self.store, self.policy, self.alertmanager = store, policy, alertmanager
        self.observer = observer or NullObserver()
        self.clock = clock

    # --- lookups ------------------------------------------------------------------------------------------
    def find(self, ref: str) -> dict:
        """An episode by id, or by fingerprint (its newest episode)."""
        with self.store.read() as conn:
            ep = repo.episode(conn, ref) or repo.latest_episode(conn, ref)
        if ep is None:
            raise NotFound(f"no episode {ref[:64]!r}")
        return ep

    def _allowed(self, user: str, ep: dict) -> None:
        if not self.policy.may_act(user, ep["team"]):
            raise Forbidden(f"{user} is not a member of team {ep['team'] or '(none)'} nor an admin")

    # --- ack ----------------------------------------------------------------------------------------------
    async def ack(self, ref: str, user: str, comment: str = "") -> dict:
        ep = self.find(ref)
        self._allowed(user, ep)
        comment = _text(comment, "comment", required=False)
        if ep["state"] == EpisodeState.ACKED and ep["acked_by"] == user:
            return ep
        if ep["state"] not in (EpisodeState.FIRING, EpisodeState.ACKED):
            raise Conflict(f"episode {ep['id']} is {ep['state']}; only a firing episode can be acknowledged")
        now = self.clock()
        silence_id, until = ep["ack_silence_id"], ep["ack_silence_ends_at"]
        if self.policy.ack_mode(ep["team"], ep["severity"]) == "silence" and self.alertmanager is not None:
            until = now + self.policy.ack_lease
            silence_id = await self._silence(ep, user, ack_comment(ep["id"], user, comment), now, until, silence_id)
        effects = Effects()
        with self.store.write() as conn:
            changes = {"state": str(EpisodeState.ACKED), "acked_at": now, "acked_by": user,
                       "ack_silence_id": silence_id, "ack_silence_ends_at": until}
            first = ep["first_ack_at"] is None
            if first:
                changes.update(first_ack_at=now, first_ack_by=user)
            won = repo.claim(conn, ep["id"], "state", ep["state"], **changes)
            if won:
                repo.append_event(conn, ep["id"], EventKind.ACKED, now, actor=user, source="api",
                                  detail={"silence_id": silence_id, "comment": comment,
                                          "takeover_from": ep["acked_by"]})
                if first:
                    notified = ep["first_notified_at"]
                    effects.acked(ep, now - notified if notified is not None else None)
        if not won:
            await self._expire_quietly(silence_id if silence_id != ep["ack_silence_id"] else None)
            raise Conflict(f"episode {ep['id']} changed meanwhile; reload and try again")
        effects.flush(self.observer)
        return self.find(ep["id"])

    async def unack(self, ref: str, user: str) -> dict:
        ep = self.find(ref)
        self._allowed(user, ep)
        if ep["state"] != EpisodeState.ACKED:
            raise Conflict(f"episode {ep['id']} is {ep['state']}, not acked")
        await self._expire(ep["ack_silence_id"])
        now = self.clock()
        with self.store.write() as conn:
            won = repo.claim(conn, ep["id"], "state", str(EpisodeState.ACKED), state=str(EpisodeState.FIRING),
                             acked_at=None, acked_by=None, ack_silence_id=None, ack_silence_ends_at=None)
            if won:
                repo.append_event(conn, ep["id"], EventKind.UNACKED, now, actor=user, source="api",
                                  detail={"silence_id": ep["ack_silence_id"]})
        if not won:
            raise Conflict(f"episode {ep['id']} changed meanwhile; reload and try again")
        return self.find(ep["id"])

    # --- close and notes ----------------------------------------------------------------------------------
    async def close(self, ref: str, user: str, notes: str, classification: str) -> dict:
        ep = self.find(ref)
        self._allowed(user, ep)
        notes = _text(notes, "notes", required=True)
        try:
            kind = Classification(classification)
        except ValueError:
            allowed = ", ".join(c.value for c in Classification)
            raise Invalid(f"classification {str(classification)[:40]!r} is not one of: {allowed}") from None
        if ep["state"] == EpisodeState.CLOSED:
            raise Conflict(f"episode {ep['id']} is already closed")
        await self._expire(ep["ack_silence_id"])
        now = self.clock()
        effects = Effects()
        with self.store.write() as conn:
            won = repo.claim(conn, ep["id"], "state", ep["state"], state=str(EpisodeState.CLOSED), closed_at=now,
                             closed_by=user, classification=str(kind), close_notes=notes,
                             closed_while_firing=ep["ends_at"] is None, ack_silence_id=None,
                             ack_silence_ends_at=None)
            if won:
                repo.append_event(conn, ep["id"], EventKind.CLOSED, now, actor=user, source="api",
                                  detail={"notes": notes, "still_firing": ep["ends_at"] is None})
                repo.append_event(conn, ep["id"], EventKind.CLASSIFIED, now, actor=user, source="api",
                                  detail={"classification": str(kind)})
                effects.closed(ep, now - ep["starts_at"], str(kind))
        if not won:
            raise Conflict(f"episode {ep['id']} changed meanwhile; reload and try again")
        effects.flush(self.observer)
        return self.find(ep["id"])

    def note(self, ref: str, user: str, text: str) -> dict:
        ep = self.find(ref)
        self._allowed(user, ep)
        text = _text(text, "text", required=True)
        with self.store.write() as conn:
            repo.append_event(conn, ep["id"], EventKind.NOTE, self.clock(), actor=user, source="api",
                              detail={"text": text})
        return ep

    # --- Alertmanager -------------------------------------------------------------------------------------
    async def _silence(self, ep: dict, user: str, comment: str, now: float, until: float,
                       silence_id: str | None) -> str:
        assert self.alertmanager is not None
        try:
            return await self.alertmanager.create_silence(dict(ep["labels"]), now, until, user, comment,
                                                          silence_id=silence_id)
        except AlertmanagerError as exc:
            self.observer.alertmanager_error("silence_create")
            raise Upstream(f"Alertmanager refused the ack silence: {exc}") from None

    async def _expire(self, silence_id: str | None) -> None:
        if silence_id and self.alertmanager is not None:
            try:
                await self.alertmanager.expire_silence(silence_id)
            except AlertmanagerError as exc:
                self.observer.alertmanager_error("silence_expire")
                raise Upstream(f"Alertmanager did not expire the ack silence: {exc}") from None

    async def _expire_quietly(self, silence_id: str | None) -> None:
        with contextlib.suppress(Upstream):  # the lease runs out on its own
            await self._expire(silence_id)


def _text(value: object, name: str, required: bool) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string")
    value = value.strip()
    if required and not value:
        raise Invalid(f"{name} must not be empty")
    if len(value) > MAX_TEXT:
        raise Invalid(f"{name} is longer than {MAX_TEXT} characters")
    return value
