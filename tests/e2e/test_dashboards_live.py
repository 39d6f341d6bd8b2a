"""Every dashboard query runs against a real Prometheus that scrapes the exporter over real redis-servers.

The fleet: a primary and a replica configured as caches, with traffic (hits, misses, an expiring key, a
failed login), scraped through the exporter by a Prometheus loaded with the generated config and rules.
An application in this process uses the client library (cachewatch.tracing) against the primary and serves
its metrics with prometheus_client; the spec lists it under ``applications``, so the generated config
scrapes it (job cachewatch-apps) and the application dashboard has real series, exemplars included.
With the dashboard variables set to "All", every query must run without error, and every panel whose
metrics this fleet produces must return data; the panels that stay empty are named with the reason.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, start_http_server
from redis.backoff import NoBackoff
from redis.retry import Retry

from cachewatch.dashboards.generate import dashboards
from cachewatch.local_redis import free_port, start_redis, start_replica
from cachewatch.pipeline.prometheus_yml import run_flags
from cachewatch.spec import (
    SLO,
    Application,
    Business,
    Cluster,
    Escalation,
    FleetSpec,
    Intervals,
    Links,
    Node,
    Region,
    Team,
    Thresholds,
    WebhookChannel,
)
from cachewatch.spec.model import ExporterDeployment
from cachewatch.tracing import LocalCache, ReadThroughCache, instrument
from tests.support.exporter_process import start_exporter
from tests.support.prometheus_process import running_prometheus
from tests.support.specs import generate

VARIABLES = {"$__rate_interval": "30s", "$region": ".*", "$cluster": ".*", "$instance": ".*", "$cache": ".*",
             "$slo": ".*", "${datasource}": "", "$__range": "1h", "$team": ".*", "$severity": ".*"}
# Panels this test fleet cannot fill, and why. Anything else that stays empty fails the test.
EXPECTED_EMPTY = {
    "cachewatch-fleet/Firing alerts": "no alert fires on the healthy test fleet (the alerting e2e test fires them)",
    "cachewatch-cluster/Cluster state": "the test fleet is a primary + replica, not a Redis Cluster",
    "cachewatch-cluster/Slots": "the test fleet is a primary + replica, not a Redis Cluster",
    "cachewatch-alerts": "no alert lifecycle service runs beside this fleet (tests/e2e/test_lifecycle_stack.py fills "
                         "that board)",
}


APP_NAME, APP_TEAM = "live-app", "oncall"


@dataclass
class App:
    """An application using cachewatch.tracing: what the dashboards' client panels need, every second."""

    port: int
    client: redis.Redis  # instrumented, on a BlockingConnectionPool (pool wait is observed only there)
    users: ReadThroughCache  # L1 (LocalCache) → Redis → loader: l1.get and cache.get hits and misses
    unreachable: redis.Redis  # instrumented, pointed at a closed port: connection errors

    def traffic(self, second: int) -> None:
        """Command hits and misses, read-through hits at each layer and misses, a WRONGTYPE, a refused connect."""
        for i in range(20):
            self.client.set(f"app:session:{i}", "v", ex=3600)
            self.client.get(f"app:session:{i}")
            self.client.get(f"app:missing:{second}:{i}")
        self.client.mget([f"app:session:{i}" for i in range(5)] + [f"app:missing:{second}"])
        for i in range(20):  # twice per key: the second read is an L1 hit; Redis entries outlive the L1's
            self.users.get(f"app:user:{i}")
            self.users.get(f"app:user:{i}")
        self.users.get(f"app:user:new:{second}")  # a miss in every layer: the loader serves it
        with contextlib.suppress(redis.exceptions.ResponseError):
            self.client.get("app:list")  # WRONGTYPE: the key holds a list
        if second % 5 == 0:
            with contextlib.suppress(redis.exceptions.ConnectionError):
                self.unreachable.get("app:session:0")


