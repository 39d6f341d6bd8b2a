"""Persistence checks. A pure cache should usually have none: forks and disk writes cost latency and memory for
data that is rebuilt from the origin anyway."""

from __future__ import annotations

from functools import partial

from cachewatch.checks.measures import flag
from cachewatch.checks.model import AlertAs, Category, Check, FromMetrics, Severity, Snapshot, Thresholds, Tier

PERSISTENCE, CHEAP = Category.PERSISTENCE, Tier.CHEAP
WARNING, CRITICAL = Severity.WARNING, Severity.CRITICAL
PANEL, ALERT_PANEL = "cachewatch-health/persistence", "cachewatch-node/persistence"


def _cache_persistence_on(snap: Snapshot, prev: Snapshot | None) -> float | None:
    return flag(snap.config.get("save", "").strip() != "" or snap.info.get("aof_enabled") == "1")


def _bgsave_failed(snap: Snapshot, prev: Snapshot | None) -> float | None:
    if snap.info.get("rdb_last_bgsave_status", "ok") == "ok":
        return 0.0
    return 2.0 if snap.config.get("stop-writes-on-bgsave-error") == "yes" else 1.0  # 2: writes are refused


row = partial(Check, category=PERSISTENCE, tier=CHEAP, panel=PANEL)  # the fields every row here shares

CHECKS: tuple[Check, ...] = (
    row(id="pers.cache_persistence_on", unit="bool", thresholds=Thresholds(info=1), measure=_cache_persistence_on,
        needs=frozenset({"config"}), kinds=("cache",), title="A cache persists to disk",
        trigger="save is set or appendonly is yes on a cache",
        why="Forks (copy-on-write memory) and disk latency, for data the origin can rebuild.",
        fix='CONFIG SET save "" and CONFIG SET appendonly no (and in redis.conf), unless warm restarts matter.'),
    row(id="pers.bgsave_failed", unit="level", thresholds=Thresholds(warning=1, critical=2), measure=_bgsave_failed,
        title="The last background save failed",
        trigger="rdb_last_bgsave_status:err (critical with stop-writes-on-bgsave-error yes: writes are refused)",
        why="No recent snapshot; with stop-writes-on-bgsave-error every write fails.",
        fix="Check disk space and the Redis log (fork failures: vm.overcommit_memory=1).",
        # the exporter has no stop-writes-on-bgsave-error: Prometheus sees the failure (1), not the critical level
        metrics=FromMetrics(expr="redis_rdb_last_bgsave_status{node} == bool 0", panel=ALERT_PANEL,
                            fire={"redis_rdb_last_bgsave_status": 0}, fire_value=1,
                            quiet={"redis_rdb_last_bgsave_status": 1},
                            description="The last RDB save of {{ $labels.instance }} failed.",
                            alerts={WARNING: AlertAs(name="RedisBgsaveFailed")})),
    row(id="pers.aof_failed", unit="bool", thresholds=Thresholds(critical=1),
        measure=lambda s, p: flag("err" in (s.info.get("aof_last_write_status"),
                s.info.get("aof_last_bgrewrite_status"))),
        title="AOF writing failed", trigger="aof_last_write_status or aof_last_bgrewrite_status is err",
        why="Writes are not durable, and Redis may refuse them.",
        fix="Check disk space and permissions of the AOF directory.",
        metrics=FromMetrics(expr="(redis_aof_last_write_status{node} == 0 or "
                                 "redis_aof_last_bgrewrite_status{node} == 0) + 1", panel=ALERT_PANEL,
                            fire={"redis_aof_last_write_status": 0, "redis_aof_last_bgrewrite_status": 1}, fire_value=1,
                            quiet={"redis_aof_last_write_status": 1, "redis_aof_last_bgrewrite_status": 1},
                            description="AOF writing or rewriting fails on {{ $labels.instance }}.",
                            alerts={CRITICAL: AlertAs(name="RedisAofWriteFailed", severity=WARNING)})),
)
