"""Alert analytics over the episode history, with the definitions written down (docs/alert-lifecycle.md).

- MTTA: first ack minus first notification, over episodes that were notified and acknowledged (an ack before the
  first notification counts as 0). Episodes never notified (silenced from the start) have no MTTA.
- MTTR: endsAt minus startsAt, over episodes whose end came from Prometheus; resolves inferred from Alertmanager
  timing an alert out are left out (their end is when Alertmanager gave up, not when the fault ended).
- Time to close: the human close minus startsAt.
- Noisiest: per alertname × cluster × team, by episodes, then notifications, then firing minutes.
- Flapping: a fingerprint with at least ``flap_episodes`` episodes starting inside any ``flap_window``.
- False-positive rate: episodes classified ``false_positive`` over episodes classified at all; the unclassified
  share is episodes with no classification over all episodes.
An episode belongs to the window its startsAt falls in. A reopened episode (a human closed it while it still
fired) is the same firing: it counts for MTTR, time to close and classification, not as another episode.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from statistics import fmean

import sqlalchemy as sa

from cachewatch.alert_lifecycle.model import Classification
from cachewatch.alert_lifecycle.store.engine import Store
from cachewatch.alert_lifecycle.store.repository import EpisodeFilter
from cachewatch.alert_lifecycle.store.schema import episodes

COLUMNS = ("id", "fingerprint", "generation", "alertname", "team", "cluster", "severity", "starts_at", "ends_at",
           "resolution_inferred", "first_notified_at", "notifications", "first_ack_at", "closed_at",
           "classification")
NOISIEST = 10


def _mean(values: list[float]) -> float | None:
    return round(fmean(values), 3) if values else None


def mtta(rows: list[dict]) -> float | None:
    return _mean([max(0.0, r["first_ack_at"] - r["first_notified_at"]) for r in rows
                  if r["first_ack_at"] is not None and r["first_notified_at"] is not None])


def mttr(rows: list[dict]) -> float | None:
    return _mean([r["ends_at"] - r["starts_at"] for r in rows
                  if r["ends_at"] is not None and not r["resolution_inferred"]])


def time_to_close(rows: list[dict]) -> float | None:
    return _mean([r["closed_at"] - r["starts_at"] for r in rows if r["closed_at"] is not None])


def noisiest(rows: list[dict], now: float, top: int = NOISIEST) -> list[dict]:
    groups: dict[tuple[str, str, str], dict] = {}
    for r in rows:
        key = (r["alertname"], r["cluster"], r["team"])
        g = groups.setdefault(key, {"alertname": key[0], "cluster": key[1], "team": key[2], "episodes": 0,
                                    "notifications": 0, "firing_minutes": 0.0})
        g["episodes"] += r["generation"] == 0
        g["notifications"] += r["notifications"]
        if r["generation"] == 0:
            g["firing_minutes"] += max(0.0, (r["ends_at"] or now) - r["starts_at"]) / 60
    ranked = sorted(groups.values(), key=lambda g: (-g["episodes"], -g["notifications"], -g["firing_minutes"],
                                                     g["alertname"], g["cluster"]))
    return [{**g, "firing_minutes": round(g["firing_minutes"], 1)} for g in ranked[:top]]


def flapping(rows: list[dict], window: float, episodes_needed: int) -> list[dict]:
    starts: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["generation"] == 0:
            starts[r["fingerprint"]].append(r)
    out = []
    for fingerprint, group in starts.items():
        times = sorted(r["starts_at"] for r in group)
        if any(times[i + episodes_needed - 1] - times[i] <= window for i in range(len(times) - episodes_needed + 1)):
            first = group[0]
            out.append({"alertname": first["alertname"], "cluster": first["cluster"], "team": first["team"],
                        "fingerprint": fingerprint, "episodes": len(times)})
    return sorted(out, key=lambda f: (-f["episodes"], f["alertname"]))


def classification_rates(rows: list[dict]) -> tuple[float | None, float | None]:
    """(false-positive rate among classified, unclassified share among all), counting each firing once."""
    firings = [r for r in rows if r["generation"] == 0 or r["classification"]]
    classified = [r for r in firings if r["classification"]]
    fp = sum(r["classification"] == Classification.FALSE_POSITIVE for r in classified)
    first = [r for r in rows if r["generation"] == 0]
    unclassified = [r for r in first if not r["classification"]]
    return (round(fp / len(classified), 4) if classified else None,
            round(len(unclassified) / len(first), 4) if first else None)


def trend(rows: list[dict]) -> list[dict]:
    days: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        days[datetime.fromtimestamp(r["starts_at"], UTC).strftime("%Y-%m-%d")].append(r)
    return [{"day": day, "episodes": sum(r["generation"] == 0 for r in group), "mtta_seconds": mtta(group),
             "mttr_seconds": mttr(group)} for day, group in sorted(days.items())]


def fetch(store: Store, where: EpisodeFilter) -> list[dict]:
    query = sa.select(*(episodes.c[name] for name in COLUMNS)).where(*where.where())
    with store.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def report(store: Store, since: float, until: float, team: str | None = None, cluster: str | None = None,
           alertname: str | None = None, flap_window: float = 3600.0, flap_episodes: int = 3,
           now: float | None = None) -> dict:
    """Every figure for episodes that started in [since, until), optionally for one team, cluster or alert."""
    rows = fetch(store, EpisodeFilter(team=team, cluster=cluster, alertname=alertname, since=since, until=until))
    first = [r for r in rows if r["generation"] == 0]
    fp_rate, unclassified = classification_rates(rows)
    return {
        "from": since, "to": until, "team": team, "cluster": cluster, "alertname": alertname,
        "episodes": len(first),
        "mtta_seconds": mtta(rows), "mttr_seconds": mttr(rows), "time_to_close_seconds": time_to_close(rows),
        "acked_share": round(sum(r["first_ack_at"] is not None for r in first) / len(first), 4) if first else None,
        "false_positive_rate": fp_rate, "unclassified_share": unclassified,
        "noisiest": noisiest(rows, time.time() if now is None else now),
        "flapping": flapping(rows, flap_window, flap_episodes),
        "trend": trend(rows),
    }
