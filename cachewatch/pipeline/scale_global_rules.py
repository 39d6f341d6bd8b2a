"""Scale mode's fleet-level rules (alert_rules/global_rules.py) → ``global/rules/<file>`` and their promtool tests
``global/tests/<file>``, in Prometheus' rule format: vmalert, Thanos Ruler and the Mimir ruler all read it.

Every metric they read or write must be in the catalog (the ``cachewatch_fleet:*`` roll-ups are, under
cachewatch/catalog/recording_families.py), as for the regional rules.
"""

from __future__ import annotations

from cachewatch.alert_rules import global_rules
from cachewatch.artifacts import File, GeneratorError
from cachewatch.catalog import CATALOG
from cachewatch.catalog.lint import unknown_metrics
from cachewatch.pipeline import lint, rule_files
from cachewatch.promql import duration
from cachewatch.rulefmt import Record, RuleGroup, alerts_of, render_rule_file, render_rule_tests
from cachewatch.spec import FleetSpec

RULES_DIR, TESTS_DIR = "global/rules", "global/tests"


def check(groups: list[RuleGroup]) -> None:
    """Raise GeneratorError for a metric outside the catalog, read or written."""
    queries = lint.rule_queries(groups)
    problems = [f"{where}: {', '.join(sorted(names))}" for where, names in unknown_metrics(queries).items()]
    problems += [f"{group.file}/{rule.record}: writes a family the catalog lacks" for group in groups
                 for rule in group.rules if isinstance(rule, Record) and rule.record not in CATALOG]
    if problems:
        raise GeneratorError("global rules: metrics not in the catalog:\n  " + "\n  ".join(problems))


def files(spec: FleetSpec, groups: list[RuleGroup]) -> list[File]:
    check(groups)
    links = rule_files.links(spec)
    out = []
    for name, file_groups in rule_files.by_file(groups).items():
        out.append(File(f"{RULES_DIR}/{name}", render_rule_file(file_groups, links),
                        comment="\nFleet-level rules, evaluated on the long-term store (never a paging rule: those run "
                                "in each region).\n"))
        tests = render_rule_tests([f"../rules/{name}"], alerts_of(file_groups), links,
                                  duration(spec.intervals.evaluation))
        if tests["tests"]:
            out.append(File(f"{TESTS_DIR}/{name}", tests))
    return out


def groups(spec: FleetSpec) -> list[RuleGroup]:
    return global_rules.groups(spec)
