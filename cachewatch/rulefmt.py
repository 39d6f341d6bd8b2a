"""Rules as data: alerts and recording rules with their own promtool test cases, and one renderer.

Every generator returns ``RuleGroup``s; ``render_rule_file`` and ``render_rule_tests`` turn them into the
files Prometheus and ``promtool test rules`` read. Numbers are formatted by ``num`` so generated files
never carry float noise such as ``0.0009999999999999432``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import yaml

from cachewatch.panels import resolve
from cachewatch.promql import duration, num  # noqa: F401  (re-exported: rules are written with them)

Severity = Literal["critical", "warning", "info"]
ALERT_PREFIX = "Redis"


@dataclass(frozen=True)
class Series:
    """One promtool input series: ``name{labels}`` and its values in promtool notation (``0+1x20``)."""

    series: str
    values: str


@dataclass(frozen=True)
class AlertTest:
    """Series that make the alert fire at ``eval_time`` (with ``exp_labels``), and series that keep it silent."""

    fire: tuple[Series, ...]
    quiet: tuple[Series, ...]
    exp_labels: dict[str, str]
    exp_description: str  # the description as Prometheus renders it for the fire case
    eval_time: str = "15m"
    interval: str = "1m"


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: Severity
    summary: str
    description: str
    runbook: str  # anchor in docs/runbooks.md
    panel: str  # dashboard uid/panel key, e.g. "cachewatch-node/memory"
    test: AlertTest | None
    labels: dict[str, str] = field(default_factory=dict)
    dashboard_vars: tuple[str, ...] = ("instance",)  # labels passed to the dashboard as variables
    runbook_text: str = ""  # what to check and do; rendered into runbooks.md


@dataclass(frozen=True)
class Record:
    record: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleGroup:
    name: str
    file: str  # file name under prometheus/rules/
    rules: tuple[Alert | Record, ...]
    interval: str | None = None


@dataclass(frozen=True)
class Links:
    runbook_base_url: str
    grafana_url: str

    def runbook(self, anchor: str) -> str:
        return f"{self.runbook_base_url}#{anchor}"

    def dashboard(self, panel: str, variables: tuple[str, ...], values: dict[str, str] | None = None) -> str:
        """Grafana panel link (``viewPanel`` takes the panel's fixed id from cachewatch.panels); with ``values``
        the label templates are expanded (for expected test output)."""
        uid, panel_id = resolve(panel)
        params = "".join(
            f"&var-{v}={values.get(v, '') if values is not None else '{{ $labels.' + v + ' }}'}" for v in variables)
        return f"{self.grafana_url}/d/{uid}?viewPanel={panel_id}{params}"


def render_rule(rule: Alert | Record, links: Links) -> dict:
    if isinstance(rule, Record):
        out: dict = {"record": rule.record, "expr": rule.expr}
        if rule.labels:
            out["labels"] = dict(rule.labels)
        return out
    return {
        "alert": rule.name,
        "expr": rule.expr,
        "for": rule.for_,
        "labels": {"severity": rule.severity, **rule.labels},
        "annotations": {
            "summary": rule.summary,
            "description": rule.description,
            "runbook_url": links.runbook(rule.runbook),
            "dashboard_url": links.dashboard(rule.panel, rule.dashboard_vars),
        },
    }


def render_rule_file(groups: list[RuleGroup], links: Links) -> dict:
    out = []
    for group in groups:
        entry: dict = {"name": group.name}
        if group.interval:
            entry["interval"] = group.interval
        entry["rules"] = [render_rule(r, links) for r in group.rules]
        out.append(entry)
    return {"groups": out}


def alerts_of(groups: list[RuleGroup]) -> list[Alert]:
    return [r for g in groups for r in g.rules if isinstance(r, Alert)]


def render_rule_tests(rule_files: list[str], alerts: list[Alert], links: Links, evaluation_interval: str) -> dict:
    """A promtool test file: per alert, one case where it fires with its labels and annotations, one quiet."""
    tests = []
    for alert in alerts:
        if alert.test is None:
            continue
        t = alert.test
        labels = {"severity": alert.severity, **alert.labels, **t.exp_labels}
        expected = {
            "exp_labels": labels,
            "exp_annotations": {
                "summary": alert.summary,
                "description": t.exp_description,
                "runbook_url": links.runbook(alert.runbook),
                "dashboard_url": links.dashboard(alert.panel, alert.dashboard_vars, labels),
            },
        }
        tests.append({
            "name": f"{alert.name} fires",
            "interval": t.interval,
            "input_series": [{"series": s.series, "values": s.values} for s in t.fire],
            "alert_rule_test": [{"eval_time": t.eval_time, "alertname": alert.name, "exp_alerts": [expected]}],
        })
        tests.append({
            "name": f"{alert.name} stays silent",
            "interval": t.interval,
            "input_series": [{"series": s.series, "values": s.values} for s in t.quiet],
            "alert_rule_test": [{"eval_time": t.eval_time, "alertname": alert.name, "exp_alerts": []}],
        })
    return {"rule_files": rule_files, "evaluation_interval": evaluation_interval, "tests": tests}


def dump_yaml(doc: object) -> str:
    """YAML as every generator writes it: keys in our order, long expressions on one line."""
    return yaml.safe_dump(doc, sort_keys=False, width=1000, allow_unicode=True, default_flow_style=False)
