"""Persistence checks. A pure cache should usually have none: forks and disk writes cost latency and memory for
data that is rebuilt from the origin anyway."""

from __future__ import annotations

from cachewatch.checks.measures import flag
from cachewatch.checks.model import Category, Check, Snapshot, Thresholds, Tier

PERSISTENCE, CHEAP = Category.PERSISTENCE, Tier.CHEAP
PANEL = "cachewatch-health/persistence"


def _cache_persistence_on(snap: Snapshot, prev: Snapshot | None) -> float | None:
    return flag(snap.config.get("save", "").strip() != "" or snap.info.get("aof_enabled") == "1")


def _bgsave_failed(snap: Snapshot, prev: Snapshot | None) -> float | None:
    if snap.info.get("rdb_last_bgsave_status", "ok") == "ok":
        return 0.0
    return 2.0 if snap.config.get("stop-writes-on-bgsave-error") == "yes" else 1.0  # 2: writes are refused


CHECKS: tuple[Check, ...] = (
    Check(id="pers.cache_persistence_on", category=PERSISTENCE, tier=CHEAP, unit="bool", kinds=("cache",),
          needs=frozenset({"config"}), title="A cache persists to disk", thresholds=Thresholds(info=1),
          measure=_cache_persistence_on, trigger="save is set or appendonly is yes on a cache",
          why="Forks (copy-on-write memory) and disk latency, for data the origin can rebuild.",
          fix='CONFIG SET save "" and CONFIG SET appendonly no (and in redis.conf), unless warm restarts matter.',
          panel=PANEL),
    Check(id="pers.bgsave_failed", category=PERSISTENCE, tier=CHEAP, unit="level",
          title="The last background save failed", thresholds=Thresholds(warning=1, critical=2),
          measure=_bgsave_failed,
          trigger="rdb_last_bgsave_status:err (critical with stop-writes-on-bgsave-error yes: writes are refused)",
          why="No recent snapshot; with stop-writes-on-bgsave-error every write fails.",
          fix="Check disk space and the Redis log (fork failures: vm.overcommit_memory=1).", panel=PANEL),
    Check(id="pers.aof_failed", category=PERSISTENCE, tier=CHEAP, unit="bool",
          title="AOF writing failed", thresholds=Thresholds(critical=1),
          measure=lambda s, p: flag("err" in (s.info.get("aof_last_write_status"),
                                              s.info.get("aof_last_bgrewrite_status"))),
          trigger="aof_last_write_status or aof_last_bgrewrite_status is err",
          why="Writes are not durable, and Redis may refuse them.",
          fix="Check disk space and permissions of the AOF directory.", panel=PANEL),
)
