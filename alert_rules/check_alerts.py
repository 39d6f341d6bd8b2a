"""checks-<category>.yml: the alerts of every health check whose measure the exporter's metrics express
(cachewatch/checks, ``Check.metrics``), at the check's own levels, so Prometheus and the health monitor judge
a node by one rule.

Each alerted level (``FromMetrics.alerts``, or every level) is one alert, with its established name. A cluster
whose spec sets other levels for a check (``thresholds:`` fields a level is bound to, or ``checks:``), or other
values of the thresholds the expression reads, gets its own copy of the check's alerts (``cluster=~``, labelled
``thresholds``), and the fleet-wide copy excludes it; clusters of a kind the check does not apply to (a ``store``
for a cache-only check) are left out of every copy.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cachewatch.alert_rules.alerts.rows import test_node
from cachewatch.checks import CHECKS, AlertAs, Check, FromMetrics, Severity, Thresholds
from cachewatch.promql import REDIS, duration, num, series
from cachewatch.rulefmt import Alert, AlertTest, RuleGroup, Series
from cachewatch.spec.model import Cluster, FleetSpec

GROUP, FILE = "redis-checks-{category}", "checks-{category}.yml"  # one file per check category
LEVELS = (Severity.INFO, Severity.WARNING, Severity.CRITICAL)
SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
LABEL = re.compile(r'(\w+)="([^"]*)"')
SETTLE_MINUTES = 10  # test series run this long past the longest `for`, covering 5m rate windows


@dataclass(frozen=True)
class Variant:
    """One copy of a check's alerts: its levels, the spec thresholds its expression reads, the clusters it
    covers (the first one's node is the test node) and the matcher that selects them."""

    levels: Thresholds
    params: tuple[float, ...]
    clusters: tuple[str, ...]
    matcher: str = ""
    set_name: str = ""  # the ``thresholds`` label of a per-cluster copy


def alerting(check: Check) -> dict[Severity, AlertAs]:
    """Level → how it is alerted on: the row's ``alerts``, else every level named after the id
    (``mem.maxmemory_vs_host`` → RedisMaxmemoryVsHost, the higher levels adding their severity)."""
    assert check.metrics is not None
    if check.metrics.alerts is not None:
        return dict(check.metrics.alerts)
    base = "Redis" + "".join(word.capitalize() for word in check.id.split(".", 1)[1].split("_"))
    present = [level for level in LEVELS if getattr(check.thresholds, level.value) is not None]
    return {level: AlertAs(name=base if level == present[0] else base + level.value.capitalize())
            for level in present}


def alert_name(check: Check, severity: Severity) -> str:
    return alerting(check)[severity].name


def setting(spec: FleetSpec, check: Check, cluster: Cluster | None) -> tuple[Thresholds, tuple[float, ...]]:
    """The levels and expression parameters in force for ``cluster`` (None: fleet-wide)."""
    thresholds = spec.thresholds_for(cluster) if cluster else spec.thresholds
    override = (spec.checks_for(cluster) if cluster else spec.checks).get(check.id)
    assert check.metrics is not None
    return (check.levels(thresholds, override.given() if override else None),
            tuple(getattr(thresholds, name) for name in check.metrics.params))


def variants(spec: FleetSpec, check: Check) -> list[Variant]:
    """One variant per distinct setting among the clusters the check applies to, the fleet's first."""
    fleet = setting(spec, check, None)
    by_setting: dict[tuple[Thresholds, tuple[float, ...]], list[str]] = {}
    excluded = [cluster.name for _, cluster in spec.clusters if cluster.kind not in check.kinds]
    for _, cluster in spec.clusters:
        if cluster.kind in check.kinds:
            by_setting.setdefault(setting(spec, check, cluster), []).append(cluster.name)
    others = [name for key, names in by_setting.items() if key != fleet for name in names]
    skip = excluded + others
    out = [Variant(*fleet, tuple(by_setting[fleet]), f'cluster!~"{"|".join(skip)}"' if skip else "")
           ] if fleet in by_setting else []
    return out + [Variant(*key, tuple(names), f'cluster=~"{"|".join(names)}"',
                          names[0] if len(names) == 1 else f"{names[0]}+{len(names) - 1}")
                  for key, names in by_setting.items() if key != fleet]


def seconds(for_: str) -> float:
    return sum(int(n) * SECONDS[unit] for n, unit in DURATION.findall(for_))


def alerts(spec: FleetSpec, check: Check, variant: Variant) -> list[Alert]:
    metrics = check.metrics
    assert metrics is not None
    value = metrics.query(REDIS, variant.matcher, thresholds=spec.thresholds_for(_cluster(spec, variant.clusters[0])))
    op = "<=" if check.lower_is_worse else ">="
    period = max(spec.intervals.scrape, spec.intervals.evaluation)
    on = {level: how for level, how in alerting(check).items() if getattr(variant.levels, level.value) is not None}
    fors = {level: duration(how.for_ * period) if isinstance(how.for_, int) else how.for_ for level, how in on.items()}
    test = _test(spec, metrics, variant.clusters[0], max(map(seconds, fors.values()), default=0))
    labels = {"scope": metrics.scope, "check": check.id, **({"thresholds": variant.set_name} if variant.set_name
                                                             else {}), **({"twin": check.id} if len(on) > 1 else {})}
    description = metrics.description or ("{{ $labels.instance }}: " + check.title.lower()
                                          + ' ({{ $value | printf "%.2f" }} ' + check.unit + ").")
    return [Alert(name=how.name, expr=f"({value}) {op} {num(getattr(variant.levels, level.value))}",
                  for_=fors[level], severity=(how.severity or level).value,  # type: ignore[arg-type]
                  summary=check.title, description=description, runbook=how.name.lower(), panel=metrics.panel,
                  test=test, labels=labels,
                  runbook_text=f"{check.why} {check.fix} (health check `{check.id}`, docs/checks.md)")
            for level, how in on.items()]


def _cluster(spec: FleetSpec, name: str) -> Cluster:
    return next(c for _, c in spec.clusters if c.name == name)


def _test(spec: FleetSpec, metrics: FromMetrics, cluster: str, for_seconds: float) -> AlertTest:
    """Series of the variant's first node that fire (quiet) from before the longest ``for`` until evaluation."""
    region = next(r.name for r, c in spec.clusters if c.name == cluster)
    node = test_node(region, cluster, _cluster(spec, cluster).team)
    minutes = math.ceil(for_seconds / 60) + SETTLE_MINUTES
    return AlertTest(fire=_series(metrics.fire, node, minutes + 5), quiet=_series(metrics.quiet, node, minutes + 5),
                     exp_labels={**node, **metrics.labels}, value=metrics.fire_value, eval_time=f"{minutes}m")


def _series(values: Mapping[str, float | str], node: dict[str, str], samples: int) -> tuple[Series, ...]:
    """``name{a="b"}`` → the test node's series with those labels; a number is constant, ``"start+step"`` grows
    by step a minute."""
    out = []
    for key, value in values.items():
        name, _, extra = key.partition("{")
        start = num(value) if isinstance(value, int | float) else value
        out.append(Series(series(name, {**node, **dict(LABEL.findall(extra))}), f"{start}x{samples}"))
    return tuple(out)


def groups(spec: FleetSpec) -> list[RuleGroup]:
    """One group (and rule file) per check category: promtool evaluates every rule of a file for each of its
    tests, so small files keep the generated tests fast."""
    by_category: dict[str, list[Alert]] = {}
    for check in CHECKS.values():
        if check.metrics is not None:
            by_category.setdefault(check.category.value, []).extend(
                alert for variant in variants(spec, check) for alert in alerts(spec, check, variant))
    return [RuleGroup(name=GROUP.format(category=category), file=FILE.format(category=category), rules=tuple(rules))
            for category, rules in by_category.items() if rules]
