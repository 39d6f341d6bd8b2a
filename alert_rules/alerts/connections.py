"""connections.yml: clients near maxclients, rejected connections, blocked clients."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.promql import num, ratio
from cachewatch.rulefmt import Severity

CLIENTS, MAXCLIENTS = "redis_connected_clients", "redis_config_maxclients"
REJECTED, BLOCKED = "redis_rejected_connections_total", "redis_blocked_clients"
PANEL = "cachewatch-node/clients"


def rows(c: Ctx) -> list[Row]:
    blocked = c.t.blocked_clients
    return [
        connections_high(c, name="RedisConnectionsHigh", level=c.t.connections_warning_ratio, for_="5m",
                         severity="warning"),
        connections_high(c, name="RedisConnectionsHighCritical", level=c.t.connections_critical_ratio, for_="2m",
                         severity="critical"),
        Row(name="RedisRejectedConnections", severity="warning", scope="node", for_="1m", panel=PANEL,
            expr=f"increase({c.m(REJECTED)}[5m]) > 0", summary="Redis rejects connections",
            description='{{ $labels.instance }} rejected {{ $value | printf "%.0f" }} connections in 5 minutes.',
            runbook_text="maxclients is reached: clients get errors. See RedisConnectionsHigh.",
            test=c.gauge_case(REJECTED, fire="0+1x20", quiet="3x20", value=5)),
        Row(name="RedisBlockedClientsHigh", severity="warning", scope="node", for_="10m", panel=PANEL,
            expr=f"{c.m(BLOCKED)} > {blocked}", summary="Many Redis clients are blocked",
            description="{{ $labels.instance }} has {{ $value }} blocked clients.",
            runbook_text="Clients wait in BLPOP/XREAD/WAIT: check producers, or a stuck WAIT for replicas.",
            test=c.gauge_case(BLOCKED, fire=f"{blocked * 2}x20", quiet="1x20", value=blocked * 2)),
    ]


def connections_high(c: Ctx, *, name: str, level: float, for_: str, severity: Severity) -> Row:
    """The warning/critical pair (one ``twin``): clients as a share of maxclients above ``level``."""
    fire = round(min(0.999, level + (1 - level) / 2) * 1000)  # halfway between the level and full, of 1000
    return Row(
        name=name, severity=severity, scope="node", twin="connections", for_=for_, panel=PANEL,
        expr=f"{ratio(c.m(CLIENTS), c.m(MAXCLIENTS))} > {num(level)}",
        summary="Redis connections are close to maxclients",
        description="{{ $labels.instance }} has {{ $value | humanizePercentage }} of maxclients connected.",
        runbook_text="Look for connection leaks (pool sizes × app instances), raise maxclients, or add shards.",
        test=c.case(fire=[c.series(CLIENTS, f"{fire}x20"), c.series(MAXCLIENTS, "1000x20")],
                    quiet=[c.series(CLIENTS, "10x20"), c.series(MAXCLIENTS, "1000x20")], value=fire / 1000),
    )
