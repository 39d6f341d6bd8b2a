"""What the alert rules part adds to ``cachewatch generate``: every rule group and the Alertmanager routing."""

from __future__ import annotations

from collections.abc import Callable

from cachewatch.alert_rules import alertmanager, alerts, business, check_alerts, node_records, slo, watchdog
from cachewatch.artifacts import Contribution
from cachewatch.rulefmt import RuleGroup
from cachewatch.spec import FleetSpec

# Every source of rule groups, in rule-file order; each is a pure function of the spec.
RULE_SOURCES: tuple[Callable[[FleetSpec], list[RuleGroup]], ...] = (
    alerts.groups, check_alerts.groups, node_records.groups, slo.groups, business.groups, watchdog.groups)


def rule_groups(spec: FleetSpec) -> list[RuleGroup]:
    return [group for source in RULE_SOURCES for group in source(spec)]


def contribution(spec: FleetSpec) -> Contribution:
    return Contribution(part="alert_rules", rule_groups=tuple(rule_groups(spec)),
                        alerting=alertmanager.alerting(spec))
