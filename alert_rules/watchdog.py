"""watchdog.yml: the dead man's switch. ``CachewatchWatchdog`` always fires (``vector(1)``, kube-prometheus'
``Watchdog``), so its notification, re-sent every ``heartbeat.repeat_interval`` (alertmanager.py routes it alone to
the heartbeat receiver), is the pulse of the whole path: Prometheus up and evaluating rules, Alertmanager up and
notifying, the network out. A heartbeat service that misses the pulse pages through another path.

In scale mode every region's Prometheus pair evaluates this rule and sends the alert labelled with its region (its
external labels), and vmalert sends it again from the global rule path with no region; Alertmanager posts each to
its own URL (``heartbeat.regions``, ``heartbeat.webhook``: cachewatch/pipeline/alertmanager_yml.py), so the service
has one check per sender and a silent region is a check of its own going quiet.

Severity ``none``: it is no problem, and every severity-keyed view (team routes, inhibitions, counts by severity)
leaves it out. The alert lifecycle's history route leaves it out too (no episode that never ends).
"""

from __future__ import annotations

from cachewatch.promql import WATCHDOG_ALERTNAME
from cachewatch.rulefmt import Alert, AlertTest, RuleGroup
from cachewatch.spec import FleetSpec

GROUP, FILE = "cachewatch-watchdog", "watchdog.yml"


def watchdog() -> Alert:
    return Alert(
        name=WATCHDOG_ALERTNAME, expr="vector(1)", for_="0s", severity="none",
        summary="The alerting pipeline is alive",
        description="Always firing: the heartbeat receiver expects this notification every repeat interval, and "
                    "its absence means Prometheus, Alertmanager or the path between them is down.",
        runbook=WATCHDOG_ALERTNAME.lower(), panel="cachewatch-fleet/up", dashboard_vars=(),
        runbook_text="Nothing to do while it fires: it is the heartbeat. When the heartbeat service reports it "
                     "missing (in scale mode the check that went quiet names the sender: a region's Prometheus pair, "
                     "or the global ruler on the long-term store), check in this order: Prometheus is up and its "
                     "rule evaluations succeed "
                     "(prometheus_rule_evaluation_failures_total), Prometheus reaches Alertmanager "
                     "(prometheus_notifications_errors_total), Alertmanager is up and reaches the heartbeat URL "
                     "(alertmanager_notifications_failed_total{integration=\"webhook\"}).",
        # always fires: no quiet case; no input series at all
        test=AlertTest(fire=(), quiet=None, exp_labels={}, eval_time="1m"))


def groups(spec: FleetSpec) -> list[RuleGroup]:
    """Generated whatever the spec says: without a heartbeat webhook it reaches a receiver with no integrations."""
    return [RuleGroup(name=GROUP, file=FILE, rules=(watchdog(),))]
