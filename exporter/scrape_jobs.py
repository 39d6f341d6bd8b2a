"""The exporter's share of ``prometheus.yml``: every node scraped through ``/scrape``, probed through ``/probe``,
and each exporter's own ``/metrics``.

Targets are static (the spec is the inventory), one static config per node so that each node carries its
own labels (region, cluster, shard, role, team). The Redis URL the exporter should contact is built by
relabeling, not written out, so that ``instance`` stays ``host:port`` and the scheme (``rediss://`` for TLS
clusters) rides along in the hidden label ``__scheme_redis``. ``auth_module`` is a per-cluster URL
parameter; static configs cannot carry ``params``, so it travels as the label ``__param_auth_module`` (and, for
the probes, the cluster's ``kind`` as ``__param_kind``: it changes what the memory and persistence checks mean).

The probe jobs (blackbox_exporter's style) reach the same targets through ``/probe`` every spec.intervals.probe (15 s):
``module=health`` on every node, ``module=replication`` (the heartbeat) on the primaries that have replicas.
Their series carry ``job="redis-probe"`` and a ``module`` label copied from the URL parameter, so the two
modules' series of one node stay apart and never mix with the ``redis`` job's ``up``.

With several exporter addresses the targets are sharded by ``hashmod`` of the target URL: one job per
exporter (``redis-<i>``, job names must be unique) keeps the targets whose hash is ``i`` and relabels
``job`` back to ``redis``, so every alert and dashboard sees ``job="redis"`` whatever the sharding. The probe
jobs shard the same way (same hash, same exporter per node) and relabel to ``redis-probe``.

Pure functions of the spec; the exporter's runtime imports only ``SCRAPE_PATH`` and ``PROBE_PATH`` from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cachewatch.promql import EXPORTER_JOB, PROBE_JOB, REDIS_JOB, duration

if TYPE_CHECKING:  # annotations only: the running exporter imports just the paths from here
    from cachewatch.artifacts import Json
    from cachewatch.spec import FleetSpec
    from cachewatch.spec.model import Cluster, Node

SCRAPE_PATH = "/scrape"  # the exporter's multi-target route
PROBE_PATH = "/probe"  # the exporter's active-probe route (?module=health|replication|config)
SCHEME_LABEL = "__scheme_redis"
HASH_LABEL = "__tmp_hash"
SCHEMES = {False: "redis", True: "rediss"}  # cluster.tls → URL scheme the exporter connects with
# The probe jobs' cadence and deadline are spec.intervals.probe / probe_timeout (Prometheus sends the deadline as
# X-Prometheus-Scrape-Timeout-Seconds); the spec keeps the deadline above the critical heartbeat delay.


def every_node(cluster: Cluster, node: Node) -> bool:
    return True


def primary_with_replicas(cluster: Cluster, node: Node) -> bool:
    """A primary that replicates: in a Redis Cluster, to a replica of its own shard; in a replicated cluster, to
    any replica (shards there often go unnamed, each node then being its own shard)."""
    if node.role != "primary" or cluster.mode == "standalone":
        return False
    return any(other.role == "replica" and (cluster.mode != "cluster" or other.shard == node.shard)
               for other in cluster.nodes)


@dataclass(frozen=True)
class Route:
    """One kind of multi-target job: its scrape config name, the job label its series carry, the exporter
    route and its fixed URL parameters (each also copied into a label of the same name), and which nodes."""

    name: str
    job: str
    path: str
    nodes: Callable[[Cluster, Node], bool] = every_node
    params: dict[str, list[str]] = field(default_factory=dict)
    probe_timing: bool = False  # scraped every spec.intervals.probe (timeout probe_timeout), not the global ones
    kind: bool = False  # pass each cluster's kind (cache|store) as the URL parameter kind


ROUTES: tuple[Route, ...] = (
    Route(REDIS_JOB, REDIS_JOB, SCRAPE_PATH),
    Route(PROBE_JOB, PROBE_JOB, PROBE_PATH, params={"module": ["health"]}, probe_timing=True,
          kind=True),
    Route(f"{PROBE_JOB}-replication", PROBE_JOB, PROBE_PATH, primary_with_replicas,
          params={"module": ["replication"]}, probe_timing=True, kind=True),
)

COMMENT = """\
Job "{job}": every node ({nodes}) is a static target scraped through the exporter's multi-target route
{path}?target=redis://host:port (rediss:// for TLS clusters)&auth_module=NAME (clusters that set one).
instance = host:port; labels region, cluster, shard, role, team come from the spec.
Job "{probe_job}": the same targets probed every {interval} (timeout {timeout}) through {probe_path}?module=health
(health state and checks), and through {probe_path}?module=replication on the primaries with replicas ({primaries})
for the heartbeat delay per replica; &kind=cache|store from the cluster; the label module tells the two apart.
{sharding}
Each exporter must allow every node address (--allow-target / allow_targets in its config).
Job "{exporter_job}" scrapes each exporter's own /metrics.
"""

SHARDING = {
    True: "One exporter: a single job per route.",
    False: "{n} exporters: jobs {job}-0..{last} (and {probe_job}-0..{last}, {probe_job}-replication-0..{last}) "
           "each keep\nthe targets with hashmod(__param_target, {n}) == i and scrape them through exporter i; every "
           "shard relabels\njob=\"{job}\" (or job=\"{probe_job}\"), so queries see one job per route.",
}


def node_targets(spec: FleetSpec, keep: Callable[[Cluster, Node], bool] = every_node, kind: bool = False
                 ) -> list[Json]:
    """One static config per node (those ``keep`` selects); the spec's fixed labels win over free-form
    cluster/node labels."""
    out = []
    for region, cluster in spec.clusters:
        for node in cluster.nodes:
            if not keep(cluster, node):
                continue
            labels = {**cluster.labels, **node.labels,
                      "region": region.name, "cluster": cluster.name, "shard": node.shard or node.address,
                      "role": node.role, "team": cluster.team, SCHEME_LABEL: SCHEMES[cluster.tls]}
            if cluster.auth_module:
                labels["__param_auth_module"] = cluster.auth_module
            if kind:
                labels["__param_kind"] = cluster.kind
            out.append({"targets": [node.address], "labels": labels})
    return out


def route_job(spec: FleetSpec, route: Route, exporter: str, shard: int | None = None) -> Json:
    """One route's job through one exporter; ``shard`` set: keep only hashmod == shard of the targets. The job
    label is set back to the route's when the scrape config's name differs from it (shards, the replication
    probe)."""
    sharded = shard is not None
    name = f"{route.name}-{shard}" if sharded else route.name
    modulus = len(spec.exporter.addresses)
    relabel = [
        {"source_labels": [SCHEME_LABEL, "__address__"], "separator": "://", "target_label": "__param_target"},
        {"source_labels": ["__address__"], "target_label": "instance"},
        *({"source_labels": [f"__param_{param}"], "target_label": param} for param in route.params),
        *([{"source_labels": ["__param_target"], "modulus": modulus, "target_label": HASH_LABEL,
            "action": "hashmod"},
           {"source_labels": [HASH_LABEL], "regex": str(shard), "action": "keep"}] if sharded else []),
        {"target_label": "__address__", "replacement": exporter},
        *([{"target_label": "job", "replacement": route.job}] if name != route.job else []),
    ]
    timing = ({"scrape_interval": duration(spec.intervals.probe),
               "scrape_timeout": duration(spec.intervals.probe_timeout)} if route.probe_timing else {})
    return {"job_name": name, **timing,
            "metrics_path": route.path,
            **({"params": route.params} if route.params else {}),
            "static_configs": node_targets(spec, route.nodes, route.kind),
            "relabel_configs": relabel}


def route_jobs(spec: FleetSpec, route: Route) -> list[Json]:
    """One job through the only exporter, or one shard job per exporter; none when the route has no node."""
    if not node_targets(spec, route.nodes):
        return []
    addresses = spec.exporter.addresses
    if len(addresses) == 1:
        return [route_job(spec, route, addresses[0])]
    return [route_job(spec, route, address, i) for i, address in enumerate(addresses)]


def redis_jobs(spec: FleetSpec) -> list[Json]:
    """The ``redis`` job(s): every node through /scrape."""
    return route_jobs(spec, ROUTES[0])


def probe_jobs(spec: FleetSpec) -> list[Json]:
    """The ``redis-probe`` jobs: module=health on every node, module=replication on primaries with replicas."""
    return [job for route in ROUTES[1:] for job in route_jobs(spec, route)]


def exporter_job(spec: FleetSpec) -> Json:
    """The exporters' own /metrics (Prometheus' default path): scrape counts, errors, durations per target."""
    return {"job_name": EXPORTER_JOB, "static_configs": [{"targets": list(spec.exporter.addresses)}]}


def scrape_jobs(spec: FleetSpec) -> tuple[Json, ...]:
    """Every job the exporter contributes to prometheus.yml, in the file's order."""
    return (*redis_jobs(spec), *probe_jobs(spec), exporter_job(spec))


def scrape_comment(spec: FleetSpec) -> str:
    """What prometheus.yml's header says about these jobs: lines without the leading ``# ``, each ending in a
    newline (the pipeline puts the parts' comments one after the other)."""
    n = len(spec.exporter.addresses)
    return COMMENT.format(job=REDIS_JOB, exporter_job=EXPORTER_JOB, path=SCRAPE_PATH, probe_job=PROBE_JOB,
                          probe_path=PROBE_PATH, interval=duration(spec.intervals.probe),
                          timeout=duration(spec.intervals.probe_timeout),
                          nodes=sum(len(c.nodes) for _, c in spec.clusters),
                          primaries=len(node_targets(spec, primary_with_replicas)),
                          sharding=SHARDING[n == 1].format(n=n, job=REDIS_JOB, probe_job=PROBE_JOB, last=n - 1))
