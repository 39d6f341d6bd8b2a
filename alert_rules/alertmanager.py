"""The fleet spec → alertmanager.yml (routes, receivers, inhibitions, time intervals) and its route tests.

Why the tree looks like this:
- root: ``group_by: [alertname, cluster, region, application]`` — never ``instance``, so a shard-wide fault
  is one notification; ``application`` keeps client-side alerts of different applications apart. Its
  receiver is the platform team's warning receiver (else info, else critical): an alert with a missing or
  unknown ``team`` label is a generator bug that must be seen, not dropped. ``default-null`` (no
  integrations) is used only when the platform team has no receiver at all. The same receiver is also the last
  child (no matchers): Alertmanager uses the root's receiver only when no child matched, and the alert lifecycle's
  history route (``continue: true``, no matchers) matches every alert, so without that last child an alert with
  no team would reach the history alone and page no one.
- one child per team (``team="<name>"``) whose receiver is ``default-null``: a severity the team sends to no
  channel is deliberately silent. Below it one leaf per severity that has channels, receiver ``<team>-<severity>``,
  holding every channel of ``escalation.<severity>``; ``continue: false`` everywhere.
- escalation (teams whose ``escalation.escalate_to`` names channels, while ``alert_lifecycle`` is enabled): the
  team's first child matches ``escalation="ack-timeout"``, the alert the lifecycle service posts when an episode is
  still unacked at its ack timeout, and sends it to ``<team>-escalation`` (the escalate_to channels) with
  ``group_by: ['...']`` (one page per escalated episode), ``group_wait: 0s`` and the team's ``repeat_critical``,
  whatever the episode's severity. It sits before the maintenance and severity children and carries no time
  intervals: an escalation is a page, never muted by business hours or maintenance windows.
- time intervals sit on the leaves (Alertmanager applies only the matched route's intervals): maintenance
  windows mute every severity through a ``cluster=~"a|b"`` child for the clusters they cover, fleet-wide
  windows mute every leaf; business hours are an ``active_time_intervals`` on warning and info leaves when the
  team sets ``warning_only_in_business_hours``. Critical is never muted by business hours. The root route
  (fallback) cannot carry intervals, so it is never muted.
- route tests list ``cachewatch-history`` first for every alert while ``alert_lifecycle`` is enabled: that part
  puts its history route (``continue: true``) before these, so every alert reaches it too — except the Watchdog.
- the dead man's switch: ``CachewatchWatchdog`` (always firing, watchdog.py) has the first route of this part and
  its own receiver ``cachewatch-heartbeat`` (the spec's ``heartbeat.webhook``, or no integration at all), with
  ``group_wait: 0s`` and ``repeat_interval`` = ``heartbeat.repeat_interval`` (5m): the heartbeat service alarms when
  the pings stop. Without its own route it would fall to the platform team's fallback receiver (it has no team).
  ``send_resolved: false``: when Prometheus dies, Alertmanager resolves the alert a few minutes later, and a
  resolved post must not count as a ping. The history route excludes it by a matcher (alert_lifecycle).
- secrets: only ``*_file`` fields are written. Alertmanager does not expand environment variables, so an
  ``env`` SecretRef fails generation. Alertmanager 0.25 trims the Slack URL and PagerDuty key files but sends
  the SMTP password file as it is, trailing newline included, and the login fails: ``verbatim_secret_files``
  lists those files so that ``cachewatch generate`` can warn about one that ends in a newline.
- delivery: one Slack URL file per channel (a Slack app's webhook ignores ``channel``); PagerDuty ``url`` for EU
  accounts and proxies; email always states ``require_tls`` (the spec's, or its default: false for a relay on this
  host or on port 465, true otherwise) and ``tls_config`` when the spec sets how to check the relay's
  certificate. Links in notifications need each tool's ``--web.external-url`` (see the config's header).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from cachewatch.artifacts import Alerting
from cachewatch.promql import (
    ESCALATION,
    ESCALATION_ALERTNAME,
    ESCALATION_LABEL,
    ESCALATION_VALUE,
    HEARTBEAT_RECEIVER,
    HISTORY_RECEIVER,
    WATCHDOG,
    WATCHDOG_ALERTNAME,
    duration,
)
from cachewatch.spec import (
    EmailChannel,
    FleetSpec,
    PagerDutyChannel,
    SecretRef,
    SlackChannel,
    SpecError,
    Team,
    TimeWindow,
    WebhookChannel,
)
from cachewatch.spec.model import SEVERITIES, Severity

Version = tuple[int, int]
DEFAULT_VERSION: Version = (0, 25)  # Debian's prometheus-alertmanager: the syntax `amtool check-config` here accepts
WEBHOOK_URL_FILE_SINCE: Version = (0, 26)  # prometheus/alertmanager#3223
NULL_RECEIVER = "default-null"
BUSINESS_HOURS = "business-hours"
GROUP_BY = ["alertname", "cluster", "region", "application"]
FALLBACK_ORDER: tuple[Severity, ...] = ("warning", "info", "critical")  # platform receiver for unrouted alerts
# severity → (minimum group_wait, minimum group_interval), seconds: pages go out as fast as the spec allows,
# lower severities are batched.
TIMING: dict[Severity, tuple[float, float]] = {"critical": (0, 0), "warning": (30, 300), "info": (30, 300)}
BUSINESS_HOURS_SEVERITIES: tuple[Severity, ...] = ("warning", "info")
TYPICAL_ALERT: dict[Severity, str] = {"critical": "RedisDown", "warning": "RedisMemoryHigh", "info": "RedisMemoryHigh"}

# Inhibitions. Generators set `scope` ("node" | "cluster") on symptoms and `twin` (a name per condition, e.g.
# "memory", "slo-<name>") on both alerts of a warning/critical pair. `twin=~".+"` on both sides keeps alerts
# without a twin out: Alertmanager treats absent `equal` labels as equal, so a bare critical→warning rule
# would let any fleet-level critical silence every fleet-level warning. Cluster-level alerts inhibit
# node-level ones of the same cluster only at the same or a lower severity (a cluster warning must not hide
# a node going down). RedisExporterDown inhibits fleet-wide (`equal: []`) what every node behind it then shows:
# RedisDown, RedisScrapeFailing (its /scrape targets fail) and RedisProbeFailing (so do its /probe targets); the
# exporter page itself reaches the platform team, no node's team is notified (bench/alert_quality.py measures it).
BEHIND_THE_EXPORTER = ("RedisDown", "RedisScrapeFailing", "RedisProbeFailing")
INHIBIT_RULES: list[dict[str, Any]] = [
    {"source_matchers": ['alertname="RedisDown"'],
     "target_matchers": ['scope="node"', 'alertname!="RedisDown"'], "equal": ["instance"]},
    {"source_matchers": ['severity="critical"', 'twin=~".+"'],
     "target_matchers": ['severity="warning"', 'twin=~".+"'], "equal": ["twin", "region", "cluster", "instance"]},
    {"source_matchers": ['scope="cluster"', 'severity="critical"'],
     "target_matchers": ['scope="node"'], "equal": ["cluster"]},
    {"source_matchers": ['scope="cluster"', 'severity="warning"'],
     "target_matchers": ['scope="node"', 'severity=~"warning|info"'], "equal": ["cluster"]},
    {"source_matchers": ['scope="cluster"', 'severity="info"'],
     "target_matchers": ['scope="node"', 'severity="info"'], "equal": ["cluster"]},
    {"source_matchers": ['alertname="RedisExporterDown"'],
     "target_matchers": [f'alertname=~"{"|".join(BEHIND_THE_EXPORTER)}"'], "equal": []},
]

SLACK_TITLE = ('[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
               '{{ .CommonLabels.alertname }} {{ .CommonLabels.region }}/{{ .CommonLabels.cluster }}')
SLACK_TEXT = ('{{ range .Alerts }}*{{ .Annotations.summary }}* ({{ .Labels.severity }})\n'
              '{{ .Annotations.description }}\n'
              '<{{ .Annotations.runbook_url }}|runbook> · <{{ .Annotations.dashboard_url }}|dashboard>\n{{ end }}')
PAGERDUTY_DESCRIPTION = ('{{ .CommonLabels.alertname }} {{ .CommonLabels.region }}/{{ .CommonLabels.cluster }}: '
                         '{{ .CommonAnnotations.summary }}')


@dataclass
class _Secrets:
    """Turns SecretRefs into file paths, collecting one problem line per unusable reference."""

    version: Version
    problems: list[str] = field(default_factory=list)

    def file(self, ref: SecretRef, path: str) -> str:
        if ref.file is None:
            self.problems.append(f"{path}: SecretRef(env={ref.env!r}) cannot be used by Alertmanager, which does "
                                 "not expand environment variables in its config; give SecretRef(file=...)")
            return ""
        return ref.file


def _email(ch: EmailChannel, path: str, secrets: _Secrets) -> dict:
    out: dict[str, Any] = {"to": ", ".join(ch.to), "from": ch.sender, "smarthost": ch.smarthost,
                           "require_tls": ch.starttls, "send_resolved": True}
    if ch.hello:
        out["hello"] = ch.hello
    if ch.auth_username:
        out["auth_username"] = ch.auth_username
    if ch.auth_password:
        out["auth_password_file"] = secrets.file(ch.auth_password, f"{path}.auth_password")
    if tls := ch.tls.model_dump(exclude_defaults=True):
        out["tls_config"] = tls
    return out


def _slack(ch: SlackChannel, path: str, secrets: _Secrets) -> dict:
    return {"api_url_file": secrets.file(ch.api_url, f"{path}.api_url"), "channel": ch.channel,
            "send_resolved": True, "title": SLACK_TITLE, "text": SLACK_TEXT}


def _pagerduty(ch: PagerDutyChannel, path: str, secrets: _Secrets) -> dict:
    return {"routing_key_file": secrets.file(ch.routing_key, f"{path}.routing_key"),
            **({"url": ch.url} if ch.url else {}), "send_resolved": True,
            "severity": "{{ .CommonLabels.severity }}", "description": PAGERDUTY_DESCRIPTION}


def _webhook(ch: WebhookChannel, path: str, secrets: _Secrets) -> dict:
    out: dict[str, Any] = {"send_resolved": True, "max_alerts": ch.max_alerts}
    if ch.url is not None:
        return {"url": ch.url, **out}
    if secrets.version < WEBHOOK_URL_FILE_SINCE:
        have, need = (".".join(map(str, v)) for v in (secrets.version, WEBHOOK_URL_FILE_SINCE))
        secrets.problems.append(f"{path}.url_secret: Alertmanager {have} webhook_configs has no url_file (added in "
                                f"{need}) and a secret URL is never written; give url=... or target >= {need}")
        return out
    return {"url_file": secrets.file(ch.url_secret, f"{path}.url_secret"), **out}  # type: ignore[arg-type]


RENDERERS: dict[str, tuple[str, Callable[[Any, str, _Secrets], dict]]] = {
    "email": ("email_configs", _email), "slack": ("slack_configs", _slack),
    "pagerduty": ("pagerduty_configs", _pagerduty), "webhook": ("webhook_configs", _webhook),
}


def verbatim_secret_files(spec: FleetSpec) -> list[tuple[str, str]]:
    """(field path, file) of every secret file Alertmanager 0.25 reads without trimming it: the SMTP passwords
    of the channels some receiver uses. A trailing newline there becomes part of the password."""
    return [(f"teams.{i}.channels.{name}.auth_password", channel.auth_password.file)
            for i, team in enumerate(spec.teams) for name, channel in team.channels.items()
            if isinstance(channel, EmailChannel) and channel.auth_password and channel.auth_password.file
            and name in _used_channels(team)]


def _used_channels(team: Team) -> set[str]:
    return {name for severity in SEVERITIES for name in getattr(team.escalation, severity)} | set(
        team.escalation.escalate_to)


def _receiver(team: Team, index: int, kind: str, channels: list[str], secrets: _Secrets) -> dict:
    """``<team>-<kind>`` (a severity, or ``escalation``) holding the named channels of the team."""
    out: dict[str, Any] = {"name": f"{team.name}-{kind}"}
    for name in channels:
        channel = team.channels[name]
        key, render = RENDERERS[channel.kind]
        out.setdefault(key, []).append(render(channel, f"teams.{index}.channels.{name}", secrets))
    return out


def time_interval(window: TimeWindow) -> dict:
    """One entry of an Alertmanager `time_intervals` list, as written to alertmanager.yml."""
    out: dict[str, Any] = {}
    if window.times:
        out["times"] = [dict(zip(("start_time", "end_time"), span.split("-"), strict=True)) for span in window.times]
    out |= {key: getattr(window, key) for key in ("weekdays", "days_of_month", "months") if getattr(window, key)}
    return out | {"location": window.location}


def _maintenance_groups(spec: FleetSpec) -> list[tuple[list[str], list[str]]]:
    """Clusters grouped by the set of windows covering them: (clusters, time interval names)."""
    covering: dict[str, list[str]] = {}
    for window in spec.maintenance:
        for cluster in window.clusters:
            covering.setdefault(cluster, []).append(f"maintenance-{window.name}")
    groups: dict[tuple[str, ...], list[str]] = {}
    for cluster, names in covering.items():
        groups.setdefault(tuple(names), []).append(cluster)
    return [(clusters, list(names)) for names, clusters in groups.items()]


def _leaves(spec: FleetSpec, team: Team, mutes: list[str]) -> list[dict]:
    leaves = []
    for severity in SEVERITIES:
        if not getattr(team.escalation, severity):
            continue
        min_wait, min_interval = TIMING[severity]
        leaf: dict[str, Any] = {
            "receiver": f"{team.name}-{severity}", "matchers": [f'severity="{severity}"'],
            "group_wait": duration(max(spec.intervals.group_wait, min_wait)),
            "group_interval": duration(max(spec.intervals.group_interval, min_interval)),
            "repeat_interval": duration(getattr(team.escalation, f"repeat_{severity}")), "continue": False}
        if mutes:
            leaf["mute_time_intervals"] = list(mutes)
        if (severity in BUSINESS_HOURS_SEVERITIES and spec.business_hours
                and team.escalation.warning_only_in_business_hours):
            leaf["active_time_intervals"] = [BUSINESS_HOURS]
        leaves.append(leaf)
    return leaves


def escalates(spec: FleetSpec, team: Team) -> bool:
    """Whether the team gets an escalation route: the lifecycle service posts escalations, and to somewhere."""
    return spec.alert_lifecycle.enabled and bool(team.escalation.escalate_to)


def _escalation(spec: FleetSpec, team: Team) -> dict:
    """The escalation page: before every other child of the team, no time intervals (never muted)."""
    return {"receiver": f"{team.name}-escalation", "matchers": [ESCALATION], "group_by": ["..."], "group_wait": "0s",
            "group_interval": duration(spec.intervals.group_interval),
            "repeat_interval": duration(team.escalation.repeat_critical), "continue": False}


def _team_route(spec: FleetSpec, team: Team) -> dict:
    fleet_mutes = [f"maintenance-{w.name}" for w in spec.maintenance if not w.clusters]
    routes = [_escalation(spec, team)] if escalates(spec, team) else []
    routes += [{"matchers": [f'cluster=~"{"|".join(clusters)}"'], "routes": leaves}
               for clusters, mutes in _maintenance_groups(spec)
               if (leaves := _leaves(spec, team, fleet_mutes + mutes))]
    routes += _leaves(spec, team, fleet_mutes)
    route: dict[str, Any] = {"receiver": NULL_RECEIVER, "matchers": [f'team="{team.name}"'], "continue": False}
    return route | ({"routes": routes} if routes else {})


def heartbeat_route(spec: FleetSpec) -> dict:
    """The Watchdog alone, to the heartbeat receiver, re-sent every heartbeat.repeat_interval; never muted."""
    return {"receiver": HEARTBEAT_RECEIVER, "matchers": [WATCHDOG], "group_wait": "0s",
            "group_interval": duration(spec.intervals.group_interval),
            "repeat_interval": duration(spec.heartbeat.repeat_interval), "continue": False}


def heartbeat_receiver(spec: FleetSpec, secrets: _Secrets) -> dict:
    """``cachewatch-heartbeat``: the spec's heartbeat webhook, or no integration (the alert still fires and shows
    in Alertmanager: adding the webhook later changes only this receiver)."""
    webhook = spec.heartbeat.webhook
    if webhook is None:
        return {"name": HEARTBEAT_RECEIVER}
    return {"name": HEARTBEAT_RECEIVER,
            "webhook_configs": [_webhook(webhook, "heartbeat.webhook", secrets) | {"send_resolved": False}]}


def _fallback(spec: FleetSpec) -> str:
    team = next(t for t in spec.teams if t.name == spec.owner_of_fleet)
    return next((f"{team.name}-{s}" for s in FALLBACK_ORDER if getattr(team.escalation, s)), NULL_RECEIVER)


def alerting(spec: FleetSpec, *, version: Version = DEFAULT_VERSION) -> Alerting:
    """The routing tree, receivers, inhibitions and time intervals as this part's Alertmanager fragment; raises
    SpecError (one line per problem) rather than write an unusable secret."""
    secrets = _Secrets(version)
    receivers = [{"name": NULL_RECEIVER}, heartbeat_receiver(spec, secrets)]
    for i, team in enumerate(spec.teams):
        receivers += [_receiver(team, i, severity, getattr(team.escalation, severity), secrets)
                      for severity in SEVERITIES if getattr(team.escalation, severity)]
        if escalates(spec, team):
            receivers.append(_receiver(team, i, "escalation", team.escalation.escalate_to, secrets))
    if secrets.problems:
        raise SpecError("\n".join(dict.fromkeys(secrets.problems)))
    fallback = _fallback(spec)
    fallback_severity = fallback.rsplit("-", 1)[-1] if fallback != NULL_RECEIVER else "warning"
    owner = next(t for t in spec.teams if t.name == spec.owner_of_fleet)
    intervals = ([{"name": BUSINESS_HOURS, "time_intervals": [time_interval(spec.business_hours)]}]
                 if spec.business_hours else [])
    intervals += [{"name": f"maintenance-{w.name}", "time_intervals": [time_interval(w.window)]}
                  for w in spec.maintenance]
    root = {"receiver": fallback, "group_by": list(GROUP_BY),
            "group_wait": duration(spec.intervals.group_wait),
            "group_interval": duration(spec.intervals.group_interval),
            "repeat_interval": duration(getattr(owner.escalation, f"repeat_{fallback_severity}"))}
    routes = [heartbeat_route(spec), *(_team_route(spec, team) for team in spec.teams),
              {"receiver": fallback, "continue": False}]
    return Alerting(root=root, routes=tuple(routes),
                    receivers=tuple(receivers), inhibit_rules=tuple(dict(rule) for rule in INHIBIT_RULES),
                    time_intervals=tuple(intervals), route_tests=tuple(route_tests(spec)))


def _cases(team: Team, region: str, cluster: str) -> list[dict]:
    return [{"labels": {"alertname": TYPICAL_ALERT[s], "severity": s, "team": team.name, "region": region,
                        "cluster": cluster},
             "receivers": [f"{team.name}-{s}" if getattr(team.escalation, s) else NULL_RECEIVER]} for s in SEVERITIES]


def _escalation_case(team: Team, region: str, cluster: str) -> dict:
    """The alert the lifecycle service posts at an ack timeout (its labels per the lifecycle design)."""
    return {"labels": {"alertname": ESCALATION_ALERTNAME, ESCALATION_LABEL: ESCALATION_VALUE, "team": team.name,
                       "severity": "critical", "region": region, "cluster": cluster,
                       "escalated_alertname": TYPICAL_ALERT["critical"]},
            "receivers": [f"{team.name}-escalation"]}


def route_tests(spec: FleetSpec) -> list[dict]:
    """Every team × severity, every maintenance-covered cluster (routing is unchanged: muting is by time, which
    `amtool config routes test` does not evaluate), an alert without a team label (the fallback), and each
    team's escalation alert in its home cluster and its maintenance-covered clusters (reaching the escalation
    receiver, not the maintenance leaves). Each case also reaches the history receiver first while the alert
    lifecycle is enabled."""
    region_of = {cluster.name: region.name for region, cluster in spec.clusters}
    owner_of = {cluster.name: cluster.team for _, cluster in spec.clusters}
    teams = {team.name: team for team in spec.teams}
    home: dict[str, str] = {}
    for cluster, team in owner_of.items():
        home.setdefault(team, cluster)
    first = next(iter(region_of))
    cases = [case for team in spec.teams for case in _cases(team, region_of[home.get(team.name, first)],
                                                              home.get(team.name, first))]
    cases += [case for clusters, _ in _maintenance_groups(spec) for cluster in clusters
              for case in _cases(teams[owner_of[cluster]], region_of[cluster], cluster)]
    cases += [_escalation_case(team, region_of[home.get(team.name, first)], home.get(team.name, first))
              for team in spec.teams if escalates(spec, team)]
    cases += [_escalation_case(teams[owner_of[cluster]], region_of[cluster], cluster)
              for clusters, _ in _maintenance_groups(spec) for cluster in clusters
              if escalates(spec, teams[owner_of[cluster]])]
    cases.append({"labels": {"alertname": "RedisExporterDown", "severity": "critical"}, "receivers": [_fallback(spec)]})
    history = [HISTORY_RECEIVER] if spec.alert_lifecycle.enabled else []
    unique = {yaml.safe_dump(case, sort_keys=True): case | {"receivers": history + case["receivers"]}
              for case in cases}
    # the Watchdog reaches the heartbeat receiver only: no history, no team, no fallback
    watchdog = {"labels": {"alertname": WATCHDOG_ALERTNAME, "severity": "none"}, "receivers": [HEARTBEAT_RECEIVER]}
    return [*unique.values(), watchdog]
