"""connections.yml: blocked clients. Clients against maxclients and rejected connections are health checks
(cachewatch/checks/network.py): their alerts are in checks-<category>.yml."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row

BLOCKED = "redis_blocked_clients"
PANEL = "cachewatch-node/clients"


def rows(c: Ctx) -> list[Row]:
    blocked = c.t.blocked_clients
    return [
        Row(name="RedisBlockedClientsHigh", severity="warning", scope="node", for_="10m", panel=PANEL,
            expr=f"{c.m(BLOCKED)} > {blocked}", summary="Many Redis clients are blocked",
            description="{{ $labels.instance }} has {{ $value }} blocked clients.",
            runbook_text="Clients wait in BLPOP/XREAD/WAIT: check producers, or a stuck WAIT for replicas.",
            test=c.gauge_case(BLOCKED, fire=f"{blocked * 2}x20", quiet="1x20", value=blocked * 2)),
    ]
