"""Every part's Alertmanager fragment → ``alertmanager/alertmanager.yml`` and its route tests.

One part owns the root route (receiver, grouping, timers); every part's routes hang below it in the order the
parts are gathered, so a later part (the alert lifecycle's webhook, say) adds a route without editing the
alert rules' routing tree.
"""

from __future__ import annotations

from typing import Any

from cachewatch.artifacts import Alerting, File, GeneratorError
from cachewatch.pipeline.prometheus_yml import external_url_flag
from cachewatch.spec import FleetSpec

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


def files(spec: FleetSpec, fragments: list[Alerting]) -> list[File]:
    return [File(CONFIG_FILE, config(fragments), comment=config_comment(spec)),
            File(TESTS_FILE, route_tests(fragments), comment=COMMENT)]
