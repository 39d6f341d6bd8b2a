"""Ack-timeout escalation as data: when an episode is due, and the alert the service posts to Alertmanager for it.

Pure functions, so the contract (labels the generated routes match on, annotations people read) is pinned by
plain tests and the reconciler only decides *when*. The escalation alert is an ordinary Alertmanager alert:
Alertmanager resolves any alert that is not re-sent before its endsAt, so the reconciler re-posts it every pass
while the episode stays unacked and firing, with an endsAt a few passes ahead, and posts it once more with
endsAt = now when the episode is acked, resolved or closed.
"""

from __future__ import annotations

from typing import Any

from cachewatch.alert_lifecycle.model import ESCALATION_ALERTNAME, ESCALATION_LABEL, ESCALATION_VALUE, EpisodeState

Row = dict[str, Any]
COPIED_LABELS = ("team", "severity", "cluster", "region")  # the episode's, so routes and silences see the same
COPIED_ANNOTATIONS = ("description", "runbook_url", "dashboard_url")
REPOST_PASSES = 4  # endsAt = now + this many reconcile intervals: survives three missed passes


def due(episode: Row, timeout: float | None, now: float, unacked_since: float | None = None) -> bool:
    """Still firing unacked ``timeout`` seconds after its first notification (its start when never notified),
    and not escalated before. An episode that was acked and then unacked, or whose ack expired at ack_max,
    counts from ``unacked_since``: it was acknowledged in time, so its team gets the full timeout to take it
    again before anyone is told it was not."""
    if timeout is None or episode["state"] != EpisodeState.FIRING or episode["ends_at"] is not None:
        return False
    if episode["escalated_at"] is not None:
        return False
    since = episode["first_notified_at"] if episode["first_notified_at"] is not None else episode["starts_at"]
    if unacked_since is not None:
        since = max(since, unacked_since)
    return now - since >= timeout


def still_escalating(episode: Row) -> bool:
    """The escalation alert must keep firing: the episode is still unacked and its alert still fires."""
    return episode["state"] == EpisodeState.FIRING and episode["ends_at"] is None


def repost_ends_at(now: float, reconcile_interval: float) -> float:
    return now + REPOST_PASSES * reconcile_interval


def escalation_alert(episode: Row, ends_at: float, timeout: float | None = None) -> dict:
    """The postable alert (API v2, epoch-second times) escalating ``episode``; starts when it was escalated."""
    labels = {"alertname": ESCALATION_ALERTNAME, ESCALATION_LABEL: ESCALATION_VALUE,
              **{name: episode[name] for name in COPIED_LABELS if episode.get(name)},
              "escalated_alertname": episode["alertname"], "episode": episode["id"]}
    original = episode.get("annotations") or {}
    waited = f" for {_duration(timeout)}" if timeout else ""
    what = original.get("summary") or f"{episode['alertname']} {episode.get('cluster') or ''}".strip()
    annotations = {"summary": f"Not acknowledged{waited}: {what}",
                   **{name: original[name] for name in COPIED_ANNOTATIONS if original.get(name)}}
    if "description" not in annotations:
        annotations["description"] = (f"Episode {episode['id']} of {episode['alertname']} (team "
                                      f"{episode.get('team') or 'none'}) is firing and nobody acknowledged it.")
    return {"labels": labels, "annotations": annotations, "startsAt": episode["escalated_at"], "endsAt": ends_at}


def _duration(seconds: float) -> str:
    """900 → '15m', 5400 → '1h30m', 1 → '1s': how the spec writes durations."""
    whole = int(seconds)
    parts = [(whole // 3600, "h"), (whole % 3600 // 60, "m"), (whole % 60, "s")]
    return "".join(f"{value}{unit}" for value, unit in parts if value) or f"{seconds:g}s"
