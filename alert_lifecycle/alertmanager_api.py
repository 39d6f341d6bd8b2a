"""Asyncio client for the API v2 of one Alertmanager cluster, given as the URLs of its members.

What the cluster replicates decides how each call talks to it: gossip replicates silences, so silences are read
from and written to one member (the next one on a connection error or a 5xx); it does not replicate alerts, so
alerts are read from every member and merged, and posted to every member, as Prometheus does. A reading says
which members answered, so that the reconciler never takes "a member is down" for "the alert is gone".

Times are float epoch seconds in Python and RFC 3339 on the wire. Errors are ``AlertmanagerError``; their text
never holds credentials (URL userinfo is redacted, headers are never echoed).
"""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from cachewatch.promql import NOT_WATCHDOG

log = logging.getLogger(__name__)
T = TypeVar("T")

# Every alert, muted or not, but the Watchdog: it always fires, and an episode that never ends is noise.
ALERTS_QUERY = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true",
                "filter": NOT_WATCHDOG}
TIME_FIELDS = ("startsAt", "endsAt")
BODY_EXCERPT = 200  # characters of an error answer kept in a reason
USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
# Alertmanager's answers to expiring a silence that is gone or already expired (0.25 says "silence not found"
# with a 500; newer versions a 404; some say "already expired"): the wanted end state, so success.
EXPIRED_ALREADY = ("silence not found", "already expired")


class AlertmanagerError(Exception):
    """An operation failed on every member that could have done it; ``reason`` is free of credentials."""

    def __init__(self, operation: str, reason: str) -> None:
        self.operation = operation
        self.reason = reason
        super().__init__(f"Alertmanager {operation} failed: {reason}")


@dataclass(frozen=True)
class AlertsReading:
    """Alerts merged over the members that answered; ``failed`` maps each silent member to why."""

    alerts: list[dict]
    answered: list[str]
    failed: dict[str, str] = field(default_factory=dict)


class _MemberDown(Exception):
    """A connection error, timeout or 5xx: worth trying the next member."""


class _Refused(Exception):
    """A 4xx or a malformed answer: every member would say the same, so no failover."""


