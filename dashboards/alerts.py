"""Alert lifecycle: open episodes, noise, MTTA and MTTR, false positives, escalations, and the service's own health.

Reads the ``cachewatch_alert_*`` families of the alert lifecycle service (job ``cachewatch-alerts``). They are
observed when their event happens, so a mean over the dashboard's time range is the increase of ``_sum`` over the
increase of ``_count`` over ``$__range`` (stat and table panels, instant queries); rates use ``$__rate_interval``.
Variables: ``team`` and ``severity`` (from the spec) filter every panel; ``cluster`` filters the families that carry
a cluster (episodes, notifications, classifications, flapping), keeping fleet-wide alerts (no cluster label).
Replicas of the service sharing one database report the same open episodes, so that gauge is a max across them.
``region`` filters every panel as on the other boards (``region=~"$region|"``). The service's families carry no
region of their own: outside scale mode they have none and every selection shows them; in scale mode theirs is the
external label of the Prometheus pair that scrapes the service (the home region), so a selection without the home
region shows no episodes until the service labels them with their alert's region.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from cachewatch.dashboards.common import OF_REGION, RATE, Board, Q, thresholds
from cachewatch.promql import ALERTS, ratio, selector
from cachewatch.spec.model import SEVERITIES, FleetSpec

UID = "cachewatch-alerts"
RANGE = "$__range"  # the dashboard's time range: what "MTTA over the last 7 days" means
SERVICE = f"{ALERTS}, {OF_REGION}"  # the service's own families (intake, API errors, reconcile, up)
TEAM = f'{SERVICE}, team=~"$team", severity=~"$severity"'  # families labelled team, severity
ALERT = f'{TEAM}, cluster=~"$cluster|"'  # families labelled alertname, team, cluster, severity
FALSE_POSITIVE = 'classification="false_positive"'
TOP = 10
FP_TARGET = 0.01  # the brief: fewer than 1% false positives


def _custom_var(name: str, label: str, values: list[str], description: str) -> db.CustomVariable:
    return (db.CustomVariable(name).label(label).description(description).values(",".join(values)).multi(True)
            .include_all(True).all_value(".*"))


def _increase(name: str, sel: str, window: str = RANGE, extra: str = "") -> str:
    return f"increase({selector(name, sel, extra)}[{window}])"


def _mean(family: str, by: str = "team") -> str:
    """Mean of a histogram's observations over the time range: increase of _sum / increase of _count."""
    return ratio(f"sum by ({by}) ({_increase(family + '_sum', TEAM)})",
                 f"sum by ({by}) ({_increase(family + '_count', TEAM)})")


def _quantile(q: float, family: str) -> str:
    return f"histogram_quantile({q}, sum by (le, team) ({_increase(family + '_bucket', TEAM)}))"


def _per_minute_top(family: str, by: str) -> str:
    return f"60 * topk({TOP}, sum by ({by}) (rate({selector(family, ALERT)}[{RATE}])))"


def _columns(names: dict[str, str]) -> dict:
    """Instant queries of one table merged into rows, their value columns named."""
    return {"transformations": [
        dm.DataTransformerConfig(id_val="merge", options={}),
        dm.DataTransformerConfig(id_val="organize", options={"excludeByName": {"Time": True},
                                                               "renameByName": names})]}


def _open(by: str) -> str:
    return f"sum by ({by}) (max by (state, team, severity) ({selector('cachewatch_alert_open_episodes', TEAM)}))"


