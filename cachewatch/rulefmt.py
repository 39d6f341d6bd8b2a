"""Rules as data: alerts and recording rules with their own promtool test cases, and one renderer.

Every generator returns ``RuleGroup``s; ``render_rule_file`` and ``render_rule_tests`` turn them into the
files Prometheus and ``promtool test rules`` read; rules write their numbers with ``cachewatch.promql.num`` so
generated files never carry float noise such as ``0.0009999999999999432``. A test case states only its labels
and value: the description it expects is the alert's own template, expanded by ``render_template`` as Prometheus
does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from cachewatch.panels import resolve

Severity = Literal["critical", "warning", "info", "none"]  # none: the Watchdog only (kube-prometheus' convention)
ALERT_PREFIX = "Redis"


@dataclass(frozen=True)
class Series:
    """One promtool input series: ``name{labels}`` and its values in promtool notation (``0+1x20``)."""

    series: str
    values: str


@dataclass(frozen=True)
class AlertTest:
    """Series that make the alert fire at ``eval_time``, and series that keep it silent.

    ``exp_labels`` are the labels of the expression's result in the fire case (what a template's ``$labels``
    holds; severity and rule labels are added on rendering), ``value`` its value (``$value``) where the
    description prints it: the expected description is rendered from the template, never written twice.
    """

    fire: tuple[Series, ...]
    quiet: tuple[Series, ...] | None  # None: the alert always fires (the Watchdog), there is no quiet case
    exp_labels: dict[str, str]
    value: float | None = None
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
    # Prometheus >= 2.42: keeps a firing alert firing this long after its condition cleared. Alerts with ``for: 0s``
    # (a single probe is already a sustained observation) set it, so one good probe mid-fault does not resolve
    # and re-page them.
    keep_firing_for: str = ""


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
        **({"keep_firing_for": rule.keep_firing_for} if rule.keep_firing_for else {}),
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
                "description": expected_description(alert),
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
        if t.quiet is None:
            continue
        tests.append({
            "name": f"{alert.name} stays silent",
            "interval": t.interval,
            "input_series": [{"series": s.series, "values": s.values} for s in t.quiet],
            "alert_rule_test": [{"eval_time": t.eval_time, "alertname": alert.name, "exp_alerts": []}],
        })
    return {"rule_files": rule_files, "evaluation_interval": evaluation_interval, "tests": tests}


# --- the Go-template subset of our annotations, rendered as Prometheus does (for promtool expectations) -----
ACTION = re.compile(r"\{\{(.*?)\}\}")
# `$labels.x` or `$value`, optionally piped into one function with an optional quoted argument
PIPELINE = re.compile(r'\s*\$(?:labels\.(?P<label>\w+)|value)'
                      r'(?:\s*\|\s*(?P<filter>\w+)(?:\s+"(?P<arg>[^"]*)")?)?\s*')
VERB = re.compile(r"%\.\d+f")
PRINTF = re.compile(r"[^%]*%\.\d+f[^%]*")
MISSING_LABEL = ""  # Prometheus expands with missingkey=zero: an absent label prints nothing


def _go_special(value: float) -> str | None:
    """Go prints NaN and infinities the same way in every float verb."""
    if math.isnan(value):
        return "NaN"
    return None if math.isfinite(value) else ("+Inf" if value > 0 else "-Inf")


def go_float(value: float) -> str:
    """Go's ``%v`` of a float64 (strconv's shortest ``g``): 100, 0.5, 123456.7, 1e+06, 1.5e-05."""
    if (special := _go_special(value)) is not None:
        return special
    shortest = Decimal(repr(float(value))).normalize()  # repr is the shortest round-trip spelling, as in Go
    sign, digits, exponent = shortest.as_tuple()
    exp10 = len(digits) + int(exponent) - 1
    if -4 <= exp10 < 6:
        return format(shortest, "f")
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"


def go_g4(value: float) -> str:
    """Go's ``%.4g`` (same as Python's for finite numbers)."""
    return _go_special(value) or f"{value:.4g}"


def printf(value: float, fmt: str) -> str:
    """``printf "%.Nf"``: the only verb our templates use (Go and Python round alike)."""
    if not PRINTF.fullmatch(fmt):
        raise ValueError(f'printf "{fmt}": only "%.Nf" formats are rendered')
    special = _go_special(value)
    return VERB.sub(special, fmt) if special else fmt % value


def humanize_percentage(value: float, _: str = "") -> str:
    """Prometheus' ``humanizePercentage``: ``%.4g%%`` of value × 100."""
    return go_g4(value * 100) + "%"


def humanize1024(value: float, _: str = "") -> str:
    """Prometheus' ``humanize1024``: binary prefixes ki, Mi, Gi, …; ``%.4g``."""
    if abs(value) <= 1 or not math.isfinite(value):
        return go_g4(value)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(value) < 1024:
            break
        prefix, value = p, value / 1024
    return go_g4(value) + prefix


FILTERS: dict[str, Callable[[float, str], str]] = {
    "printf": printf, "humanizePercentage": humanize_percentage, "humanize1024": humanize1024}


def render_template(template: str, labels: Mapping[str, str], value: float | None = None) -> str:
    """An annotation as Prometheus expands it: ``{{ $labels.x }}``, ``{{ $value }}``, ``{{ $value | f }}`` for
    the filters in FILTERS. Anything else raises, so that a new construct cannot be rendered wrongly."""

    def action(match: re.Match[str]) -> str:
        parts = PIPELINE.fullmatch(match[1])
        if parts is None or (parts["label"] and parts["filter"]):
            raise ValueError(f"unsupported template action {match[0]!r} in {template!r}")
        if parts["label"]:
            return labels.get(parts["label"], MISSING_LABEL)
        if value is None:
            raise ValueError(f"{template!r} prints $value: its test must state the expected value")
        if not parts["filter"]:
            return go_float(value)
        if parts["filter"] not in FILTERS:
            raise ValueError(f"unsupported template function {parts['filter']!r} in {template!r}")
        return FILTERS[parts["filter"]](value, parts["arg"] or "")

    return ACTION.sub(action, template)


def expected_description(alert: Alert) -> str:
    """The description as promtool sees it in the alert's fire case."""
    if alert.test is None:
        raise ValueError(f"{alert.name} has no test case")
    return render_template(alert.description, alert.test.exp_labels, alert.test.value)
