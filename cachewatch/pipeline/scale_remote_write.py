"""How a regional Prometheus pair feeds the long-term store: one profile per engine, explicit queue settings, and
what never leaves the region.

- victoriametrics: remote write to ``/api/v1/write``. The replica label is dropped before writing, so both
  replicas send the same series and the store keeps one sample per ``-dedup.minScrapeInterval``.
- mimir: remote write to ``/api/v1/push`` with the tenant header. The replica label stays: Mimir's HA tracker
  elects one replica per region (``ha_cluster_label: region``) and drops the other's samples.
- thanos: no remote write; a sidecar next to each Prometheus uploads its 2 h blocks to object storage.

Queue settings are written out, not left to defaults: Prometheus 2.42 defaults to capacity 2500, 200 shards and 500
samples per send, current releases to 10000, 50 and 2000 (checked on both), and a config should not change
behaviour with the binary. A region sends about 2 700 samples/s per replica for 27 000 series at 10 s: one shard
is enough in steady state, 50 drain the backlog after a WAN outage (remote write retries for about 2 h, then the
WAL is truncated), and the capacity bounds memory at 50 x 10 000 samples.
"""

from __future__ import annotations

from dataclasses import dataclass

from cachewatch.artifacts import Json
from cachewatch.spec import FleetSpec
from cachewatch.spec.scale import LongTerm, scale_of


@dataclass(frozen=True)
class Profile:
    write_path: str | None  # appended to the URL; None: the engine does not take remote write
    query_path: str  # appended to the URL for the Prometheus query API
    drops_replica_label: bool  # True: the store deduplicates identical series by time


PROFILES: dict[str, Profile] = {
    "victoriametrics": Profile("/api/v1/write", "", drops_replica_label=True),
    "mimir": Profile("/api/v1/push", "/prometheus", drops_replica_label=False),
    "thanos": Profile(None, "", drops_replica_label=False),
}

QUEUE_CONFIG: Json = {"capacity": 10000, "max_shards": 50, "min_shards": 1, "max_samples_per_send": 2000,
                      "batch_send_deadline": "5s", "min_backoff": "30ms", "max_backoff": "5s"}

# Metric families that stay in the region (regex → why). Nothing a dashboard or a global rule reads is here
# (tests/pipeline/test_scale_regional.py checks it): the long-term store answers the fleet's and the past's
# questions, and these answer only "what is this process doing right now", which the regional Prometheus keeps
# for 35 days anyway.
LOCAL_ONLY: dict[str, str] = {
    "go_.*": "Go runtime internals (Prometheus-side tools, redis_exporter)",
    "python_.*": "Python runtime internals (garbage collector) of the exporter, the alert service and apps",
    "promhttp_.*": "the client libraries' own handler counters",
    "scrape_samples_scraped|scrape_samples_post_metric_relabeling|scrape_series_added":
        "per-target bookkeeping Prometheus adds to every scrape (scrape_duration_seconds and up are kept)",
    "ALERTS_FOR_STATE": "Prometheus' restore state for pending alerts: meaningful only to the server that wrote it",
}
LOCAL_ONLY_REGEX = "|".join(LOCAL_ONLY)


def profile(long_term: LongTerm) -> Profile:
    return PROFILES[long_term.engine]


def write_url(long_term: LongTerm) -> str | None:
    path = profile(long_term).write_path
    if path is None:
        return None
    return long_term.write_url or f"{long_term.url}{path}"


def query_url(long_term: LongTerm) -> str:
    return long_term.query_url or f"{long_term.url}{profile(long_term).query_path}"


def write_relabel_configs(long_term: LongTerm, replica_label: str) -> list[Json]:
    out: list[Json] = [{"source_labels": ["__name__"], "regex": LOCAL_ONLY_REGEX, "action": "drop"}]
    if profile(long_term).drops_replica_label:
        out.append({"regex": replica_label, "action": "labeldrop"})
    return out


def remote_write(spec: FleetSpec) -> list[Json]:
    """The regional ``remote_write`` section: empty for engines that do not take it."""
    scale = scale_of(spec)
    long_term = scale.long_term
    url = write_url(long_term)
    if url is None:
        return []
    entry: Json = {"name": "long-term", "url": url}
    if long_term.engine == "mimir":
        entry["headers"] = {"X-Scope-OrgID": long_term.tenant}
    if long_term.authorization_file:
        entry["authorization"] = {"credentials_file": long_term.authorization_file}
    entry["queue_config"] = dict(QUEUE_CONFIG)
    entry["write_relabel_configs"] = write_relabel_configs(long_term, scale.prometheus.replica_label)
    return [entry]


def comment(spec: FleetSpec) -> str:
    """What the regional header says about the long-term path."""
    scale = scale_of(spec)
    long_term, label = scale.long_term, scale.prometheus.replica_label
    if write_url(long_term) is None:
        return (f"Long-term store: {long_term.engine}. No remote write: a Thanos sidecar beside each replica uploads "
                f"its 2 h blocks\n(thanos-sidecar.yml); Thanos Query deduplicates the replicas by the label "
                f"{label}.\n")
    dedup = (f"the label {label} is dropped before writing,\nso both replicas send the same series and the store "
             "keeps one sample per -dedup.minScrapeInterval" if profile(long_term).drops_replica_label else
             f"Mimir's HA tracker keeps\none replica's samples per region (ha_replica_label: {label})")
    kept = "\n".join(f"  {regex}:\n    {why}" for regex, why in LOCAL_ONLY.items())
    return (f"Long-term store: {long_term.engine}, written with remote_write; {dedup}.\n"
            f"Never written (they stay in this Prometheus):\n{kept}\n")
