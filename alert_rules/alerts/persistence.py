"""persistence.yml: failed RDB saves and AOF writes, and (when the spec asks) no recent backup."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.promql import num

BGSAVE, LAST_SAVE = "redis_rdb_last_bgsave_status", "redis_rdb_last_save_timestamp_seconds"
AOF_WRITE, AOF_REWRITE = "redis_aof_last_write_status", "redis_aof_last_bgrewrite_status"


def rows(c: Ctx) -> list[Row]:
    return [bgsave_failed(c), aof_write_failed(c), *([no_recent_backup(c)] if c.t.no_backup_hours else [])]


def bgsave_failed(c: Ctx) -> Row:
    return Row(
        name="RedisBgsaveFailed", severity="warning", scope="node",
        expr=f"{c.m(BGSAVE)} == 0",
        for_="5m",
        summary="A Redis background save failed",
        description="The last RDB save of {{ $labels.instance }} failed.",
        panel="cachewatch-node/persistence",
        runbook_text="Check disk space and the Redis log (fork failures: vm.overcommit_memory).",
        test=c.case(fire=[c.series(BGSAVE, "0x20")], quiet=[c.series(BGSAVE, "1x20")]),
    )


def aof_write_failed(c: Ctx) -> Row:
    return Row(
        name="RedisAofWriteFailed", severity="warning", scope="node",
        expr=f"{c.m(AOF_WRITE)} == 0 or {c.m(AOF_REWRITE)} == 0",
        for_="5m",
        summary="Redis AOF writing failed",
        description="AOF writing or rewriting fails on {{ $labels.instance }}.",
        panel="cachewatch-node/persistence",
        runbook_text="Check disk space and permissions of the AOF directory.",
        test=c.case(fire=[c.series(AOF_WRITE, "0x20")], quiet=[c.series(AOF_WRITE, "1x20")]),
    )


def no_recent_backup(c: Ctx) -> Row:
    hours = c.t.no_backup_hours or 0
    return Row(
        name="RedisNoRecentBackup", severity="warning", scope="node",
        expr=f"time() - {c.m(LAST_SAVE)} > {num(hours * 3600)}",
        for_="30m",
        summary="Redis has not saved a backup recently",
        description="{{ $labels.instance }} has not saved an RDB snapshot for more than " + num(hours) + " hours.",
        panel="cachewatch-node/persistence",
        runbook_text="Check the save schedule (CONFIG GET save) and RedisBgsaveFailed.",
        # promtool's clock starts at 0: the last save lies before it (negative) in the fire case.
        test=c.case(fire=[c.series(LAST_SAVE, f"-{num(hours * 3600)}x60")], quiet=[c.series(LAST_SAVE, "3000x60")],
                    eval_time="1h"),
    )
