"""security.yml: spikes of failed logins and of commands denied by ACL."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.promql import num, rate
from cachewatch.rulefmt import Series

DENIALS = "redis_acl_denials_total"
BY = "job, instance, region, cluster, shard, role, team"
AUTH, NOT_AUTH = 'reason="auth"', 'reason!="auth"'


def rows(c: Ctx) -> list[Row]:
    return [auth_failures_spike(c), acl_denials_spike(c)]


def auth_failures_spike(c: Ctx) -> Row:
    limit = c.t.auth_failures_per_second

    def denials(values: str) -> Series:
        return c.series(DENIALS, values, reason="auth", context="toplevel", user="mallory")

    return Row(
        name="RedisAuthFailuresSpike", severity="warning", scope="node",
        expr=f"sum by ({BY}) ({rate(c.m(DENIALS, AUTH), '5m')}) > {num(limit)}",
        for_="5m",
        summary="Many failed Redis logins",
        description='{{ $labels.instance }} sees {{ $value | printf "%.1f" }} failed logins/s.',
        panel="cachewatch-security/auth",
        runbook_text="A client has a wrong password, or someone guesses: redis_acl_denials_total by user, ACL LOG "
                     "for client addresses.",
        test=c.case(fire=[denials(f"0+{num(limit * 120)}x20")], quiet=[denials("0+1x20")], value=limit * 2),
    )


def acl_denials_spike(c: Ctx) -> Row:
    limit = c.t.acl_denials_per_second

    def denials(values: str) -> Series:
        return c.series(DENIALS, values, reason="key", context="toplevel", user="app")

    return Row(
        name="RedisAclDenialsSpike", severity="warning", scope="node",
        expr=f"sum by ({BY}) ({rate(c.m(DENIALS, NOT_AUTH), '5m')}) > {num(limit)}",
        for_="10m",
        summary="Many Redis commands are denied by ACL",
        description='{{ $labels.instance }} denies {{ $value | printf "%.1f" }} commands/s by ACL.',
        panel="cachewatch-security/acl",
        runbook_text="A deployment uses keys or commands its ACL user may not: redis_acl_denials_total by user and "
                     "reason.",
        test=c.case(fire=[denials(f"0+{num(limit * 120)}x20")], quiet=[denials("0+1x20")], value=limit * 2),
    )
