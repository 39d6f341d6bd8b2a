"""security.yml: spikes of failed logins and of commands denied by ACL."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.promql import num, rate

DENIALS = "redis_acl_denials_total"
BY = "job, instance, region, cluster, shard, role, team"
AUTH, NOT_AUTH = 'reason="auth"', 'reason!="auth"'


def rows(c: Ctx) -> list[Row]:
    logins, denials = c.t.auth_failures_per_second, c.t.acl_denials_per_second
    return [
        Row(name="RedisAuthFailuresSpike", severity="warning", scope="node", for_="5m",
            expr=f"sum by ({BY}) ({rate(c.m(DENIALS, AUTH), '5m')}) > {num(logins)}",
            summary="Many failed Redis logins", panel="cachewatch-security/auth",
            description='{{ $labels.instance }} sees {{ $value | printf "%.1f" }} failed logins/s.',
            runbook_text="A client has a wrong password, or someone guesses: redis_acl_denials_total by user, "
                         "ACL LOG for client addresses.",
            test=c.rate_case(DENIALS, logins, quiet="0+1x20", reason="auth", context="toplevel", user="mallory")),
        Row(name="RedisAclDenialsSpike", severity="warning", scope="node", for_="10m", panel="cachewatch-security/acl",
            expr=f"sum by ({BY}) ({rate(c.m(DENIALS, NOT_AUTH), '5m')}) > {num(denials)}",
            summary="Many Redis commands are denied by ACL",
            description='{{ $labels.instance }} denies {{ $value | printf "%.1f" }} commands/s by ACL.',
            runbook_text="A deployment uses keys or commands its ACL user may not: redis_acl_denials_total by user "
                         "and reason.",
            test=c.rate_case(DENIALS, denials, quiet="0+1x20", reason="key", context="toplevel", user="app")),
    ]
