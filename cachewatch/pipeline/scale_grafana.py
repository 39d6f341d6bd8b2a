"""Scale mode's Grafana provisioning under ``global/grafana/provisioning``: the Prometheus datasource points at the
long-term store (every region, 90 days; each series carries its region, so the dashboards' ``region`` variable
selects it), a logs datasource (Loki or Elasticsearch), Jaeger as before, and the dashboards' file provider.

It replaces ``grafana/provisioning``: a Grafana in front of one regional Prometheus is what scale mode does away with.
"""

from __future__ import annotations

from cachewatch.artifacts import File, Json
from cachewatch.dashboards import provisioning
from cachewatch.pipeline.scale_logs_backend import index_name
from cachewatch.pipeline.scale_remote_write import query_url
from cachewatch.promql import duration
from cachewatch.spec import FleetSpec
from cachewatch.spec.scale import scale_of

DIRECTORY = "global/grafana/provisioning"
REPLACES = ("grafana/provisioning/datasources/cachewatch.yaml", "grafana/provisioning/dashboards/cachewatch.yaml")
LOGS_UID = "cachewatch-logs"


def logs_datasource(spec: FleetSpec) -> Json:
    logs = scale_of(spec).logs
    if logs.backend == "loki":
        return {"name": "Loki", "uid": LOGS_UID, "type": "loki", "access": "proxy", "url": logs.url,
                "jsonData": {"maxLines": 1000}}
    return {"name": "Elasticsearch", "uid": LOGS_UID, "type": "elasticsearch", "access": "proxy", "url": logs.url,
            "jsonData": {"index": index_name(spec), "timeField": "@timestamp"}}


def datasources(spec: FleetSpec) -> Json:
    long_term = scale_of(spec).long_term
    doc = provisioning.datasources(prometheus_url=query_url(long_term))
    store = doc["datasources"][0]
    store["jsonData"]["timeInterval"] = duration(spec.intervals.scrape)  # the shortest step worth querying
    headers: list[tuple[str, str]] = []
    if long_term.engine == "mimir":
        headers.append(("X-Scope-OrgID", long_term.tenant))
    if long_term.authorization_file:  # Grafana reads the file at provisioning: the token is never written here
        headers.append(("Authorization", f"Bearer $__file{{{long_term.authorization_file}}}"))
    for i, (name, value) in enumerate(headers, start=1):
        store["jsonData"][f"httpHeaderName{i}"] = name
        store.setdefault("secureJsonData", {})[f"httpHeaderValue{i}"] = value
    doc["datasources"].append(logs_datasource(spec))
    return doc


def files(spec: FleetSpec) -> list[File]:
    return [
        File(f"{DIRECTORY}/datasources/cachewatch.yaml", datasources(spec), comment=(
            f"\nThe Prometheus datasource is the long-term store ({scale_of(spec).long_term.engine}): every region, "
            "the whole retention.\n")),
        File(f"{DIRECTORY}/dashboards/cachewatch.yaml", provisioning.dashboard_provider()),
    ]
