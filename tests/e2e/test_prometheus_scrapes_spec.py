"""A real Prometheus loads the generated prometheus.yml and builds the targets the spec says: one per node through
the exporter's /scrape, every fleet node on exactly one exporter shard, real Redis nodes up, application exemplars."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from prometheus_client import CollectorRegistry, Histogram, start_http_server

from cachewatch.local_redis import free_port
from cachewatch.pipeline.prometheus_yml import run_flags
from cachewatch.promql import APPS_JOB, duration
from cachewatch.spec import Application, ExporterDeployment, FleetSpec, Intervals, load_spec
from tests.support.exporter_process import start_exporter
from tests.support.paths import EXAMPLES
from tests.support.prometheus_process import active_targets, api, query, running_prometheus
from tests.support.specs import expected_labels, generate, hashmod, target_url


def generate_config(spec: FleetSpec, out: Path) -> Path:
    return generate(spec, out) / "prometheus" / "prometheus.yml"


def prometheus(spec: FleetSpec, config: Path, tmp: Path):
    return running_prometheus(config, tmp, run_flags(spec))


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls-auth-module"])
def test_real_prometheus_scrapes_each_node_through_the_exporter(tls: bool, tmp_path: Path) -> None:
    small = load_spec(EXAMPLES["small"])
    exporter = f"127.0.0.1:{free_port()}"  # nothing listens: only the targets Prometheus builds matter
    spec = small.model_copy(update={
        "exporter": ExporterDeployment(addresses=[exporter]),
        "links": small.links.model_copy(update={"alertmanager_urls": [f"127.0.0.1:{free_port()}"]}),
        "regions": [r.model_copy(update={"clusters": [
            c.model_copy(update={"tls": tls, "auth_module": "prod" if tls else None}) for c in r.clusters]})
            for r in small.regions]})
    config = generate_config(spec, tmp_path)
    with prometheus(spec, config, tmp_path) as port:
        # 2 nodes through /scrape, 2 health probes, 1 replication probe (the primary), the exporter itself
        targets = active_targets(port, tmp_path / "prometheus.log", want=6)
    redis = [t for t in targets if t["scrapePool"] == "redis"]
    want = expected_labels(spec)
    assert sorted(t["labels"]["instance"] for t in redis) == sorted(want)
    for target in redis:
        labels, url = target["labels"], urlsplit(target["scrapeUrl"])
        instance = labels["instance"]
        assert labels == {"job": "redis", "instance": instance, **want[instance]}
        assert (url.netloc, url.path) == (exporter, "/scrape")
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert params == {"target": target_url(spec, instance), **({"auth_module": "prod"} if tls else {})}
    [own] = [t for t in targets if t["scrapePool"] == "cachewatch-exporter"]
    assert own["labels"] == {"job": "cachewatch-exporter", "instance": exporter}
    assert own["scrapeUrl"] == f"http://{exporter}/metrics"
    probes = {(t["labels"]["instance"], t["labels"]["module"]): t for t in targets if t["scrapePool"].startswith(
        "redis-probe")}
    primary = next(i for i in want if want[i]["role"] == "primary")
    assert sorted(probes) == sorted([(i, "health") for i in want] + [(primary, "replication")])
    for (instance, module), target in probes.items():
        url = urlsplit(target["scrapeUrl"])
        assert target["labels"] == {"job": "redis-probe", "instance": instance, "module": module, **want[instance]}
        assert (url.netloc, url.path, target["scrapeInterval"], target["scrapeTimeout"]) == (
            exporter, "/probe", duration(spec.intervals.probe), duration(spec.intervals.probe_timeout))
        assert {k: v[0] for k, v in parse_qs(url.query).items()} == {
            "target": target_url(spec, instance), "module": module, "kind": "cache",
            **({"auth_module": "prod"} if tls else {})}


def single_prometheus(spec: FleetSpec) -> FleetSpec:
    """The example fleet without scale mode: one Prometheus for every region (the regional configs have their own
    test, tests/e2e/test_scale_stack.py)."""
    doc = spec.model_dump()
    doc["scale"], doc["heartbeat"]["regions"] = None, {}
    return FleetSpec.model_validate(doc)


def test_real_prometheus_puts_every_fleet_node_on_exactly_one_exporter(tmp_path: Path) -> None:
    spec = single_prometheus(load_spec(EXAMPLES["fleet"]))
    config = generate_config(spec, tmp_path)
    with prometheus(spec, config, tmp_path) as port:
        targets = active_targets(port, tmp_path / "prometheus.log", want=120 + 120 + 60 + 3)  # and the probes
    redis = [t for t in targets if t["labels"]["job"] == "redis"]
    instances = [t["labels"]["instance"] for t in redis]
    assert len(instances) == 120 and set(instances) == set(expected_labels(spec))  # each node exactly once
    pools = {t["scrapePool"] for t in redis}
    assert pools == {"redis-0", "redis-1", "redis-2"}
    want = expected_labels(spec)
    for target in redis:
        labels, url = target["labels"], urlsplit(target["scrapeUrl"])
        shard = int(target["scrapePool"].removeprefix("redis-"))
        assert labels == {"job": "redis", "instance": labels["instance"], **want[labels["instance"]]}
        assert url.netloc == spec.exporter.addresses[shard] and url.path == "/scrape"
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert params == {"target": f"redis://{labels['instance']}", "auth_module": "prod"}
        assert hashmod(params["target"], 3) == shard  # Prometheus agrees with the md5 hashmod we documented


def test_real_prometheus_and_exporter_scrape_real_redis_nodes(tmp_path: Path, redis_primary, redis_replica) -> None:
    """End to end: the generated job's /scrape URLs work against the real exporter and redis-servers."""
    small = load_spec(EXAMPLES["small"])
    exporter = start_exporter("--redis-addr", redis_primary.url, "--allow-target", "127.0.0.1:*")
    try:
        servers = {"primary": redis_primary, "replica": redis_replica}
        spec = small.model_copy(update={
            "exporter": ExporterDeployment(addresses=[f"127.0.0.1:{exporter.port}"]),
            "intervals": Intervals(scrape=1, scrape_timeout=0.9, evaluation=1),
            "regions": [r.model_copy(update={"clusters": [c.model_copy(update={"nodes": [
                n.model_copy(update={"address": servers[n.role].addr}) for n in c.nodes]}) for c in r.clusters]})
                for r in small.regions]})
        config = generate_config(spec, tmp_path)
        with prometheus(spec, config, tmp_path) as port:
            deadline, up = time.monotonic() + 40, []
            while time.monotonic() < deadline and len(up) < 2:
                time.sleep(0.5)
                with contextlib.suppress(OSError):
                    up = query(port, 'redis_up{job="redis"} == 1')
        got = {r["metric"]["instance"]: r["metric"]["role"] for r in up}
        assert got == {redis_primary.addr: "primary", redis_replica.addr: "replica"}, (
            (tmp_path / "prometheus.log").read_text()[-3000:])
    finally:
        exporter.stop()


