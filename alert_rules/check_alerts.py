"""checks.yml: an alert for every health check whose measure the exporter's metrics express (cachewatch/checks,
``Check.metrics``), at the check's own levels, so Prometheus and the health monitor judge a node by one rule.

A cluster whose spec overrides a check's levels gets its own copy of the alert (``cluster=~``); clusters of a
kind the check does not apply to (a ``store`` for a cache-only check) are left out of every copy.
"""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import test_node
from cachewatch.checks import CHECKS, Check, Severity, Thresholds
from cachewatch.promql import REDIS, matchers, num, series
from cachewatch.rulefmt import Alert, AlertTest, RuleGroup, Series
from cachewatch.spec.model import FleetSpec

GROUP, FILE = "redis-checks", "checks.yml"
LEVELS = (Severity.INFO, Severity.WARNING, Severity.CRITICAL)
Variant = tuple[Thresholds, tuple[str, ...], str]  # levels, the clusters it covers, an extra matcher


def alert_name(check: Check, severity: Severity) -> str:
    """``mem.maxmemory_vs_host`` → RedisMaxmemoryVsHost; the higher levels of a check add their severity."""
    base = "Redis" + "".join(word.capitalize() for word in check.id.split(".", 1)[1].split("_"))
    present = [level for level in LEVELS if getattr(check.thresholds, level.value) is not None]
    return base if severity == present[0] else base + severity.value.capitalize()


def variants(spec: FleetSpec, check: Check) -> list[Variant]:
    """One variant per distinct set of levels among the clusters the check applies to."""
    fleet_override = spec.checks.get(check.id)
    fleet = check.thresholds.overridden(fleet_override.given()) if fleet_override else check.thresholds
    by_levels: dict[Thresholds, list[str]] = {}
    excluded = []
    for _, cluster in spec.clusters:
        if cluster.kind not in check.kinds:
            excluded.append(cluster.name)
            continue
        override = spec.checks_for(cluster).get(check.id)
        levels = check.thresholds.overridden(override.given()) if override else fleet
        by_levels.setdefault(levels, []).append(cluster.name)
    out: list[Variant] = []
    others = [name for levels, names in by_levels.items() if levels != fleet for name in names]
    if fleet in by_levels:
        skip = excluded + others
        out.append((fleet, tuple(by_levels[fleet]), f'cluster!~"{"|".join(skip)}"' if skip else ""))
    out += [(levels, tuple(names), f'cluster=~"{"|".join(names)}"') for levels, names in by_levels.items()
            if levels != fleet]
    return out


def alerts(spec: FleetSpec, check: Check, variant: Variant) -> list[Alert]:
    levels, clusters, extra = variant
    metrics = check.metrics
    assert metrics is not None
    value = metrics.expr.format(node=matchers(REDIS, extra))
    op = "<=" if check.lower_is_worse else ">="
    node = _node(spec, clusters[0])
    test = AlertTest(fire=_series(metrics.fire, node), quiet=_series(metrics.quiet, node), exp_labels=node,
                     value=metrics.fire_value)
    labels = {"scope": "node", "check": check.id, **({"thresholds": clusters[0]} if extra.startswith("cluster=~")
                                                      else {})}
    present = [level for level in LEVELS if getattr(levels, level.value) is not None]
    return [Alert(name=alert_name(check, severity), expr=f"{value} {op} {num(getattr(levels, severity.value))}",
                  for_=metrics.for_, severity=severity.value, summary=check.title,  # type: ignore[arg-type]
                  description="{{ $labels.instance }}: " + check.title.lower() + ' ({{ $value | printf "%.2f" }} '
                              + check.unit + ").",
                  runbook=alert_name(check, severity).lower(), panel=metrics.panel, test=test,
                  labels={**labels, **({"twin": check.id} if len(present) > 1 else {})},
                  runbook_text=f"{check.why} {check.fix} (health check `{check.id}`, docs/checks.md)")
            for severity in present]


def _node(spec: FleetSpec, cluster: str) -> dict[str, str]:
    region, found = next((r.name, c) for r, c in spec.clusters if c.name == cluster)
    return test_node(region, cluster, found.team)


def _series(values: dict[str, float], node: dict[str, str]) -> tuple[Series, ...]:
    return tuple(Series(series(name, node), f"{num(value)}x20") for name, value in values.items())


def groups(spec: FleetSpec) -> list[RuleGroup]:
    rules = [alert for check in CHECKS.values() if check.metrics is not None
             for variant in variants(spec, check) for alert in alerts(spec, check, variant)]
    return [RuleGroup(name=GROUP, file=FILE, rules=tuple(rules))] if rules else []
