"""Drop-in compatibility: every family Debian's redis_exporter 1.45 emits, we emit with the same labels and type."""

from __future__ import annotations

import pytest

from cachewatch.catalog import CATALOG
from tests.support.exporter_process import parse_exposition, start_exporter, start_peer
from tests.support.paths import ROOT

# Families whose type we change on purpose (each listed in README "Deviations").
TYPE_DEVIATIONS = {
    # 1.45 typed it gauge; it only ever grows, and redis_exporter itself made it a counter in 1.64.
    "redis_expired_time_cap_reached_total": ("gauge", "counter"),
}
# Families the peer emits that depend on what happened on the server between its scrape and ours.
VOLATILE = {"redis_cluster_stats_messages_meet_sent", "redis_cluster_stats_messages_meet_received"}
# The peer's own process/go metrics are out of scope (excluded by --redis-only-metrics anyway).
PEER_ONLY_PREFIXES = ("go_", "process_", "redis_exporter_build_info")


def families_of(url: str, *, ours: bool) -> dict[str, dict]:
    args = ("--redis-addr", url) if ours else (f"--redis.addr={url}", "--redis-only-metrics")
    proc = start_exporter(*args) if ours else start_peer(*args)
    try:
        proc.get("/metrics")  # first scrape: probes and ACL LOG baseline
        result = proc.get("/metrics")
        assert result.status == 200
        return parse_exposition(result.body)
    finally:
        proc.stop()


def assert_drop_in(url: str) -> None:
    peer = families_of(url, ours=False)
    ours = families_of(url, ours=True)
    problems = []
    for name, fam in sorted(peer.items()):
        if name.startswith(PEER_ONLY_PREFIXES) or name in VOLATILE:
            continue
        if name not in ours:
            problems.append(f"missing family {name}")
            continue
        if ours[name]["labels"] != fam["labels"]:
            problems.append(f"{name}: labels {sorted(ours[name]['labels'])} != peer {sorted(fam['labels'])}")
        expected = TYPE_DEVIATIONS.get(name, (fam["type"], fam["type"]))
        if (fam["type"], ours[name]["type"]) != expected:
            problems.append(f"{name}: type {ours[name]['type']} != peer {fam['type']}")
    assert not problems, "\n".join(problems)
    assert all(name in CATALOG for name in ours), "every family we emit is in the catalog"


def test_standalone_primary_is_a_drop_in(redis_primary, redis_replica) -> None:
    assert_drop_in(redis_primary.url)  # has a connected replica: connected_slave_* families


def test_replica_is_a_drop_in(redis_replica) -> None:
    assert_drop_in(redis_replica.url)


def test_cluster_node_is_a_drop_in(redis_cluster) -> None:
    assert_drop_in(redis_cluster.nodes[0].url)


@pytest.mark.parametrize("name", sorted(TYPE_DEVIATIONS))
def test_every_type_deviation_is_documented_in_readme(name: str) -> None:

    assert name in ROOT.joinpath("README.md").read_text()
