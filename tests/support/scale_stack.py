"""Scale mode on loopback, run from what ``cachewatch generate`` writes for a two-region spec.

Region ``west`` has a primary + replica, region ``east`` one node; each region has its own cachewatch exporter and a
Prometheus HA pair (Debian's 2.42) running the generated ``regions/<region>/prometheus.yml`` untouched, with the
flags its header prints. Both pairs remote-write to one VictoriaMetrics single-node started with the generated
``global/victoriametrics/flags.yml``; vmalert runs ``global/rules`` with ``global/vmalert/flags.yml``; two
Alertmanagers gossip with the args of ``global/alertmanager/cluster.yml``; the team's webhook is a recording HTTP
endpoint. The spec names the real addresses (node, exporter, store, Alertmanager and gossip ports are picked
before it is written), so the configs need no rewriting; the command lines only get their data directories moved
under the test's directory, their listen addresses pinned to 127.0.0.1, and the web port the generated args leave
to the default (Alertmanager's ``--web.listen-address``, vmalert's ``-httpListenAddr``, Prometheus').

Intervals are short (1 s scrape and evaluation, 1 s ``group_wait``) so that the whole stack pages, fails over and
goes silent within a minute or two.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from cachewatch.local_redis import RedisServer, free_port, start_redis, start_replica
from cachewatch.pipeline import scale_regional
from cachewatch.promql import duration
from cachewatch.spec import load_spec
from tests.support.exporter_process import ExporterProcess, start_exporter
from tests.support.recording_http import RecordingEndpoint, Request

# Every binary the stack runs, and the Debian package that installs it.
BINARIES = {
    "redis-server": "redis-server",
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "victoria-metrics": "victoria-metrics",
    "vmalert": "victoria-metrics",
}
TEAM, HOOK_PATH = "platform", "/hook"
# region → the roles of its nodes (one cluster per region, one shard).
REGIONS = {"west": ("primary", "replica"), "east": ("primary",)}
REPLICAS = 2
SCRAPE = 1.0  # seconds: the spec's scrape and evaluation interval
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def require_binaries() -> None:
    """Fail (not skip) with the command that installs whatever is missing."""
    for binary, package in BINARIES.items():
        if shutil.which(binary) is None:
            pytest.fail(
                f"{binary} not found; install it with: apt-get install -y {package} (scripts/setup.sh does this)"
            )


def wait_until(condition: Callable[[], Any], timeout: float, what: str, log: Callable[[], str] = str) -> Any:
    """Poll ``condition()`` until it returns something truthy (connection errors count as not yet); fail naming
    ``what`` and showing ``log()``."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            if value := condition():
                return value
        except (OSError, ValueError, KeyError) as exc:
            last = exc
        if time.monotonic() > deadline:
            pytest.fail(
                f"not within {timeout:.0f} s: {what}" + (f" (last error: {last!r})" if last else "") + f"\n{log()}"
            )
        time.sleep(0.2)


def get_json(url: str, **params: object) -> Any:
    query = urllib.parse.urlencode(params, doseq=True)
    with urllib.request.urlopen(f"{url}?{query}" if query else url, timeout=10) as response:
        return json.load(response)


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        if (port := free_port()) not in ports:
            ports.append(port)
    return ports


# --- child processes -----------------------------------------------------------------------------------------------
@dataclass
class Child:
    """A server the stack runs, with its output in ``log``; ``kill()`` is the fault (SIGKILL), ``stop()`` the
    orderly end (SIGTERM, SIGKILL if it hangs). Both are safe to call twice."""

    name: str
    argv: list[str]
    log: Path
    url: str  # where it answers HTTP
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    def start(self, ready_path: str) -> None:
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd, env={**os.environ, **self.env}
            )

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            with urllib.request.urlopen(self.url + ready_path, timeout=1) as response:
                return response.status == 200

        try:
            wait_until(ready, START_TIMEOUT, f"{self.name} answers {ready_path}", self.tail)
        except BaseException:
            self.stop()  # not yet in the caller's clean-up
            raise

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)

    def tail(self) -> str:
        return f"{self.name} log:\n{self.log.read_text(errors='replace')[-3000:]}" if self.log.exists() else ""


