"""Small fleet specs built in code, and what a spec implies for its scrape targets."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cachewatch.pipeline.build import build
from cachewatch.pipeline.writer import write
from cachewatch.spec import Cluster, FleetSpec, Node, Region, Team


def tiny_spec(team: Team, **extra: object) -> FleetSpec:
    """Clusters ``live`` and ``patching`` (one node each) in region ``lab``, both owned by ``team``."""
    clusters = [Cluster(name=name, team=team.name, nodes=[Node(address=f"127.0.0.1:{7001 + i}")])
                for i, name in enumerate(("live", "patching"))]
    return FleetSpec(name="tiny", regions=[Region(name="lab", clusters=clusters)], teams=[team], **extra)


def expected_labels(spec: FleetSpec) -> dict[str, dict[str, str]]:
    """Node address → the labels the scrape config gives its series (besides job and instance)."""
    return {node.address: {"region": region.name, "cluster": cluster.name, "shard": node.shard or node.address,
                           "role": node.role, "team": cluster.team}
            for region, cluster in spec.clusters for node in cluster.nodes}


def target_url(spec: FleetSpec, address: str) -> str:
    """The Redis URL the exporter is asked to scrape for a node (rediss:// for TLS clusters)."""
    tls = next(c.tls for _, c in spec.clusters for n in c.nodes if n.address == address)
    return f"{'rediss' if tls else 'redis'}://{address}"


def hashmod(value: str, modulus: int) -> int:
    """Prometheus' relabel hashmod: the low 8 bytes of md5, big-endian, modulo."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big") % modulus


def generate(spec: FleetSpec, out: Path) -> Path:
    """What `cachewatch generate` writes for ``spec``, under ``out``; returns ``out``."""
    write(out, build(spec).texts())
    return out
