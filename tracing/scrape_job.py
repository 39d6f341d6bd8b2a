"""The applications' scrape job: Prometheus reads the client metrics (hit ratio, latency with exemplars) that
cachewatch.tracing keeps in each application's prometheus_client endpoint.

One static config per application, all its instances as targets, with the bounded labels ``application`` and
``team``. Exemplars (trace ids of sampled spans) exist only in the OpenMetrics format, which Prometheus asks for
first by default; storing them needs ``--enable-feature=exemplar-storage``.
"""

from __future__ import annotations

from cachewatch.promql import APPS_JOB
from cachewatch.spec import Application, FleetSpec

DEFAULT_METRICS_PATH = "/metrics"


def app_labels(app: Application) -> dict[str, str]:
    labels = {"application": app.name, "team": app.team}
    if app.metrics_path != DEFAULT_METRICS_PATH:  # the job has one metrics_path; a target label overrides it
        labels["__metrics_path__"] = app.metrics_path
    return labels


def app_targets(spec: FleetSpec) -> list[dict]:
    """One static config per application, all its instances as targets."""
    return [{"targets": list(app.targets), "labels": app_labels(app)} for app in spec.applications]


def apps_jobs(spec: FleetSpec) -> list[dict]:
    """The applications' own metrics; no job without applications."""
    if not spec.applications:
        return []
    return [{"job_name": APPS_JOB, "metrics_path": DEFAULT_METRICS_PATH, "static_configs": app_targets(spec)}]


def scrape_comment(spec: FleetSpec) -> str:
    """What prometheus.yml's header says about the job; nothing without applications."""
    if not spec.applications:
        return ""
    return (f'Job "{APPS_JOB}": the prometheus_client endpoints of every application ({len(spec.applications)}), '
            "labels application, team.\n"
            "Their exemplars (trace ids) come only in OpenMetrics, which Prometheus negotiates by default;\n"
            "storing them needs --enable-feature=exemplar-storage.\n")
