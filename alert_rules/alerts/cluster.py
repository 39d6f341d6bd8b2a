"""cluster.yml: Redis Cluster's own view: a failed cluster state, failed and possibly-failed slots."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row

STATE, SLOTS_FAIL, SLOTS_PFAIL = "redis_cluster_state", "redis_cluster_slots_fail", "redis_cluster_slots_pfail"


def rows(c: Ctx) -> list[Row]:
    return [state_not_ok(c), slots_fail(c), slots_pfail(c)]


def state_not_ok(c: Ctx) -> Row:
    return Row(
        name="RedisClusterStateNotOk", severity="critical", scope="cluster",
        expr=f"{c.m(STATE)} == 0",
        for_="2m",
        summary="Redis Cluster reports a failed state",
        description="{{ $labels.instance }} reports cluster_state:fail for {{ $labels.cluster }}.",
        panel="cachewatch-cluster/slots",
        runbook_text="Some slots are not served: see RedisClusterSlotsFail and CLUSTER NODES.",
        test=c.case(fire=[c.series(STATE, "0x20")], quiet=[c.series(STATE, "1x20")]),
    )


def slots_fail(c: Ctx) -> Row:
    return Row(
        name="RedisClusterSlotsFail", severity="critical", scope="cluster",
        expr=f"{c.m(SLOTS_FAIL)} > 0",
        for_="2m",
        summary="Redis Cluster has failed slots",
        description="{{ $labels.instance }} sees {{ $value }} failed slots.",
        panel="cachewatch-cluster/slots",
        runbook_text="A primary and all its replicas are down: restore a node or reassign the slots.",
        test=c.case(fire=[c.series(SLOTS_FAIL, "100x20")], quiet=[c.series(SLOTS_FAIL, "0x20")], value=100),
    )


def slots_pfail(c: Ctx) -> Row:
    return Row(
        name="RedisClusterSlotsPfail", severity="warning", scope="cluster",
        expr=f"{c.m(SLOTS_PFAIL)} > 0",
        for_="5m",
        summary="Redis Cluster has slots in possible-failure state",
        description="{{ $labels.instance }} sees {{ $value }} slots in PFAIL.",
        panel="cachewatch-cluster/slots",
        runbook_text="Nodes suspect each other: check the cluster bus network.",
        test=c.case(fire=[c.series(SLOTS_PFAIL, "10x20")], quiet=[c.series(SLOTS_PFAIL, "0x20")], value=10),
    )
