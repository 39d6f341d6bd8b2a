"""The exporter's routes end to end: /metrics, /scrape, cluster discovery, sampling and security families."""

from __future__ import annotations

import json
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cachewatch.local_redis import start_redis
from tests.support.exporter_process import start_exporter


def failed_login(port: int, user: str) -> None:
    try:  # one attempt, no retry, RESP2: exactly one ACL LOG auth denial
        redis.Redis(port=port, username=user, password="wrong", protocol=2, retry=Retry(NoBackoff(), 0)).ping()
    except redis.exceptions.AuthenticationError:
        return
    raise AssertionError("login with a wrong password succeeded")


def test_metrics_without_a_target_serves_only_the_exporters_own_health() -> None:
    with start_exporter() as exporter:
        result = exporter.get("/metrics")
    assert result.status == 200
    assert result.value("redis_up") is None
    assert result.value("redis_exporter_targets") == 0
    assert result.value("process_open_fds") > 0


def test_scrape_of_an_allowlisted_replica_reports_its_master_link(redis_replica, redis_primary) -> None:
    with start_exporter("--allow-target", "127.0.0.1:*") as exporter:
        result = exporter.get(f"/scrape?target={redis_replica.url}")
    link = f'redis_master_link_up{{master_host="127.0.0.1",master_port="{redis_primary.port}"}}'
    assert result.value("redis_up") == 1 and result.value(link) == 1
    assert result.value("process_open_fds") is None  # process metrics only on /metrics


def test_cluster_discovery_returns_http_sd_groups_with_role_and_shard(redis_cluster) -> None:
    seed = redis_cluster.nodes[0]
    with start_exporter("--redis-addr", seed.url) as exporter:
        result = exporter.get("/discover-cluster-nodes")
    assert result.status == 200 and result.headers["Content-Type"] == "application/json"
    groups = json.loads(result.body)
    targets = sorted(t for g in groups for t in g["targets"])
    assert targets == sorted(node.url for node in redis_cluster.nodes)
    assert {g["labels"]["__meta_redis_cluster_role"] for g in groups} == {"primary"}
    assert sum(int(g["labels"]["__meta_redis_cluster_slots"]) for g in groups) == 16384


def test_cluster_discovery_on_a_standalone_server_is_a_clear_error(redis_primary) -> None:
    with start_exporter("--redis-addr", redis_primary.url) as exporter:
        result = exporter.get("/discover-cluster-nodes")
    assert result.status == 502 and "not a cluster" in result.body


def test_acl_denials_are_counted_once_each_across_scrapes() -> None:
    server = start_redis(acl_users={"app": "on >app-pw ~app:* +get"})
    try:
        with start_exporter("--redis-addr", server.url) as exporter:
            failed_login(server.port, "mallory")
            exporter.get("/metrics")  # baseline: denials before the exporter watched are not counted
            for _ in range(3):
                failed_login(server.port, "mallory")
            app = redis.Redis(port=server.port, username="app", password="app-pw", protocol=2)
            for _ in range(2):
                with pytest.raises(redis.exceptions.NoPermissionError):
                    app.get("secret:key")
            results = [exporter.get("/metrics") for _ in range(4)]
    finally:
        server.stop()
    auth = 'redis_acl_denials_total{reason="auth",context="toplevel",user="mallory"}'
    key = 'redis_acl_denials_total{reason="key",context="toplevel",user="app"}'
    assert [r.value(auth) for r in results] == [3, 3, 3, 3]
    assert [r.value(key) for r in results] == [2, 2, 2, 2]


def test_key_sampling_runs_in_the_background_and_reports_staleness() -> None:
    server = start_redis()
    try:
        client = redis.Redis(port=server.port)
        client.set("big:blob:1", "x" * 200_000)
        client.mset({f"small:{i}": "y" for i in range(50)})
        with start_exporter("--redis-addr", server.url, "--key-sampling") as exporter:
            deadline = time.monotonic() + 10
            result = exporter.get("/metrics")
            while result.value("redis_key_sample_keys_scanned") is None and time.monotonic() < deadline:
                time.sleep(0.1)
                result = exporter.get("/metrics")
    finally:
        server.stop()
    assert result.value("redis_key_sample_keys_scanned") == 51
    big = [line for line in result.series() if line.startswith("redis_key_sample_memory_usage_bytes")]
    assert big[0].startswith('redis_key_sample_memory_usage_bytes{db="db0",key="big:blob:*",type="string"}')
    assert result.value("redis_key_sample_age_seconds") >= 0
    assert result.value("redis_last_key_groups_scrape_duration_milliseconds") > 0
