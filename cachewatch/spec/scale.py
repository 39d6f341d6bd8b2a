"""Scale mode: per-region Prometheus HA pairs, a long-term store, an Alertmanager cluster and a logs pipeline.

Without a ``scale`` section ``cachewatch generate`` writes one ``prometheus.yml`` for the whole fleet. With one it
writes a Prometheus config per region (each HA pair scrapes only its region and evaluates every paging rule close to
its data), the long-term store's settings, the fleet-level rules, the Alertmanager cluster's flags and a logs
pipeline per region. Why these choices: ../shared/reference/scale.md.

Retentions default to the fleet's ``retention.metrics_days`` / ``retention.logs_days``; the helpers at the end
resolve them, so that no generator repeats the rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator

from cachewatch.spec.types import Strict

if TYPE_CHECKING:
    from cachewatch.spec.model import Application, FleetSpec, WebhookChannel

NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
ADDRESS = r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$"
Address = Annotated[str, Field(pattern=ADDRESS, description="host:port")]

# The longest range any generated rule reads ([30d]: SLO windows, the 30-day SLA compliance) plus a margin for
# evaluation offsets and a restart: a regional Prometheus keeping less would evaluate month-long rules on a
# partial window. The pipeline re-checks against the rules it actually generates (cachewatch/pipeline/scale.py).
LONGEST_RULE_RANGE_DAYS = 30
RETENTION_MARGIN_DAYS = 5
MIN_LOCAL_RETENTION_DAYS = LONGEST_RULE_RANGE_DAYS + RETENTION_MARGIN_DAYS
# Labels the series and alerts already carry: a replica label of the same name would overwrite them.
TAKEN_LABELS = frozenset({"fleet", "region", "cluster", "instance", "job", "shard", "role", "team", "module",
                          "application", "severity", "alertname", "slo"})


def _url(value: str) -> str:
    """An http(s) URL without credentials: userinfo would land in generated files and logs."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an http(s) URL")
    if "@" in parts.netloc:
        raise ValueError("no user:password@ in the URL (it would end up in generated files); give credentials "
                         "as a file (authorization_file / api_key)")
    _ = parts.port  # "Port out of range" is reported here, on this field
    return value.rstrip("/")


Url = Annotated[str, AfterValidator(_url)]


class PrometheusPair(Strict):
    """The Prometheus servers of each region: identical configs but for one external label, the replica."""

    replicas: int = Field(2, ge=1, le=5, description="Prometheus servers per region scraping the same targets")
    replica_label: str = Field("replica", pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", description="external label telling "
                               "the replicas apart; dropped from alerts (both replicas send the same alert) and, "
                               "for VictoriaMetrics, from written samples (the store deduplicates by time)")
    local_retention_days: int = Field(MIN_LOCAL_RETENTION_DAYS, description="what each regional Prometheus keeps "
                                      f"(--storage.tsdb.retention.time); at least {MIN_LOCAL_RETENTION_DAYS}: "
                                      f"the rules read up to [{LONGEST_RULE_RANGE_DAYS}d]")

    @field_validator("replica_label")
    @classmethod
    def _free_label(cls, value: str) -> str:
        if value in TAKEN_LABELS:
            raise ValueError(f"{value!r} is a label cachewatch series already carry; pick another, e.g. replica")
        return value

    @field_validator("local_retention_days")
    @classmethod
    def _covers_the_rules(cls, value: int) -> int:
        if value < MIN_LOCAL_RETENTION_DAYS:
            raise ValueError(
                f"{value} days is too short: the rules evaluated in each region read up to "
                f"[{LONGEST_RULE_RANGE_DAYS}d] of local data (SLO windows, the 30-day SLA compliance), so a regional "
                f"Prometheus keeps at least {MIN_LOCAL_RETENTION_DAYS} days ({LONGEST_RULE_RANGE_DAYS} + "
                f"{RETENTION_MARGIN_DAYS} margin); the long-term store keeps the rest")
        return value


Engine = Literal["victoriametrics", "thanos", "mimir"]


