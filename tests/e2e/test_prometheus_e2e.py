"""A real Prometheus scrapes the exporter: /metrics, and a cluster through http_sd + /scrape as README shows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.exporter_process import ExporterProcess, start_exporter
from tests.support.prometheus_process import query, running_prometheus

PROMETHEUS_CONFIG = """
global: {{scrape_interval: 1s, scrape_timeout: 900ms}}
scrape_configs:
  - job_name: redis-exporter
    static_configs: [{{targets: ["127.0.0.1:{exporter}"]}}]
  - job_name: redis
    metrics_path: /scrape
    http_sd_configs:
      - {{url: "http://127.0.0.1:{exporter}/discover-cluster-nodes?target={seed}", refresh_interval: 5s}}
    relabel_configs:
      - {{source_labels: [__address__], target_label: __param_target}}
      - {{source_labels: [__param_target], target_label: instance}}
      - {{source_labels: [__meta_redis_cluster_role], target_label: role}}
      - {{source_labels: [__meta_redis_cluster_shard], target_label: shard}}
      - {{target_label: __address__, replacement: "127.0.0.1:{exporter}"}}
"""


@pytest.fixture
def cluster_exporter(redis_cluster) -> ExporterProcess:
    exporter = start_exporter("--redis-addr", redis_cluster.nodes[0].url, "--allow-target", "127.0.0.1:*")
    yield exporter
    exporter.stop()


def test_prometheus_scrapes_the_fleet_through_discovery_and_scrape(tmp_path: Path, redis_cluster,
                                                                   cluster_exporter: ExporterProcess) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG.format(exporter=cluster_exporter.port, seed=redis_cluster.nodes[0].url))
    with running_prometheus(config, tmp_path) as port:
        deadline = time.monotonic() + 40
        up: list[dict] = []
        while time.monotonic() < deadline:
            try:
                up = query(port, 'redis_up{job="redis"} == 1')
                if len(up) == len(redis_cluster.nodes) and query(port, 'up{job="redis-exporter"} == 1'):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert sorted(r["metric"]["instance"] for r in up) == sorted(n.url for n in redis_cluster.nodes), (
            (tmp_path / "prometheus.log").read_text()[-3000:])
        assert {r["metric"]["role"] for r in up} == {"primary"}
        assert all(r["metric"]["shard"] for r in up)
        slots = query(port, 'sum(redis_cluster_slots_ok{job="redis"})')
        assert float(slots[0]["value"][1]) == 16384 * len(redis_cluster.nodes)  # each node sees every slot
