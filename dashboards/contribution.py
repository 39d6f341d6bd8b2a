"""What the dashboards part adds to ``cachewatch generate``: the dashboards (the pipeline writes them under
``dashboards/`` and into the mixin) and Grafana's provisioning files."""

from __future__ import annotations

from cachewatch.artifacts import Contribution, File
from cachewatch.dashboards import provisioning
from cachewatch.dashboards.generate import dashboards
from cachewatch.spec import FleetSpec

PROVISIONING = "grafana/provisioning"


def contribution(spec: FleetSpec) -> Contribution:
    return Contribution(part="dashboards", dashboards=dashboards(spec), files=(
        File(f"{PROVISIONING}/datasources/cachewatch.yaml", provisioning.datasources()),
        File(f"{PROVISIONING}/dashboards/cachewatch.yaml", provisioning.dashboard_provider()),
    ))
