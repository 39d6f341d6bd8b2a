"""The alert table: every Redis alert as a keyword row (expression, severity, texts, runbook, panel, promtool
cases), one module per rule file.

Thresholds come from the spec; a cluster with its own thresholds gets its own copy of the rules
(same alert names, ``cluster=~"…"``) and the fleet-wide copy excludes it (variants.py). Every ratio guards its
denominator, every alert has a ``for``, and every critical alert a fault pages with is delivered within a minute
of the fault at the default intervals (docs/alert-latency.md computes each budget from the spec). Alerts carry
``scope`` (node, shard, cluster or fleet) for Alertmanager's inhibitions, and warning/critical pairs a shared
``twin`` label.
"""

from __future__ import annotations

from cachewatch.alert_rules.alerts import (
    cluster,
    connections,
    errors,
    fleet,
    health,
    latency,
    memory,
    persistence,
    probe,
    replication,
    security,
)
from cachewatch.alert_rules.alerts.rows import Ctx
from cachewatch.alert_rules.alerts.variants import RowsOf, build, variants
from cachewatch.rulefmt import RuleGroup
from cachewatch.spec.model import FleetSpec

# (group name, rule file, rows): one copy per threshold variant
GROUPS: tuple[tuple[str, str, RowsOf], ...] = (
    ("redis-health", "health.yml", health.rows),
    ("redis-memory", "memory.yml", memory.rows),
    ("redis-connections", "connections.yml", connections.rows),
    ("redis-replication", "replication.yml", replication.rows),
    ("redis-persistence", "persistence.yml", persistence.rows),
    ("redis-cluster", "cluster.yml", cluster.rows),
    ("redis-latency", "latency.yml", latency.rows),
    ("redis-errors", "errors.yml", errors.rows),
    ("redis-security", "security.yml", security.rows),
    ("redis-probe", "probe.yml", probe.rows),
)
# (group name, rule file, rows): built once, on the fleet's thresholds
FLEET_GROUPS: tuple[tuple[str, str, RowsOf], ...] = (
    ("redis-fleet", "fleet.yml", fleet.rows),
)


def groups(spec: FleetSpec) -> list[RuleGroup]:
    """Every alert group, in rule-file order."""
    out = [RuleGroup(name=name, file=file, rules=tuple(build(spec, rows))) for name, file, rows in GROUPS]
    first = Ctx(spec, spec.thresholds, "", *variants(spec)[0][1][0])  # its test node: the spec's first cluster
    return out + [RuleGroup(name=name, file=file, rules=tuple(row.alert() for row in rows(first)))
                  for name, file, rows in FLEET_GROUPS]
