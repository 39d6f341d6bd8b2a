"""``cachewatch generate SPEC --out DIR``: spec → model → generators → writers, each a small step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cachewatch.alert_rules import alertmanager, alerts, business, kubernetes, mixin, prometheus_config, runbooks, slo
from cachewatch.catalog.lint import check_catalog
from cachewatch.rulefmt import (
    Alert,
    Links,
    Record,
    RuleGroup,
    alerts_of,
    dump_yaml,
    duration,
    render_rule_file,
    render_rule_tests,
)
from cachewatch.spec.model import FleetSpec

# Every source of rule groups; each is a pure function of the spec.
RULE_SOURCES: tuple[Callable[[FleetSpec], list[RuleGroup]], ...] = (alerts.groups, slo.groups, business.groups)


def rule_groups(spec: FleetSpec) -> list[RuleGroup]:
    groups = [group for source in RULE_SOURCES for group in source(spec)]
    rules = [rule for group in groups for rule in group.rules]
    check_catalog({_rule_name(r): r.expr for r in rules}, [r.record for r in rules if isinstance(r, Record)])
    return groups


def _rule_name(rule: Alert | Record) -> str:
    return rule.name if isinstance(rule, Alert) else rule.record


def generate(spec: FleetSpec, out: Path, dashboards: dict[str, dict] | None = None) -> list[Path]:
    """Write every rules/routing artifact under ``out``; returns the files written. ``dashboards`` (uid →
    JSON, from cachewatch.dashboards; the CLI passes them, the two parts do not import each other) join
    the mixin as ``grafanaDashboards``."""
    groups = rule_groups(spec)
    links = Links(spec.links.runbook_base_url, spec.links.grafana_url)
    by_file: dict[str, list[RuleGroup]] = {}
    for group in groups:
        by_file.setdefault(group.file, []).append(group)
    rule_docs = {file: render_rule_file(file_groups, links) for file, file_groups in by_file.items()}
    written: list[Path] = []
    rules_dir, tests_dir = out / "prometheus" / "rules", out / "prometheus" / "tests"
    rules_dir.mkdir(parents=True, exist_ok=True)
    tests_dir.mkdir(parents=True, exist_ok=True)
    for file, doc in rule_docs.items():
        written.append(_write(rules_dir / file, dump_yaml(doc)))
        tests = render_rule_tests([f"../rules/{file}"], alerts_of(by_file[file]), links,
                                  duration(spec.intervals.evaluation))
        if tests["tests"]:
            written.append(_write(tests_dir / file, dump_yaml(tests)))
    written += prometheus_config.write(spec, list(rule_docs), out)
    written += alertmanager.write(spec, out)
    written.append(kubernetes.write(spec, rule_docs, out))
    written += mixin.write(spec, rule_docs, out, dashboards)
    written.append(runbooks.write(alerts_of(groups), out))
    return written


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