@contextlib.contextmanager
def running_app(redis_port: int) -> Iterator[App]:
    """The application, its own CollectorRegistry served by prometheus_client on a free port; every span sampled
    (no exporter attached) so the latency histogram carries trace-id exemplars."""
    registry, tracer = CollectorRegistry(), TracerProvider()
    pool = redis.BlockingConnectionPool(host="127.0.0.1", port=redis_port, max_connections=4, timeout=5)
    client = instrument(redis.Redis(connection_pool=pool), registry=registry, tracer_provider=tracer,
                        cache="users").client
    client.delete("app:list")
    client.rpush("app:list", "x")
    users = ReadThroughCache(client, lambda key: {"key": key}, name="users", ttl=3,
                             local=LocalCache(max_items=100, ttl=0.5), registry=registry, tracer_provider=tracer)
    unreachable = instrument(redis.Redis(host="127.0.0.1", port=free_port(), max_connections=2,
                                         socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)),
                             registry=registry, tracer_provider=tracer, cache="fallback").client
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield App(port, client, users, unreachable)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        unreachable.close()
        client.close()
        pool.disconnect()
        tracer.shutdown()


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
    stack = contextlib.ExitStack()
    app = stack.enter_context(running_app(primary.port))
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
        intervals=Intervals(scrape=1, scrape_timeout=0.9, evaluation=1, group_wait=1, group_interval=2, probe=1,
                            probe_timeout=0.9),
        thresholds=Thresholds(replication_delay_warning_seconds=0.3, replication_delay_critical_seconds=0.8),
        exporter=ExporterDeployment(addresses=[f"127.0.0.1:{exporter.port}"]),
        links=Links(alertmanager_urls=["127.0.0.1:9"]),
        applications=[Application(name=APP_NAME, team=APP_TEAM, targets=[f"127.0.0.1:{app.port}"])],
    )
    generate(spec, tmp / "out")
    prom_port = stack.enter_context(running_prometheus(tmp / "out/prometheus/prometheus.yml", tmp, run_flags(spec)))
    client = redis.Redis(port=primary.port)
    try:
        for second in range(25):  # traffic while Prometheus collects ~25 samples
            for i in range(50):
                client.set(f"k:{i}", "v", ex=3600)
                client.get(f"k:{i}")
                client.get(f"missing:{second}:{i}")
            app.traffic(second)
            if second == 5:  # a failed login and a key the app user may not read: both security panels
                with contextlib.suppress(redis.exceptions.AuthenticationError):
                    redis.Redis(port=primary.port, username="mallory", password="x", protocol=2,
                                retry=Retry(NoBackoff(), 0)).ping()
                with contextlib.suppress(redis.exceptions.NoPermissionError):
                    redis.Redis(port=primary.port, username="app", password="app-pw", protocol=2).get("secret")
            time.sleep(1)
        yield prom_port, dashboards(spec)
    finally:
        stack.close()
        exporter.stop()
        replica.stop()
        primary.stop()


def test_every_panel_query_runs_and_panels_with_data_from_this_fleet_are_not_empty(live) -> None:
    port, boards = live
    errors, empty, tally = [], {}, {}
    for uid, board in boards.items():
        for panel in panels(board):
            results = [query(port, substitute(t["expr"])) for t in panel["targets"]]
            errors += [f"{uid}/{panel['title']}: {r.get('error')}" for r in results if r["status"] != "success"]
            if all(not r.get("data", {}).get("result") for r in results):
                empty[f"{uid}/{panel['title']}"] = panel
            filled, total = tally.get(uid, (0, 0))
            tally[uid] = (filled + (f"{uid}/{panel['title']}" not in empty), total + 1)
    assert not errors, "\n".join(errors)
    unexplained = [name for name in empty
                   if name not in EXPECTED_EMPTY and name.split("/")[0] not in EXPECTED_EMPTY]
    report = "\n".join(f"  {name}: {EXPECTED_EMPTY.get(name) or EXPECTED_EMPTY.get(name.split('/')[0], '?')}"
                       for name in sorted(empty))
    per_board = "\n".join(f"  {uid}: {filled}/{total}" for uid, (filled, total) in sorted(tally.items()))
    total = sum(t for _, t in tally.values())
    print(f"\n{total} panels, {total - len(empty)} with data; per dashboard (with data/total):\n{per_board}\n"
          f"empty ({len(empty)}):\n{report}")
    assert not unexplained, f"panels without data and without a reason: {unexplained}"


def test_every_application_query_has_data_with_the_scrape_jobs_application_and_team(live) -> None:
    """Stricter than per panel: each query of the application dashboard (connection errors, pool maximum and
    pool wait included) has series, and they carry the labels the apps job adds, which route client alerts."""
    port, boards = live
    for panel in panels(boards["cachewatch-app"]):
        for target in panel["targets"]:
            series = query(port, substitute(target["expr"]))["data"]["result"]
            assert series, f"{panel['title']}: no data for {target['expr']}"
    labelled = query(port, 'count by (application, team) (cache_requests_total{job="cachewatch-apps"})')
    assert [s["metric"] for s in labelled["data"]["result"]] == [{"application": APP_NAME, "team": APP_TEAM}]


def test_exemplar_queries_return_trace_ids(live) -> None:
    """The latency panels ask Grafana for exemplars: the app's OpenMetrics exposition carries trace ids of sampled
    spans and Prometheus (run with the generated config's flags: exemplar storage) returns them."""
    port, boards = live
    asked = [(panel["title"], t["expr"]) for panel in panels(boards["cachewatch-app"])
             for t in panel["targets"] if t.get("exemplar")]
    assert asked, "the application dashboard asks for no exemplars"
    now = time.time()
    for title, expr in asked:
        url = f"http://127.0.0.1:{port}/api/v1/query_exemplars?" + urllib.parse.urlencode(
            {"query": substitute(expr), "start": now - 120, "end": now})
        with urllib.request.urlopen(url, timeout=10) as resp:
            data = json.load(resp)["data"]
        trace_ids = [e["labels"].get("trace_id", "") for s in data for e in s["exemplars"]]
        assert trace_ids and all(len(t) == 32 for t in trace_ids), f"{title}: exemplars {data}"
