"""Cluster and shard view: each shard's primary and replicas, replication, failovers, slots."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dm

from cachewatch.dashboards.common import RATE, Board, Q, m, thresholds
from cachewatch.spec.model import FleetSpec

UID = "cachewatch-cluster"
MASTER = 'exported_role="master"'  # Redis' own role; `role` is the spec's


def build(spec: FleetSpec) -> dm.Dashboard:
    t = spec.thresholds
    b = Board(spec, UID, "Cluster and shards", "Shards of the selected clusters: who is primary, replication lag, "
              "failovers and Redis Cluster slots.")
    b.row("Topology")
    b.panel("table", "Shard roles", "Each node's role in the spec (role) and as Redis reports it (exported_role: "
            "master|slave). A shard needs exactly one master.", "none",
            [Q(f"max by (cluster, shard, instance, role, exported_role) ({m('redis_instance_info')})",
               instant=True, fmt="table")], key="roles", span=12)
    b.panel("timeseries", "Primaries per shard", "Nodes reporting role master per shard; a change is a failover, "
            "0 or 2 need attention.", "none",
            [Q(f"count by (cluster, shard) ({m('redis_instance_info', extra=MASTER)})",
               "{{cluster}}/{{shard}}")], span=12, steps=thresholds((None, "red"), (1, "green"), (2, "red")))
    b.panel("timeseries", "Restarts and role changes", "Restarts (uptime resets) per node over the rate window.",
            "short", [Q(f"resets({m('redis_uptime_in_seconds')}[{RATE}])", "{{instance}}")], span=12)
    b.row("Replication")
    b.panel("timeseries", "Replication lag", "Seconds since each replica last acknowledged (seen from the primary), "
            f"and master link status on replicas. Alert above {t.replication_lag_seconds:g} s.", "s",
            [Q(f"max by (instance, slave_ip, slave_port) ({m('redis_connected_slave_lag_seconds')})",
               "{{instance}} → {{slave_ip}}:{{slave_port}}"),
             Q(f"max by (instance) ({m('redis_master_last_io_seconds_ago')})", "last io {{instance}}")],
            key="replication", steps=thresholds((None, "green"), (t.replication_lag_seconds, "red")))
    b.panel("timeseries", "Replicas and links", "Connected replicas per primary and master link up (1) per replica.",
            "short", [Q(m("redis_connected_slaves"), "replicas {{instance}}"),
                      Q(m("redis_master_link_up"), "link up {{instance}}")])
    b.row("Redis Cluster")
    b.panel("timeseries", "Slots", "Slots ok, possibly failing and failing (CLUSTER INFO), per cluster.", "short",
            [Q(f"max by (cluster) ({m('redis_cluster_slots_ok')})", "ok {{cluster}}"),
             Q(f"max by (cluster) ({m('redis_cluster_slots_pfail')})", "pfail {{cluster}}"),
             Q(f"max by (cluster) ({m('redis_cluster_slots_fail')})", "fail {{cluster}}")], key="slots")
    b.panel("timeseries", "Cluster state", "1 when CLUSTER INFO reports cluster_state:ok, per node.", "bool",
            [Q(m("redis_cluster_state"), "{{instance}}")], min_val=0, max_val=1)
    return b.build()
