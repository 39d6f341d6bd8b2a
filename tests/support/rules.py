"""Sample rule groups for tests of what the pipeline builds from rules (mixin, PrometheusRule): a mixed group
(a record and an alert with a promtool case) and a records-only group, in two rule files."""

from __future__ import annotations

from cachewatch.rulefmt import Alert, AlertTest, Links, Record, RuleGroup, Series, render_rule_file
from cachewatch.spec import FleetSpec


def sample_groups() -> list[RuleGroup]:
    """A mixed group (record + alert with a test case) and a records-only group, in two rule files."""
    series = 'redis_up{job="redis",instance="10.0.0.1:6379",cluster="c1"}'
    down = Alert(
        name="RedisSampleDown", expr='redis_up{job="redis"} == 0', for_="1m", severity="critical",
        summary="A Redis node does not answer.",
        description='{{ $labels.instance }} of cluster "{{ $labels.cluster }}" has been down for 1m.',
        runbook="redis-sample-down", panel="cachewatch-node/up", dashboard_vars=("cluster", "instance"),
        test=AlertTest(fire=(Series(series, "0x20"),), quiet=(Series(series, "1x20"),),
                       exp_labels={"job": "redis", "instance": "10.0.0.1:6379", "cluster": "c1"}))
    ops = Record("cluster:redis_commands_processed:rate5m",
                 "sum without (instance, shard, role) (\n  rate(redis_commands_processed_total[5m])\n)")
    up = Record("cluster:redis_up:ratio", 'avg without (instance, shard, role) (redis_up{job="redis"})',
                labels={"source": "cachewatch"})
    return [RuleGroup("cachewatch-sample", "sample.yml", (ops, down), interval="30s"),
            RuleGroup("cachewatch-sample-records", "sample-records.yml", (up,))]


def sample_rule_docs(spec: FleetSpec) -> dict[str, dict]:
    """Rule file name → render_rule_file document, with the spec's links; files in first-seen order."""
    links = Links(spec.links.runbook_base_url, spec.links.grafana_url)
    groups = sample_groups()
    files = list(dict.fromkeys(g.file for g in groups))
    return {name: render_rule_file([g for g in groups if g.file == name], links) for name in files}