def build(spec: FleetSpec) -> dm.Dashboard:
    lifecycle = spec.alert_lifecycle
    b = Board(spec, UID, "Alerts", "The alert lifecycle (cachewatch alerts serve): open episodes, the noisiest "
              "alerts, time to acknowledge (first ack minus first notification) and to resolve (endsAt minus startsAt, "
              "inferred resolves left out), false positives, flapping, escalations, and the service's intake.")
    b.builder.with_variable(_custom_var("team", "Team", [t.name for t in spec.teams], "Teams from the spec."))
    b.builder.with_variable(_custom_var("severity", "Severity", list(SEVERITIES), "Alert severity."))
    b.builder.link(db.DashboardLink("Alert console").type(dm.DashboardLinkType.LINK)
                   .url(f"http://{lifecycle.listen}/").target_blank(True)
                   .tooltip("Ack, resolve with notes, history and analytics"))

    b.row("Open now")
    b.panel("stat", "Open episodes by state", "Episodes not yet closed: firing, acked (someone is on it), resolved "
            "(waiting for a human close with notes and a classification).", "none",
            [Q(_open("state"), "{{state}}", instant=True)], span=8, steps=thresholds((None, "green")))
    b.panel("timeseries", "Open episodes by team", "Open episodes per team and state over time.", "short",
            [Q(_open("team, state"), "{{team}} {{state}}")], span=16, min_val=0)

    b.row("Noise")
    b.panel("timeseries", f"Episodes by alertname (top {TOP})", "Episodes opened per minute (one per firing of one "
            "alert, however many notifications carried it), for the alerts opening the most.", "opm",
            [Q(_per_minute_top("cachewatch_alert_episodes_total", "alertname"), "{{alertname}}")], min_val=0)
    b.panel("timeseries", f"Notifications by alertname (top {TOP})", "Distinct notifications per minute seen by the "
            "history route (repeats counted, HA duplicates once), for the alerts sending the most.", "opm",
            [Q(_per_minute_top("cachewatch_alert_notifications_total", "alertname"), "{{alertname}}")], min_val=0)
    b.panel("table", "Noisiest alerts over the range", f"The {TOP} alerts with the most episodes and the most "
            "notifications over the dashboard's time range, per team and cluster.", "none",
            [Q(f"topk({TOP}, sum by (alertname, team, cluster) "
               f"({_increase('cachewatch_alert_episodes_total', ALERT)}))", instant=True, fmt="table"),
             Q(f"topk({TOP}, sum by (alertname, team, cluster) "
               f"({_increase('cachewatch_alert_notifications_total', ALERT)}))", instant=True, fmt="table")],
            span=24, options=_columns({"Value #A": "episodes", "Value #B": "notifications"}))

    b.row("Response")
    b.panel("stat", "MTTA by team", "Mean time to acknowledge over the time range: first ack minus first "
            "notification, per acked episode.", "s",
            [Q(_mean("cachewatch_alert_ack_seconds"), "{{team}}", instant=True)], span=4)
    b.panel("stat", "MTTR by team", "Mean time to resolve over the time range: endsAt minus startsAt of episodes "
            "resolved by their alert (resolves inferred from Alertmanager timing an alert out are left out).", "s",
            [Q(_mean("cachewatch_alert_resolve_seconds"), "{{team}}", instant=True)], span=4)
    b.panel("stat", "Mean time to close by team", "Mean time from startsAt to the human close (with notes and a "
            "classification) over the time range.", "s",
            [Q(_mean("cachewatch_alert_close_seconds"), "{{team}}", instant=True)], span=4)
    for title, family, what in (("Time to acknowledge", "cachewatch_alert_ack_seconds", "acked"),
                                ("Time to resolve", "cachewatch_alert_resolve_seconds", "resolved")):
        b.panel("table", f"{title} p50 / p90", f"Median and 90th percentile over the time range of the episodes "
                f"{what} in it, per team (from the histogram's buckets).", "s",
                [Q(_quantile(0.5, family), instant=True, fmt="table"),
                 Q(_quantile(0.9, family), instant=True, fmt="table")],
                span=6, options=_columns({"Value #A": "p50", "Value #B": "p90"}))

    b.row("Quality and escalation")
    classified = "cachewatch_alert_classified_total"
    b.panel("stat", "False-positive rate", "Episodes closed as false_positive / episodes closed with any "
            f"classification over the time range, overall and per team. Target: below {FP_TARGET:.0%}.",
            "percentunit",
            [Q(ratio(f"sum({_increase(classified, ALERT, extra=FALSE_POSITIVE)})",
                     f"sum({_increase(classified, ALERT)})"), "all", instant=True),
             Q(ratio(f"sum by (team) ({_increase(classified, ALERT, extra=FALSE_POSITIVE)})",
                     f"sum by (team) ({_increase(classified, ALERT)})"), "{{team}}", instant=True)],
            span=8, steps=thresholds((None, "green"), (FP_TARGET, "red")), min_val=0, max_val=1)
    b.panel("table", "Flapping alerts over the range", f"Episodes that opened while their alert was flapping (at "
            f"least {lifecycle.flap_episodes} episodes within {lifecycle.flap_window:g} s), the top {TOP} alerts.",
            "none",
            [Q(f"topk({TOP}, sum by (alertname, cluster) "
               f"({_increase('cachewatch_alert_flapping_episodes_total', ALERT)}) > 0)", instant=True, fmt="table")],
            span=8, options=_columns({"Value": "flapping episodes"}))
    b.panel("stat", "Escalations over the range", "Episodes escalated to the team's escalate_to channels because no "
            "one acknowledged them within the team's ack timeout.", "none",
            [Q(f"sum by (team) ({_increase('cachewatch_alert_escalations_total', TEAM)})", "{{team}}",
               instant=True)], span=8, steps=thresholds((None, "green"), (1, "orange")))

    b.row("Service")
    b.panel("timeseries", "Ingest by source and result", "Alert observations taken in per second, by source "
            "(webhook, reconciler) and result (new episode, update, duplicate, rejected).", "ops",
            [Q(f"sum by (source, result) (rate({selector('cachewatch_alert_history_ingest_total', SERVICE)}[{RATE}]))",
               "{{source}} {{result}}")], span=8, min_val=0)
    b.panel("timeseries", "Alertmanager API errors", "Failed calls to Alertmanager's API per second by operation: "
            "polling alerts and silences, creating and expiring ack silences, posting escalations.", "reqps",
            [Q(f"sum by (operation) (rate({selector('cachewatch_alert_alertmanager_errors_total', SERVICE)}[{RATE}]))",
               "{{operation}}")], span=8, min_val=0)
    b.panel("stat", "Time since last reconcile", "Seconds since a reconciliation last read every configured "
            f"Alertmanager; it runs every {lifecycle.reconcile_interval:g} s, and without it silenced alerts and "
            "lost resolves go unrecorded.", "s",
            [Q(f"time() - max({selector('cachewatch_alert_reconcile_timestamp_seconds', SERVICE)})", "reconcile",
               instant=True)], span=4,
            steps=thresholds((None, "green"), (3 * lifecycle.reconcile_interval, "orange"),
                             (10 * lifecycle.reconcile_interval, "red")))
    b.panel("stat", "Service up", "Prometheus' up for each replica of the service (its /metrics at "
            f"{lifecycle.listen}).", "bool", [Q(selector("up", SERVICE), "{{instance}}", instant=True)], span=4,
            steps=thresholds((None, "red"), (1, "green")))
    return b.build()
