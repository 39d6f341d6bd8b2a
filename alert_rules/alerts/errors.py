"""errors.yml: error replies and slow-log growth per node."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.promql import num, rate

ERROR_REPLIES, SLOWLOG_ID = "redis_total_error_replies", "redis_slowlog_last_id"


def rows(c: Ctx) -> list[Row]:
    return [error_replies_high(c), slowlog_growing(c)]


def error_replies_high(c: Ctx) -> Row:
    eps = c.t.error_replies_per_second
    return Row(
        name="RedisErrorRepliesHigh", severity="warning", scope="node",
        expr=f"{rate(c.m(ERROR_REPLIES), '5m')} > {num(eps)}",
        for_="10m",
        summary="Redis sends many error replies",
        description='{{ $labels.instance }} sends {{ $value | printf "%.1f" }} error replies/s.',
        panel="cachewatch-node/errors",
        runbook_text="redis_errors_total by err tells which errors (WRONGTYPE, NOPERM, OOM, …).",
        test=c.case(fire=[c.series(ERROR_REPLIES, f"0+{num(eps * 120)}x20")],
                    quiet=[c.series(ERROR_REPLIES, "0+1x20")], value=eps * 2),
    )


def slowlog_growing(c: Ctx) -> Row:
    slow = c.t.slowlog_entries_per_second
    return Row(
        name="RedisSlowlogGrowing", severity="warning", scope="node",
        expr=f"delta({c.m(SLOWLOG_ID)}[5m]) / 300 > {num(slow)}",
        for_="10m",
        summary="Redis logs many slow commands",
        description='{{ $labels.instance }} adds {{ $value | printf "%.1f" }} slow-log entries/s.',
        panel="cachewatch-node/slowlog",
        runbook_text="SLOWLOG GET shows the commands; look for KEYS, big SMEMBERS/HGETALL, or Lua.",
        test=c.case(fire=[c.series(SLOWLOG_ID, f"0+{num(slow * 120)}x20")], quiet=[c.series(SLOWLOG_ID, "5x20")],
                    value=slow * 2),
    )