class LongTerm(Strict):
    """Where 90 days of every region's metrics live, and the fleet-level rules run.

    victoriametrics: remote write, deduplication by time (``-dedup.minScrapeInterval``), vmalert; the only engine
    with binaries here, so the one tested end to end. thanos: a sidecar per Prometheus uploads 2 h blocks to object
    storage, Thanos Query deduplicates by the replica label. mimir: remote write, the HA tracker keeps one replica's
    samples."""

    engine: Engine = "victoriametrics"
    url: Url = Field("http://victoriametrics:8428", description="base URL: VictoriaMetrics single-node, Mimir, or "
                     "Thanos Query (queries; thanos writes through its sidecars)")
    write_url: Url | None = Field(None, description="remote-write URL when it is not derived from url (a "
                                  "VictoriaMetrics cluster: http://vminsert:8480/insert/0/prometheus/api/v1/write)")
    query_url: Url | None = Field(None, description="Prometheus-API URL when it is not derived from url (a "
                                  "VictoriaMetrics cluster: http://vmselect:8481/select/0/prometheus)")
    retention_days: int | None = Field(None, gt=0, description="default: retention.metrics_days")
    tenant: str = Field("cachewatch", pattern=r"^[A-Za-z0-9_.\-]{1,150}$", description="mimir: X-Scope-OrgID")
    authorization_file: str | None = Field(None, description="file holding a bearer token for remote write and "
                                           "queries (read by Prometheus; never copied into generated files)")
    objstore_config_file: str | None = Field(None, description="thanos: the object storage config (bucket and "
                                             "credentials) every sidecar, the compactor and the ruler read")

    @model_validator(mode="after")
    def _engine_needs(self) -> LongTerm:
        if self.engine == "thanos" and self.objstore_config_file is None:
            raise ValueError("engine thanos needs objstore_config_file: the sidecars upload blocks to object "
                             "storage and the compactor applies the retention there")
        if self.engine == "thanos" and self.write_url is not None:
            raise ValueError("engine thanos does not remote-write (its sidecars upload blocks): leave write_url unset")
        return self


class AlertmanagerCluster(Strict):
    """One Alertmanager cluster for the fleet: every regional Prometheus sends to all of its members
    (links.alertmanager_urls), and the members gossip so that each alert is notified once."""

    peers: list[Address] = Field(default_factory=list, description="host:port of each member's cluster "
                                 "listener; default: the hosts of links.alertmanager_urls on listen_port")
    listen_port: int = Field(9094, ge=1, le=65535, description="the cluster port of peers derived from "
                             "links.alertmanager_urls; each member listens on its own peer address's port")


class Logs(Strict):
    """The logs pipeline: an OpenTelemetry Collector per region tails cachewatch's JSON logs and redis-server's own
    log, keeps what is worth keeping, and sends it to Loki or Elasticsearch."""

    backend: Literal["loki", "elasticsearch"] = "loki"
    url: Url = Field("http://loki:3100", description="Loki (its OTLP endpoint is <url>/otlp) or Elasticsearch")
    retention_days: int | None = Field(None, gt=0, description="default: retention.logs_days")
    api_key: str | None = Field(None, pattern=r"^(env:[A-Z_][A-Z0-9_]*|file:/\S+)$", description="elasticsearch: "
                                "its API key, or loki: a bearer token, as env:NAME or file:/path (the collector "
                                "reads it at start; never copied into generated files)")
    cachewatch_paths: list[str] = Field(default_factory=lambda: ["/var/log/cachewatch/*.log"], min_length=1,
                                        description="JSON-line logs of the exporter, the alert service and apps")
    redis_paths: list[str] = Field(default_factory=lambda: ["/var/log/redis/*.log"], min_length=1,
                                   description="redis-server's own logs (Debian: /var/log/redis/redis-server.log)")
    info_sample_percent: float = Field(10.0, ge=0, le=100, description="share of INFO lines of cachewatch "
                                       "components shipped (warnings and errors always, debug never; Redis' "
                                       "notices and warnings always)")


class Scale(Strict):
    """Scale mode. Unset: one prometheus.yml for the whole fleet (the default)."""

    prometheus: PrometheusPair = PrometheusPair()
    long_term: LongTerm = LongTerm()
    alertmanager: AlertmanagerCluster = AlertmanagerCluster()
    logs: Logs = Logs()
    exporters: dict[Annotated[str, Field(pattern=NAME)], list[Address]] = Field(
        default_factory=dict, description="region → the exporters in that region (they reach only its nodes); a "
        "region not listed is scraped through exporter.addresses")
    home_region: str | None = Field(None, pattern=NAME, description="the region whose Prometheus pair scrapes the "
                                    "fleet-wide jobs (the alert lifecycle service, applications, shared exporters' "
                                    "own metrics); default: the first region")


# --- resolved values: the defaults that depend on the rest of the spec ------------------------------------------
def long_term_retention_days(spec: FleetSpec) -> int:
    scale = scale_of(spec)
    return scale.long_term.retention_days or spec.retention.metrics_days


def logs_retention_days(spec: FleetSpec) -> int:
    scale = scale_of(spec)
    return scale.logs.retention_days or spec.retention.logs_days