def moved(args: list[str], values: dict[str, str]) -> list[str]:
    """``args`` with the flags named in ``values`` given those values instead (data paths, listen addresses)."""
    out = []
    for arg in args:
        name = arg.split("=", 1)[0]
        out.append(f"{name}={values[name]}" if name in values else arg)
    return out


# --- the stack ------------------------------------------------------------------------------------------------------
@dataclass
class Region:
    name: str
    nodes: dict[str, RedisServer]  # role → node
    exporter: ExporterProcess
    prometheus: list[Child] = field(default_factory=list)  # index = the replica label's value


class StampedEndpoint(RecordingEndpoint):
    """The team's webhook: a RecordingEndpoint that also keeps each request's arrival time (wall clock)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, Request]] = []

    def _record(self, request: Request) -> None:
        self.arrivals.append((time.time(), request))
        super()._record(request)


@dataclass
class ScaleStack:
    out: Path  # what cachewatch generate wrote
    receiver: StampedEndpoint
    regions: dict[str, Region]
    store: Child  # VictoriaMetrics
    vmalert: Child
    alertmanagers: list[Child]

    def notifications(self, alertname: str, since: float = 0.0) -> list[dict]:
        """Every webhook notification (Alertmanager's payload) carrying ``alertname``, received at or after
        ``since`` (wall clock)."""
        return [
            r.body
            for at, r in list(self.receiver.arrivals)
            if at >= since
            and isinstance(r.body, dict)
            and any(a["labels"].get("alertname") == alertname for a in r.body.get("alerts", []))
        ]

    def store_query(self, promql: str, **params: object) -> list[dict]:
        return get_json(f"{self.store.url}/api/v1/query", query=promql, **params)["data"]["result"]

    def store_samples(self, match: str, start: float, end: float) -> list[float]:
        """The timestamps (s) VictoriaMetrics holds for one series between ``start`` and ``end``: its raw
        samples after deduplication, read with /api/v1/export."""
        query = urllib.parse.urlencode({"match[]": match, "start": f"{start:.3f}", "end": f"{end:.3f}"})
        lines = [
            json.loads(line)
            for line in get_text(f"{self.store.url}/api/v1/export?{query}").splitlines()
            if line.strip()
        ]
        assert len(lines) <= 1, f"{match} is {len(lines)} series in the store: {[s['metric'] for s in lines]}"
        return [ts / 1000 for ts in lines[0]["timestamps"]] if lines else []

    def logs(self) -> str:
        children = [
            self.store,
            self.vmalert,
            *self.alertmanagers,
            *(p for r in self.regions.values() for p in r.prometheus),
        ]
        return "\n".join(child.tail() for child in children)


@dataclass(frozen=True)
class Ports:
    """The ports the spec names, picked just before it is written (the servers bind them seconds later)."""

    store: int
    alertmanager_web: tuple[int, ...]
    alertmanager_gossip: tuple[int, ...]

    @classmethod
    def pick(cls) -> Ports:
        ports = distinct_free_ports(5)
        return cls(ports[0], (ports[1], ports[2]), (ports[3], ports[4]))


def spec_document(regions: dict[str, Region], receiver: RecordingEndpoint, ports: Ports) -> dict:
    """The fleet spec (YAML of the model's schema): two regions, scale mode on VictoriaMetrics, fast intervals."""
    return {
        "name": "scale-e2e",
        "regions": [
            {
                "name": name,
                "clusters": [
                    {
                        "name": f"{name}-cache",
                        "team": TEAM,
                        "nodes": [
                            {"address": node.addr, "role": role, "shard": "s0"} for role, node in region.nodes.items()
                        ],
                    }
                ],
            }
            for name, region in regions.items()
        ],
        "teams": [
            {
                "name": TEAM,
                "channels": {"hook": {"kind": "webhook", "url": receiver.url(HOOK_PATH)}},
                "escalation": {"critical": ["hook"], "warning": ["hook"]},
            }
        ],
        "intervals": {
            "scrape": SCRAPE,
            "scrape_timeout": 0.9 * SCRAPE,
            "evaluation": SCRAPE,
            "group_wait": 1,
            "group_interval": 2,
        },
        "alert_lifecycle": {"enabled": False},
        "links": {"alertmanager_urls": [f"127.0.0.1:{port}" for port in ports.alertmanager_web]},
        "scale": {
            "prometheus": {"replicas": REPLICAS},
            "long_term": {"engine": "victoriametrics", "url": f"http://127.0.0.1:{ports.store}"},
            "alertmanager": {"peers": [f"127.0.0.1:{port}" for port in ports.alertmanager_gossip]},
            "exporters": {name: [f"127.0.0.1:{region.exporter.port}"] for name, region in regions.items()},
        },
    }


def generate(spec: Path, out: Path) -> None:
    """``cachewatch generate SPEC --out DIR``, as a user runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "cachewatch", "generate", str(spec), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        pytest.fail(f"cachewatch generate failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def generated_args(out: Path, path: str, key: str) -> list[str]:
    return yaml.safe_load((out / path).read_text())[key]


def start_store(out: Path, workdir: Path, port: int) -> Child:
    args = generated_args(out, "global/victoriametrics/flags.yml", "victoria-metrics")
    assert f"-httpListenAddr=:{port}" in args, args  # the port of scale.long_term.url
    assert f"-dedup.minScrapeInterval={duration(SCRAPE)}" in args, args  # one sample per scrape for the pair
    argv = [
        "victoria-metrics",
        *moved(args, {"-storageDataPath": str(workdir / "vm-data"), "-httpListenAddr": f"127.0.0.1:{port}"}),
    ]
    store = Child("victoria-metrics", argv, workdir / "victoria-metrics.log", f"http://127.0.0.1:{port}")
    store.start("/health")
    return store


def prometheus_pair(spec_path: Path, out: Path, workdir: Path, region: str) -> list[Child]:
    """The region's pair on the generated file, each with the flags its header prints and its replica value in
    the environment."""
    config = out / scale_regional.path(region)
    flags = scale_regional.run_flags(load_spec(spec_path))
    header = config.read_text().split("\nglobal:", 1)[0]
    assert all(flag in header for flag in flags), header  # what the header tells an operator to run
    pair = []
    for replica, port in enumerate(distinct_free_ports(REPLICAS)):
        data = workdir / f"prometheus-{region}-{replica}"
        argv = [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            *flags,
        ]
        pair.append(
            Child(
                f"prometheus {region}/{replica}",
                argv,
                workdir / f"prometheus-{region}-{replica}.log",
                f"http://127.0.0.1:{port}",
                env={scale_regional.REPLICA_ENV: str(replica)},
            )
        )
    return pair


def alertmanager_peers(out: Path, workdir: Path, ports: Ports) -> list[Child]:
    """One Alertmanager per generated peer, run from global/alertmanager/ (its config path is relative)."""
    peers = yaml.safe_load((out / "global/alertmanager/cluster.yml").read_text())["peers"]
    children = []
    for i, (peer, web) in enumerate(zip(peers, ports.alertmanager_web, strict=True)):
        assert peer["address"] == f"127.0.0.1:{ports.alertmanager_gossip[i]}", peer
        # Loopback instead of 0.0.0.0, on the port the generated flag names (the peers dial the one they advertise).
        (listen,) = [arg.split("=", 1)[1] for arg in peer["args"] if arg.startswith("--cluster.listen-address=")]
        loopback = "127.0.0.1:" + listen.rsplit(":", 1)[1]
        args = moved(peer["args"], {"--storage.path": str(workdir / f"am{i}"), "--cluster.listen-address": loopback})
        argv = ["prometheus-alertmanager", *args, f"--web.listen-address=127.0.0.1:{web}"]
        children.append(
            Child(
                f"alertmanager {i}",
                argv,
                workdir / f"alertmanager-{i}.log",
                f"http://127.0.0.1:{web}",
                cwd=out / "global/alertmanager",
            )
        )
    return children


def cluster_formed(alertmanagers: list[Child]) -> bool:
    """Every member has settled and lists every member."""
    statuses = [get_json(f"{am.url}/api/v2/status")["cluster"] for am in alertmanagers]
    return all(s["status"] == "ready" and len(s.get("peers") or []) == len(alertmanagers) for s in statuses)


def start_vmalert(out: Path, workdir: Path) -> Child:
    args = generated_args(out, "global/vmalert/flags.yml", "vmalert")
    port = free_port()
    argv = ["vmalert", *args, f"-httpListenAddr=127.0.0.1:{port}"]
    vmalert = Child("vmalert", argv, workdir / "vmalert.log", f"http://127.0.0.1:{port}", cwd=out / "global/vmalert")
    vmalert.start("/health")
    return vmalert


def targets_up(prometheus: Child, want: int) -> bool:
    targets = get_json(f"{prometheus.url}/api/v1/targets", state="active")["data"]["activeTargets"]
    return len(targets) == want and all(t["health"] == "up" for t in targets)


def static_targets(config: Path) -> int:
    doc = yaml.safe_load(config.read_text())
    return sum(len(group["targets"]) for job in doc["scrape_configs"] for group in job.get("static_configs", []))


def vmalert_evaluated(vmalert: Child, rounds: int) -> bool:
    """vmalert has evaluated its groups ``rounds`` times (its own counter of iterations)."""
    lines = [
        line for line in get_text(f"{vmalert.url}/metrics").splitlines() if line.startswith("vmalert_iteration_total")
    ]
    return bool(lines) and all(float(line.rsplit(" ", 1)[1]) >= rounds for line in lines)


@contextlib.contextmanager
def running_scale_stack(workdir: Path) -> Iterator[ScaleStack]:
    """Start everything under ``workdir``; yield once every target is up, both regions' samples are visible in
    the store, the Alertmanagers have formed their cluster and vmalert has evaluated its rules; stop every process
    on the way out."""
    require_binaries()
    with contextlib.ExitStack() as stack:
        receiver = stack.enter_context(StampedEndpoint())
        regions: dict[str, Region] = {}
        for name, roles in REGIONS.items():
            primary = start_redis()
            stack.callback(primary.stop)
            nodes = {"primary": primary}
            if "replica" in roles:
                nodes["replica"] = start_replica(primary)
                stack.callback(nodes["replica"].stop)
            exporter = start_exporter("--allow-target", "127.0.0.1:*")
            stack.callback(exporter.stop)
            regions[name] = Region(name, nodes, exporter)

        ports = Ports.pick()
        spec_path, out = workdir / "fleet.yaml", workdir / "out"
        spec_path.write_text(yaml.safe_dump(spec_document(regions, receiver, ports), sort_keys=False))
        generate(spec_path, out)

        store = start_store(out, workdir, ports.store)
        stack.callback(store.stop)
        alertmanagers = alertmanager_peers(out, workdir, ports)
        for am in alertmanagers:  # binding the ports the spec names first
            stack.callback(am.stop)
            am.start("/-/ready")
        for name, region in regions.items():  # early: the store shows a sample 30 s after it is taken
            region.prometheus = prometheus_pair(spec_path, out, workdir, name)
            for prometheus in region.prometheus:
                stack.callback(prometheus.stop)
                prometheus.start("/-/ready")
        wait_until(
            lambda: cluster_formed(alertmanagers),
            START_TIMEOUT,
            "the Alertmanagers form one cluster",
            lambda: "\n".join(am.tail() for am in alertmanagers),
        )
        for name, region in regions.items():
            want = static_targets(out / scale_regional.path(name))
            for prometheus in region.prometheus:
                wait_until(
                    lambda p=prometheus, w=want: targets_up(p, w),
                    START_TIMEOUT,
                    f"{prometheus.name}: all {want} targets up",
                    prometheus.tail,
                )

        def visible() -> bool:
            return {
                r["metric"].get("region")
                for r in get_json(f"{store.url}/api/v1/query", query="count by (region) (up)")["data"]["result"]
            } == set(REGIONS)

        # vmalert starts once the store answers for every region: earlier, every region would look silent.
        wait_until(visible, START_TIMEOUT, "both regions' samples visible in the store", store.tail)
        vmalert = start_vmalert(out, workdir)
        stack.callback(vmalert.stop)
        wait_until(lambda: vmalert_evaluated(vmalert, 2), START_TIMEOUT, "vmalert evaluates its rules", vmalert.tail)
        yield ScaleStack(out, receiver, regions, store, vmalert, alertmanagers)
