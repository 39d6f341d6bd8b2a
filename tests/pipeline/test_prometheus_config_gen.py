"""prometheus.yml from the fleet spec: promtool accepts it, and a real Prometheus builds the right targets."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from prometheus_client import CollectorRegistry, Histogram, start_http_server

from cachewatch.alert_rules import prometheus_config
from cachewatch.local_redis import free_port, require_binary
from cachewatch.rulefmt import Alert, AlertTest, Links, Record, RuleGroup, Series, render_rule_file
from cachewatch.spec import Application, ExporterDeployment, FleetSpec, Intervals, load_spec
from tests.support.exporter_process import start_exporter
from tests.support.paths import (
    GOLDEN,
    ROOT,
)

EXAMPLES = {"small": ROOT / "examples" / "small.py", "fleet": ROOT / "examples" / "fleet.py"}
NODES = {"small": 2, "fleet": 120}


# --- shared with test_mixin_gen ---------------------------------------------------------------------------
def sample_groups() -> list[RuleGroup]:
    """A mixed group (record + alert with a test case) and a records-only group, in two rule files."""
    series = 'redis_up{job="redis",instance="10.0.0.1:6379",cluster="c1"}'
    down = Alert(
        name="RedisSampleDown", expr='redis_up{job="redis"} == 0', for_="1m", severity="critical",
        summary="A Redis node does not answer.",
        description='{{ $labels.instance }} of cluster "{{ $labels.cluster }}" has been down for 1m.',
        runbook="redis-sample-down", panel="cachewatch-node/up", dashboard_vars=("cluster", "instance"),
        test=AlertTest(fire=(Series(series, "0x20"),), quiet=(Series(series, "1x20"),),
                       exp_labels={"job": "redis", "instance": "10.0.0.1:6379", "cluster": "c1"},
                       exp_description='10.0.0.1:6379 of cluster "c1" has been down for 1m.'))
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


def write_rule_files(docs: dict[str, dict], out: Path) -> None:
    rules = out / "prometheus" / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        (rules / name).write_text(yaml.safe_dump(doc, sort_keys=False))


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME; CACHEWATCH_UPDATE_GOLDEN=1 rewrites it."""
    path = GOLDEN / name
    if os.environ.get("CACHEWATCH_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing; create it with CACHEWATCH_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} changed; rerun with CACHEWATCH_UPDATE_GOLDEN=1 if intended"


# --- helpers -------------------------------------------------------------------------------------------
def generate(spec: FleetSpec, out: Path) -> Path:
    docs = sample_rule_docs(spec)
    write_rule_files(docs, out)
    [path] = prometheus_config.write(spec, list(docs), out)
    return path


def hashmod(value: str, modulus: int) -> int:
    """Prometheus' relabel hashmod: the low 8 bytes of md5, big-endian, modulo."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big") % modulus


def expected_labels(spec: FleetSpec) -> dict[str, dict[str, str]]:
    return {node.address: {"region": region.name, "cluster": cluster.name, "shard": node.shard or node.address,
                           "role": node.role, "team": cluster.team}
            for region, cluster in spec.clusters for node in cluster.nodes}


def target_url(spec: FleetSpec, address: str) -> str:
    tls = next(c.tls for _, c in spec.clusters for n in c.nodes if n.address == address)
    return f"{'rediss' if tls else 'redis'}://{address}"


def redis_jobs(config: dict) -> list[dict]:
    others = {prometheus_config.EXPORTER_JOB, prometheus_config.APPS_JOB}
    return [job for job in config["scrape_configs"] if job["job_name"] not in others]


@contextlib.contextmanager
def running_prometheus(spec: FleetSpec, config: Path, tmp: Path) -> Iterator[int]:
    """A real Prometheus with the generated config and the flags its header asks for; yields its port."""
    port = free_port()
    log_path = tmp / "prometheus.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([require_binary("prometheus"), f"--config.file={config}",
                                 f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                                 *prometheus_config.run_flags(spec)], stdout=log, stderr=subprocess.STDOUT)
    try:
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def active_targets(port: int, log: Path, want: int, timeout: float = 40.0) -> list[dict]:
    """Poll /api/v1/targets until ``want`` active targets are listed."""
    deadline, targets = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets?state=active", timeout=5) as r:
                targets = json.load(r)["data"]["activeTargets"]
            if len(targets) >= want:
                return targets
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{len(targets)} of {want} targets after {timeout}s: {log.read_text()[-3000:]}")


# --- tests ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("example", EXAMPLES)
def test_promtool_accepts_the_config(example: str, tmp_path: Path) -> None:
    path = generate(load_spec(EXAMPLES[example]), tmp_path)
    result = subprocess.run([require_binary("promtool"), "check", "config", str(path)],
                            capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SUCCESS: 2 rule files found" in output and "SUCCESS: 2 rules found" in output, output


@pytest.mark.parametrize("example", EXAMPLES)
def test_one_static_target_per_node_with_its_labels(example: str) -> None:
    spec = load_spec(EXAMPLES[example])
    config = prometheus_config.prometheus_config(spec, ["sample.yml"])
    want = expected_labels(spec)
    jobs = redis_jobs(config)
    assert len(jobs) == len(spec.exporter.addresses)
    for job in jobs:
        assert job["metrics_path"] == "/scrape"
        statics = job["static_configs"]
        assert len(statics) == NODES[example] == len(want)
        for static in statics:
            [address] = static["targets"]
            visible = {k: v for k, v in static["labels"].items() if not k.startswith("__")}
            assert visible == want[address]
            assert static["labels"]["__scheme_redis"] == target_url(spec, address).split("://")[0]
    clusters = {c.name: c for _, c in spec.clusters}
    assert all(s["labels"].get("__param_auth_module") == clusters[s["labels"]["cluster"]].auth_module
               for s in jobs[0]["static_configs"])
    assert config["global"] == {"scrape_interval": "15s", "scrape_timeout": "10s", "evaluation_interval": "15s",
                                "external_labels": {"fleet": spec.name}}
    assert config["rule_files"] == ["rules/sample.yml"]
    am_targets = [t for am in config["alerting"]["alertmanagers"] for s in am["static_configs"] for t in s["targets"]]
    assert am_targets == spec.links.alertmanager_urls
    [exporter_job] = [j for j in config["scrape_configs"] if j["job_name"] == "cachewatch-exporter"]
    assert exporter_job["static_configs"] == [{"targets": spec.exporter.addresses}]


def test_three_exporters_shard_the_fleet_by_hashmod() -> None:
    spec = load_spec(EXAMPLES["fleet"])
    jobs = redis_jobs(prometheus_config.prometheus_config(spec, []))
    assert [j["job_name"] for j in jobs] == ["redis-0", "redis-1", "redis-2"]
    kept: dict[str, int] = {}
    for i, (job, exporter) in enumerate(zip(jobs, spec.exporter.addresses, strict=True)):
        rules = job["relabel_configs"]
        [hashing] = [r for r in rules if r.get("action") == "hashmod"]
        [keep] = [r for r in rules if r.get("action") == "keep"]
        assert (hashing["source_labels"], hashing["modulus"], keep["regex"]) == (["__param_target"], 3, str(i))
        assert {"target_label": "__address__", "replacement": exporter} in rules
        assert rules[-1] == {"target_label": "job", "replacement": "redis"}
        for static in job["static_configs"]:
            url = target_url(spec, static["targets"][0])
            if hashmod(url, 3) == int(keep["regex"]):
                assert url not in kept
                kept[url] = i
    assert len(kept) == 120 and set(kept.values()) == {0, 1, 2}


def test_tls_clusters_get_rediss_targets() -> None:
    spec = load_spec(EXAMPLES["small"])
    tls = spec.model_copy(update={"regions": [r.model_copy(update={"clusters": [
        c.model_copy(update={"tls": True, "auth_module": "prod"}) for c in r.clusters]}) for r in spec.regions]})
    [job] = redis_jobs(prometheus_config.prometheus_config(tls, []))
    assert {s["labels"]["__scheme_redis"] for s in job["static_configs"]} == {"rediss"}
    assert {s["labels"]["__param_auth_module"] for s in job["static_configs"]} == {"prod"}


def test_golden_small() -> None:
    check_golden("prometheus-small.yml", prometheus_config.render(load_spec(EXAMPLES["small"]), ["sample.yml"]))


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
    config = generate(spec, tmp_path)
    with running_prometheus(spec, config, tmp_path) as port:
        targets = active_targets(port, tmp_path / "prometheus.log", want=3)
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


def test_real_prometheus_puts_every_fleet_node_on_exactly_one_exporter(tmp_path: Path) -> None:
    spec = load_spec(EXAMPLES["fleet"])
    config = generate(spec, tmp_path)
    with running_prometheus(spec, config, tmp_path) as port:
        targets = active_targets(port, tmp_path / "prometheus.log", want=120 + 3)
    redis = [t for t in targets if t["scrapePool"].startswith("redis-")]
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
        config = generate(spec, tmp_path)
        with running_prometheus(spec, config, tmp_path) as port:
            deadline, up = time.monotonic() + 40, []
            while time.monotonic() < deadline and len(up) < 2:
                time.sleep(0.5)
                with contextlib.suppress(OSError):
                    query = urllib.parse.urlencode({"query": 'redis_up{job="redis"} == 1'})
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?{query}", timeout=5) as r:
                        up = json.load(r)["data"]["result"]
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
        config = generate(spec, tmp_path)
        with running_prometheus(spec, config, tmp_path) as port:
            targets = active_targets(port, tmp_path / "prometheus.log", want=4)
            exemplars = wait_for_exemplars(port, "cachewatch_test_op_duration_seconds_bucket")
    finally:
        server.shutdown()
        server.server_close()
    [target] = [t for t in targets if t["scrapePool"] == prometheus_config.APPS_JOB]
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
        query = urllib.parse.urlencode({"query": metric, "start": now - 3600, "end": now + 3600 * 24 * 365})
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query_exemplars?{query}", timeout=5) as r:
                found = json.load(r)["data"]
        except OSError:
            found = []
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"no exemplars of {metric} after {timeout}s")
