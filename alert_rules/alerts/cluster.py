"""cluster.yml: Redis Cluster's own view: a failed cluster state, failed and possibly-failed slots."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row

STATE, SLOTS_FAIL, SLOTS_PFAIL = "redis_cluster_state", "redis_cluster_slots_fail", "redis_cluster_slots_pfail"
PANEL = "cachewatch-cluster/slots"


def rows(c: Ctx) -> list[Row]:
    return [
        Row(name="RedisClusterStateNotOk", severity="critical", scope="cluster", for_="2m", panel=PANEL,
            expr=f"{c.m(STATE)} == 0", test=c.gauge_case(STATE, fire="0x20", quiet="1x20"),
            summary="Redis Cluster reports a failed state",
            description="{{ $labels.instance }} reports cluster_state:fail for {{ $labels.cluster }}.",
            runbook_text="Some slots are not served: see RedisClusterSlotsFail and CLUSTER NODES."),
        Row(name="RedisClusterSlotsFail", severity="critical", scope="cluster", for_="2m", panel=PANEL,
            expr=f"{c.m(SLOTS_FAIL)} > 0", test=c.gauge_case(SLOTS_FAIL, fire="100x20", quiet="0x20", value=100),
            summary="Redis Cluster has failed slots",
            description="{{ $labels.instance }} sees {{ $value }} failed slots.",
            runbook_text="A primary and all its replicas are down: restore a node or reassign the slots."),
        Row(name="RedisClusterSlotsPfail", severity="warning", scope="cluster", for_="5m", panel=PANEL,
            expr=f"{c.m(SLOTS_PFAIL)} > 0", test=c.gauge_case(SLOTS_PFAIL, fire="10x20", quiet="0x20", value=10),
            summary="Redis Cluster has slots in possible-failure state",
            description="{{ $labels.instance }} sees {{ $value }} slots in PFAIL.",
            runbook_text="Nodes suspect each other: check the cluster bus network."),
    ]
