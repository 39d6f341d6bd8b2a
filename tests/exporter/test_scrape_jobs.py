"""The exporter's contribution to prometheus.yml: every node through /scrape, each exporter's own /metrics.

The expected jobs and sentences below are what alert_rules.prometheus_config generated before the exporter
owned them (checked byte for byte, with the examples too, when they moved): same contents, same key order.
"""

from __future__ import annotations

import json

import pytest
import yaml

from cachewatch.exporter.contribution import contribution
from cachewatch.exporter.scrape_jobs import scrape_comment, scrape_jobs
from cachewatch.promql import EXPORTER_JOB, REDIS_JOB
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
COMMENT = """\
Job "redis": every node (3) is a static target scraped through the exporter's multi-target route
/scrape?target=redis://host:port (rediss:// for TLS clusters)&auth_module=NAME (clusters that set one).
instance = host:port; labels region, cluster, shard, role, team come from the spec.
{sharding}
Each exporter must allow every node address (--allow-target / allow_targets in its config).
Job "cachewatch-exporter" scrapes each exporter's own /metrics.
"""


def same(actual: object, expected_yaml: str) -> bool:
    """Equal contents in the same key order (the generated file's order)."""
    return json.dumps(actual) == json.dumps(yaml.safe_load(expected_yaml))


def test_one_exporter_scrapes_every_node_in_one_job() -> None:
    redis, exporter = scrape_jobs(ONE_EXPORTER)
    assert list(redis) == ["job_name", "metrics_path", "static_configs", "relabel_configs"]
    assert (redis["job_name"], redis["metrics_path"]) == (REDIS_JOB, "/scrape")
    assert same(redis["static_configs"], TARGETS)
    assert same(redis["relabel_configs"], TO_URL + "- {target_label: __address__, replacement: '127.0.0.1:9121'}")
    assert same(exporter, f"{{job_name: {EXPORTER_JOB}, static_configs: [{{targets: ['127.0.0.1:9121']}}]}}")


def test_several_exporters_shard_the_targets_and_relabel_the_job_back() -> None:
    *shards, exporter = scrape_jobs(TWO_EXPORTERS)
    assert [job["job_name"] for job in shards] == ["redis-0", "redis-1"]
    assert all(same(job["static_configs"], TARGETS) for job in shards)
    assert same(shards[1]["relabel_configs"], TO_URL + SHARD_1_OF_2)
    assert same(shards[0]["relabel_configs"], TO_URL + SHARD_1_OF_2.replace("'1'", "'0'").replace("b:", "a:"))
    assert exporter["static_configs"] == [{"targets": ["a:9121", "b:9121"]}]


def test_the_comment_says_how_targets_are_spread() -> None:
    assert scrape_comment(ONE_EXPORTER) == COMMENT.format(sharding="One exporter: a single job.")
    assert scrape_comment(TWO_EXPORTERS) == COMMENT.format(sharding=(
        "2 exporters: jobs redis-0..1 each keep the targets with hashmod(__param_target, 2) == i\n"
        'and scrape them through exporter i; every shard relabels job="redis", so queries see one job.'))


@pytest.mark.parametrize("example", EXAMPLES)
def test_contribution_is_the_jobs_and_their_comment(example: str) -> None:
    spec = load_spec(EXAMPLES[example])
    part = contribution(spec)
    n = len(spec.exporter.addresses)
    assert part.part == "exporter"
    assert [job["job_name"] for job in part.scrape_jobs] == (
        [REDIS_JOB] if n == 1 else [f"{REDIS_JOB}-{i}" for i in range(n)]) + [EXPORTER_JOB]
    assert part.scrape_jobs == scrape_jobs(spec) and part.scrape_comment == scrape_comment(spec)
    assert not (part.files or part.rule_groups or part.dashboards)
