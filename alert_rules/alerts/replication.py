"""replication.yml: replicas that lost or lag behind their primary, and shards with no or several primaries."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.promql import num
from cachewatch.rulefmt import AlertTest, Series

SHARD_KEYS = "region, cluster, shard, team"
# Matchers used inside f-strings (Python 3.11 f-string expressions cannot hold backslashes).
PRIMARY, REPLICA = 'role="primary"', 'role="replica"'
# The role Redis reports: the scrape config sets `role` from the spec (primary|replica), so Prometheus keeps
# redis_instance_info's own role label as `exported_role` (master|slave); failovers show there.
MASTER = 'exported_role="master"'
MASTER_OFFSET, SLAVE_OFFSET = "redis_master_repl_offset", "redis_connected_slave_offset_bytes"
SLAVE_LAG = "redis_connected_slave_lag_seconds"
# the test node as a replica (master_* labels), and the replica a primary reports (slave_* labels)
AS_REPLICA = {"role": "replica", "master_host": "10.9.9.1", "master_port": "6379"}
ITS_REPLICA = {"slave_ip": "10.9.9.2", "slave_port": "6379", "slave_state": "online"}
REPLICA_INSTANCE = "10.9.9.2:6379"
PANEL = "cachewatch-cluster/replication"


def rows(c: Ctx) -> list[Row]:
    replica_up = c.series("redis_up", "1x20", role="replica", instance=REPLICA_INSTANCE)
    lag_bytes, lag_seconds = c.t.replication_lag_bytes, c.t.replication_lag_seconds
    return [
        Row(name="RedisReplicationLinkDown", severity="critical", scope="node", for_=c.after(4), panel=PANEL,
            expr=f"{c.m('redis_master_link_up')} == 0", summary="A Redis replica lost its primary",
            description="Replica {{ $labels.instance }} has no link to its primary "
                        "{{ $labels.master_host }}:{{ $labels.master_port }}.",
            runbook_text="The replica serves stale data. Check the primary, the network and the replica's log "
                         "(backlog too small → full resyncs).",
            test=c.case(fire=[c.series("redis_master_link_up", "1 0x20", **AS_REPLICA)],
                        quiet=[c.series("redis_master_link_up", "1x20", **AS_REPLICA)], labels=AS_REPLICA)),
        Row(name="RedisReplicasMissing", severity="warning", scope="node", for_="5m", panel=PANEL,
            expr=f"{c.m('redis_connected_slaves', PRIMARY)} < 1 and on (region, cluster, shard) "
                 f"count by (region, cluster, shard) ({c.m('redis_up', REPLICA)}) > 0",
            summary="A Redis primary has no connected replica",
            description="Primary {{ $labels.instance }} of shard {{ $labels.shard }} has no connected replica.",
            runbook_text="A failover now would lose the shard. Check the replica's link (RedisReplicationLinkDown).",
            test=c.case(fire=[c.series("redis_connected_slaves", "0x20"), replica_up],
                        quiet=[c.series("redis_connected_slaves", "1x20"), replica_up])),
        Row(name="RedisReplicationLagBytes", severity="warning", scope="node", for_="5m", panel=PANEL,
            expr=f"{c.m(MASTER_OFFSET)} - on (instance) group_right {c.m(SLAVE_OFFSET)} > {lag_bytes}",
            summary="A Redis replica lags behind in bytes",
            description="Replica {{ $labels.slave_ip }}:{{ $labels.slave_port }} of {{ $labels.instance }} is "
                        "{{ $value | humanize1024 }}B behind.",
            runbook_text="The replica cannot keep up: network, a slow replica disk (AOF), or big writes.",
            test=c.case(fire=[c.series(MASTER_OFFSET, f"{lag_bytes * 4}x20"),
                              c.series(SLAVE_OFFSET, f"{lag_bytes * 2}x20", **ITS_REPLICA)],
                        quiet=[c.series(MASTER_OFFSET, "1000x20"), c.series(SLAVE_OFFSET, "1000x20", **ITS_REPLICA)],
                        value=lag_bytes * 2, labels=ITS_REPLICA)),
        Row(name="RedisReplicationLagSeconds", severity="warning", scope="node", for_="5m", panel=PANEL,
            expr=f"{c.m(SLAVE_LAG)} > {num(lag_seconds)}", summary="A Redis replica has not acknowledged for a while",
            description="Replica {{ $labels.slave_ip }}:{{ $labels.slave_port }} of {{ $labels.instance }} last "
                        "acknowledged {{ $value }}s ago.",
            runbook_text="See RedisReplicationLagBytes.",
            test=c.case(fire=[c.series(SLAVE_LAG, f"{num(lag_seconds * 2)}x20", **ITS_REPLICA)],
                        quiet=[c.series(SLAVE_LAG, "0x20", **ITS_REPLICA)], value=lag_seconds * 2,
                        labels=ITS_REPLICA)),
        shard_without_primary(c),
        shard_multiple_primaries(c),
    ]


def shard_without_primary(c: Ctx) -> Row:
    return Row(
        name="RedisShardWithoutPrimary", severity="critical", scope="shard", for_="1m",
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
        name="RedisShardMultiplePrimaries", severity="critical", scope="shard", for_="1m",
        expr=f"count by ({SHARD_KEYS}) ({c.m('redis_instance_info', MASTER)}) > 1",
        summary="A Redis shard has more than one primary", panel="cachewatch-cluster/roles",
        description="Shard {{ $labels.shard }} of {{ $labels.cluster }} has {{ $value }} primaries.",
        runbook_text="Split brain: writes to the wrong primary will be lost. Demote one (REPLICAOF) now.",
        test=AlertTest(fire=(primary, info("master")), quiet=(primary, info("slave")), exp_labels=c.shard_labels,
                       value=2),
    )
