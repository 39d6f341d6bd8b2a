"""Connectivity checks: clients against maxclients, refused connections, loading, Redis Cluster's own state."""

from __future__ import annotations

from functools import partial

from cachewatch.checks.measures import flag, growth, ratio
from cachewatch.checks.model import Category, Check, Snapshot, Thresholds, Tier

NETWORK, CHEAP = Category.NETWORK, Tier.CHEAP


def _cluster_state(snap: Snapshot, prev: Snapshot | None) -> float | None:
    if snap.info.get("cluster_enabled") != "1":
        return None
    info = snap.cluster_info
    return flag(info.get("cluster_state") != "ok" or int(info.get("cluster_slots_fail", 0) or 0) > 0)


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
            "credentials (--redis-user, --redis-password-file, REDIS_PASSWORD)."),
    row(id="net.maxclients", unit="ratio", thresholds=Thresholds(warning=0.8, critical=0.95),
        measure=lambda s, p: ratio(s, "connected_clients", "maxclients"), title="Connections are close to maxclients",
        trigger="connected_clients / maxclients ≥ 0.8 / ≥ 0.95",
        why="At maxclients new connections are refused: application instances fail to start or reconnect.",
        fix="Look for connection leaks (pool size × instances), raise maxclients, or add shards."),
    row(id="net.rejected_connections", unit="count", thresholds=Thresholds(critical=1),
        measure=lambda s, p: growth(s, p, "rejected_connections"), title="Connections are refused",
        trigger="rejected_connections grew between two checks",
        why="Clients are refused because maxclients is reached.", fix="See net.maxclients."),
    row(id="net.loading", unit="bool", thresholds=Thresholds(critical=1),
        measure=lambda s, p: flag(s.info.get("loading") == "1" or s.info.get("async_loading") == "1"),
        title="The node is loading its dataset", trigger="loading:1 or async_loading:1",
        why="It answers LOADING errors until done.",
        fix="Wait; a cache should not load large snapshots at start (see pers.cache_persistence_on)."),
    row(id="net.cluster_state", unit="bool", thresholds=Thresholds(critical=1), measure=_cluster_state,
        needs=frozenset({"cluster"}), title="Redis Cluster reports a failed state",
        trigger="CLUSTER INFO cluster_state is not ok, or cluster_slots_fail > 0",
        why="Some slots are not served: commands for their keys fail.",
        fix="CLUSTER NODES: restore the failed primary or reassign its slots."),
)
