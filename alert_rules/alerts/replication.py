"""replication.yml: primaries without a replica, and shards with no or several primaries. A replica's link, its
ACK lag and its distance in the stream are health checks (cachewatch/checks/replication.py): their alerts are in
checks-replication.yml."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.rulefmt import AlertTest, Series

SHARD_KEYS = "region, cluster, shard, team"
# Matchers used inside f-strings (Python 3.11 f-string expressions cannot hold backslashes).
PRIMARY, REPLICA = 'role="primary"', 'role="replica"'
# The role Redis reports: the scrape config sets `role` from the spec (primary|replica), so Prometheus keeps
# redis_instance_info's own role label as `exported_role` (master|slave); failovers show there.
MASTER = 'exported_role="master"'
REPLICA_INSTANCE = "10.9.9.2:6379"
PANEL = "cachewatch-cluster/replication"


def rows(c: Ctx) -> list[Row]:
    replica_up = c.series("redis_up", "1x20", role="replica", instance=REPLICA_INSTANCE)
    return [
        Row(name="RedisReplicasMissing", severity="warning", scope="node", for_="5m", panel=PANEL,
            expr=f"{c.m('redis_connected_slaves', PRIMARY)} < 1 and on (region, cluster, shard) "
                 f"count by (region, cluster, shard) ({c.m('redis_up', REPLICA)}) > 0",
            summary="A Redis primary has no connected replica",
            description="Primary {{ $labels.instance }} of shard {{ $labels.shard }} has no connected replica.",
            runbook_text="A failover now would lose the shard. Check the replica's link (RedisReplicationLinkDown).",
            test=c.case(fire=[c.series("redis_connected_slaves", "0x20"), replica_up],
                        quiet=[c.series("redis_connected_slaves", "1x20"), replica_up])),
        shard_without_primary(c),
        shard_multiple_primaries(c),
    ]


def shard_without_primary(c: Ctx) -> Row:
    return Row(
        # Two periods (three samples): a restart of the primary or a cluster failover leaves the shard without a
        # primary for seconds; 20 s without one is an outage of its writes, paged within the minute. (A Sentinel
        # failover takes down-after-milliseconds, 30 s by default: the killed primary's RedisDown pages too.)
        name="RedisShardWithoutPrimary", severity="critical", scope="shard", for_=c.after(2),
        expr=f"count by ({SHARD_KEYS}) ({c.m('redis_up')} == 1) unless on ({SHARD_KEYS}) "
             f"count by ({SHARD_KEYS}) ({c.m('redis_instance_info', MASTER)})",
        summary="A Redis shard has no primary", panel="cachewatch-cluster/roles",
        description="Shard {{ $labels.shard }} of {{ $labels.cluster }} has no primary.",
        runbook_text="Writes fail for this shard. Check failover (Sentinel/cluster) and the former primary.",
        test=AlertTest(fire=(c.series("redis_up", "1x20", role="replica"),
                             c.series("redis_instance_info", "1x20", exported_role="slave")),
                       quiet=(c.series("redis_up", "1x20"),
                              c.series("redis_instance_info", "1x20", exported_role="master")),
                       exp_labels=c.shard_labels),
    )


def shard_multiple_primaries(c: Ctx) -> Row:
    def info(exported_role: str) -> Series:
        return c.series("redis_instance_info", "1x20", exported_role=exported_role, role="replica",
                        instance=REPLICA_INSTANCE)

    primary = c.series("redis_instance_info", "1x20", exported_role="master")
    return Row(
        # 1m, outside the minute on purpose (docs/alert-latency.md lists why): a former primary that comes back
        # stays a primary until Sentinel or the cluster demotes it, which can take 10-20 s; no fault of the matrix
        # injects a split brain.
        name="RedisShardMultiplePrimaries", severity="critical", scope="shard", for_="1m",
        expr=f"count by ({SHARD_KEYS}) ({c.m('redis_instance_info', MASTER)}) > 1",
        summary="A Redis shard has more than one primary", panel="cachewatch-cluster/roles",
        description="Shard {{ $labels.shard }} of {{ $labels.cluster }} has {{ $value }} primaries.",
        runbook_text="Split brain: writes to the wrong primary will be lost. Demote one (REPLICAOF) now.",
        test=AlertTest(fire=(primary, info("master")), quiet=(primary, info("slave")), exp_labels=c.shard_labels,
                       value=2),
    )
