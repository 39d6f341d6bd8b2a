"""The exporter's contribution to prometheus.yml: every node through /scrape, the active probes through /probe
(module=health on every node, module=replication on primaries with replicas), each exporter's own /metrics.

The expected redis jobs below are what alert_rules.prometheus_config generated before the exporter owned them
(checked byte for byte, with the examples too, when they moved): same contents, same key order.
"""

from __future__ import annotations

import json

import pytest
import yaml

from cachewatch.exporter.contribution import contribution
from cachewatch.exporter.scrape_jobs import PROBE_PATH, scrape_comment, scrape_jobs
from cachewatch.promql import EXPORTER_JOB, PROBE_JOB, REDIS_JOB
from cachewatch.spec import FleetSpec, load_spec
from tests.support.paths import EXAMPLES

TWO_CLUSTERS = {
    "regions": [{"name": "eu", "clusters": [
        {"name": "plain", "team": "ops", "nodes": [{"address": "10.0.0.1:6379", "labels": {"rack": "r1"}}],
         "labels": {"tier": "gold", "region": "not-this-one"}},
        {"name": "secure", "team": "ops", "tls": True, "auth_module": "prod",
         "nodes": [{"address": "10.0.0.2:6380", "shard": "s1"},
                   {"address": "10.0.0.3:6380", "role": "replica", "shard": "s1"}]}]}],
    "teams": [{"name": "ops", "channels": {"hook": {"kind": "webhook", "url": "http://127.0.0.1:5001/"}},
               "escalation": {"critical": ["hook"]}}],
}
ONE_EXPORTER = FleetSpec.model_validate(TWO_CLUSTERS)
TWO_EXPORTERS = FleetSpec.model_validate({**TWO_CLUSTERS, "exporter": {"addresses": ["a:9121", "b:9121"]}})

TARGETS = """\
- targets: ['10.0.0.1:6379']
  labels: {tier: gold, region: eu, rack: r1, cluster: plain, shard: '10.0.0.1:6379', role: primary, team: ops,
           __scheme_redis: redis}
- targets: ['10.0.0.2:6380']
  labels: {region: eu, cluster: secure, shard: s1, role: primary, team: ops, __scheme_redis: rediss,
           __param_auth_module: prod}
- targets: ['10.0.0.3:6380']
  labels: {region: eu, cluster: secure, shard: s1, role: replica, team: ops, __scheme_redis: rediss,
           __param_auth_module: prod}
"""
TO_URL = """\
- {source_labels: [__scheme_redis, __address__], separator: '://', target_label: __param_target}
- {source_labels: [__address__], target_label: instance}
"""
SHARD_1_OF_2 = """\
- {source_labels: [__param_target], modulus: 2, target_label: __tmp_hash, action: hashmod}
- {source_labels: [__tmp_hash], regex: '1', action: keep}
- {target_label: __address__, replacement: 'b:9121'}
- {target_label: job, replacement: redis}
"""
MODULE = "- {source_labels: [__param_module], target_label: module}\n"
COMMENT = """\
Job "redis": every node (3) is a static target scraped through the exporter's multi-target route
/scrape?target=redis://host:port (rediss:// for TLS clusters)&auth_module=NAME (clusters that set one).
instance = host:port; labels region, cluster, shard, role, team come from the spec.
Job "redis-probe": the same targets probed every 15s (timeout 12s) through /probe?module=health
(health state and checks), and through /probe?module=replication on the primaries with replicas (1)
for the heartbeat delay per replica; &kind=cache|store from the cluster; the label module tells the two apart.
{sharding}
Each exporter must allow every node address (--allow-target / allow_targets in its config).
Job "cachewatch-exporter" scrapes each exporter's own /metrics.
"""


def same(actual: object, expected_yaml: str) -> bool:
    """Equal contents in the same key order (the generated file's order)."""
    return json.dumps(actual) == json.dumps(yaml.safe_load(expected_yaml))


def by_name(spec: FleetSpec) -> dict[str, dict]:
    return {job["job_name"]: job for job in scrape_jobs(spec)}


def test_one_exporter_scrapes_every_node_in_one_job() -> None:
    jobs = by_name(ONE_EXPORTER)
    redis, exporter = jobs[REDIS_JOB], jobs[EXPORTER_JOB]
    assert list(redis) == ["job_name", "metrics_path", "static_configs", "relabel_configs"]
    assert (redis["job_name"], redis["metrics_path"]) == (REDIS_JOB, "/scrape")
    assert same(redis["static_configs"], TARGETS)
    assert same(redis["relabel_configs"], TO_URL + "- {target_label: __address__, replacement: '127.0.0.1:9121'}")
    assert same(exporter, f"{{job_name: {EXPORTER_JOB}, static_configs: [{{targets: ['127.0.0.1:9121']}}]}}")


def test_several_exporters_shard_the_targets_and_relabel_the_job_back() -> None:
    *jobs, exporter = scrape_jobs(TWO_EXPORTERS)
    shards = [job for job in jobs if job["metrics_path"] == "/scrape"]
    assert [job["job_name"] for job in shards] == ["redis-0", "redis-1"]
    assert all(same(job["static_configs"], TARGETS) for job in shards)
    assert same(shards[1]["relabel_configs"], TO_URL + SHARD_1_OF_2)
    assert same(shards[0]["relabel_configs"], TO_URL + SHARD_1_OF_2.replace("'1'", "'0'").replace("b:", "a:"))
    assert exporter["static_configs"] == [{"targets": ["a:9121", "b:9121"]}]


