"""Spec → dashboards (JSON-ready dicts) → files under ``DIR/dashboards`` and ``DIR/grafana/provisioning``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm

from cachewatch.dashboards import app, cluster, exporter, fleet, node, provisioning, security, slo
from cachewatch.spec.model import FleetSpec

# Every dashboard: uid → builder, each a pure function of the spec.
BUILDERS: dict[str, Callable[[FleetSpec], dm.Dashboard]] = {
    module.UID: module.build for module in (fleet, node, cluster, app, slo, security, exporter)}


def to_json(dashboard: dm.Dashboard) -> dict:
    """The SDK model as plain JSON data (what Grafana imports)."""
    return json.loads(json.dumps(dashboard, cls=JSONEncoder))


def dashboards(spec: FleetSpec) -> dict[str, dict]:
    return {uid: to_json(build(spec)) for uid, build in BUILDERS.items()}


def write(spec: FleetSpec, out: Path, dashboards_path: str = provisioning.DASHBOARDS_PATH) -> list[Path]:
    """Write ``out/dashboards/<uid>.json`` and Grafana provisioning; returns the files written.

    ``dashboards_path`` is where Grafana will find the dashboards (the provider's ``options.path``).
    """
    import yaml  # only the writer needs it

    written: list[Path] = []
    board_dir = out / "dashboards"
    board_dir.mkdir(parents=True, exist_ok=True)
    for uid, doc in dashboards(spec).items():
        path = board_dir / f"{uid}.json"
        path.write_text(json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n")
        written.append(path)
    prov = out / "grafana" / "provisioning"
    for sub, name, doc in (("datasources", "cachewatch.yaml", provisioning.datasources()),
                           ("dashboards", "cachewatch.yaml", provisioning.dashboard_provider(dashboards_path))):
        (prov / sub).mkdir(parents=True, exist_ok=True)
        path = prov / sub / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
        written.append(path)
    return written
