"""Every part's Alertmanager fragment → ``alertmanager/alertmanager.yml`` and its route tests.

One part owns the root route (receiver, grouping, timers); every part's routes hang below it in the order the
parts are gathered, so a later part (the alert lifecycle's webhook, say) adds a route without editing the
alert rules' routing tree.

Scale mode adds a heartbeat per region before the fleet's: every region's Prometheus pair sends its own
``CachewatchWatchdog``, labelled ``region`` by its external labels, and a route per region sends it to that region's
own URL (``heartbeat.regions``), receiver ``cachewatch-heartbeat-<region>``. A heartbeat service tells senders apart
by URL (a healthchecks.io check, a Dead Man's Snitch snitch), so a silent region is then a missing ping of its own
check, not hidden by the others' pings. The global ruler's Watchdog (no region label) keeps the alert rules' route
to ``heartbeat.webhook``.
"""

from __future__ import annotations

from typing import Any

from cachewatch.alert_rules import alertmanager as routing
from cachewatch.artifacts import Alerting, File, GeneratorError
from cachewatch.pipeline.prometheus_yml import external_url_flag
from cachewatch.promql import HEARTBEAT_RECEIVER, WATCHDOG, WATCHDOG_ALERTNAME
from cachewatch.spec import FleetSpec, SpecError

CONFIG_FILE, TESTS_FILE = "alertmanager/alertmanager.yml", "alertmanager/route-tests.yml"
COMMENT = "Secrets are *_file references only."


def config(fragments: list[Alerting]) -> dict[str, Any]:
    """alertmanager.yml as data, from the fragments in order."""
    roots = [f.root for f in fragments if f.root is not None]
    if len(roots) != 1:
        raise GeneratorError(f"exactly one part must own Alertmanager's root route; {len(roots)} do")
    out: dict[str, Any] = {"route": {**roots[0], "routes": [r for f in fragments for r in f.routes]}}
    out["inhibit_rules"] = [r for f in fragments for r in f.inhibit_rules]
    out["receivers"] = [r for f in fragments for r in f.receivers]
    names = [r["name"] for r in out["receivers"]]
    if len(names) != len(set(names)):
        raise GeneratorError(f"receiver names repeat: {sorted({n for n in names if names.count(n) > 1})}")
    intervals = [t for f in fragments for t in f.time_intervals]
    return out | ({"time_intervals": intervals} if intervals else {})


def route_tests(fragments: list[Alerting]) -> list[dict[str, Any]]:
    return [case for f in fragments for case in f.route_tests]


def config_comment(spec: FleetSpec) -> str:
    """How to run Alertmanager for this config: its external URL is what notification links point to."""
    return (f"{COMMENT}\n\nRun Alertmanager with:\n  alertmanager --config.file=alertmanager.yml \\\n"
            f"    {external_url_flag(spec.links.alertmanager_external_url)}\n"
            "--web.external-url (links.alertmanager_external_url in the spec) is where people reach Alertmanager "
            "(a load\nbalancer's URL for a cluster): the links in Slack, PagerDuty and email notifications point "
            "there.\nWrite secret files without a trailing newline (printf %s \"$secret\" > FILE):\nAlertmanager 0.25 "
            "keeps it in an SMTP password.\n")


def heartbeat_receiver_name(region: str) -> str:
    return f"{HEARTBEAT_RECEIVER}-{region}"


def regional_heartbeats(spec: FleetSpec) -> Alerting:
    """Scale mode: each region's Watchdog to its own heartbeat URL, timed like the global one (alert_rules'
    ``heartbeat_route``: never muted, re-sent every ``heartbeat.repeat_interval``, never as resolved)."""
    if spec.scale is None or not spec.heartbeat.regions:
        return Alerting()
    routes, receivers, cases, problems = [], [], [], []
    for region, channel in spec.heartbeat.regions.items():
        name = heartbeat_receiver_name(region)
        routes.append({**routing.heartbeat_route(spec), "receiver": name,
                       "matchers": [WATCHDOG, f'region="{region}"']})
        # the alert rules' heartbeat receiver for this region's channel: the same secret-file rules as every webhook
        secrets = routing._Secrets(routing.DEFAULT_VERSION)
        view = spec.model_copy(update={"heartbeat": spec.heartbeat.model_copy(update={"webhook": channel})})
        receivers.append({**routing.heartbeat_receiver(view, secrets), "name": name})
        problems += [line.replace("heartbeat.webhook", f"heartbeat.regions.{region}") for line in secrets.problems]
        cases.append({"labels": {"alertname": WATCHDOG_ALERTNAME, "severity": "none", "region": region},
                      "receivers": [name]})
    if problems:
        raise SpecError("\n".join(problems))
    return Alerting(routes=tuple(routes), receivers=tuple(receivers), route_tests=tuple(cases))


def with_regional_heartbeats(spec: FleetSpec, fragments: list[Alerting]) -> list[Alerting]:
    """The regional heartbeats just before the part that owns the root (and the fleet's heartbeat route): after
    the routes that come first on purpose (the lifecycle's history route, which leaves the Watchdog out)."""
    at = next((i for i, f in enumerate(fragments) if f.root is not None), 0)
    return [*fragments[:at], regional_heartbeats(spec), *fragments[at:]]


def files(spec: FleetSpec, fragments: list[Alerting]) -> list[File]:
    fragments = with_regional_heartbeats(spec, fragments)
    return [File(CONFIG_FILE, config(fragments), comment=config_comment(spec)),
            File(TESTS_FILE, route_tests(fragments), comment=COMMENT)]
