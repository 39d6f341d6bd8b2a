"""persistence.yml: (when the spec asks) no recent backup. Failed RDB saves and AOF writes are health checks
(cachewatch/checks/persistence.py): their alerts are in checks-<category>.yml."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.promql import num

LAST_SAVE = "redis_rdb_last_save_timestamp_seconds"
PANEL = "cachewatch-node/persistence"


def rows(c: Ctx) -> list[Row]:
    return [no_recent_backup(c, c.t.no_backup_hours)] if c.t.no_backup_hours else []


def no_recent_backup(c: Ctx, hours: float) -> Row:
    """Opt-in (thresholds.no_backup_hours): a cache restored from an old snapshot is a cold cache."""
    return Row(
        name="RedisNoRecentBackup", severity="warning", scope="node", for_="30m", panel=PANEL,
        expr=f"time() - {c.m(LAST_SAVE)} > {num(hours * 3600)}", summary="Redis has not saved a backup recently",
        description="{{ $labels.instance }} has not saved an RDB snapshot for more than " + num(hours) + " hours.",
        runbook_text="Check the save schedule (CONFIG GET save) and RedisBgsaveFailed.",
        # promtool's clock starts at 0: the last save lies before it (negative) in the fire case.
        test=c.gauge_case(LAST_SAVE, fire=f"-{num(hours * 3600)}x60", quiet="3000x60", eval_time="1h"),
    )
