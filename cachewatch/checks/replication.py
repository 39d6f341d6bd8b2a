"""Replication checks. INFO's replica ``lag`` is the seconds since the replica's last ACK: it shows the link is
alive, not how far behind the data is; ``repl.lag_bytes`` and the heartbeat probe measure that."""

from __future__ import annotations

from functools import partial

from cachewatch.checks.measures import flag, growth, is_replica, replicas
from cachewatch.checks.model import AlertAs, Category, Check, FromMetrics, Severity, Snapshot, Thresholds, Tier

REPLICATION, CHEAP = Category.REPLICATION, Tier.CHEAP
WARNING, CRITICAL = Severity.WARNING, Severity.CRITICAL
PANEL, ALERT_PANEL = "cachewatch-health/replication", "cachewatch-cluster/replication"
# the test node as a replica (master_* labels), and a replica the test node reports (slave_* labels)
AS_REPLICA = {"role": "replica", "master_host": "10.9.9.1", "master_port": "6379"}
ITS_REPLICA = {"slave_ip": "10.9.9.2", "slave_port": "6379", "slave_state": "online"}


def _labelled(name: str, labels: dict[str, str]) -> str:
    """A test series key: ``name{a="b", ...}``."""
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


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


row = partial(Check, category=REPLICATION, tier=CHEAP, panel=PANEL)  # the fields every row here shares

CHECKS: tuple[Check, ...] = (
    row(id="repl.link_down", unit="bool", thresholds=Thresholds(critical=1), measure=_link_down,
        title="A replica lost its primary", trigger="a replica's master_link_status is not up",
        why="The replica serves stale data, and a failover to it would lose writes.",
        fix="Check the primary, the network, and the replica's log (a backlog too small forces full resyncs).",
        metrics=FromMetrics(expr="redis_master_link_up{node} == bool 0", panel=ALERT_PANEL, labels=AS_REPLICA,
                            fire={_labelled("redis_master_link_up", AS_REPLICA): 0}, fire_value=1,
                            quiet={_labelled("redis_master_link_up", AS_REPLICA): 1},
                            description="Replica {{ $labels.instance }} has no link to its primary "
                                        "{{ $labels.master_host }}:{{ $labels.master_port }}.",
                            # Two periods (three samples): a replica reconnects within a second (replicationCron)
                            # and a partial resync is instant, so a blip or one failed scrape never pages; 20 s
                            # without a link is a broken replication. Within the minute (docs/alert-latency.md).
                            alerts={CRITICAL: AlertAs(name="RedisReplicationLinkDown", for_=2)})),
    row(id="repl.ack_lag", unit="seconds", thresholds=Thresholds(warning=5, critical=30), measure=_ack_lag,
        title="A replica has not acknowledged for a while",
        trigger="the largest slaveN lag (seconds since its last ACK) ≥ 5 / ≥ 30 (spec: "
                "thresholds.replication_lag_seconds; only this level is alerted on, as a warning)",
        why="The link is stalling: the replica may be overloaded or the network dropping.",
        fix="Check the replica's CPU and disk and the network; see repl.lag_bytes for the data delay.",
        metrics=FromMetrics(expr="redis_connected_slave_lag_seconds{node}", panel=ALERT_PANEL, labels=ITS_REPLICA,
                            fire={_labelled("redis_connected_slave_lag_seconds", ITS_REPLICA): 3600},
                            fire_value=3600, quiet={_labelled("redis_connected_slave_lag_seconds", ITS_REPLICA): 0},
                            description="Replica {{ $labels.slave_ip }}:{{ $labels.slave_port }} of "
                                        "{{ $labels.instance }} last acknowledged {{ $value }}s ago.",
                            alerts={CRITICAL: AlertAs(name="RedisReplicationLagSeconds", severity=WARNING,
                                                      threshold="replication_lag_seconds")})),
    row(id="repl.lag_bytes", unit="ratio", thresholds=Thresholds(warning=0.5, critical=1), measure=_lag_bytes,
        title="A replica is far behind in the replication stream",
        trigger="(master_repl_offset − slowest replica offset) / repl_backlog_size ≥ 0.5 / ≥ 1 (only the warning "
                "is alerted on)",
        why="Past the backlog, the replica's next reconnect is a full resync: a fork and a full copy.",
        fix="Raise repl-backlog-size; find the write burst; check the replica's disk (AOF) and network.",
        metrics=FromMetrics(
            expr="(redis_master_repl_offset{node} - on (instance) group_right redis_connected_slave_offset_bytes{node})"
                 " / on (instance) group_left () (redis_replication_backlog_bytes{node} > 0)",
            panel=ALERT_PANEL, labels=ITS_REPLICA,
            fire={"redis_master_repl_offset": 4e6, _labelled("redis_connected_slave_offset_bytes", ITS_REPLICA): 1e6,
                  "redis_replication_backlog_bytes": 1e6}, fire_value=3,
            quiet={"redis_master_repl_offset": 4e6, _labelled("redis_connected_slave_offset_bytes", ITS_REPLICA): 4e6,
                   "redis_replication_backlog_bytes": 1e6},
            description="Replica {{ $labels.slave_ip }}:{{ $labels.slave_port }} of {{ $labels.instance }} is "
                        "{{ $value | humanizePercentage }} of the replication backlog behind.",
            alerts={WARNING: AlertAs(name="RedisReplicationLagBytes")})),
    row(id="repl.replica_not_online", unit="bool", thresholds=Thresholds(warning=1), measure=_replica_not_online,
        title="A replica is connected but not online",
        trigger="a slaveN state other than online (wait_bgsave, send_bulk)",
        why="It is still syncing and serves no current data.",
        fix="Wait for the sync; if it repeats, see repl.full_sync.",
        metrics=FromMetrics(
            expr="count without (slave_ip, slave_port, slave_state) "
                 '(redis_connected_slave_offset_bytes{node:slave_state!="online"})', panel=ALERT_PANEL,
            fire={_labelled("redis_connected_slave_offset_bytes", {**ITS_REPLICA, "slave_state": "wait_bgsave"}): 0},
            fire_value=1, quiet={_labelled("redis_connected_slave_offset_bytes", ITS_REPLICA): 0},
            description="{{ $labels.instance }} has {{ $value }} replicas connected but not online (still syncing).")),
    row(id="repl.full_sync", unit="count", thresholds=Thresholds(warning=1),
        measure=lambda s, p: growth(s, p, "sync_full"), title="Full resyncs happen",
        trigger="sync_full grew between two checks",
        why="Each full resync forks the primary and copies the whole dataset.",
        fix="Raise repl-backlog-size and repl-timeout; check replica stability.",
        metrics=FromMetrics(expr="increase(redis_replica_resyncs_full{node}[5m])", panel=ALERT_PANEL,
                            fire={"redis_replica_resyncs_full": "0+1"}, fire_value=5,
                            quiet={"redis_replica_resyncs_full": "2+0"},
                            description='{{ $labels.instance }} served {{ $value | printf "%.0f" }} full resyncs in '
                                        "5 minutes.")),
)
