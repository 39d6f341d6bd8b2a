"""Scale mode's assembly: what ``cachewatch generate`` writes when the spec has a ``scale`` section.

Starting from the single-Prometheus file set:
- kept: the rule files and their promtool tests (every region evaluates all of them: ``prometheus/rules``), the
  Alertmanager config and route tests (one cluster for the fleet), dashboards, mixin, PrometheusRule, docs, the
  tracing configs;
- replaced: ``prometheus/prometheus.yml`` by ``regions/<region>/prometheus.yml``; ``grafana/provisioning`` by
  ``global/grafana/provisioning`` (the datasource is the long-term store); ``docs/runbooks.md`` gains the global
  alerts;
- added: the long-term store and its ruler (``global/<engine>``), the fleet-level rules and tests
  (``global/rules``, ``global/tests``), the Alertmanager cluster's flags, the logs pipeline per region, the logs
  backend and ``docs/logs.md``.

Before anything is written, the spec is checked against what the rules actually read: a regional Prometheus must
keep at least the longest range any rule uses, plus the margin.
"""

from __future__ import annotations

import re

from cachewatch.artifacts import Contribution, File
from cachewatch.pipeline import (
    prometheus_yml,
    runbooks,
    scale_alertmanager,
    scale_global_rules,
    scale_grafana,
    scale_logs,
    scale_long_term,
    scale_regional,
)
from cachewatch.rulefmt import RuleGroup, alerts_of
from cachewatch.spec import FleetSpec, SpecError
from cachewatch.spec.scale import RETENTION_MARGIN_DAYS, scale_of

REPLACED = (prometheus_yml.PATH, *scale_grafana.REPLACES)
DAY = 86400
_RANGE = re.compile(r"\[((?:\d+[smhdwy])+)(?::[^\]]*)?\]")
_PART = re.compile(r"(\d+)([smhdwy])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": DAY, "w": 7 * DAY, "y": 365 * DAY}


def range_seconds(expr: str) -> int:
    """The longest range selector (or subquery range) in a PromQL expression, in seconds; 0 without one."""
    return max((sum(int(n) * _UNIT[u] for n, u in _PART.findall(m)) for m in _RANGE.findall(expr)), default=0)


def retention_problems(spec: FleetSpec, groups: list[RuleGroup]) -> list[str]:
    """The local retention against the longest range the regional rules read."""
    longest = max(((range_seconds(rule.expr), rule) for g in groups for rule in g.rules), key=lambda x: x[0],
                  default=(0, None))
    seconds, rule = longest
    needed = -(-seconds // DAY) + RETENTION_MARGIN_DAYS
    days = scale_of(spec).prometheus.local_retention_days
    if rule is None or days >= needed:
        return []
    name = getattr(rule, "name", None) or getattr(rule, "record", "")
    return [f"scale.prometheus.local_retention_days: {days} days is too short: {name} reads "
            f"{seconds // DAY}d of local data, so each regional Prometheus keeps at least {needed} days"]


def files(spec: FleetSpec, single: list[File], contributions: list[Contribution], groups: list[RuleGroup],
          rule_files: list[str]) -> list[File]:
    """The scale-mode file set, from the single-Prometheus one (``single``) and the parts' contributions."""
    problems = retention_problems(spec, groups)  # scale_problems: refused when the spec loads
    if problems:
        raise SpecError("\n".join(problems))
    global_groups = scale_global_rules.groups(spec)
    added = [
        *scale_regional.files(spec, rule_files, contributions),
        *scale_global_rules.files(spec, global_groups),
        *scale_long_term.files(spec),
        *scale_alertmanager.files(spec),
        *scale_grafana.files(spec),
        *scale_logs.files(spec),
        *runbooks.files(alerts_of(groups) + alerts_of(global_groups)),
    ]
    replaced = set(REPLACED) | {file.path for file in added}
    return [*(file for file in single if file.path not in replaced), *added]