def test_the_probe_job_probes_every_node_every_15s_with_the_health_module() -> None:
    probe = by_name(ONE_EXPORTER)[PROBE_JOB]
    assert list(probe) == ["job_name", "scrape_interval", "scrape_timeout", "metrics_path", "params",
                           "static_configs", "relabel_configs"]
    assert (probe["scrape_interval"], probe["scrape_timeout"], probe["metrics_path"]) == ("15s", "12s", PROBE_PATH)
    assert probe["params"] == {"module": ["health"]}
    # the same targets and labels as the redis job, and each cluster's kind for the checks
    assert same(probe["static_configs"], TARGETS.replace("}", ", __param_kind: cache}"))
    # the module becomes a label; the job name is the job label already
    assert same(probe["relabel_configs"],
                TO_URL + MODULE + "- {target_label: __address__, replacement: '127.0.0.1:9121'}")


def test_the_replication_probe_reaches_only_primaries_with_replicas_and_carries_the_probe_job() -> None:
    replication = by_name(ONE_EXPORTER)[f"{PROBE_JOB}-replication"]
    assert replication["params"] == {"module": ["replication"]} and replication["metrics_path"] == PROBE_PATH
    # plain has no replica; in secure the replica itself is not probed, its primary is
    assert [s["targets"] for s in replication["static_configs"]] == [["10.0.0.2:6380"]]
    assert same(replication["relabel_configs"], TO_URL + MODULE + (
        "- {target_label: __address__, replacement: '127.0.0.1:9121'}\n"
        f"- {{target_label: job, replacement: {PROBE_JOB}}}"))


def test_a_store_cluster_is_probed_as_a_store() -> None:
    data = {**TWO_CLUSTERS, "regions": [{"name": "eu", "clusters": [
        {**TWO_CLUSTERS["regions"][0]["clusters"][0], "kind": "store"}, TWO_CLUSTERS["regions"][0]["clusters"][1]]}]}
    jobs = by_name(FleetSpec.model_validate(data))
    assert [s["labels"]["__param_kind"] for s in jobs[PROBE_JOB]["static_configs"]] == ["store", "cache", "cache"]
    assert all("__param_kind" not in s["labels"] for s in jobs[REDIS_JOB]["static_configs"])


@pytest.mark.parametrize(("mode", "replica_shard", "probed"), [
    ("cluster", "s1", ["10.0.0.2:6380"]),
    ("cluster", "s2", []),  # a Redis Cluster primary whose shard has no replica
    ("replicated", None, ["10.0.0.2:6380"]),  # unnamed shards: any replica of the cluster counts
    ("standalone", "s1", []),
])
def test_which_primaries_the_replication_probe_reaches(mode: str, replica_shard: str | None,
                                                       probed: list[str]) -> None:
    spec = FleetSpec.model_validate({**TWO_CLUSTERS, "regions": [{"name": "eu", "clusters": [
        {"name": "c", "team": "ops", "mode": mode,
         "nodes": [{"address": "10.0.0.2:6380", "shard": "s1" if replica_shard else None},
                   {"address": "10.0.0.3:6380", "role": "replica", "shard": replica_shard}]}]}]})
    jobs = by_name(spec)
    got = [t for s in jobs.get(f"{PROBE_JOB}-replication", {}).get("static_configs", []) for t in s["targets"]]
    assert got == probed
    assert len(jobs[PROBE_JOB]["static_configs"]) == 2  # the health probe reaches every node whatever the mode


def test_several_exporters_shard_the_probes_like_the_scrapes() -> None:
    jobs = by_name(TWO_EXPORTERS)
    assert list(jobs) == ["redis-0", "redis-1", "redis-probe-0", "redis-probe-1", "redis-probe-replication-0",
                          "redis-probe-replication-1", EXPORTER_JOB]
    for name in ("redis-probe-1", "redis-probe-replication-1"):
        # the same hash of the same target URL: each node is probed by the exporter that scrapes it
        assert same(jobs[name]["relabel_configs"],
                    TO_URL + MODULE + SHARD_1_OF_2.replace("replacement: redis", f"replacement: {PROBE_JOB}"))
    assert jobs["redis-probe-0"]["params"] == {"module": ["health"]}


def test_the_comment_says_how_targets_are_spread() -> None:
    assert scrape_comment(ONE_EXPORTER) == COMMENT.format(sharding="One exporter: a single job per route.")
    assert scrape_comment(TWO_EXPORTERS) == COMMENT.format(sharding=(
        "2 exporters: jobs redis-0..1 (and redis-probe-0..1, redis-probe-replication-0..1) each keep\n"
        "the targets with hashmod(__param_target, 2) == i and scrape them through exporter i; every shard "
        'relabels\njob="redis" (or job="redis-probe"), so queries see one job per route.'))


@pytest.mark.parametrize("example", EXAMPLES)
def test_contribution_is_the_jobs_and_their_comment(example: str) -> None:
    spec = load_spec(EXAMPLES[example])
    part = contribution(spec)
    n = len(spec.exporter.addresses)
    assert part.part == "exporter"
    routes = (REDIS_JOB, PROBE_JOB, f"{PROBE_JOB}-replication")
    assert [job["job_name"] for job in part.scrape_jobs] == (
        list(routes) if n == 1 else [f"{route}-{i}" for route in routes for i in range(n)]) + [EXPORTER_JOB]
    assert part.scrape_jobs == scrape_jobs(spec) and part.scrape_comment == scrape_comment(spec)
    assert not (part.files or part.rule_groups or part.dashboards)
