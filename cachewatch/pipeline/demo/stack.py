"""The whole local stack, as a user would deploy it, on free ports under one temp directory: a Redis primary and
replica, the cachewatch exporter (with the health probes), Prometheus and Alertmanager on what ``cachewatch
generate`` writes for the demo spec, VictoriaMetrics behind Prometheus' remote write when it is installed, the
alert lifecycle service, a notification receiver and an instrumented application."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cachewatch.local_redis import RedisServer, require_binary, start_redis, start_replica
from cachewatch.pipeline.build import build
from cachewatch.pipeline.demo.app import DemoApp
from cachewatch.pipeline.demo.processes import DemoError, Process, Processes, wait_until
from cachewatch.pipeline.demo.receiver import Receiver
from cachewatch.pipeline.demo.report import fetch, say
from cachewatch.pipeline.demo.spec import INTERVALS, RECEIVER_PATH, USER, Ports, demo_spec, raw_spec
from cachewatch.pipeline.writer import write

# A well-kept cache, so the health checks and alerts are quiet until the fault: a memory limit with an eviction
# policy, the latency monitor on, and a password (a user without one is a critical finding).
REDIS_ARGS = ("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru", "--latency-monitor-threshold", "100")
VICTORIA_METRICS = "victoria-metrics"
REQUIRED = {"redis-server": "redis-server", "redis-cli": "redis-tools", "prometheus": "prometheus",
            "prometheus-alertmanager": "prometheus-alertmanager"}  # binary → its Debian package
START_TIMEOUT = 60.0
# Each service's listener (a Ports field) and the path that answers 200 once it serves.
READY = {"exporter": ("exporter", "/health"), "alertmanager": ("alertmanager", "/-/ready"),
         "victoria-metrics": ("victoria_metrics", "/health"), "lifecycle": ("lifecycle", "/healthz"),
         "prometheus": ("prometheus", "/-/ready")}


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


@dataclass
class Stack:
    """Started by ``start()``, stopped (every process, in reverse order) by ``stop()``."""

    workdir: Path
    processes: Processes = field(init=False)
    ports: Ports | None = None
    primary: RedisServer | None = None
    replica: RedisServer | None = None
    receiver: Receiver | None = None
    app: DemoApp | None = None
    victoria_metrics: bool = False
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)
    services: dict[str, Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.processes = Processes(self.workdir)

    # --- where things are ---------------------------------------------------------------------------------------
    def url(self, name: str) -> str:
        return f"http://{getattr(self.ports, name)}"

    @property
    def token_file(self) -> Path:
        return self.workdir / "demo.token"

    @property
    def generated(self) -> Path:
        return self.workdir / "generated"

    def token(self) -> str:
        return self.token_file.read_text().strip()

    # --- start ------------------------------------------------------------------------------------------------------
    def start(self) -> None:
        began = time.monotonic()
        self._start_redis()
        self.ports = Ports.pick(self.primary.addr, self.replica.addr)
        self._generate()
        self._start_services()
        self._wait_ready()
        self._wait_scraped()
        say(f"the stack is up in {time.monotonic() - began:.0f} s")

    def _start_redis(self) -> None:
        for binary, package in REQUIRED.items():
            if shutil.which(binary) is None:
                raise DemoError(f"{binary} not found; install it with: apt-get install -y {package} "
                                "(scripts/setup.sh does this)")
        self.primary = self.processes.adopt(start_redis(*REDIS_ARGS, password=self.password))
        say(f"starting redis primary on {self.primary.addr} (maxmemory 64mb, allkeys-lru, a password)")
        self.replica = self.processes.adopt(start_replica(self.primary))
        say(f"starting redis replica on {self.replica.addr}: replicating from the primary")

    def _generate(self) -> None:
        spec_file = self.workdir / "spec.yaml"
        spec_file.write_text(yaml.safe_dump(raw_spec(self.ports), sort_keys=False))
        written = write(self.generated, build(demo_spec(self.ports)).texts())
        rules = len(list((self.generated / "prometheus" / "rules").glob("*.yml")))
        intervals = ", ".join(f"{k} {v}s" for k, v in INTERVALS.items())
        say(f"cachewatch generate spec.yaml --out generated: {len(written)} files ({rules} rule files, "
            f"prometheus.yml, alertmanager.yml, dashboards) from the demo spec")
        say(f"the demo spec's short intervals, so a fault pages in seconds: {intervals}", indent=True)
        say("(the product's defaults are 10 s scrapes and evaluations and 15 s probes: a page within a minute)",
            indent=True)
        self.victoria_metrics = shutil.which(VICTORIA_METRICS) is not None
        if self.victoria_metrics:
            remote_write = {"remote_write": [{"url": f"{self.url('victoria_metrics')}/api/v1/write"}]}
            with (self.generated / "prometheus" / "prometheus.yml").open("a") as config:
                config.write(yaml.safe_dump(remote_write))

    def _start_services(self) -> None:
        p, work = self.processes, self.workdir
        passwords = work / "redis-passwords.json"
        passwords.touch(mode=0o600)
        passwords.write_text(json.dumps({f"redis://{addr}": self.password
                                         for addr in (self.primary.addr, self.replica.addr)}))
        say(f"starting the cachewatch exporter on {self.ports.exporter} (/metrics, /scrape, /probe health checks)")
        self.services["exporter"] = p.cachewatch(
            "exporter", "exporter", "--listen", self.ports.exporter, "--allow-target", self.primary.addr,
            "--allow-target", self.replica.addr, "--password-file", str(passwords))
        say(f"starting Alertmanager on {self.ports.alertmanager} (generated/alertmanager/alertmanager.yml)")
        self.services["alertmanager"] = p.spawn("alertmanager", [
            require_binary("prometheus-alertmanager"), f"--config.file={self.generated}/alertmanager/alertmanager.yml",
            f"--storage.path={work}/alertmanager-data", f"--web.listen-address={self.ports.alertmanager}",
            "--cluster.listen-address=", f"--web.external-url={self.url('alertmanager')}"])
        if self.victoria_metrics:
            say(f"starting VictoriaMetrics on {self.ports.victoria_metrics} (Prometheus remote-writes to it)")
            self.services["victoria-metrics"] = p.spawn("victoria-metrics", [
                require_binary(VICTORIA_METRICS), f"-httpListenAddr={self.ports.victoria_metrics}",
                f"-storageDataPath={work}/victoria-metrics-data", "-retentionPeriod=1d",
                # Samples are queryable 2 s after they arrive, not 30 s: the demo asks right away.
                "-search.latencyOffset=2s"])
        else:
            say(f"VictoriaMetrics is not installed ({VICTORIA_METRICS}): skipped "
                "(apt-get install -y victoria-metrics adds it)")
        self._add_user()
        say(f"starting the alert lifecycle service on {self.ports.lifecycle} (cachewatch alerts serve)")
        self.services["lifecycle"] = p.cachewatch(
            "lifecycle", "alerts", "serve", str(work / "spec.yaml"), "--listen", self.ports.lifecycle,
            "--database", f"sqlite:///{work}/alerts.db", "--users", str(work / "users.yml"),
            "--alertmanager", self.url("alertmanager"))
        say(f"starting Prometheus on {self.ports.prometheus} (generated/prometheus/prometheus.yml)")
        self.services["prometheus"] = p.spawn("prometheus", [
            require_binary("prometheus"), f"--config.file={self.generated}/prometheus/prometheus.yml",
            f"--storage.tsdb.path={work}/prometheus-data", f"--web.listen-address={self.ports.prometheus}",
            f"--web.external-url={self.url('prometheus')}", "--enable-feature=exemplar-storage"])
        host, port = host_port(self.ports.receiver)
        self.receiver = Receiver(host, port, RECEIVER_PATH)
        say(f"notification receiver on {self.url('receiver')}{RECEIVER_PATH} (the team's webhook channel)")
        host, port = host_port(self.ports.app)
        self.app = DemoApp(self.primary.port, self.password, host, port)
        say(f"starting demo-app: cachewatch.tracing on redis-py, reading users through the cache, "
            f"/metrics on {self.ports.app}")

    def _add_user(self) -> None:
        """``cachewatch alerts add-user demo``: the token goes to a 0600 file, never to the output."""
        out = subprocess.run([sys.executable, "-m", "cachewatch", "alerts", "add-user", USER, "--users",
                              str(self.workdir / "users.yml")], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise DemoError(f"cachewatch alerts add-user failed: {out.stderr.strip()}")
        self.token_file.touch(mode=0o600)
        self.token_file.write_text(out.stdout.strip() + "\n")
        say(f"cachewatch alerts add-user {USER}: token in {self.token_file}", indent=True)

    def _wait_ready(self) -> None:
        for name, process in self.services.items():
            listener, path = READY[name]
            process.wait_http(self.url(listener) + path, START_TIMEOUT)

    def _wait_scraped(self) -> None:
        """Every target of the generated scrape config up, and every generated rule group loaded."""
        prometheus = self.url("prometheus")

        def all_up() -> int:
            body = json.loads(fetch(f"{prometheus}/api/v1/targets?state=active"))
            targets = body["data"]["activeTargets"]
            return len(targets) if targets and all(t["health"] == "up" for t in targets) else 0

        count = wait_until(all_up, START_TIMEOUT, "every Prometheus target up", self.services["prometheus"].log)
        groups = json.loads(fetch(f"{prometheus}/api/v1/rules"))["data"]["groups"]
        rules = sum(len(g["rules"]) for g in groups)
        say(f"Prometheus scrapes {count} targets (redis, probes, exporter, lifecycle, demo-app), all up; "
            f"{rules} rules in {len(groups)} groups loaded")

    # --- stop -------------------------------------------------------------------------------------------------------
    def stop(self) -> list[str]:
        """Stop everything this stack started; returns the names of the processes that were still running."""
        if self.app is not None:
            self.app.stop()
        if self.receiver is not None:
            self.receiver.close()
        return self.processes.stop_all()

