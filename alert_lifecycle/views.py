"""How episodes, events and times look outside the service: the JSON shape the API answers (and the console
shows), and the time expressions the API, the console and the CLI accept for ranges.

Inside, times are float epoch seconds; outside they are RFC 3339 UTC with a ``Z``. Columns that only the
service's bookkeeping needs (keys, missing_since, notification dedup state) stay inside.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from cachewatch.alert_lifecycle.model import format_time

Row = dict[str, Any]

TIME_FIELDS = ("starts_at", "ends_at", "first_notified_at", "last_notified_at", "first_ack_at", "acked_at",
               "ack_silence_ends_at", "escalated_at", "closed_at", "last_seen_at")
PLAIN_FIELDS = ("id", "fingerprint", "alertname", "labels", "annotations", "state", "severity", "team", "cluster",
                "region", "resolution_inferred", "notifications", "first_ack_by", "acked_by", "ack_silence_id",
                "closed_by", "classification", "close_notes", "closed_while_firing", "reopened_from", "flapping",
                "generator_url")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
EPOCH = re.compile(r"^\d{9,11}(?:\.\d+)?$")


def episode_json(row: Row) -> Row:
    """One episode row → its public JSON object (times as RFC 3339 Z strings)."""
    out = {name: row.get(name) for name in PLAIN_FIELDS}
    out.update({name: format_time(row.get(name)) for name in TIME_FIELDS})
    out["resolution_inferred"] = bool(out["resolution_inferred"])
    out["closed_while_firing"] = bool(out["closed_while_firing"])
    out["flapping"] = bool(out["flapping"])
    out["notifications"] = int(out["notifications"] or 0)
    return out


def event_json(row: Row) -> Row:
    return {"id": row["id"], "kind": row["kind"], "at": format_time(row["at"]), "actor": row["actor"],
            "source": row["source"], "detail": row["detail"] or {}}


def parse_when(text: str, now: float) -> float:
    """A point in time as people and scripts write it → epoch seconds.

    Accepts ``now``, a relative age (``90m``, ``24h``, ``7d``, ``2w``: that long before now), epoch seconds, a
    date (``2026-05-01``, midnight UTC) or an RFC 3339 / ISO 8601 time (without an offset it is UTC, as
    ``<input type=datetime-local>`` sends it). Raises ValueError with a reason fit for a 4xx.
    """
    value = text.strip()
    if value == "now":
        return now
    if match := RELATIVE.match(value):
        return now - float(match[1]) * UNITS[match[2]]
    if EPOCH.match(value):
        return float(value)
    try:
        if len(value) == 10:
            return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()
        at = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not a time: use RFC 3339 (2026-05-01T12:00:00Z), a date, epoch "
                         "seconds, or an age such as 24h or 7d") from None


def duration_text(seconds: float | None) -> str:
    """``3725`` → ``1h 2m``: two units at most, what a person reads at a glance."""
    if seconds is None:
        return "–"
    seconds = max(0, round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return " ".join(parts)
