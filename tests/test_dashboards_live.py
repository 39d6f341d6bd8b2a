"""Every dashboard query runs against a real Prometheus that scrapes the exporter over real redis-servers.

The fleet: a primary and a replica configured as caches, with traffic (hits, misses, an expiring key, a
failed login), scraped through the exporter by a Prometheus loaded with the generated config and rules.
With the dashboard variables set to "All", every query must run without error, and every panel whose
metrics this fleet produces must return data; the panels that stay empty are named with the reason.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cachewatch.alert_rules.generate import generate
from cachewatch.dashboards.generate import dashboards
from cachewatch.local_redis import free_port, require_binary, start_redis, start_replica
from cachewatch.spec import (
    SLO,
    Business,
    Cluster,
    Escalation,
    FleetSpec,
    Intervals,
    Links,
    Node,
    Region,
    Team,
    WebhookChannel,
)
from cachewatch.spec.model import ExporterDeployment
from tests.helpers import start_exporter

VARIABLES = {"$__rate_interval": "30s", "$region": ".*", "$cluster": ".*", "$instance": ".*", "$cache": ".*",
             "$slo": ".*", "${datasource}": ""}
# Panels this test fleet cannot fill, and why. Anything else that stays empty fails the test.
EXPECTED_EMPTY = {
    "cachewatch-fleet/Firing alerts": "no alert fires on the healthy test fleet (the alerting e2e test fires them)",
    "cachewatch-app": "no application using cachewatch.tracing runs in this test (client library: issue 5)",
    "cachewatch-cluster/Cluster state": "the test fleet is a primary + replica, not a Redis Cluster",
    "cachewatch-cluster/Slots": "the test fleet is a primary + replica, not a Redis Cluster",
}


def panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard["panels"]:
        out += [p for p in [panel, *panel.get("panels", [])] if p.get("targets")]
    return out


def substitute(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def query(port: int, promql: str) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:
        return json.load(exc)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    primary = start_redis("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lfu", "--slowlog-log-slower-than", "0",
                          acl_users={"app": "on >app-pw ~app:* +get"})
    replica = start_replica(primary)
    config = tmp / "exporter.yml"
    config.write_text("key_sampling: {enabled: true, interval: 2s, targets: ['127.0.0.1:*']}\n")
    exporter = start_exporter("--allow-target", "127.0.0.1:*", "--config", str(config))
    prom_port = free_port()
    spec = FleetSpec(
        name="live",
        regions=[Region(name="local", clusters=[Cluster(name="cache", team="oncall", nodes=[
            Node(address=primary.addr, role="primary", shard="s0"),
            Node(address=replica.addr, role="replica", shard="s0")])])],
        teams=[Team(name="oncall", channels={"hook": WebhookChannel(url="http://127.0.0.1:9/")},
                    escalation=Escalation(critical=["hook"]))],
        slos=[SLO(name="cache-availability", kind="availability", objective=99.9),
              SLO(name="cache-hits", kind="hit_ratio", objective=90, min_requests_per_second=0)],
        business=Business(cost_per_gb_hour=0.01, cost_per_node_hour=0.05),
        intervals=Intervals(scrape=1, scrape_timeout=0.9, evaluation=1, group_wait=1, group_interval=2),
        exporter=ExporterDeployment(addresses=[f"127.0.0.1:{exporter.port}"]),
        links=Links(alertmanager_urls=["127.0.0.1:9"]),
    )
    generate(spec, tmp / "out")
    log = (tmp / "prometheus.log").open("w")
    prometheus = subprocess.Popen(
        [require_binary("prometheus"), f"--config.file={tmp / 'out/prometheus/prometheus.yml'}",
         f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=log, stderr=subprocess.STDOUT)
    client = redis.Redis(port=primary.port)
    try:
        for second in range(25):  # traffic while Prometheus collects ~25 samples
            for i in range(50):
                client.set(f"k:{i}", "v", ex=3600)
                client.get(f"k:{i}")
                client.get(f"missing:{second}:{i}")
            if second == 5:  # a failed login and a key the app user may not read: both security panels
                with contextlib.suppress(redis.exceptions.AuthenticationError):
                    redis.Redis(port=primary.port, username="mallory", password="x", protocol=2,
                                retry=Retry(NoBackoff(), 0)).ping()
                with contextlib.suppress(redis.exceptions.NoPermissionError):
                    redis.Redis(port=primary.port, username="app", password="app-pw", protocol=2).get("secret")
            time.sleep(1)
        yield prom_port, dashboards(spec)
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=10)
        log.close()
        exporter.stop()
        replica.stop()
        primary.stop()


def test_every_panel_query_runs_and_panels_with_data_from_this_fleet_are_not_empty(live) -> None:
    port, boards = live
    errors, empty, total = [], {}, 0
    for uid, board in boards.items():
        for panel in panels(board):
            total += 1
            results = [query(port, substitute(t["expr"])) for t in panel["targets"]]
            errors += [f"{uid}/{panel['title']}: {r.get('error')}" for r in results if r["status"] != "success"]
            if all(not r.get("data", {}).get("result") for r in results):
                empty[f"{uid}/{panel['title']}"] = panel
    assert not errors, "\n".join(errors)
    unexplained = [name for name in empty
                   if name not in EXPECTED_EMPTY and name.split("/")[0] not in EXPECTED_EMPTY]
    report = "\n".join(f"  {name}: {EXPECTED_EMPTY.get(name) or EXPECTED_EMPTY.get(name.split('/')[0], '?')}"
                       for name in sorted(empty))
    print(f"\n{total} panels, {total - len(empty)} with data; empty ({len(empty)}):\n{report}")
    assert not unexplained, f"panels without data and without a reason: {unexplained}"
