"""The node records the dashboards read: promtool-clean, one series per node with every node label, and absent
(never NaN or +Inf) where there is no limit or no read."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from cachewatch.alert_rules import node_records
from cachewatch.local_redis import require_binary
from cachewatch.pipeline.writer import dump_yaml
from cachewatch.rulefmt import Links, render_rule_file
from cachewatch.spec import load_spec
from tests.support.paths import EXAMPLES

LINKS = Links("https://runbooks.invalid/", "https://grafana.invalid")
NODE_A = 'job="redis", instance="10.0.0.1:6379", region="eu", cluster="sessions", shard="s0", role="primary", team="t"'
NODE_B = 'job="redis", instance="10.0.0.2:6379", region="eu", cluster="sessions", shard="s0", role="replica", team="t"'


def promtool(*args: str, cwd: Path) -> str:
    run = subprocess.run([require_binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def write_records(tmp_path: Path) -> Path:
    groups = node_records.groups(load_spec(EXAMPLES["small"]))
    assert [(g.name, g.file) for g in groups] == [("redis-records", "records.yml")]
    path = tmp_path / "records.yml"
    path.write_text(dump_yaml(render_rule_file(groups, LINKS)))
    return path


def test_records_pass_promtool_check(tmp_path):
    assert "SUCCESS: 4 rules found" in promtool("check", "rules", str(write_records(tmp_path)), cwd=tmp_path)


def test_records_keep_node_labels_and_guard_their_denominators(tmp_path):
    """Node A: 1 GB of 2 GB, 25 of 100 clients, 3 hits and 1 miss per second, 10 commands per second. Node B has
    neither maxmemory nor maxclients and no reads: no ratio series, and a command rate of 0."""
    write_records(tmp_path)
    a, b = "{" + NODE_A + "}", "{" + NODE_B + "}"
    series = {
        f"redis_memory_used_bytes{a}": "1e9x10", f"redis_memory_max_bytes{a}": "2e9x10",
        f"redis_connected_clients{a}": "25x10", f"redis_max_clients{a}": "100x10",
        f"redis_keyspace_hits_total{a}": "0+180x10", f"redis_keyspace_misses_total{a}": "0+60x10",
        f"redis_commands_processed_total{a}": "0+600x10",
        f"redis_memory_used_bytes{b}": "1e9x10", f"redis_memory_max_bytes{b}": "0x10",
        f"redis_connected_clients{b}": "25x10", f"redis_max_clients{b}": "0x10",
        f"redis_keyspace_hits_total{b}": "5x10", f"redis_keyspace_misses_total{b}": "5x10",
        f"redis_commands_processed_total{b}": "7x10",
    }
    expected = {node_records.MEMORY_USED: [(NODE_A, 0.5)], node_records.CONNECTIONS: [(NODE_A, 0.25)],
                node_records.HIT_RATIO: [(NODE_A, 0.75)], node_records.COMMANDS: [(NODE_A, 10), (NODE_B, 0)]}
    case = {"rule_files": ["records.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "promql_expr_test": [{"expr": record, "eval_time": "10m",
                              "exp_samples": [{"labels": f"{record}{{{labels}}}", "value": value}
                                              for labels, value in samples]}
                             for record, samples in expected.items()],
    }]}
    (tmp_path / "case.yml").write_text(yaml.safe_dump(case, sort_keys=False))
    promtool("test", "rules", "case.yml", cwd=tmp_path)
