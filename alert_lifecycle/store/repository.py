"""Every read and write of the lifecycle store, as small functions over a connection.

Rows come back as plain dicts (column → value). Writes that several service replicas may race on (renewing an
ack silence, escalating, expiring) go through ``claim``: a compare-and-set UPDATE whose row count says who won.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from cachewatch.alert_lifecycle.model import EpisodeState, EventKind
from cachewatch.alert_lifecycle.store.schema import episode_keys, episodes, events, notifications

Row = dict[str, Any]
FILTER_COLUMNS = ("state", "team", "cluster", "alertname", "severity", "region", "fingerprint")


# The statements of the intake's hot path, built once: SQLAlchemy then reuses their compiled form (building a
# statement per call cost more than running it on SQLite).
_BY_ID = sa.select(episodes).where(episodes.c.id == sa.bindparam("id"))
_BY_KEY = (sa.select(episodes).join(episode_keys, episode_keys.c.episode_id == episodes.c.id)
           .where(episode_keys.c.fingerprint == sa.bindparam("fp"), episode_keys.c.starts_us == sa.bindparam("us")))
_LATEST = (sa.select(episodes).where(episodes.c.fingerprint == sa.bindparam("fp"))
           .order_by(episodes.c.starts_at.desc(), episodes.c.generation.desc()).limit(1))
# The writer's reads lock the row (PostgreSQL; SQLite has one writer anyway): two replicas applying the same
# resolve one after the other, the second sees the first's result instead of writing a second event.
_BY_KEY_LOCKED = _BY_KEY.with_for_update(of=episodes)
_LATEST_LOCKED = _LATEST.with_for_update(of=episodes)
_INSERT_EPISODE = episodes.insert()
_INSERT_KEY = episode_keys.insert()
_INSERT_EVENT = events.insert()
_SEEN_PAYLOAD = sa.select(notifications.c.payload_hash).where(notifications.c.payload_hash == sa.bindparam("h"))
_INSERT_PAYLOAD = notifications.insert()


def _one_of(conn: sa.Connection, query: sa.Select, params: dict) -> Row | None:
    row = conn.execute(query, params).mappings().first()
    return dict(row) if row is not None else None


def episode(conn: sa.Connection, episode_id: str) -> Row | None:
    return _one_of(conn, _BY_ID, {"id": episode_id})


def episode_by_key(conn: sa.Connection, fingerprint: str, starts_us: int, lock: bool = False) -> Row | None:
    return _one_of(conn, _BY_KEY_LOCKED if lock else _BY_KEY, {"fp": fingerprint, "us": starts_us})


def latest_episode(conn: sa.Connection, fingerprint: str, lock: bool = False) -> Row | None:
    return _one_of(conn, _LATEST_LOCKED if lock else _LATEST, {"fp": fingerprint})


def insert_episode(conn: sa.Connection, values: Row) -> Row:
    """Insert and return the whole row (every column, unset ones None) without reading it back."""
    row = dict.fromkeys(episodes.c.keys()) | values
    conn.execute(_INSERT_EPISODE, row)
    return row


def add_key(conn: sa.Connection, fingerprint: str, starts_us: int, episode_id: str) -> None:
    conn.execute(_INSERT_KEY, {"fingerprint": fingerprint, "starts_us": starts_us, "episode_id": episode_id})


def move_keys(conn: sa.Connection, from_id: str, to_id: str) -> None:
    conn.execute(episode_keys.update().where(episode_keys.c.episode_id == from_id).values(episode_id=to_id))


_UPDATE = episodes.update().where(episodes.c.id == sa.bindparam("_id"))


def update(conn: sa.Connection, episode_id: str, **values: Any) -> None:
    if values:  # one compiled statement per set of columns, reused
        conn.execute(_UPDATE, {"_id": episode_id, **values})


def claim(conn: sa.Connection, episode_id: str, column: str, expected: Any, **values: Any) -> bool:
    """Set ``values`` only if ``column`` still holds ``expected``: exactly one of several racing replicas wins."""
    return claim_where(conn, episode_id, {column: expected}, **values)


def claim_where(conn: sa.Connection, episode_id: str, expected: Row, **values: Any) -> bool:
    """``claim`` over several columns: one UPDATE whose WHERE holds every expected value."""
    where = [episodes.c[name].is_(None) if held is None else episodes.c[name] == str(held)
             if isinstance(held, EpisodeState) else episodes.c[name] == held for name, held in expected.items()]
    result = conn.execute(episodes.update().where(episodes.c.id == episode_id, *where).values(**values))
    return result.rowcount == 1


def append_event(conn: sa.Connection, episode_id: str, kind: EventKind, at: float, actor: str = "",
                 source: str = "", detail: Row | None = None) -> None:
    conn.execute(_INSERT_EVENT, {"episode_id": episode_id, "kind": str(kind), "at": at, "actor": actor,
                                 "source": source, "detail": detail or {}})


def events_of(conn: sa.Connection, episode_id: str) -> list[Row]:
    query = sa.select(events).where(events.c.episode_id == episode_id).order_by(events.c.at, events.c.id)
    return [dict(r) for r in conn.execute(query).mappings()]


def has_event(conn: sa.Connection, episode_id: str, kind: EventKind) -> bool:
    query = sa.select(events.c.id).where(events.c.episode_id == episode_id, events.c.kind == str(kind)).limit(1)
    return conn.execute(query).first() is not None


_COUNT_SINCE = (sa.select(sa.func.count()).select_from(episodes)
                .where(episodes.c.fingerprint == sa.bindparam("fp"), episodes.c.starts_at >= sa.bindparam("since"),
                       episodes.c.generation == 0))


def count_since(conn: sa.Connection, fingerprint: str, since: float) -> int:
    return int(conn.execute(_COUNT_SINCE, {"fp": fingerprint, "since": since}).scalar_one())


@dataclass(frozen=True)
class EpisodeFilter:
    """What the API, the console and the CLI filter episodes by; ``open_only`` means not closed."""

    state: str | None = None
    team: str | None = None
    cluster: str | None = None
    alertname: str | None = None
    severity: str | None = None
    region: str | None = None
    fingerprint: str | None = None
    since: float | None = None  # starts_at >= since
    until: float | None = None  # starts_at < until
    open_only: bool = False
    teams: frozenset[str] | None = None  # restrict to these teams (a user's view)

    def where(self) -> list[sa.ColumnElement[bool]]:
        out = [episodes.c[name] == getattr(self, name) for name in FILTER_COLUMNS if getattr(self, name)]
        if self.since is not None:
            out.append(episodes.c.starts_at >= self.since)
        if self.until is not None:
            out.append(episodes.c.starts_at < self.until)
        if self.open_only:
            out.append(episodes.c.state != str(EpisodeState.CLOSED))
        if self.teams is not None:
            out.append(episodes.c.team.in_(sorted(self.teams)))
        return out


def list_episodes(conn: sa.Connection, where: EpisodeFilter, limit: int = 500, offset: int = 0) -> list[Row]:
    query = (sa.select(episodes).where(*where.where())
             .order_by(episodes.c.starts_at.desc(), episodes.c.id).limit(limit).offset(offset))
    return [dict(r) for r in conn.execute(query).mappings()]


def count_episodes(conn: sa.Connection, where: EpisodeFilter) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(episodes).where(*where.where())).scalar_one())


_UPKEEP = sa.select(episodes).where(sa.or_(
    episodes.c.state.in_([str(EpisodeState.FIRING), str(EpisodeState.ACKED)]),
    episodes.c.ack_silence_id.is_not(None), episodes.c.escalation_active))


def episodes_needing_upkeep(conn: sa.Connection) -> list[Row]:
    """What a reconciliation pass may act on: live episodes, and any still holding an ack silence or a live
    escalation (a query that stays small however long the history grows)."""
    return [dict(r) for r in conn.execute(_UPKEEP).mappings()]


def episodes_in_states(conn: sa.Connection, states: Iterable[EpisodeState]) -> list[Row]:
    query = sa.select(episodes).where(episodes.c.state.in_([str(s) for s in states]))
    return [dict(r) for r in conn.execute(query).mappings()]


def events_between(conn: sa.Connection, since: float, until: float, kinds: Iterable[EventKind]) -> list[Row]:
    query = (sa.select(events).where(events.c.at >= since, events.c.at < until,
                                     events.c.kind.in_([str(k) for k in kinds])).order_by(events.c.at))
    return [dict(r) for r in conn.execute(query).mappings()]


def remember_payload(conn: sa.Connection, payload_hash: str, received_at: float, receiver: str, group_key: str,
                     status: str, alerts: int, truncated: int) -> bool:
    """Record one webhook payload; False when this exact payload was taken in before (a replay)."""
    if conn.execute(_SEEN_PAYLOAD, {"h": payload_hash}).first() is not None:
        return False
    conn.execute(_INSERT_PAYLOAD, {"payload_hash": payload_hash, "received_at": received_at, "receiver": receiver,
                                   "group_key": group_key, "status": status, "alerts": alerts,
                                   "truncated_alerts": truncated})
    return True


def purge(conn: sa.Connection, before: float) -> int:
    """Delete episodes closed or resolved before ``before`` (events and keys go with them) and old payload rows."""
    old = sa.select(episodes.c.id).where(
        sa.or_(episodes.c.closed_at < before,
               sa.and_(episodes.c.state == str(EpisodeState.RESOLVED), episodes.c.ends_at < before)))
    for table, column in ((events, events.c.episode_id), (episode_keys, episode_keys.c.episode_id)):
        conn.execute(table.delete().where(column.in_(old)))
    deleted = conn.execute(episodes.delete().where(episodes.c.id.in_(old))).rowcount
    conn.execute(notifications.delete().where(notifications.c.received_at < before))
    return deleted
