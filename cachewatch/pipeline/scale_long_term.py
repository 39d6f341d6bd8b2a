"""Scale mode's long-term store and global ruler, per engine, as the command lines to run (``args`` lists: the
same in a systemd unit, /etc/default/<service>, or a container's args). Relative paths are relative to the file.

- victoriametrics: ``global/victoriametrics/flags.yml`` (``-retentionPeriod`` from the spec,
  ``-dedup.minScrapeInterval`` = the scrape interval so that the two replicas' samples collapse into one) and
  ``global/vmalert/flags.yml`` (the fleet-level rules on the store, recording results written back, alerts to
  every Alertmanager).
- thanos: a sidecar per regional replica (``regions/<region>/thanos-sidecar.yml``), and ``global/thanos/`` query
  (deduplication by the replica label), compact (retention per resolution) and rule.
- mimir: ``global/mimir/mimir.yaml``, the settings scale mode depends on (HA tracker, retention, ruler → our
  Alertmanagers); the rules are loaded with ``mimirtool rules sync``.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from cachewatch.artifacts import File, Json
from cachewatch.pipeline.scale_remote_write import query_url, write_url
from cachewatch.promql import duration
from cachewatch.spec import FleetSpec
from cachewatch.spec.scale import long_term_retention_days, scale_of

RULES = "../rules/*.yml"  # from global/<engine>/
WRITE_SUFFIX = "/api/v1/write"  # vmalert appends it to -remoteWrite.url


def alertmanager_urls(spec: FleetSpec) -> list[str]:
    return [url if "://" in url else f"http://{url}" for url in spec.links.alertmanager_urls]


def _port(url: str, default: int) -> int:
    return urlsplit(url).port or default


def victoriametrics(spec: FleetSpec) -> list[File]:
    long_term = scale_of(spec).long_term
    days = long_term_retention_days(spec)
    vm = ["-storageDataPath=/var/lib/victoria-metrics", f"-retentionPeriod={days}d",
          f"-dedup.minScrapeInterval={duration(spec.intervals.scrape)}",
          f"-httpListenAddr=:{_port(long_term.url, 8428)}",
          "-search.latencyOffset=30s"]
    written = write_url(long_term) or long_term.url
    vmalert = [f"-rule={RULES}", f"-datasource.url={query_url(long_term)}",
               f"-remoteWrite.url={written.removesuffix(WRITE_SUFFIX)}", f"-remoteRead.url={query_url(long_term)}",
               *(f"-notifier.url={url}" for url in alertmanager_urls(spec)),
               f"-evaluationInterval={duration(spec.intervals.evaluation)}", f"-external.label=fleet={spec.name}"]
    if long_term.authorization_file:
        vmalert += [f"-datasource.bearerTokenFile={long_term.authorization_file}",
                    f"-remoteWrite.bearerTokenFile={long_term.authorization_file}",
                    f"-remoteRead.bearerTokenFile={long_term.authorization_file}"]
    return [
        File("global/victoriametrics/flags.yml", {"victoria-metrics": vm}, comment=(
            f"\nVictoriaMetrics single-node (a cluster: the same retention and dedup flags on vmstorage and "
            f"vmselect).\n-retentionPeriod: retention.metrics_days or scale.long_term.retention_days ({days} days).\n"
            f"-dedup.minScrapeInterval: the scrape interval; both replicas of a region send the same series (the "
            f"replica\nlabel is dropped before writing) and one sample per interval is kept.\n"
            "-search.latencyOffset: the default, written out: samples become visible to queries (and to vmalert) "
            "30 s\nafter they are taken; every global alert waits that much longer than a regional one.\n")),
        File("global/vmalert/flags.yml", {"vmalert": vmalert}, comment=(
            "\nvmalert runs the fleet-level rules (../rules) on the long-term store; recording results are "
            "written back,\nalert state is restored from the store after a restart, alerts go to every "
            "Alertmanager.\n")),
    ]


def thanos(spec: FleetSpec) -> list[File]:
    scale = scale_of(spec)
    long_term, label = scale.long_term, scale.prometheus.replica_label
    days = f"{long_term_retention_days(spec)}d"
    objstore = f"--objstore.config-file={long_term.objstore_config_file}"
    sidecar = ["sidecar", "--tsdb.path=/var/lib/prometheus/metrics2", "--prometheus.url=http://127.0.0.1:9090",
               objstore, "--grpc-address=0.0.0.0:10901", "--http-address=0.0.0.0:10902"]
    query = ["query", "--http-address=0.0.0.0:10904", "--grpc-address=0.0.0.0:10903",
             f"--query.replica-label={label}"]
    compact = ["compact", "--data-dir=/var/lib/thanos/compact", objstore, "--wait",
               f"--retention.resolution-raw={days}", f"--retention.resolution-5m={days}",
               f"--retention.resolution-1h={days}", f"--deduplication.replica-label={label}"]
    rule = ["rule", "--data-dir=/var/lib/thanos/rule", objstore, f"--rule-file={RULES}",
            f"--query={query_url(long_term)}", *(f"--alertmanagers.url={url}" for url in alertmanager_urls(spec)),
            f'--label=fleet="{spec.name}"', f"--eval-interval={duration(spec.intervals.evaluation)}"]
    regional = [File(f"regions/{region.name}/thanos-sidecar.yml", {"thanos": sidecar}, comment=(
        "\nBeside each Prometheus of the pair: uploads its 2 h blocks (Prometheus runs with min = max block "
        "duration 2h).\n")) for region in spec.regions]
    return [*regional,
            File("global/thanos/query.yml", {"thanos": query}, comment=(
                "\nAdd one --endpoint per sidecar and per store gateway. Replicas are deduplicated by "
                f"{label}.\n")),
            File("global/thanos/compact.yml", {"thanos": compact}, comment=(
                "\nOne compactor per bucket (a singleton). Raw, 5m and 1h data are all kept for the retention: "
                "downsampling\nspeeds up long queries, it does not save space.\n")),
            File("global/thanos/rule.yml", {"thanos": rule}, comment="\nThe fleet-level rules (../rules).\n")]


def mimir(spec: FleetSpec) -> list[File]:
    scale = scale_of(spec)
    config: Json = {
        "distributor": {"ha_tracker": {"enable_ha_tracker": True, "kvstore": {"store": "memberlist"}}},
        "limits": {"accept_ha_samples": True, "ha_cluster_label": "region",
                   "ha_replica_label": scale.prometheus.replica_label,
                   "compactor_blocks_retention_period": f"{long_term_retention_days(spec)}d"},
        "ruler": {"alertmanager_url": ",".join(alertmanager_urls(spec))},
    }
    return [File("global/mimir/mimir.yaml", config, comment=(
        "\nMerge into Mimir's configuration. The HA tracker elects one replica per region (every series a "
        "regional pair\nwrites carries its region) and drops the other's samples; the rules: mimirtool rules sync "
        f"../rules/*.yml\n(tenant {scale.long_term.tenant}).\n"))]


ENGINES: dict[str, Callable[[FleetSpec], list[File]]] = {
    "victoriametrics": victoriametrics, "thanos": thanos, "mimir": mimir}


def files(spec: FleetSpec) -> list[File]:
    return ENGINES[scale_of(spec).long_term.engine](spec)
