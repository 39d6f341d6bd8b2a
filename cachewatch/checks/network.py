"""Connectivity checks: clients against maxclients, refused connections, loading, Redis Cluster's own state."""

from __future__ import annotations

from functools import partial

from cachewatch.checks.measures import flag, growth
from cachewatch.checks.model import AlertAs, Category, Check, FromMetrics, Severity, Snapshot, Thresholds, Tier

NETWORK, CHEAP = Category.NETWORK, Tier.CHEAP
WARNING, CRITICAL = Severity.WARNING, Severity.CRITICAL
CLIENTS, SLOTS = "cachewatch-node/clients", "cachewatch-cluster/slots"


def _cluster_state(snap: Snapshot, prev: Snapshot | None) -> float | None:
    return flag(snap.cluster_info.get("cluster_state") != "ok") if snap.info.get("cluster_enabled") == "1" else None


def _cluster_slots_fail(snap: Snapshot, prev: Snapshot | None) -> float | None:
    if snap.info.get("cluster_enabled") != "1":
        return None
    return float(int(snap.cluster_info.get("cluster_slots_fail", 0) or 0))


def _client_slots_used(snap: Snapshot, prev: Snapshot | None) -> float | None:
    """Share of maxclients in use. Redis refuses a connection when clients, replicas and cluster bus links together
    reach maxclients, and connected_clients counts neither replicas nor links: a 6-node cluster's primary refuses at
    connected_clients = maxclients - 11, below a 95% threshold of maxclients for maxclients under about 220."""
    clients, limit = snap.number("connected_clients"), snap.number("maxclients")
    if clients is None or not limit:
        return None
    return (clients + (snap.number("connected_slaves") or 0) + (snap.number("cluster_connections") or 0)) / limit


# The same sum in PromQL: replicas and cluster links count 0 where a Redis (< 7) or a target does not report them.
SLOTS_USED = ("(redis_connected_clients{node} + (redis_connected_slaves{node} or "
              "redis_connected_clients{node} * 0) + (redis_cluster_connections{node} or redis_connected_clients{node} "
              "* 0)) / (redis_config_maxclients{node} > 0)")

PANEL = "cachewatch-health/network"
row = partial(Check, category=NETWORK, tier=CHEAP, panel=PANEL)  # the fields every row here shares

