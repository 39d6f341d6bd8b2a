"""Small fleet specs built in code, for tests that need one team and two clusters."""

from __future__ import annotations

from cachewatch.spec import Cluster, FleetSpec, Node, Region, Team


def tiny_spec(team: Team, **extra: object) -> FleetSpec:
    """Clusters ``live`` and ``patching`` (one node each) in region ``lab``, both owned by ``team``."""
    clusters = [Cluster(name=name, team=team.name, nodes=[Node(address=f"127.0.0.1:{7001 + i}")])
                for i, name in enumerate(("live", "patching"))]
    return FleetSpec(name="tiny", regions=[Region(name="lab", clusters=clusters)], teams=[team], **extra)
