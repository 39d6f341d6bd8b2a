"""Spec → dashboards: uid → the JSON Grafana imports, each built by a pure function of the spec."""

from __future__ import annotations

import json
from collections.abc import Callable

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm

from cachewatch.dashboards import alerts, app, cluster, exporter, fleet, health, node, security, slo
from cachewatch.spec.model import FleetSpec

# Every dashboard: uid → builder, each a pure function of the spec.
BUILDERS: dict[str, Callable[[FleetSpec], dm.Dashboard]] = {
    module.UID: module.build for module in (fleet, node, cluster, health, app, slo, security, exporter, alerts)}
# Dashboards that exist only when the spec runs what fills them; the others always do.
WANTED: dict[str, Callable[[FleetSpec], bool]] = {alerts.UID: lambda spec: spec.alert_lifecycle.enabled}


def wanted(uid: str, spec: FleetSpec) -> bool:
    return WANTED.get(uid, lambda _: True)(spec)


def to_json(dashboard: dm.Dashboard) -> dict:
    """The SDK model as plain JSON data (what Grafana imports)."""
    return json.loads(json.dumps(dashboard, cls=JSONEncoder))


def dashboards(spec: FleetSpec) -> dict[str, dict]:
    return {uid: to_json(build(spec)) for uid, build in BUILDERS.items() if wanted(uid, spec)}