CHECKS: tuple[Check, ...] = (
    # Judged by the prober, not from a snapshot: that a snapshot exists means connect, TLS, AUTH and the round
    # trip worked.
    row(id="net.connect", tier=Tier.PROBE, unit="bool", thresholds=Thresholds(critical=1), measure=lambda s, p: 0.0,
        title="The node cannot be reached",
        trigger="connect, TLS, AUTH or the round trip fails or misses the deadline (the report names the phase)",
        why="Clients cannot use it: every request to it fails or waits for a timeout.",
        fix="Check that redis-server runs and listens, the network path and firewall, TLS settings and the "
            "credentials (--redis-user, --redis-password-file, REDIS_PASSWORD).",
        # Prometheus sees the same through the exporter. One period: two failed scrapes in a row, so a single
        # failed scrape or a restart (under a second) never pages; a hung node is reported at the scrape timeout.
        # Delivered within the minute (docs/alert-latency.md).
        metrics=FromMetrics(expr="redis_up{node} == bool 0", panel="cachewatch-node/up", fire={"redis_up": 0},
                            fire_value=1, quiet={"redis_up": 1},
                            description="{{ $labels.instance }} ({{ $labels.cluster }}/{{ $labels.shard }}, "
                                        "{{ $labels.role }}) does not answer the exporter.",
                            alerts={CRITICAL: AlertAs(name="RedisDown", for_=1)})),
    row(id="net.maxclients", unit="ratio", thresholds=Thresholds(warning=0.8, critical=0.95),
        measure=_client_slots_used, title="Connections are close to maxclients",
        trigger="(connected_clients + connected_slaves + cluster_connections) / maxclients ≥ 0.8 / ≥ 0.95 (spec: "
                "thresholds.connections_warning_ratio / connections_critical_ratio)",
        why="At maxclients new connections are refused: application instances fail to start or reconnect.",
        fix="Look for connection leaks (pool size × instances), raise maxclients, or add shards.",
        metrics=FromMetrics(
            expr=SLOTS_USED, panel=CLIENTS,
            fire={"redis_connected_clients": 989, "redis_cluster_connections": 10, "redis_connected_slaves": 1,
                  "redis_config_maxclients": 1000}, fire_value=1,
            quiet={"redis_connected_clients": 10, "redis_config_maxclients": 1000},
            description="{{ $labels.instance }} has {{ $value | humanizePercentage }} of maxclients connected.",
            alerts={WARNING: AlertAs(name="RedisConnectionsHigh", threshold="connections_warning_ratio"),
                    # two periods (three samples): a reconnect storm after a deploy passes in seconds; 20 s at 95%
                    # of maxclients means the next ones are refused. Within the minute (docs/alert-latency.md).
                    CRITICAL: AlertAs(name="RedisConnectionsHighCritical", for_=2,
                                      threshold="connections_critical_ratio")})),
    row(id="net.rejected_connections", unit="count", thresholds=Thresholds(critical=1),
        measure=lambda s, p: growth(s, p, "rejected_connections"), title="Connections are refused",
        trigger="rejected_connections grew between two checks",
        why="Clients are refused because maxclients is reached.", fix="See net.maxclients.",
        metrics=FromMetrics(expr="increase(redis_rejected_connections_total{node}[5m])", panel=CLIENTS,
                            fire={"redis_rejected_connections_total": "0+1"}, fire_value=5,
                            quiet={"redis_rejected_connections_total": "3+0"},
                            description='{{ $labels.instance }} rejected {{ $value | printf "%.0f" }} connections in '
                                        "5 minutes.",
                            alerts={CRITICAL: AlertAs(name="RedisRejectedConnections", severity=WARNING,
                                                      for_="1m")})),
    row(id="net.loading", unit="bool", thresholds=Thresholds(critical=1),
        measure=lambda s, p: flag(s.info.get("loading") == "1" or s.info.get("async_loading") == "1"),
        title="The node is loading its dataset", trigger="loading:1 or async_loading:1",
        why="It answers LOADING errors until done.",
        fix="Wait; a cache should not load large snapshots at start (see pers.cache_persistence_on).",
        metrics=FromMetrics(expr="(redis_loading_dump_file{node} == 1) or (redis_async_loading{node} == 1)",
                            panel="cachewatch-node/up", fire={"redis_loading_dump_file": 1}, fire_value=1,
                            quiet={"redis_loading_dump_file": 0, "redis_async_loading": 0},
                            # 5m, outside the minute on purpose (docs/alert-latency.md): every restart loads the
                            # dataset, a minute or more for a big node; a node that dies pages as RedisDown first.
                            alerts={CRITICAL: AlertAs(name="RedisLoading", for_="5m")})),
    row(id="net.cluster_state", unit="bool", thresholds=Thresholds(critical=1), measure=_cluster_state,
        needs=frozenset({"cluster"}), title="Redis Cluster reports a failed state",
        trigger="CLUSTER INFO cluster_state is not ok", why="Some slots are not served: commands for their keys fail.",
        fix="CLUSTER NODES: restore the failed primary or reassign its slots (see net.cluster_slots_fail).",
        metrics=FromMetrics(expr="redis_cluster_state{node} == bool 0", panel=SLOTS, scope="cluster",
                            fire={"redis_cluster_state": 0}, fire_value=1, quiet={"redis_cluster_state": 1},
                            description="{{ $labels.instance }} reports cluster_state:fail for {{ $labels.cluster }}.",
                            # One period: a failover flips cluster_state to fail for a second or two (from the
                            # FAIL flag to the replica's promotion); two samples 10 s apart mean no replica took
                            # over. The state changes cluster-node-timeout (15 s) after the fault: counted in
                            # docs/alert-latency.md, still within the minute.
                            alerts={CRITICAL: AlertAs(name="RedisClusterStateNotOk", for_=1)})),
    row(id="net.cluster_slots_fail", unit="count", thresholds=Thresholds(critical=1), measure=_cluster_slots_fail,
        needs=frozenset({"cluster"}), title="Redis Cluster has failed slots",
        trigger="CLUSTER INFO cluster_slots_fail > 0",
        why="A primary and all its replicas are down: commands for keys in those slots fail.",
        fix="Restore a node of the failed shard, or reassign its slots (CLUSTER NODES shows which).",
        metrics=FromMetrics(expr="redis_cluster_slots_fail{node}", panel=SLOTS, scope="cluster",
                            fire={"redis_cluster_slots_fail": 100}, fire_value=100,
                            quiet={"redis_cluster_slots_fail": 0},
                            description="{{ $labels.instance }} sees {{ $value }} failed slots.",
                            alerts={CRITICAL: AlertAs(name="RedisClusterSlotsFail", for_=1)})),  # as cluster_state
)
