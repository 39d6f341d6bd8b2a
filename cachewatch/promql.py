"""One spelling of what every generated query shares: job names, selectors, guarded ratios, numbers, durations.

Rules, dashboards, scrape jobs and tests all select the same series; a job name or a selector written twice
drifts. Everything here is a pure string function, so a part's generator reads as the PromQL it writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

REDIS_JOB = "redis"  # every node, whatever the exporter sharding (the scrape config relabels shards back)
EXPORTER_JOB = "cachewatch-exporter"  # the exporters' own /metrics
APPS_JOB = "cachewatch-apps"  # applications using cachewatch.tracing
PROBE_JOB = "redis-probe"  # every /probe series, whatever the module or sharding (the label module tells them apart)
ALERTS_JOB = "cachewatch-alerts"  # the alert lifecycle service's own /metrics (cachewatch alerts serve)
# Names Alertmanager routing (alert_rules) and the alert lifecycle service both spell: the receiver every alert
# reaches first (the history webhook, a `continue: true` route), and the escalation alert the service posts when
# an episode is still unacked at its team's ack timeout (routed by this label to the team's escalation receiver).
HISTORY_RECEIVER = "cachewatch-history"
ESCALATION_ALERTNAME = "CachewatchAckTimeout"
ESCALATION_LABEL, ESCALATION_VALUE = "escalation", "ack-timeout"
# The dead man's switch (alert_rules/watchdog.py): an alert that always fires, routed only to the heartbeat
# receiver; the alert lifecycle's history route leaves it out (it is no episode, it is the pipeline's pulse).
WATCHDOG_ALERTNAME = "CachewatchWatchdog"
HEARTBEAT_RECEIVER = "cachewatch-heartbeat"
WATCHDOG = f'alertname="{WATCHDOG_ALERTNAME}"'
NOT_WATCHDOG = f'alertname!="{WATCHDOG_ALERTNAME}"'
REDIS = f'job="{REDIS_JOB}"'
EXPORTER = f'job="{EXPORTER_JOB}"'
PROBE = f'job="{PROBE_JOB}"'
ALERTS = f'job="{ALERTS_JOB}"'
ESCALATION = f'{ESCALATION_LABEL}="{ESCALATION_VALUE}"'


def matchers(*parts: str, sep: str = ", ") -> str:
    """``{a, b}`` from the non-empty parts (``sep=","`` for the compact spelling the SLO rules use)."""
    return "{" + sep.join(p for p in parts if p) + "}"


def selector(name: str, *parts: str, sep: str = ", ") -> str:
    """``name{a, b}``: a metric with the non-empty matchers."""
    return name + matchers(*parts, sep=sep)


def series(name: str, labels: Mapping[str, str]) -> str:
    """A promtool input series or an exact series text: ``name{k="v", ...}`` with every label spelled out."""
    return selector(name, *(f'{k}="{v}"' for k, v in labels.items()))


def rate(expr: str, window: str) -> str:
    return f"rate({expr}[{window}])"


def ratio(numerator: str, denominator: str) -> str:
    """A guarded ratio: absent, not NaN or Inf, while the denominator is 0."""
    return f"{numerator} / ({denominator} > 0)"


def num(value: float) -> str:
    """A clean decimal for PromQL and YAML: 0.001, 14.4, 16777216, never 0.0009999999999999432."""
    text = format(Decimal(repr(float(value))).normalize(), "f")
    return text[:-2] if text.endswith(".0") else text


def duration(seconds: float) -> str:
    """Seconds → a Prometheus duration: 90 → 1m30s, 3600 → 1h, 0.5 → 500ms."""
    ms = round(seconds * 1000)
    if ms % 1000:
        return f"{ms}ms"
    total = ms // 1000
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            out += f"{total // size}{unit}"
            total %= size
    return out or "0s"


def go_duration(seconds: float) -> str:
    """Go's time.ParseDuration syntax in whole seconds or milliseconds (``10s``, ``1500ms``), at least 1ms: what
    the OpenTelemetry Collector reads, which knows no ``d`` unit."""
    ms = max(1, round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"
