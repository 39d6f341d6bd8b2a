"""persistence.yml: failed RDB saves and AOF writes, and (when the spec asks) no recent backup."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.promql import num

BGSAVE, LAST_SAVE = "redis_rdb_last_bgsave_status", "redis_rdb_last_save_timestamp_seconds"
AOF_WRITE, AOF_REWRITE = "redis_aof_last_write_status", "redis_aof_last_bgrewrite_status"
PANEL = "cachewatch-node/persistence"


def rows(c: Ctx) -> list[Row]:
    return [
        Row(name="RedisBgsaveFailed", severity="warning", scope="node", for_="5m", panel=PANEL,
            expr=f"{c.m(BGSAVE)} == 0", test=c.gauge_case(BGSAVE, fire="0x20", quiet="1x20"),
            summary="A Redis background save failed", description="The last RDB save of {{ $labels.instance }} failed.",
            runbook_text="Check disk space and the Redis log (fork failures: vm.overcommit_memory)."),
        Row(name="RedisAofWriteFailed", severity="warning", scope="node", for_="5m", panel=PANEL,
            expr=f"{c.m(AOF_WRITE)} == 0 or {c.m(AOF_REWRITE)} == 0",
            test=c.gauge_case(AOF_WRITE, fire="0x20", quiet="1x20"), summary="Redis AOF writing failed",
            description="AOF writing or rewriting fails on {{ $labels.instance }}.",
            runbook_text="Check disk space and permissions of the AOF directory."),
        *([no_recent_backup(c, c.t.no_backup_hours)] if c.t.no_backup_hours else []),
    ]


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
