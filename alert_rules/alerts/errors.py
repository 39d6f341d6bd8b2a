"""errors.yml: error replies and slow-log growth per node."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.promql import num, rate

ERROR_REPLIES, SLOWLOG_ID = "redis_total_error_replies", "redis_slowlog_last_id"


def rows(c: Ctx) -> list[Row]:
    eps, slow = c.t.error_replies_per_second, c.t.slowlog_entries_per_second
    return [
        Row(name="RedisErrorRepliesHigh", severity="warning", scope="node", for_="10m", panel="cachewatch-node/errors",
            expr=f"{rate(c.m(ERROR_REPLIES), '5m')} > {num(eps)}", summary="Redis sends many error replies",
            description='{{ $labels.instance }} sends {{ $value | printf "%.1f" }} error replies/s.',
            runbook_text="redis_errors_total by err tells which errors (WRONGTYPE, NOPERM, OOM, …).",
            test=c.rate_case(ERROR_REPLIES, eps, quiet="0+1x20")),
        Row(name="RedisSlowlogGrowing", severity="warning", scope="node", for_="10m", panel="cachewatch-node/slowlog",
            expr=f"delta({c.m(SLOWLOG_ID)}[5m]) / 300 > {num(slow)}", summary="Redis logs many slow commands",
            description='{{ $labels.instance }} adds {{ $value | printf "%.1f" }} slow-log entries/s.',
            runbook_text="SLOWLOG GET shows the commands; look for KEYS, big SMEMBERS/HGETALL, or Lua.",
            test=c.rate_case(SLOWLOG_ID, slow, quiet="5x20")),
    ]