def test_real_prometheus_scrapes_an_application_and_stores_its_exemplars(tmp_path: Path) -> None:
    """The apps job's labels and metrics path reach a real Prometheus, and prometheus_client's exemplars (served
    only as OpenMetrics) are stored under the header's flags: the trace id a dashboard links to Jaeger with."""
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    registry = CollectorRegistry()
    Histogram("cachewatch_test_op_duration_seconds", "test", registry=registry).observe(0.004, {"trace_id": trace_id})
    app = f"127.0.0.1:{free_port()}"
    server, _ = start_http_server(int(app.rsplit(":", 1)[1]), addr="127.0.0.1", registry=registry)
    try:
        small = load_spec(EXAMPLES["small"])
        spec = small.model_copy(update={
            "exporter": ExporterDeployment(addresses=[f"127.0.0.1:{free_port()}"]),
            "links": small.links.model_copy(update={"alertmanager_urls": [f"127.0.0.1:{free_port()}"]}),
            "intervals": Intervals(scrape=1, scrape_timeout=0.9, evaluation=1),
            "applications": [Application(name="demo-app", team="platform", targets=[app],
                                         metrics_path="/app/metrics")]})
        config = generate_config(spec, tmp_path)
        with prometheus(spec, config, tmp_path) as port:
            targets = active_targets(port, tmp_path / "prometheus.log", want=4)
            exemplars = wait_for_exemplars(port, "cachewatch_test_op_duration_seconds_bucket")
    finally:
        server.shutdown()
        server.server_close()
    [target] = [t for t in targets if t["scrapePool"] == APPS_JOB]
    assert target["labels"] == {"job": "cachewatch-apps", "instance": app, "application": "demo-app",
                                "team": "platform"}
    assert urlsplit(target["scrapeUrl"]).path == "/app/metrics"
    [series] = exemplars
    assert series["seriesLabels"]["application"] == "demo-app" and series["seriesLabels"]["le"] == "0.005"
    assert [e["labels"] for e in series["exemplars"]] == [{"trace_id": trace_id}]


def wait_for_exemplars(port: int, metric: str, timeout: float = 40.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = time.time()
        try:
            found = api(port, "query_exemplars", query=metric, start=now - 3600, end=now + 3600 * 24 * 365)
        except OSError:
            found = []
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"no exemplars of {metric} after {timeout}s")
