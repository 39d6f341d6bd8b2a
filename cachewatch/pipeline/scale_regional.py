"""Scale mode's ``regions/<region>/prometheus.yml``: one config per region, run by each Prometheus of its HA pair.

- Scrape jobs: the exporter's and the applications' jobs rebuilt for the region's slice of the spec (its nodes,
  through its own exporters when ``scale.exporters`` names them; the applications whose ``region`` it is, those
  naming none in the home region); jobs that come out the same in every region (the alert lifecycle service, shared
  exporters' own metrics) are fleet-wide and go to the home region only: scraped twice they would be stored twice
  and page twice, under two region labels.
- Rules: every rule file of the fleet (``../../prometheus/rules``), so every paging alert is evaluated in the
  region, close to its data. The expressions need no region filter: this server holds only its region's series.
- ``external_labels {fleet, region, <replica label>}``; the replica's value comes from the environment
  (``--enable-feature=expand-external-labels``), so both replicas run the very same file.
- ``alerting.alert_relabel_configs`` drops the replica label: both replicas then send identical alerts, and
  Alertmanager merges them into one notification.
- ``remote_write`` to the long-term store (scale_remote_write.py).
"""

from __future__ import annotations

from cachewatch.artifacts import Contribution, File, Json
from cachewatch.exporter.contribution import contribution as exporter_contribution
from cachewatch.pipeline import prometheus_yml, scale_remote_write
from cachewatch.spec import FleetSpec, Region
from cachewatch.spec.scale import application_region, home_region, replica_names, scale_of
from cachewatch.tracing.contribution import PART as TRACING_PART
from cachewatch.tracing.contribution import contribution as tracing_contribution

REPLICA_ENV = prometheus_yml.REPLICA_ENV
RULES_DIR = "../../prometheus/rules"  # the fleet's rule files, relative to regions/<region>/
# Parts whose scrape jobs follow the regions: rebuilt from each region's slice of the spec.
REGIONAL_PARTS = {"exporter": exporter_contribution, TRACING_PART: tracing_contribution}


def path(region: str) -> str:
    return f"regions/{region}/prometheus.yml"


def region_spec(spec: FleetSpec, region: Region) -> FleetSpec:
    """The spec as one region's Prometheus sees it: that region's clusters, scraped through its exporters, and the
    applications running there."""
    exporters = scale_of(spec).exporters.get(region.name)
    update: dict = {"regions": [region], "applications": [app for app in spec.applications
                                                           if application_region(spec, app) == region.name]}
    if exporters:
        update["exporter"] = spec.exporter.model_copy(update={"addresses": exporters})  # keeps its series options
    return spec.model_copy(update=update)


def regional_contributions(spec: FleetSpec, contributions: list[Contribution]) -> dict[str, list[Contribution]]:
    """region → the contributions whose scrape jobs its Prometheus pair runs (fleet-wide jobs: home region only)."""
    per_region = {
        region.name: [REGIONAL_PARTS[c.part](region_spec(spec, region)) if c.part in REGIONAL_PARTS else c
                      for c in contributions]
        for region in spec.regions}
    jobs = {name: [job for c in parts for job in c.scrape_jobs] for name, parts in per_region.items()}
    home = home_region(spec)
    fleet_wide = [job for job in jobs[home] if all(job in others for others in jobs.values())]
    out = {}
    for name, parts in per_region.items():
        if name == home:
            out[name] = parts
            continue
        out[name] = [Contribution(part=c.part, scrape_jobs=tuple(j for j in c.scrape_jobs if j not in fleet_wide),
                                  scrape_comment=c.scrape_comment if c.part in REGIONAL_PARTS else "")
                     for c in parts]
    return out


def run_flags(spec: FleetSpec) -> list[str]:
    scale = scale_of(spec)
    flags = [f"--storage.tsdb.retention.time={scale.prometheus.local_retention_days}d",
             "--enable-feature=expand-external-labels,exemplar-storage",
             "--web.enable-lifecycle"]
    if scale.long_term.engine == "thanos":  # the sidecar uploads only 2 h blocks that Prometheus never compacts
        flags += ["--storage.tsdb.min-block-duration=2h", "--storage.tsdb.max-block-duration=2h"]
    return flags


def config(spec: FleetSpec, region: str, rule_files: list[str], contributions: list[Contribution]) -> Json:
    scale = scale_of(spec)
    label = scale.prometheus.replica_label
    doc = prometheus_yml.config(spec, [], contributions)
    doc["global"]["external_labels"] = {"fleet": spec.name, "region": region, label: f"${{{REPLICA_ENV}}}"}
    doc["rule_files"] = [f"{RULES_DIR}/{name}" for name in rule_files]
    doc["alerting"]["alert_relabel_configs"] = [{"regex": label, "action": "labeldrop"}]
    remote = scale_remote_write.remote_write(spec)
    if remote:
        doc["remote_write"] = remote
    return doc


def comment(spec: FleetSpec, region: str, contributions: list[Contribution]) -> str:
    scale = scale_of(spec)
    label = scale.prometheus.replica_label
    flags = " \\\n".join(f"    {flag}" for flag in [*run_flags(spec),
                                                     prometheus_yml.external_url_flag(spec.links.prometheus_external_url)])
    replicas = ", ".join(replica_names(spec))
    home = "\nThis is the home region: it also scrapes the fleet-wide jobs." if region == home_region(spec) else ""
    jobs = "".join(c.scrape_comment for c in contributions)
    return (f"\nRegion {region}: run this same file on each Prometheus of the region's HA pair ({label} = "
            f"{replicas}),\none per replica, with its value in the environment:\n"
            f"  {REPLICA_ENV}=0 prometheus --config.file=prometheus.yml \\\n{flags}\n"
            f"{prometheus_yml.EXTERNAL_URL_NOTE}"
            f"Only this region's nodes are scraped, and every rule file of the fleet is evaluated here.{home}\n"
            f"Alerts drop the label {label}: both replicas send the same alert and Alertmanager notifies once.\n"
            f"{scale_remote_write.comment(spec)}\n{jobs}")


def files(spec: FleetSpec, rule_files: list[str], contributions: list[Contribution]) -> list[File]:
    out = []
    for name, parts in regional_contributions(spec, contributions).items():
        out.append(File(path(name), config(spec, name, rule_files, parts), comment=comment(spec, name, parts)))
    return out
