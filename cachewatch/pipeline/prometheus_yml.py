"""Every part's scrape jobs, the rule files and the Alertmanagers → ``prometheus/prometheus.yml``.

The header says how to run Prometheus for this config (retention from the spec, exemplar storage for the client
library's trace ids, reload over HTTP), then what each part says about its jobs.

The applications' targets (job ``cachewatch-apps``) get the label ``region`` here, from the spec's application
entry (in scale mode the home region when it names none): the dashboards' ``$region`` then selects their series
like the nodes', and their alerts carry it, whichever Prometheus scraped them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from cachewatch.artifacts import Contribution, File, GeneratorError
from cachewatch.promql import APPS_JOB, duration
from cachewatch.spec import FleetSpec
from cachewatch.spec.scale import application_region

PATH = "prometheus/prometheus.yml"
# An HA pair runs this one file twice, each member with its own value of the replica label from the environment
# (expand-external-labels; unset, the label is absent). Alerts drop the label, so both members send the same alert
# and Alertmanager notifies once; without the drop an HA pair pages twice.
REPLICA_LABEL, REPLICA_ENV = "replica", "CACHEWATCH_REPLICA"
HA_NOTE = (f"An HA pair: run two with this same file, {REPLICA_ENV}=a and {REPLICA_ENV}=b in their environments;\n"
           f"their alerts drop the `{REPLICA_LABEL}` label, so Alertmanager notifies once.\n")


def run_flags(spec: FleetSpec) -> list[str]:
    """Flags the config assumes: retention from the spec, the replica label from the environment, exemplars for
    client traces, reload over HTTP."""
    return [f"--storage.tsdb.retention.time={spec.retention.metrics_days}d",
            "--enable-feature=expand-external-labels,exemplar-storage",
            "--web.enable-lifecycle"]


def alertmanagers(urls: list[str]) -> list[dict]:
    """``host:port`` or ``http(s)://host:port/prefix``; one alertmanager config per (scheme, path prefix)."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for url in urls:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        grouped.setdefault((parts.scheme, parts.path.rstrip("/")), []).append(parts.netloc)
    configs = []
    for (scheme, prefix), targets in grouped.items():
        config: dict = {"scheme": scheme} if scheme != "http" else {}
        if prefix:
            config["path_prefix"] = prefix
        configs.append({**config, "static_configs": [{"targets": targets}]})
    return configs


def with_app_regions(spec: FleetSpec, job: dict) -> dict:
    """The applications' job with ``region`` on each application's targets (one static config per entry)."""
    regions = {(app.name, tuple(app.targets)): application_region(spec, app) for app in spec.applications}
    groups = []
    for group in job.get("static_configs", []):
        region = regions.get((group.get("labels", {}).get("application"), tuple(group["targets"])))
        groups.append({**group, "labels": {**group["labels"], "region": region}} if region else group)
    return {**job, "static_configs": groups}


def config(spec: FleetSpec, rule_files: list[str], contributions: list[Contribution]) -> dict:
    """The whole prometheus.yml as data; ``rule_files`` are file names under ``rules/`` beside it."""
    intervals = spec.intervals
    jobs = [with_app_regions(spec, job) if job["job_name"] == APPS_JOB else job
            for c in contributions for job in c.scrape_jobs]
    names = [job["job_name"] for job in jobs]
    if len(names) != len(set(names)):
        raise GeneratorError(f"scrape job names repeat: {sorted({n for n in names if names.count(n) > 1})}")
    return {
        "global": {
            "scrape_interval": duration(intervals.scrape),
            # Prometheus refuses a timeout above the interval; the spec does not forbid one.
            "scrape_timeout": duration(min(intervals.scrape_timeout, intervals.scrape)),
            "evaluation_interval": duration(intervals.evaluation),
            "external_labels": {"fleet": spec.name, REPLICA_LABEL: f"${{{REPLICA_ENV}}}"},
        },
        "rule_files": [f"rules/{name}" for name in rule_files],
        "alerting": {"alert_relabel_configs": [{"regex": REPLICA_LABEL, "action": "labeldrop"}],
                     "alertmanagers": alertmanagers(spec.links.alertmanager_urls)},
        "scrape_configs": jobs,
    }


def external_url_flag(url: str) -> str:
    """``--web.external-url``: not in ``run_flags`` because it says where people reach the server, not how the
    config behaves (tests that run Prometheus on a free port leave it out)."""
    return f"--web.external-url={url}"


EXTERNAL_URL_NOTE = ("--web.external-url (links.prometheus_external_url in the spec) is where people reach this "
                     "Prometheus:\nevery alert's generatorURL, the source link in Slack, PagerDuty and email, "
                     "points there.\n")


def comment(spec: FleetSpec, contributions: list[Contribution]) -> str:
    flags = " \\\n".join(f"    {flag}" for flag in [*run_flags(spec),
                                                     external_url_flag(spec.links.prometheus_external_url)])
    jobs = "".join(c.scrape_comment for c in contributions)
    return (f"\nRun Prometheus with:\n  prometheus --config.file=prometheus.yml \\\n{flags}\n"
            f"{EXTERNAL_URL_NOTE}{HA_NOTE}\n{jobs}")


def files(spec: FleetSpec, rule_files: list[str], contributions: list[Contribution]) -> list[File]:
    return [File(PATH, config(spec, rule_files, contributions), comment=comment(spec, contributions))]
