"""The alert lifecycle's vocabulary: episodes, their events, and one alert as an intake leg sees it.

An *episode* is one firing of one alert. Alertmanager's fingerprint hashes the label set and is the same for
every firing, so an episode is keyed by fingerprint + ``startsAt``; a Prometheus restart re-sets ``startsAt``,
so a new ``startsAt`` seen while the episode still fires (or within ``merge_grace`` of its last sighting when
its end was only inferred) continues the same episode (see intake.py). Every change is an ``Event`` appended
with its actor and time: the episode's timeline.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

# One spelling, shared with the generated escalation routes (re-exported for the lifecycle's modules).
from cachewatch.promql import ESCALATION_ALERTNAME as ESCALATION_ALERTNAME
from cachewatch.promql import ESCALATION_LABEL as ESCALATION_LABEL
from cachewatch.promql import ESCALATION_VALUE as ESCALATION_VALUE


class EpisodeState(StrEnum):
    FIRING = "firing"  # fired, nobody acknowledged it (yet)
    ACKED = "acked"  # somebody owns it; with ack_mode silence an Alertmanager silence mutes it
    RESOLVED = "resolved"  # the signal ended (Prometheus' endsAt, or inferred from a timeout); not closed by a human
    CLOSED = "closed"  # a human closed it with notes and a classification


OPEN_STATES = (EpisodeState.FIRING, EpisodeState.ACKED, EpisodeState.RESOLVED)


class EventKind(StrEnum):
    FIRED = "fired"
    NOTIFIED = "notified"
    ACKED = "acked"
    ACK_EXTENDED = "ack_extended"
    ACK_EXPIRED = "ack_expired"  # the ack reached alert_lifecycle.ack_max: the alert pages again on purpose
    UNACKED = "unacked"
    ESCALATED = "escalated"
    ESCALATION_NOTIFIED = "escalation_notified"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CLASSIFIED = "classified"
    NOTE = "note"
    REOPENED = "reopened"
    MERGED = "merged"  # a new startsAt (Prometheus restart) joined this episode


class Classification(StrEnum):
    ACTIONABLE = "actionable"
    NON_ACTIONABLE = "non_actionable"
    FALSE_POSITIVE = "false_positive"
    DUPLICATE = "duplicate"
    EXPECTED = "expected"


class Source(StrEnum):
    WEBHOOK = "webhook"
    RECONCILER = "reconciler"
    API = "api"


ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "no endsAt" in webhooks


def parse_time(text: str | None) -> float | None:
    """RFC 3339 (Alertmanager writes up to nanoseconds) → epoch seconds; Go's zero time and empty → None."""
    if not text or text.startswith("0001-01-01"):
        return None
    head, _, frac = text.partition(".")
    if frac:  # Python reads at most 6 fractional digits: keep them, keep the offset
        digits = len(frac) - len(frac.lstrip("0123456789"))
        frac = frac[:min(digits, 6)] + frac[digits:]
        text = f"{head}.{frac}"
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def format_time(at: float | None) -> str | None:
    """Epoch seconds → RFC 3339 UTC with milliseconds (what the API and Alertmanager read)."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def micros(at: float) -> int:
    """The exact integer key of a time: floats are never compared for equality in SQL."""
    return round(at * 1_000_000)


def episode_id(fingerprint: str, starts_at: float, generation: int = 0) -> str:
    """Deterministic, so replays and replicas agree; ``generation`` > 0 for an episode reopened after a close."""
    raw = f"{fingerprint}|{micros(starts_at)}|{generation}".encode()
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Observation:
    """One alert as one intake leg saw it at ``seen_at``.

    ``notified`` is true for a webhook delivery (a notification of the history route). ``ends_at`` is the
    alert's endsAt when it is resolved; for a firing alert read from the API it is the timeout Alertmanager
    will resolve it at (``timeout_at``), which tells a lost resolve from a timed-out one later.
    """

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    status: str  # firing | resolved
    seen_at: float
    source: Source
    ends_at: float | None = None
    timeout_at: float | None = None
    notified: bool = False
    inferred: bool = False  # a resolve concluded from the alert timing out, not from Prometheus saying so
    generator_url: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def firing(self) -> bool:
        return self.status == "firing"
