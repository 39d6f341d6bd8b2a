"""cluster.yml: Redis Cluster's own view: slots in possible-failure state. A failed cluster state and failed
slots are health checks (cachewatch/checks/network.py): their alerts are in checks-<category>.yml."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row

SLOTS_PFAIL = "redis_cluster_slots_pfail"
PANEL = "cachewatch-cluster/slots"


def rows(c: Ctx) -> list[Row]:
    return [
        Row(name="RedisClusterSlotsPfail", severity="warning", scope="cluster", for_="5m", panel=PANEL,
            expr=f"{c.m(SLOTS_PFAIL)} > 0", test=c.gauge_case(SLOTS_PFAIL, fire="10x20", quiet="0x20", value=10),
            summary="Redis Cluster has slots in possible-failure state",
            description="{{ $labels.instance }} sees {{ $value }} slots in PFAIL.",
            runbook_text="Nodes suspect each other: check the cluster bus network."),
    ]
