"""Per-cluster threshold variants: a cluster with its own thresholds gets its own copy of the rules it changes.

A copy selects its clusters (``cluster=~"…"``) and carries a ``thresholds`` label naming the set (so the rules
stay distinct for promtool's duplicate check); the fleet-wide rule then excludes those clusters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.rulefmt import Alert
from cachewatch.spec.model import FleetSpec, Thresholds

Member = tuple[str, str, str]  # (cluster, region, team)
RowsOf = Callable[[Ctx], list[Row]]


def variants(spec: FleetSpec) -> list[tuple[Thresholds, list[Member]]]:
    """Clusters grouped by their effective thresholds: [(thresholds, [(cluster, region, team), ...]), ...]."""
    by_thresholds: dict[Thresholds, list[Member]] = {}
    for region, cluster in spec.clusters:
        by_thresholds.setdefault(spec.thresholds_for(cluster), []).append((cluster.name, region.name, cluster.team))
    return list(by_thresholds.items())


def fleet_ctx(spec: FleetSpec, sel: str = "") -> Ctx:
    """The fleet-wide variant; its test node belongs to the first cluster on the fleet's thresholds."""
    members = next((m for t, m in variants(spec) if t == spec.thresholds), [("unlisted", "unlisted",
                                                                           spec.owner_of_fleet)])
    return Ctx(spec, spec.thresholds, sel, *members[0])


def alerts(rows_of: RowsOf, ctx: Ctx) -> dict[str, Alert]:
    return {row.name: row.alert() for row in rows_of(ctx)}


def copies(spec: FleetSpec, rows_of: RowsOf, plain: dict[str, Alert]) -> tuple[list[Alert], dict[str, list[str]]]:
    """The copies for every cluster set off the fleet's thresholds, and the clusters each alert name excludes."""
    out: list[Alert] = []
    excluded: dict[str, list[str]] = {}
    for thresholds, members in variants(spec):
        if thresholds == spec.thresholds:
            continue
        names = [name for name, _, _ in members]
        unselected = alerts(rows_of, Ctx(spec, thresholds, "", *members[0]))
        changed = {name for name, alert in unselected.items() if alert.expr != plain[name].expr}
        set_name = names[0] if len(names) == 1 else f"{names[0]}+{len(names) - 1}"
        for name, alert in alerts(rows_of, Ctx(spec, thresholds, f'cluster=~"{"|".join(names)}"', *members[0])).items():
            if name in changed:
                out.append(replace(alert, labels={**alert.labels, "thresholds": set_name}))
                excluded.setdefault(name, []).extend(names)
    return out, excluded


def build(spec: FleetSpec, rows_of: RowsOf) -> list[Alert]:
    """The fleet-wide rules (excluding clusters with their own copy), then the copies."""
    plain = alerts(rows_of, fleet_ctx(spec))
    extra, excluded = copies(spec, rows_of, plain)
    out = []
    for name, alert in plain.items():
        if name in excluded:
            alert = alerts(rows_of, fleet_ctx(spec, f'cluster!~"{"|".join(excluded[name])}"'))[name]
        out.append(alert)
    return out + extra