def to_rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_rfc3339(text: str) -> float:
    """Epoch seconds of an Alertmanager timestamp (it writes milliseconds; nanoseconds are cut to micro)."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


def redact_url(url: str) -> str:
    """The URL without its user and password, for logs, errors and member names."""
    return USERINFO.sub("***@", url)


class AlertmanagerAPI:
    """One Alertmanager cluster. Use as ``async with AlertmanagerAPI(urls) as am:`` or call ``aclose()``; a
    ``client`` passed in stays open (its owner closes it). ``members`` are the redacted URLs, in the order given,
    and are the names used in ``AlertsReading`` and in errors."""

    def __init__(self, urls: list[str], timeout: float = 5.0, client: httpx.AsyncClient | None = None) -> None:
        if not urls:
            raise ValueError("an Alertmanager cluster needs at least one member URL")
        self._bases = [url.rstrip("/") for url in urls]
        self.members = [redact_url(base) for base in self._bases]
        self._secrets = sorted({s for base in self._bases for s in _credentials(base)}, key=len, reverse=True)
        self._timeout = timeout
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def __aenter__(self) -> AlertmanagerAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # -- alerts: every member ---------------------------------------------------------------------------------

    async def alerts(self) -> AlertsReading:
        """Active, silenced, inhibited and unprocessed alerts of every member, one per (fingerprint, startsAt);
        where members disagree the most recently updated copy wins. Raises only when no member answered."""
        answers = await asyncio.gather(*(self._attempt(i, self._get_alerts) for i in range(len(self._bases))))
        merged: dict[tuple[str, str], dict] = {}
        answered, failed = [], {}
        for member, (alerts, error) in zip(self.members, answers, strict=True):
            if error is not None:
                failed[member] = error
                continue
            answered.append(member)
            for alert in alerts:
                key = (alert.get("fingerprint", ""), alert.get("startsAt", ""))
                if key not in merged or alert.get("updatedAt", "") > merged[key].get("updatedAt", ""):
                    merged[key] = alert
        if not answered:
            raise AlertmanagerError("reading alerts", self._summary(failed))
        return AlertsReading(alerts=list(merged.values()), answered=answered, failed=failed)

    async def post_alerts(self, alerts: list[dict]) -> None:
        """POST ``alerts`` (postable alerts; ``startsAt``/``endsAt`` may be epoch seconds) to every member;
        raises only if no member accepted them. A member that refused is logged (redacted)."""
        body = [_wire_times(alert) for alert in alerts]

        async def post(i: int) -> None:
            await self._send(i, "POST", "/api/v2/alerts", json=body)

        answers = await asyncio.gather(*(self._attempt(i, post) for i in range(len(self._bases))))
        failed = {member: error for member, (_, error) in zip(self.members, answers, strict=True) if error}
        if len(failed) == len(self.members):
            raise AlertmanagerError("posting alerts", self._summary(failed))
        for member, error in failed.items():
            log.warning("posting alerts to %s failed: %s", member, error)

    # -- silences: one member, gossip does the rest ----------------------------------------------------------

    async def silences(self) -> list[dict]:
        """Every silence (any state) as the first member that answers knows them."""
        async def on_member(i: int) -> list[dict]:
            answer = await self._send(i, "GET", "/api/v2/silences")
            if not isinstance(answer, list):
                raise _Refused(f"{self.members[i]}: silences answer is not a list")
            return answer

        return await self._first("reading silences", on_member)

    async def create_silence(self, matchers: dict[str, str], starts_at: float, ends_at: float, created_by: str,
                             comment: str, silence_id: str | None = None) -> str:
        """Create a silence of exact-equality ``matchers``, or update ``silence_id``; returns the id to keep.

        Alertmanager keeps the id of an active silence only when its matchers (in order) and its start (to the
        second, as stored: a start in the past was moved to the creation time) are unchanged, so an update
        reuses both from the stored silence and changes only the end. An id that is unknown or expired, or a
        change Alertmanager will not make in place, yields a new id; the old silence is then expired."""
        wanted = [{"name": name, "value": value, "isRegex": False, "isEqual": True}
                  for name, value in sorted(matchers.items())]
        body: dict[str, Any] = {"matchers": wanted, "startsAt": to_rfc3339(starts_at), "endsAt": to_rfc3339(ends_at),
                                "createdBy": created_by, "comment": comment}

        async def on_member(i: int) -> str:
            post = dict(body)
            if silence_id is not None:
                post.update(await self._updatable(i, silence_id, wanted))
            try:
                answer = await self._send(i, "POST", "/api/v2/silences", json=post)
            except _Refused as refused:  # gone between the look-up and the post (garbage collected)
                if "id" not in post or "not found" not in str(refused):
                    raise
                answer = await self._send(i, "POST", "/api/v2/silences", json=body)
            if not isinstance(answer, dict) or not isinstance(answer.get("silenceID"), str):
                raise _Refused(f"{self.members[i]}: answer without a silenceID")
            return answer["silenceID"]

        return await self._first("updating silence" if silence_id else "creating silence", on_member)

    async def expire_silence(self, silence_id: str) -> None:
        """Expire ``silence_id`` now. Unknown or already expired counts as done; a member that does not know it
        (a restarted peer not yet synced) hands over to the next, and it is done once any member expired it or
        every member that answered did not know it."""
        path = f"/api/v2/silence/{urllib.parse.quote(silence_id, safe='')}"
        failed: dict[str, str] = {}
        unknown = 0
        for i, member in enumerate(self.members):
            try:
                await self._send(i, "DELETE", path)
                return
            except _MemberDown as down:
                if any(phrase in str(down).lower() for phrase in EXPIRED_ALREADY):
                    unknown += 1
                else:
                    failed[member] = str(down)
            except _Refused as refused:
                if not any(phrase in str(refused).lower() for phrase in (*EXPIRED_ALREADY, "http 404")):
                    raise AlertmanagerError("expiring silence", self._scrub(str(refused))) from None
                unknown += 1
        if not unknown:
            raise AlertmanagerError("expiring silence", self._summary(failed))

    # -- plumbing --------------------------------------------------------------------------------------------

    async def _updatable(self, i: int, silence_id: str, wanted: list[dict]) -> dict[str, Any]:
        """The fields that let member ``i`` update ``silence_id`` in place; empty (a new silence) when it is
        unknown or expired. An active silence keeps its stored start and, if equal as a set, its matcher order."""
        try:
            current = await self._send(i, "GET", f"/api/v2/silence/{urllib.parse.quote(silence_id, safe='')}")
        except _Refused as refused:
            if "http 404" in str(refused).lower():
                return {}
            raise
        state = (current.get("status") or {}).get("state")
        if state == "expired":
            return {}
        update: dict[str, Any] = {"id": silence_id}
        if state == "active":
            update["startsAt"] = current["startsAt"]
        stored = current.get("matchers") or []
        if sorted(map(_matcher_key, stored)) == sorted(map(_matcher_key, wanted)):
            update["matchers"] = stored
        return update

    async def _send(self, i: int, method: str, path: str, json: object = None) -> Any:
        """One request to member ``i``; the decoded JSON answer (None for an empty body)."""
        member = self.members[i]
        try:
            response = await self._client.request(method, self._bases[i] + path, json=json,
                                                  timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise _MemberDown(f"{member}: timed out after {self._timeout:g}s ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise _MemberDown(f"{member}: {type(exc).__name__}: {str(exc) or 'connection failed'}") from None
        except httpx.InvalidURL as exc:
            raise _Refused(f"{member}: invalid URL: {exc}") from None
        if response.status_code >= 300:
            problem = f"{member}: HTTP {response.status_code}: {_excerpt(response.text)}"
            raise (_MemberDown if response.status_code >= 500 else _Refused)(problem)
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise _Refused(f"{member}: answer is not JSON: {_excerpt(response.text)}") from None

    async def _get_alerts(self, i: int) -> list[dict]:
        answer = await self._send(i, "GET", f"/api/v2/alerts?{urllib.parse.urlencode(ALERTS_QUERY)}")
        if not isinstance(answer, list):
            raise _Refused(f"{self.members[i]}: alerts answer is not a list")
        return answer

    async def _attempt(self, i: int, call: Callable[[int], Awaitable[T]]) -> tuple[T | None, str | None]:
        """(result, None) or (None, why) for one member, where any failure is just that member's."""
        try:
            return await call(i), None
        except (_MemberDown, _Refused) as exc:
            return None, self._scrub(str(exc))

    async def _first(self, operation: str, call: Callable[[int], Awaitable[T]]) -> T:
        """``call`` on the first member that is up; a refusal (4xx) is final, a member down moves on."""
        failed: dict[str, str] = {}
        for i, member in enumerate(self.members):
            try:
                return await call(i)
            except _MemberDown as down:
                failed[member] = self._scrub(str(down))
            except _Refused as refused:
                raise AlertmanagerError(operation, self._scrub(str(refused))) from None
        raise AlertmanagerError(operation, self._summary(failed))

    def _summary(self, failed: dict[str, str]) -> str:
        return "every member failed: " + "; ".join(failed.values())

    def _scrub(self, text: str) -> str:
        """Redact URL userinfo and any credential of the configured URLs that slipped into ``text``."""
        text = USERINFO.sub("***@", text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _credentials(url: str) -> set[str]:
    """The password of ``url`` as written and decoded (the user name is not a secret)."""
    password = urllib.parse.urlsplit(url).password
    if not password:
        return set()
    return {password, urllib.parse.unquote(password)}


def _matcher_key(matcher: dict) -> tuple:
    return (matcher.get("name"), matcher.get("value"), bool(matcher.get("isRegex")), matcher.get("isEqual", True))


def _wire_times(alert: dict) -> dict:
    """A postable alert with epoch-second times turned into RFC 3339."""
    return {key: to_rfc3339(value) if key in TIME_FIELDS and isinstance(value, int | float) else value
            for key, value in alert.items()}


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return "(empty body)"
    return text if len(text) <= BODY_EXCERPT else text[:BODY_EXCERPT] + "…"
