"""Families of the alert lifecycle service (cachewatch.alert_lifecycle, ``cachewatch alerts serve``).

Each is observed when its event happens (an episode opens, an ack lands, an alert resolves), never recomputed
over a fixed window, so any PromQL range works: MTTA over 7 days is
``sum(increase(cachewatch_alert_ack_seconds_sum[7d])) / sum(increase(cachewatch_alert_ack_seconds_count[7d]))``.
No family has a fingerprint or episode label: label values stay bounded by the spec's alerts, teams and clusters.
"""

from __future__ import annotations

from cachewatch.catalog.model import Family, MetricType, Source

G, C, H = MetricType.GAUGE, MetricType.COUNTER, MetricType.HISTOGRAM
ALERT = ("alertname", "team", "cluster", "severity")
TEAM = ("team", "severity")


def _svc(name: str, kind: MetricType, help_: str, labels: tuple[str, ...], unit: str = "") -> Family:
    return Family(name=name, type=kind, help=help_, labels=labels, unit=unit, source=Source.LIFECYCLE,
                  group="lifecycle")


LIFECYCLE_FAMILIES: tuple[Family, ...] = (
    _svc("cachewatch_alert_episodes_total", C, "Episodes opened: one per firing of one alert (fingerprint + "
         "startsAt), however many notifications, HA duplicates or replays carried it.", ALERT),
    _svc("cachewatch_alert_notifications_total", C, "Distinct notifications of an episode seen by the history "
         "route (HA duplicates counted once; repeats counted).", ALERT),
    _svc("cachewatch_alert_open_episodes", G, "Episodes not yet closed, by state (firing, acked, resolved).",
         ("state", "team", "severity")),
    _svc("cachewatch_alert_ack_seconds", H, "Time to acknowledge: first ack minus first notification, observed at "
         "the first ack of an episode.", TEAM, "seconds"),
    _svc("cachewatch_alert_resolve_seconds", H, "Time to resolve: endsAt minus startsAt, observed when an episode "
         "resolves; resolves inferred from Alertmanager timing the alert out are left out.", TEAM, "seconds"),
    _svc("cachewatch_alert_close_seconds", H, "Time to close: the human close minus startsAt.", TEAM, "seconds"),
    _svc("cachewatch_alert_classified_total", C, "Episodes closed, by classification (actionable, non_actionable, "
         "false_positive, duplicate, expected).", ("classification", *ALERT)),
    _svc("cachewatch_alert_flapping_episodes_total", C, "Episodes that opened while their alert was flapping "
         "(at least alert_lifecycle.flap_episodes episodes inside flap_window).", ALERT),
    _svc("cachewatch_alert_escalations_total", C, "Episodes escalated because no one acknowledged them within the "
         "team's ack timeout.", TEAM),
    _svc("cachewatch_alert_history_ingest_total", C, "Alert observations taken in, by source (webhook, reconciler) "
         "and result (new episode, update, duplicate, rejected).", ("source", "result")),
    _svc("cachewatch_alert_alertmanager_errors_total", C, "Failed calls to Alertmanager's API by operation (alerts, "
         "silences, silence_create, silence_expire, post_alerts).", ("operation",)),
    _svc("cachewatch_alert_reconcile_timestamp_seconds", G, "Unix time of the last reconciliation that read every "
         "configured Alertmanager.", ()),
)
