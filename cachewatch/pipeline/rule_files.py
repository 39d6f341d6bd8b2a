"""Every part's rule groups → ``prometheus/rules/<file>`` and the promtool tests ``prometheus/tests/<file>``.

Groups land in the file their ``RuleGroup.file`` names, in the order the parts contribute them; an alert's
firing and silent cases go to the test file of the same name.
"""

from __future__ import annotations

from cachewatch.artifacts import File
from cachewatch.promql import duration
from cachewatch.rulefmt import Links, RuleGroup, alerts_of, render_rule_file, render_rule_tests
from cachewatch.spec import FleetSpec


def by_file(groups: list[RuleGroup]) -> dict[str, list[RuleGroup]]:
    out: dict[str, list[RuleGroup]] = {}
    for group in groups:
        out.setdefault(group.file, []).append(group)
    return out


def links(spec: FleetSpec) -> Links:
    return Links(spec.links.runbook_base_url, spec.links.grafana_url)


def rule_docs(spec: FleetSpec, groups: list[RuleGroup]) -> dict[str, dict]:
    """Rule file name → the document Prometheus reads (the mixin and the PrometheusRule reuse them)."""
    return {file: render_rule_file(file_groups, links(spec)) for file, file_groups in by_file(groups).items()}


def files(spec: FleetSpec, groups: list[RuleGroup], docs: dict[str, dict]) -> list[File]:
    out = []
    for file, file_groups in by_file(groups).items():
        out.append(File(f"prometheus/rules/{file}", docs[file]))
        tests = render_rule_tests([f"../rules/{file}"], alerts_of(file_groups), links(spec),
                                  duration(spec.intervals.evaluation))
        if tests["tests"]:
            out.append(File(f"prometheus/tests/{file}", tests))
    return out
