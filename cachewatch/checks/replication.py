"""Replication checks. INFO's replica ``lag`` is the seconds since the replica's last ACK: it shows the link is
alive, not how far behind the data is; ``repl.lag_bytes`` and the heartbeat probe measure that."""

from __future__ import annotations

from cachewatch.checks.measures import flag, growth, is_replica, replicas
from cachewatch.checks.model import Category, Check, Snapshot, Thresholds, Tier

REPLICATION, CHEAP = Category.REPLICATION, Tier.CHEAP
PANEL = "cachewatch-health/replication"


def _link_down(snap: Snapshot, prev: Snapshot | None) -> float | None:
    return flag(snap.info.get("master_link_status") != "up") if is_replica(snap) else None


def _ack_lag(snap: Snapshot, prev: Snapshot | None) -> float | None:
    lags = [float(r.get("lag", 0)) for r in replicas(snap)]
    return max(lags) if lags else None


def _lag_bytes(snap: Snapshot, prev: Snapshot | None) -> float | None:
    """How much of the backlog the slowest replica is behind: above 1 the next reconnect is a full resync."""
    offsets = [int(r["offset"]) for r in replicas(snap) if r.get("offset", "").isdigit()]
    primary, backlog = snap.number("master_repl_offset"), snap.number("repl_backlog_size")
    if not offsets or primary is None or not backlog:
        return None
    return max(0.0, primary - min(offsets)) / backlog


def _replica_not_online(snap: Snapshot, prev: Snapshot | None) -> float | None:
    states = [r.get("state") for r in replicas(snap)]
    return flag(any(state != "online" for state in states)) if states else None


CHECKS: tuple[Check, ...] = (
    Check(id="repl.link_down", category=REPLICATION, tier=CHEAP, unit="bool",
          title="A replica lost its primary", thresholds=Thresholds(critical=1), measure=_link_down,
          trigger="a replica's master_link_status is not up",
          why="The replica serves stale data, and a failover to it would lose writes.",
          fix="Check the primary, the network, and the replica's log (a backlog too small forces full resyncs).",
          panel=PANEL),
    Check(id="repl.ack_lag", category=REPLICATION, tier=CHEAP, unit="seconds",
          title="A replica has not acknowledged for a while", thresholds=Thresholds(warning=5, critical=30),
          measure=_ack_lag, trigger="the largest slaveN lag (seconds since its last ACK) ≥ 5 / ≥ 30",
          why="The link is stalling: the replica may be overloaded or the network dropping.",
          fix="Check the replica's CPU and disk and the network; see repl.lag_bytes for the data delay.",
          panel=PANEL),
    Check(id="repl.lag_bytes", category=REPLICATION, tier=CHEAP, unit="ratio",
          title="A replica is far behind in the replication stream", thresholds=Thresholds(warning=0.5, critical=1),
          measure=_lag_bytes, trigger="(master_repl_offset − slowest replica offset) / repl_backlog_size ≥ 0.5 / ≥ 1",
          why="Past the backlog, the replica's next reconnect is a full resync: a fork and a full copy.",
          fix="Raise repl-backlog-size; find the write burst; check the replica's disk (AOF) and network.",
          panel=PANEL),
    Check(id="repl.replica_not_online", category=REPLICATION, tier=CHEAP, unit="bool",
          title="A replica is connected but not online", thresholds=Thresholds(warning=1),
          measure=_replica_not_online, trigger="a slaveN state other than online (wait_bgsave, send_bulk)",
          why="It is still syncing and serves no current data.", fix="Wait for the sync; if it repeats, see "
          "repl.full_sync.", panel=PANEL),
    Check(id="repl.full_sync", category=REPLICATION, tier=CHEAP, unit="count",
          title="Full resyncs happen", thresholds=Thresholds(warning=1),
          measure=lambda s, p: growth(s, p, "sync_full"), trigger="sync_full grew between two checks",
          why="Each full resync forks the primary and copies the whole dataset.",
          fix="Raise repl-backlog-size and repl-timeout; check replica stability.", panel=PANEL),
)