def home_region(spec: FleetSpec) -> str:
    return scale_of(spec).home_region or spec.regions[0].name


def alertmanager_peers(spec: FleetSpec) -> list[str]:
    """The cluster members' gossip addresses: the spec's, or each Alertmanager host on the cluster port."""
    scale = scale_of(spec)
    if scale.alertmanager.peers:
        return list(scale.alertmanager.peers)
    hosts = [urlsplit(u if "://" in u else f"http://{u}").hostname or "" for u in spec.links.alertmanager_urls]
    return [f"{host}:{scale.alertmanager.listen_port}" for host in hosts]


def replica_names(spec: FleetSpec) -> list[str]:
    """The values of the replica label, one per Prometheus of a pair: 0, 1, ..."""
    return [str(i) for i in range(scale_of(spec).prometheus.replicas)]


def scale_problems(spec: FleetSpec) -> list[str]:
    """What the scale section names that the rest of the spec does not have (one line each); FleetSpec's
    validation reports them with its other cross-references."""
    if spec.scale is None:
        return []
    regions = [r.name for r in spec.regions]
    problems = [f"scale.exporters names unknown region {name!r}; regions: {', '.join(regions)}"
                for name in spec.scale.exporters if name not in regions]
    if spec.scale.home_region is not None and spec.scale.home_region not in regions:
        problems.append(f"scale.home_region names unknown region {spec.scale.home_region!r}; regions: "
                        f"{', '.join(regions)}")
    return problems


def application_region(spec: FleetSpec, app: Application) -> str | None:
    """The region an application runs in: its own, else in scale mode the home region (whose pair scrapes the
    fleet-wide jobs); None outside scale mode when the spec does not say (its series then carry no region)."""
    if app.region is not None:
        return app.region
    return home_region(spec) if spec.scale is not None else None


def application_problems(spec: FleetSpec) -> list[str]:
    """Regions the spec does not have, and one application owned by two teams across its regions' entries."""
    regions = [r.name for r in spec.regions]
    problems = [f"applications.{i}.region: {app.region!r} is not a region of the spec; allowed: {', '.join(regions)}"
                for i, app in enumerate(spec.applications) if app.region is not None and app.region not in regions]
    teams: dict[str, list[str]] = {}
    for app in spec.applications:
        teams.setdefault(app.name, []).append(app.team)
    problems += [f"application {name}: its entries name teams {', '.join(sorted(set(owners)))}; an application "
                 "deployed in several regions has one team (its client alerts page that team)"
                 for name, owners in teams.items() if len(set(owners)) > 1]
    return problems


def _heartbeat_target(channel: WebhookChannel) -> str:
    return channel.url or str(channel.url_secret)


def heartbeat_problems(spec: FleetSpec) -> list[str]:
    """The heartbeats must let the heartbeat service see each sender apart: in scale mode a URL per region (each
    region's pair sends its own Watchdog), different from the global ruler's; outside it there is one sender."""
    beat = spec.heartbeat
    if spec.scale is None:
        return ["heartbeat.regions: per-region heartbeats are for scale mode (a Prometheus pair per region); without "
                "a scale section the one Prometheus sends one heartbeat, to heartbeat.webhook"] if beat.regions else []
    regions = [r.name for r in spec.regions]
    allowed = ", ".join(regions)
    problems = [f"heartbeat.regions names unknown region {name!r}; allowed: {allowed}"
                for name in beat.regions if name not in regions]
    missing = [name for name in regions if name not in beat.regions]
    if (beat.webhook or beat.regions) and missing:
        problems.append(f"heartbeat.regions: no URL for {', '.join(missing)}: in scale mode each region's Prometheus "
                        "pair sends its own CachewatchWatchdog, and on a URL shared with other regions (or with "
                        "heartbeat.webhook, the global ruler's) their pings would hide a silent one; give each region "
                        f"its own check's URL (keys: {allowed})")
    senders = {f"heartbeat.regions.{name}": channel for name, channel in beat.regions.items()}
    if beat.webhook is not None:
        senders["heartbeat.webhook"] = beat.webhook
    by_target: dict[str, list[str]] = {}
    for where, channel in senders.items():
        by_target.setdefault(_heartbeat_target(channel), []).append(where)
    problems += [f"{' and '.join(where)} post to the same URL: the heartbeat service would see one check, and one "
                 "sender's pings would hide the other's silence; give each its own check's URL"
                 for where in by_target.values() if len(where) > 1]
    return problems


def scale_of(spec: FleetSpec) -> Scale:
    """The scale section; a ValueError for a spec without one (a generator called out of scale mode)."""
    if spec.scale is None:
        raise ValueError("the spec has no scale section")
    return spec.scale
