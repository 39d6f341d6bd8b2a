"""Grafana provisioning: the Prometheus and Jaeger datasources, and a file provider for the dashboards.

The Prometheus datasource's ``exemplarTraceIdDestinations`` turns an exemplar's ``trace_id`` label into a link
to that trace in the Jaeger datasource (the client library attaches trace ids to its histogram exemplars).
Dashboards reference the datasource through the ``$datasource`` variable, so the uid here is only a default.
"""

from __future__ import annotations

PROMETHEUS_UID, JAEGER_UID = "cachewatch-prometheus", "cachewatch-jaeger"
DASHBOARDS_PATH = "/var/lib/grafana/dashboards/cachewatch"  # where the generated JSON is mounted or copied


def datasources(prometheus_url: str = "http://localhost:9090", jaeger_url: str = "http://localhost:16686") -> dict:
    return {
        "apiVersion": 1,
        "datasources": [
            {"name": "Prometheus", "uid": PROMETHEUS_UID, "type": "prometheus", "access": "proxy",
             "url": prometheus_url, "isDefault": True,
             "jsonData": {"httpMethod": "POST", "timeInterval": "15s",
                          "exemplarTraceIdDestinations": [{"name": "trace_id", "datasourceUid": JAEGER_UID}]}},
            {"name": "Jaeger", "uid": JAEGER_UID, "type": "jaeger", "access": "proxy", "url": jaeger_url},
        ],
    }


def dashboard_provider(path: str = DASHBOARDS_PATH) -> dict:
    return {
        "apiVersion": 1,
        "providers": [
            {"name": "cachewatch", "orgId": 1, "folder": "Cachewatch", "folderUid": "cachewatch", "type": "file",
             "disableDeletion": False, "allowUiUpdates": False, "updateIntervalSeconds": 30,
             "options": {"path": path, "foldersFromFilesStructure": False}},
        ],
    }
