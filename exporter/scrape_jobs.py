"""The exporter's share of ``prometheus.yml``: every node scraped through ``/scrape``, and each exporter's own
``/metrics``.

Targets are static (the spec is the inventory), one static config per node so that each node carries its
own labels (region, cluster, shard, role, team). The Redis URL the exporter should contact is built by
relabeling, not written out, so that ``instance`` stays ``host:port`` and the scheme (``rediss://`` for TLS
clusters) rides along in the hidden label ``__scheme_redis``. ``auth_module`` is a per-cluster URL
parameter; static configs cannot carry ``params``, so it travels as the label ``__param_auth_module``.

With several exporter addresses the targets are sharded by ``hashmod`` of the target URL: one job per
exporter (``redis-<i>``, job names must be unique) keeps the targets whose hash is ``i`` and relabels
``job`` back to ``redis``, so every alert and dashboard sees ``job="redis"`` whatever the sharding.

Pure functions of the spec; the exporter's runtime imports only ``SCRAPE_PATH`` from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachewatch.promql import EXPORTER_JOB, REDIS_JOB

if TYPE_CHECKING:  # annotations only: the running exporter imports just SCRAPE_PATH from here
    from cachewatch.artifacts import Json
    from cachewatch.spec import FleetSpec

SCRAPE_PATH = "/scrape"  # the exporter's multi-target route
SCHEME_LABEL = "__scheme_redis"
HASH_LABEL = "__tmp_hash"
SCHEMES = {False: "redis", True: "rediss"}  # cluster.tls → URL scheme the exporter connects with

COMMENT = """\
Job "{job}": every node ({nodes}) is a static target scraped through the exporter's multi-target route
{path}?target=redis://host:port (rediss:// for TLS clusters)&auth_module=NAME (clusters that set one).
instance = host:port; labels region, cluster, shard, role, team come from the spec.
{sharding}
Each exporter must allow every node address (--allow-target / allow_targets in its config).
Job "{exporter_job}" scrapes each exporter's own /metrics.
"""

SHARDING = {
    True: "One exporter: a single job.",
    False: "{n} exporters: jobs {job}-0..{last} each keep the targets with hashmod(__param_target, {n}) == i\n"
           "and scrape them through exporter i; every shard relabels job=\"{job}\", so queries see one job.",
}


def node_targets(spec: FleetSpec) -> list[Json]:
    """One static config per node; the spec's fixed labels win over free-form cluster/node labels."""
    out = []
    for region, cluster in spec.clusters:
        for node in cluster.nodes:
            labels = {**cluster.labels, **node.labels,
                      "region": region.name, "cluster": cluster.name, "shard": node.shard or node.address,
                      "role": node.role, "team": cluster.team, SCHEME_LABEL: SCHEMES[cluster.tls]}
            if cluster.auth_module:
                labels["__param_auth_module"] = cluster.auth_module
            out.append({"targets": [node.address], "labels": labels})
    return out


def redis_job(spec: FleetSpec, exporter: str, shard: int | None = None) -> Json:
    """The multi-target job through one exporter; ``shard`` set: keep only hashmod == shard of the targets."""
    sharded = shard is not None
    modulus = len(spec.exporter.addresses)
    relabel = [
        {"source_labels": [SCHEME_LABEL, "__address__"], "separator": "://", "target_label": "__param_target"},
        {"source_labels": ["__address__"], "target_label": "instance"},
        *([{"source_labels": ["__param_target"], "modulus": modulus, "target_label": HASH_LABEL,
            "action": "hashmod"},
           {"source_labels": [HASH_LABEL], "regex": str(shard), "action": "keep"}] if sharded else []),
        {"target_label": "__address__", "replacement": exporter},
        *([{"target_label": "job", "replacement": REDIS_JOB}] if sharded else []),
    ]
    return {"job_name": f"{REDIS_JOB}-{shard}" if sharded else REDIS_JOB,
            "metrics_path": SCRAPE_PATH,
            "static_configs": node_targets(spec),
            "relabel_configs": relabel}


def redis_jobs(spec: FleetSpec) -> list[Json]:
    """One job through the only exporter, or one shard job per exporter."""
    addresses = spec.exporter.addresses
    if len(addresses) == 1:
        return [redis_job(spec, addresses[0])]
    return [redis_job(spec, address, i) for i, address in enumerate(addresses)]


def exporter_job(spec: FleetSpec) -> Json:
    """The exporters' own /metrics (Prometheus' default path): scrape counts, errors, durations per target."""
    return {"job_name": EXPORTER_JOB, "static_configs": [{"targets": list(spec.exporter.addresses)}]}


def scrape_jobs(spec: FleetSpec) -> tuple[Json, ...]:
    """Every job the exporter contributes to prometheus.yml, in the file's order."""
    return (*redis_jobs(spec), exporter_job(spec))


def scrape_comment(spec: FleetSpec) -> str:
    """What prometheus.yml's header says about these jobs: lines without the leading ``# ``, each ending in a
    newline (the pipeline puts the parts' comments one after the other)."""
    n = len(spec.exporter.addresses)
    return COMMENT.format(job=REDIS_JOB, exporter_job=EXPORTER_JOB, path=SCRAPE_PATH,
                          nodes=sum(len(c.nodes) for _, c in spec.clusters),
                          sharding=SHARDING[n == 1].format(n=n, job=REDIS_JOB, last=n - 1))
