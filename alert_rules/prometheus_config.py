"""The fleet spec → ``prometheus/prometheus.yml``: every node scraped through the exporter's ``/scrape``.

Targets are static (the spec is the inventory), one static config per node so that each node carries its
own labels (region, cluster, shard, role, team). The Redis URL the exporter should contact is built by
relabeling, not written out, so that ``instance`` stays ``host:port`` and the scheme (``rediss://`` for TLS
clusters) rides along in the hidden label ``__scheme_redis``. ``auth_module`` is a per-cluster URL
parameter; static configs cannot carry ``params``, so it travels as the label ``__param_auth_module``.

With several exporter addresses the targets are sharded by ``hashmod`` of the target URL: one job per
exporter (``redis-<i>``, job names must be unique) keeps the targets whose hash is ``i`` and relabels
``job`` back to ``redis``, so every alert and dashboard sees ``job="redis"`` whatever the sharding.

Applications using cachewatch.tracing serve prometheus_client metrics; job ``cachewatch-apps`` scrapes them with
the bounded labels ``application`` and ``team``. Their exemplars (trace ids of sampled spans) exist only in the
OpenMetrics format, which Prometheus asks for first by default; storing them needs ``exemplar-storage``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

from cachewatch.rulefmt import duration
from cachewatch.spec import Application, FleetSpec

REDIS_JOB = "redis"
EXPORTER_JOB = "cachewatch-exporter"
APPS_JOB = "cachewatch-apps"
DEFAULT_METRICS_PATH = "/metrics"
SCRAPE_PATH = "/scrape"
SCHEME_LABEL = "__scheme_redis"
HASH_LABEL = "__tmp_hash"
SCHEMES = {False: "redis", True: "rediss"}  # cluster.tls → URL scheme the exporter connects with


def run_flags(spec: FleetSpec) -> list[str]:
    """Flags the config assumes: retention from the spec, exemplars for client traces, reload over HTTP."""
    return [f"--storage.tsdb.retention.time={spec.retention.metrics_days}d",
            "--enable-feature=exemplar-storage",
            "--web.enable-lifecycle"]


def node_targets(spec: FleetSpec) -> list[dict]:
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


def redis_job(spec: FleetSpec, exporter: str, shard: int | None = None) -> dict:
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


def redis_jobs(spec: FleetSpec) -> list[dict]:
    addresses = spec.exporter.addresses
    if len(addresses) == 1:
        return [redis_job(spec, addresses[0])]
    return [redis_job(spec, address, i) for i, address in enumerate(addresses)]


def app_targets(spec: FleetSpec) -> list[dict]:
    """One static config per application, all its instances as targets."""
    return [{"targets": list(app.targets), "labels": app_labels(app)} for app in spec.applications]


def app_labels(app: Application) -> dict[str, str]:
    labels = {"application": app.name, "team": app.team}
    if app.metrics_path != DEFAULT_METRICS_PATH:  # the job has one metrics_path; a target label overrides it
        labels["__metrics_path__"] = app.metrics_path
    return labels


def apps_jobs(spec: FleetSpec) -> list[dict]:
    """The applications' own metrics (client hit ratio, latency with exemplars); no job without applications."""
    if not spec.applications:
        return []
    return [{"job_name": APPS_JOB, "metrics_path": DEFAULT_METRICS_PATH, "static_configs": app_targets(spec)}]


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


def prometheus_config(spec: FleetSpec, rule_files: list[str]) -> dict:
    """The whole prometheus.yml as data; ``rule_files`` are file names under ``rules/`` beside it."""
    intervals = spec.intervals
    return {
        "global": {
            "scrape_interval": duration(intervals.scrape),
            # Prometheus refuses a timeout above the interval; the spec does not forbid one.
            "scrape_timeout": duration(min(intervals.scrape_timeout, intervals.scrape)),
            "evaluation_interval": duration(intervals.evaluation),
            "external_labels": {"fleet": spec.name},
        },
        "rule_files": [f"rules/{name}" for name in rule_files],
        "alerting": {"alertmanagers": alertmanagers(spec.links.alertmanager_urls)},
        "scrape_configs": [
            *redis_jobs(spec),
            {"job_name": EXPORTER_JOB, "static_configs": [{"targets": list(spec.exporter.addresses)}]},
            *apps_jobs(spec),
        ],
    }


HEADER = """\
# Generated by cachewatch from the fleet spec "{name}". Do not edit: change the spec and regenerate.
#
# Run Prometheus with:
#   prometheus --config.file=prometheus.yml \\
{flags}
#
# Job "{job}": every node ({nodes}) is a static target scraped through the exporter's multi-target route
# {path}?target=redis://host:port (rediss:// for TLS clusters)&auth_module=NAME (clusters that set one).
# instance = host:port; labels region, cluster, shard, role, team come from the spec.
# {sharding}
# Each exporter must allow every node address (--allow-target / allow_targets in its config).
# Job "{exporter_job}" scrapes each exporter's own /metrics.
{apps}"""

APPS = {
    False: "",
    True: "# Job \"{job}\": the prometheus_client endpoints of every application ({n}), labels application, team.\n"
          "# Their exemplars (trace ids) come only in OpenMetrics, which Prometheus negotiates by default;\n"
          "# storing them needs --enable-feature=exemplar-storage.\n",
}

SHARDING = {
    True: "One exporter: a single job.",
    False: "{n} exporters: jobs {job}-0..{last} each keep the targets with hashmod(__param_target, {n}) == i\n"
           "# and scrape them through exporter i; every shard relabels job=\"{job}\", so queries see one job.",
}


class NoAliasDumper(yaml.SafeDumper):
    """YAML for people diffing generated files: no anchors (every job spelled out), short string lists inline."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _flow_strings(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    """``targets: [host:port]`` on one line: a 120-node fleet stays readable."""
    flow = bool(data) and all(isinstance(item, str) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _block_text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    """Multi-line PromQL as a ``|`` block, as people write it."""
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


NoAliasDumper.add_representer(list, _flow_strings)
NoAliasDumper.add_representer(str, _block_text)
WIDTH = 10_000  # never fold long PromQL or URLs across lines


def render(spec: FleetSpec, rule_files: list[str]) -> str:
    """YAML with a comment header saying how to run Prometheus and how targets are spread."""
    n = len(spec.exporter.addresses)
    header = HEADER.format(
        name=spec.name, job=REDIS_JOB, exporter_job=EXPORTER_JOB, path=SCRAPE_PATH,
        nodes=sum(len(c.nodes) for _, c in spec.clusters),
        flags=" \\\n".join(f"#     {flag}" for flag in run_flags(spec)),
        sharding=SHARDING[n == 1].format(n=n, job=REDIS_JOB, last=n - 1),
        apps=APPS[bool(spec.applications)].format(job=APPS_JOB, n=len(spec.applications)))
    return header + yaml.dump(prometheus_config(spec, rule_files), Dumper=NoAliasDumper, sort_keys=False,
                              allow_unicode=True, width=WIDTH)


def write(spec: FleetSpec, rule_files: list[str], out: Path) -> list[Path]:
    path = Path(out) / "prometheus" / "prometheus.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(spec, rule_files))
    return [path]
