"""Every part's Alertmanager fragment → ``alertmanager/alertmanager.yml`` and its route tests.

One part owns the root route (receiver, grouping, timers); every part's routes hang below it in the order the
parts are gathered, so a later part (the alert lifecycle's webhook, say) adds a route without editing the
alert rules' routing tree.
"""

from __future__ import annotations

from typing import Any

from cachewatch.artifacts import Alerting, File, GeneratorError

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


def files(fragments: list[Alerting]) -> list[File]:
    return [File(CONFIG_FILE, config(fragments), comment=COMMENT),
            File(TESTS_FILE, route_tests(fragments), comment=COMMENT)]
