"""The whole alerting stack of a small fleet, run as an SRE would run it, at the spec's default intervals: real
redis-servers (two primary + replica pairs owned by two teams, a 3-shard Redis Cluster with a replica per shard
owned by a third), one cachewatch exporter (``/scrape`` and the ``/probe`` hook), Prometheus as an HA pair and an
Alertmanager cluster of two, both from ``cachewatch generate``, the alert lifecycle service, an application using
``cachewatch.tracing`` (a read-through cache), and fake email (STARTTLS + AUTH), Slack, PagerDuty and webhook
endpoints that timestamp every notification.

``bench/alert_quality.py`` injects faults into it and ``tests/e2e/test_alert_quality.py`` runs a few of them; both
start it with ``running_alert_stack``. Only the spec is written here (YAML, like a user's); every config the tools
run with is what ``cachewatch generate`` wrote: both Prometheus members run the generated prometheus.yml as it is,
each with its own ``CACHEWATCH_REPLICA`` (the replica label their alerts drop).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis
import yaml
from opentelemetry.trace import NoOpTracerProvider
from prometheus_client import CollectorRegistry, start_http_server

from cachewatch.local_redis import RedisServer, TlsFiles, free_port, make_tls_files, require_binary, start_redis
from cachewatch.pipeline import prometheus_yml
from cachewatch.tracing import ReadThroughCache, instrument
from tests.support.alertmanager_process import AlertmanagerCluster, running_alertmanager_cluster
from tests.support.fake_smtp import FakeSmtp, Mail
from tests.support.prometheus_process import running_prometheus
from tests.support.recording_http import PAGERDUTY_REPLY, SLACK_REPLY, WEBHOOK_REPLY, RecordingEndpoint, Request

PASSWORD = "alert-quality-pw-7c2e"  # the default user's (applications, replicas' masterauth)
MONITOR_PASSWORD = "alert-quality-monitor-3b9d"  # the exporter's own least-privilege user
SMTP_USER, SMTP_PASSWORD = "alerts", "alert-quality-smtp-5f1a"
RELAY_NAME = "smtp.cachewatch.test"  # the relay's certificate name (reached as 127.0.0.1)
MEMBER = "bench"
AUTH_MODULE = "bench"
# The exporter's user: scrape commands, the health probe's, and the heartbeat on its own keys (README).
MONITOR_ACL = ("on >" + MONITOR_PASSWORD + " ~cachewatch:heartbeat:* -@all +info +client|setname +config|get "
               "+latency|latest +latency|histogram +slowlog|get +slowlog|len +cluster|info +cluster|nodes +acl|log "
               "+select +ping +acl|list +set +get +del +readonly +cluster|myid +cluster|slots")
# Configured like a cache in production: bounded memory with LRU eviction, the latency monitor on, and maxclients
# sized for the applications' pools (a leak then exhausts it, rather than the file descriptors).
MAXCLIENTS = 200
CACHE_ARGS = ("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru", "--latency-monitor-threshold", "100",
              "--maxclients", str(MAXCLIENTS))
REGION = "lab"
# cluster → (owning team, mode); the application is the shop team's.
CLUSTERS = {"sessions": ("web", "replicated"), "carts": ("shop", "replicated"), "catalog": ("data", "cluster")}
PLANNED_TEAM = "web"  # owns the extra pair a maintenance window names (a run's planned restart)


def clusters_of(maintenance: Sequence[dict]) -> dict[str, tuple[str, str]]:
    """The stack's clusters: the fixed three, plus a primary + replica pair for each cluster a maintenance window
    names that is not one of them (so a planned restart mutes nothing the fault matrix needs)."""
    extra = {name: (PLANNED_TEAM, "replicated") for window in maintenance for name in window.get("clusters", [])}
    return CLUSTERS | {name: owner for name, owner in extra.items() if name not in CLUSTERS}
PLATFORM = "platform"  # owns the fleet-wide alerts (the exporter)
HEARTBEAT = "heartbeat"  # the dead man's switch's webhook path (spec heartbeat.webhook): not a team
TEAMS = ("web", "shop", "data", PLATFORM)
APP, APP_TEAM, APP_CLUSTER = "carts-api", "shop", "carts"
KINDS = ("email", "slack", "pagerduty", "webhook")
CHANNEL_OF = {"email": "mail", "slack": "chat", "pagerduty": "pager", "webhook": "hook"}
ESCALATION = {"critical": ["mail", "chat", "pager", "hook"], "warning": ["mail", "chat", "hook"], "info": ["hook"]}
SHARDS = 3
TRACING_LOGGER = "cachewatch.tracing"
START_TIMEOUT = 90.0


# The brief's SLOs for the cache itself, as examples/fleet.py has them: reads hit > 90%, P95 < 10 ms, errors < 0.1%,
# nodes up 99.9%; the platform team owns them. Their burn-rate alerts are the fleet's, not a row's (the bench
# reports them apart).
BRIEF_SLOS = [
    {"name": "cache-availability", "kind": "availability", "objective": 99.9, "team": PLATFORM},
    {"name": "cache-hit-ratio", "kind": "hit_ratio", "objective": 90.0, "window": "28d", "team": PLATFORM,
     "min_requests_per_second": 50},
    {"name": "cache-latency-p95", "kind": "latency", "objective": 95.0, "latency_threshold_seconds": 0.010,
     "team": PLATFORM},
    {"name": "cache-errors", "kind": "error_rate", "objective": 99.9, "window": "7d", "team": PLATFORM},
]
SLO_ALERTS = ("RedisSLOBurnRateCritical", "RedisSLOBurnRateWarning")


def receivers_for(severity: str) -> tuple[str, ...]:
    """The receiver kinds a team's alert of ``severity`` reaches (the spec's escalation)."""
    kind_of = {channel: kind for kind, channel in CHANNEL_OF.items()}
    return tuple(kind_of[channel] for channel in ESCALATION.get(severity, []))


# --- notifications ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Notification:
    """One notification as a receiver got it: when, whose, which kind, firing or resolved, the alert names (and the
    full alerts where the payload carries them: the webhook's)."""

    at: float  # wall clock (time.time())
    team: str
    kind: str
    status: str  # firing | resolved
    alertnames: tuple[str, ...]
    severity: str = ""
    alerts: tuple[dict, ...] = ()


class _StampedEndpoint(RecordingEndpoint):
    """A RecordingEndpoint that also keeps each request's arrival time."""

    def __init__(self, reply: tuple[int, str, bytes]) -> None:
        super().__init__(reply)
        self.arrivals: list[tuple[float, Request]] = []

    def _record(self, request: Request) -> None:
        self.arrivals.append((time.time(), request))
        super()._record(request)


class _StampedSmtp(FakeSmtp):
    """The fake relay, keeping each mail's arrival time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: list[tuple[float, Mail]] = []

    def record(self, mail: Mail) -> None:
        self.arrivals.append((time.time(), mail))
        super().record(mail)


def _title_parts(title: str) -> tuple[str, str]:
    """``[FIRING:1] RedisDown lab/sessions`` (Slack title, mail subject) → (status, alertname)."""
    words = title.split()
    status = "resolved" if words and words[0].startswith("[RESOLVED") else "firing"
    return status, words[1] if len(words) > 1 else ""


def _team_of_path(path: str) -> str:
    """``/<kind>/<team>/...`` → team."""
    parts = path.strip("/").split("/")
    return parts[1] if len(parts) > 1 else ""


def _webhook(at: float, request: Request) -> Notification:
    body = request.body
    alerts = tuple(body.get("alerts", []))
    names = tuple(sorted({a["labels"].get("alertname", "") for a in alerts}))
    return Notification(at, _team_of_path(request.path), "webhook", body.get("status", ""), names,
                        body.get("commonLabels", {}).get("severity", ""), alerts)


def _slack(at: float, request: Request) -> Notification:
    attachment = request.body["attachments"][0]
    status, name = _title_parts(attachment.get("title", ""))
    severity = next((s for s in ("critical", "warning", "info") if f"({s})" in attachment.get("text", "")), "")
    return Notification(at, _team_of_path(request.path), "slack", status, (name,), severity)


def _pagerduty(at: float, request: Request) -> Notification:
    body = request.body
    payload = body.get("payload") or {}
    name = str(payload.get("summary", "")).split(" ", 1)[0]
    status = "resolved" if body.get("event_action") == "resolve" else "firing"
    return Notification(at, _team_of_path(request.path), "pagerduty", status, (name,), payload.get("severity", ""))


def _mail(at: float, mail: Mail) -> Notification:
    status, name = _title_parts(str(mail.message["Subject"]))
    team = mail.recipients[0].split("@", 1)[0] if mail.recipients else ""
    severity = next((s for s in ("critical", "warning", "info") if f"severity = {s}" in mail.text), "")
    return Notification(at, team, "email", status, (name,), severity)


@dataclass
class Receivers:
    """One fake endpoint per kind, shared by every team (the path, the recipient tells the team apart)."""

    smtp: _StampedSmtp
    slack: _StampedEndpoint
    pagerduty: _StampedEndpoint
    webhook: _StampedEndpoint

    def notifications(self, since: float = 0.0) -> list[Notification]:
        """Every notification that arrived at or after ``since``, oldest first."""
        out = [_mail(at, mail) for at, mail in list(self.smtp.arrivals)]
        out += [_slack(at, r) for at, r in list(self.slack.arrivals)]
        out += [_pagerduty(at, r) for at, r in list(self.pagerduty.arrivals)]
        out += [_webhook(at, r) for at, r in list(self.webhook.arrivals)]
        return sorted((n for n in out if n.at >= since), key=lambda n: n.at)

    def channels(self, team: str, secrets: Path, tls: TlsFiles) -> dict[str, dict]:
        """The team's four channels in spec YAML, secrets in files (the SMTP password without a newline)."""
        slack_url, pd_key = secrets / f"slack-{team}", secrets / f"pagerduty-{team}"
        slack_url.write_text(self.slack.url(f"/slack/{team}/services/T0/B0/x") + "\n")
        pd_key.write_text(f"{team.upper():0<32}"[:32] + "\n")
        return {
            "mail": {"kind": "email", "to": [f"{team}@example.com"], "sender": "alertmanager@example.com",
                     "smarthost": f"127.0.0.1:{self.smtp.port}", "auth_username": SMTP_USER,
                     "auth_password": {"file": str(secrets / "smtp")}, "require_tls": True,
                     "tls": {"ca_file": str(tls.ca_cert), "server_name": RELAY_NAME}},
            "chat": {"kind": "slack", "channel": f"#{team}-alerts", "api_url": {"file": str(slack_url)}},
            "pager": {"kind": "pagerduty", "routing_key": {"file": str(pd_key)},
                      "url": self.pagerduty.url(f"/pagerduty/{team}/v2/enqueue")},
            "hook": {"kind": "webhook", "url": self.webhook.url(f"/webhook/{team}")},
        }


@contextlib.contextmanager
def running_receivers(tls: TlsFiles) -> Iterator[Receivers]:
    with (_StampedSmtp(tls.server_cert, tls.server_key, users={SMTP_USER: SMTP_PASSWORD}) as smtp,
          _StampedEndpoint(SLACK_REPLY) as slack, _StampedEndpoint(PAGERDUTY_REPLY) as pagerduty,
          _StampedEndpoint(WEBHOOK_REPLY) as webhook):
        yield Receivers(smtp, slack, pagerduty, webhook)


# --- Redis -----------------------------------------------------------------------------------------------------
@dataclass
class RedisNode:
    """A redis-server of the fleet that faults can kill, stop and restart in place (same port, directory and
    cluster state)."""

    name: str
    server: RedisServer
    args: tuple[str, ...]
    cluster_bus: int | None = None

    @property
    def addr(self) -> str:
        return self.server.addr

    @property
    def port(self) -> int:
        return self.server.port

    def client(self, **kwargs: Any) -> redis.Redis:
        options = {"socket_timeout": 5, "socket_connect_timeout": 2} | kwargs
        return redis.Redis(host="127.0.0.1", port=self.port, password=PASSWORD, **options)

    def cli(self, *args: str) -> str:
        return self.server.cli(*args)

    def signal(self, sig: signal.Signals) -> None:
        if self.server.proc.poll() is None:
            os.kill(self.server.proc.pid, sig)

    def kill(self) -> None:
        self.server.kill()

    def restart(self, timeout: float = 20.0) -> None:
        """Start redis-server again with the same config file and arguments (cluster nodes keep nodes.conf)."""
        if self.server.proc.poll() is None:
            return
        conf = self.server.workdir / "redis.conf"
        self.server.proc = subprocess.Popen([require_binary("redis-server"), str(conf), *self.args],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            cwd=self.server.workdir)
        wait_until(lambda: self.client(socket_timeout=1).ping(), timeout, f"{self.name} answers after a restart")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.signal(signal.SIGCONT)  # a stopped process cannot act on SIGKILL until continued on some kernels
        self.server.stop()


def _start_node(name: str, *args: str) -> RedisNode:
    all_args = (*CACHE_ARGS, "--masterauth", PASSWORD, *args)
    server = start_redis(*all_args, password=PASSWORD, acl_users={"monitor": MONITOR_ACL})
    return RedisNode(name, server, all_args)


def start_pair(cluster: str) -> list[RedisNode]:
    """A primary and its replica (linked and online)."""
    primary = _start_node(f"{cluster}-primary")
    replica = _start_node(f"{cluster}-replica", "--replicaof", "127.0.0.1", str(primary.port))
    try:
        wait_until(lambda: f"port={replica.port},state=online" in primary.cli("INFO", "replication"), 20,
                   f"{cluster}: the replica online")
    except BaseException:
        replica.stop()
        primary.stop()
        raise
    return [primary, replica]


def start_redis_cluster(cluster: str, shards: int = SHARDS) -> list[RedisNode]:
    """``shards`` primaries joined by ``redis-cli --cluster create``, then one replica per primary (CLUSTER MEET +
    CLUSTER REPLICATE), Redis' default cluster-node-timeout (15 s). Primaries first, then replicas in shard order."""
    nodes: list[RedisNode] = []
    try:
        for i in range(2 * shards):
            bus = free_port()
            role = "primary" if i < shards else "replica"
            node = _start_node(f"{cluster}-{role}-{i % shards + 1}", "--cluster-enabled", "yes",
                               "--cluster-config-file", "nodes.conf", "--cluster-port", str(bus))
            node.cluster_bus = bus
            nodes.append(node)
        primaries, replicas = nodes[:shards], nodes[shards:]
        subprocess.run([require_binary("redis-cli"), "-a", PASSWORD, "--no-auth-warning", "--cluster", "create",
                        *[p.addr for p in primaries], "--cluster-yes"], capture_output=True, text=True, timeout=60,
                       check=True)
        for primary, replica in zip(primaries, replicas, strict=True):
            primary_id = primary.cli("CLUSTER", "MYID").strip()
            replica.cli("CLUSTER", "MEET", "127.0.0.1", str(primary.port), str(primary.cluster_bus))
            wait_until(lambda r=replica, pid=primary_id: pid in r.cli("CLUSTER", "NODES"), 20,
                       f"{replica.name} knows {primary.name}")
            replica.cli("CLUSTER", "REPLICATE", primary_id)
        for node in nodes:
            wait_until(lambda n=node: "cluster_state:ok" in n.cli("CLUSTER", "INFO") and (
                n in primaries or "master_link_status:up" in n.cli("INFO", "replication")), 30,
                f"{node.name} in a healthy cluster")
        return nodes
    except BaseException:
        for node in nodes:
            node.stop()
        raise


# --- processes ---------------------------------------------------------------------------------------------------
def wait_until(condition: Callable[[], Any], timeout: float, what: str, step: float = 0.2) -> Any:
    """Poll ``condition()`` until it returns something truthy (errors count as not yet); TimeoutError naming
    ``what``."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            if value := condition():
                return value
        except (OSError, redis.RedisError, httpx.HTTPError, RuntimeError, KeyError, ValueError) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:.0f} s: {what}" + (f" (last error: {last!r})" if last else ""))
        time.sleep(step)


class ProcessExited(Exception):
    """A child process the stack needs ended while starting (its log's tail is the message)."""


@dataclass
class Service:
    """A long-running child process on a fixed port (the exporter, the lifecycle service): kill, start again."""

    name: str
    argv: list[str]
    port: int
    log: Path
    ready_path: str
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS")}
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         cwd=self.log.parent)

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise ProcessExited(f"{self.name} exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            return httpx.get(self.url + self.ready_path, timeout=1).status_code == 200

        wait_until(ready, 30, f"{self.name} serves {self.ready_path}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class CacheApp:
    """The shop team's application: a read-through cache (``cachewatch.tracing``) over the carts primary, about 50
    reads a second over 500 cart keys (nearly all hits once warm), its metrics served for the ``cachewatch-apps``
    job. ``keys_miss(True)`` models a deploy that put a request id into the key: every read misses."""

    def __init__(self, node: RedisNode, port: int, log: Path, rate: float = 50.0) -> None:
        self.port, self.pause = port, 1.0 / rate
        # The library's slow-operation lines go to the app's own log file, not the bench's output.
        self._log, self._logger = logging.FileHandler(log), logging.getLogger(TRACING_LOGGER)
        self._logger.addHandler(self._log)
        self._propagate, self._logger.propagate = self._logger.propagate, False
        self.registry = CollectorRegistry()
        tracer = NoOpTracerProvider()
        client = node.client(socket_timeout=1, socket_connect_timeout=1)
        self.client = instrument(client, cache=APP_CLUSTER, registry=self.registry, tracer_provider=tracer).client
        self.cache = ReadThroughCache(self.client, lambda key: {"cart": key, "items": []}, name=APP_CLUSTER,
                                      ttl=3600, registry=self.registry, tracer_provider=tracer)
        self._missing, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cache-app", daemon=True)
        self._server: Any = None

    def keys_miss(self, on: bool) -> None:
        (self._missing.set if on else self._missing.clear)()

    def start(self) -> None:
        self._server, _ = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)
        self._thread.start()

    def _loop(self) -> None:
        i = 0
        while not self._stop.is_set():
            key = f"cart:v2:{uuid.uuid4().hex}" if self._missing.is_set() else f"cart:{i % 500}"
            with contextlib.suppress(redis.RedisError, OSError):
                self.cache.get(key)
            i += 1
            self._stop.wait(self.pause)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.client.close()
        self._logger.removeHandler(self._log)
        self._logger.propagate = self._propagate
        self._log.close()


# --- the spec and the generated configs -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ports:
    exporter: int
    app: int
    service: int


def spec_document(nodes: dict[str, list[RedisNode]], receivers: Receivers, ports: Ports, alertmanagers: list[str],
                  secrets: Path, tls: TlsFiles, maintenance: Sequence[dict] = ()) -> dict:
    """The fleet spec (YAML of the model's schema) of this stack, at the default intervals and thresholds, with
    ``maintenance`` windows (the spec's entries) when a run plans a restart."""
    clusters = []
    for name, members in nodes.items():
        team, mode = clusters_of(maintenance)[name]
        if mode == "cluster":
            shards = len(members) // 2
            spec_nodes = [{"address": n.addr, "role": "primary" if i < shards else "replica",
                           "shard": f"s{i % shards + 1}"} for i, n in enumerate(members)]
        else:
            spec_nodes = [{"address": n.addr, "role": role, "shard": "s0"}
                          for n, role in zip(members, ("primary", "replica"), strict=True)]
        clusters.append({"name": name, "team": team, "mode": mode, "nodes": spec_nodes, "auth_module": AUTH_MODULE})
    return {
        "name": "alert-quality",
        "platform_team": PLATFORM,
        "regions": [{"name": REGION, "clusters": clusters}],
        "teams": [{"name": team, "members": [MEMBER], "channels": receivers.channels(team, secrets, tls),
                   "escalation": ESCALATION} for team in TEAMS],
        "heartbeat": {"webhook": {"kind": "webhook", "url": receivers.webhook.url(f"/webhook/{HEARTBEAT}")}},
        "exporter": {"addresses": [f"127.0.0.1:{ports.exporter}"]},
        "links": {"alertmanager_urls": alertmanagers},
        "alert_lifecycle": {"listen": f"127.0.0.1:{ports.service}", "admins": [MEMBER]},
        "applications": [{"name": APP, "team": APP_TEAM, "targets": [f"127.0.0.1:{ports.app}"]}],
        "maintenance": list(maintenance),
        # The fleet's own clusters: not the pair a run restarts on plan (its SLOs would count the planned downtime;
        # in a stack minutes old the 1h burn window holds only those minutes, and 25 s of one node pages).
        "slos": [{**slo, "clusters": [name for name in nodes if name in CLUSTERS]} for slo in BRIEF_SLOS],
    }


def generate(spec: Path, out: Path) -> None:
    """``cachewatch generate SPEC --out DIR``, as a user runs it."""
    done = subprocess.run([sys.executable, "-m", "cachewatch", "generate", str(spec), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"cachewatch generate failed ({done.returncode}):\n{done.stdout}{done.stderr}")


REPLICA_LABEL = prometheus_yml.REPLICA_LABEL
HA_FLAGS = ["--enable-feature=expand-external-labels", "--web.enable-lifecycle"]  # as the generated header says


def rule_metadata(out: Path) -> dict[str, dict[str, str]]:
    """alertname → {severity, for, file, expr} of every generated alerting rule (the first one of that name)."""
    meta: dict[str, dict[str, str]] = {}
    for path in sorted((out / "prometheus" / "rules").glob("*.yml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            for rule in group.get("rules", []):
                if "alert" in rule:
                    meta.setdefault(rule["alert"], {"severity": rule.get("labels", {}).get("severity", ""),
                                                    "for": rule.get("for", "0s"), "file": path.name,
                                                    "expr": rule.get("expr", "")})
    return meta


# --- the stack ----------------------------------------------------------------------------------------------------
@dataclass
class AlertStack:
    workdir: Path
    spec_path: Path
    out: Path
    nodes: dict[str, RedisNode]
    receivers: Receivers
    exporter: Service
    service: Service
    app: CacheApp
    alertmanagers: AlertmanagerCluster
    prometheus: list[int]  # ports of the HA pair
    rules: dict[str, dict[str, str]]

    def prometheus_alerts(self) -> list[dict]:
        """Pending and firing alerts of both Prometheus members (labels and state), the replica label dropped."""
        out = []
        for port in self.prometheus:
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                alerts = httpx.get(f"http://127.0.0.1:{port}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
                out += [{"labels": {k: v for k, v in a["labels"].items() if k != REPLICA_LABEL},
                         "state": a["state"]} for a in alerts]
        return out

    def query(self, promql: str) -> list[dict]:
        response = httpx.get(f"http://127.0.0.1:{self.prometheus[0]}/api/v1/query", params={"query": promql},
                             timeout=10)
        return response.json()["data"]["result"]

    def episodes(self, alertname: str, since: float) -> list[dict]:
        response = httpx.get(f"{self.service.url}/api/v1/episodes", params={
            "alertname": alertname, "since": str(int(since) - 120), "limit": 100}, timeout=5)
        response.raise_for_status()
        return response.json()

    def node(self, name: str) -> RedisNode:
        return self.nodes[name]


def _wait_targets(port: int, want: int) -> None:
    """Every scrape target of the generated config up once (Redis through the exporter, probes, the exporter, the
    service, the application)."""
    def all_up() -> bool:
        targets = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets", params={"state": "active"},
                            timeout=5).json()["data"]["activeTargets"]
        return len(targets) >= want and all(t["health"] == "up" for t in targets)

    wait_until(all_up, START_TIMEOUT, f"all {want} targets of Prometheus :{port} up", step=1.0)


@contextlib.contextmanager
def running_alert_stack(workdir: Path, *, redis_cluster: bool = True, maintenance: Sequence[dict] = (),
                        log: Callable[[str], None] = lambda line: None) -> Iterator[AlertStack]:
    """Start everything under ``workdir``; yield once every target is up; stop every process on the way out."""
    with contextlib.ExitStack() as stop:
        secrets = workdir / "secrets"
        secrets.mkdir(parents=True, exist_ok=True)
        (secrets / "smtp").write_text(SMTP_PASSWORD)  # printf %s: Alertmanager 0.25 sends the file as it is
        (secrets / "redis").write_text(PASSWORD)
        (secrets / "monitor").write_text(MONITOR_PASSWORD)
        tls = make_tls_files(workdir / "tls", server_name=RELAY_NAME)
        receivers = stop.enter_context(running_receivers(tls))
        log("redis-servers")
        groups: dict[str, list[RedisNode]] = {}
        for cluster, (_, mode) in clusters_of(maintenance).items():
            if mode == "cluster" and not redis_cluster:
                continue
            members = start_redis_cluster(cluster) if mode == "cluster" else start_pair(cluster)
            for member in members:
                stop.callback(member.stop)
            groups[cluster] = members
        nodes = {n.name: n for members in groups.values() for n in members}
        ports = Ports(free_port(), free_port(), free_port())
        spec_path, out = workdir / "fleet.yaml", workdir / "out"

        def write_spec(alertmanagers: list[str]) -> None:
            spec_path.write_text(yaml.safe_dump(spec_document(groups, receivers, ports, alertmanagers, secrets, tls,
                                                              maintenance),
                                                sort_keys=False))
            generate(spec_path, out)

        log("alertmanager cluster")
        write_spec(["127.0.0.1:9093"])  # alertmanager.yml does not depend on where the members listen
        am_config = workdir / "alertmanager.yml"
        am_config.write_text((out / "alertmanager" / "alertmanager.yml").read_text())
        cluster = stop.enter_context(running_alertmanager_cluster(am_config, workdir, size=2))
        write_spec([url.removeprefix("http://") for url in cluster.urls])
        if (out / "alertmanager" / "alertmanager.yml").read_text() != am_config.read_text():
            raise RuntimeError("alertmanager.yml changed with the Alertmanager addresses; the bench assumed not")

        log("exporter, application, lifecycle service")
        (workdir / "exporter.yml").write_text(yaml.safe_dump({
            "allow_targets": ["127.0.0.1:*"],
            "auth_modules": {AUTH_MODULE: {"user": "monitor", "password_file": str(secrets / "monitor")}}}))
        exporter = Service("exporter", [sys.executable, "-m", "cachewatch", "exporter", "--listen",
                                        f"127.0.0.1:{ports.exporter}", "--config", str(workdir / "exporter.yml")],
                           ports.exporter, workdir / "exporter.log", "/health")
        stop.callback(exporter.stop)
        exporter.start()
        app = CacheApp(nodes[f"{APP_CLUSTER}-primary"], ports.app, workdir / "app.log")
        stop.callback(app.stop)
        app.start()
        argv = [sys.executable, "-m", "cachewatch", "alerts", "serve", str(spec_path), "--database",
                f"sqlite:///{workdir / 'history.db'}"]
        for url in cluster.urls:
            argv += ["--alertmanager", url]
        service = Service("alert lifecycle service", argv, ports.service, workdir / "service.log", "/healthz")
        stop.callback(service.stop)
        service.start()

        log("prometheus HA pair")
        # The generated file as it is, run twice: each member's replica label comes from its environment.
        path = out / "prometheus" / "prometheus.yml"
        generated = yaml.safe_load(path.read_text())
        prometheus = []
        for replica in ("a", "b"):
            (workdir / f"prometheus-{replica}").mkdir(exist_ok=True)
            prometheus.append(stop.enter_context(running_prometheus(
                path, workdir / f"prometheus-{replica}", HA_FLAGS, env={prometheus_yml.REPLICA_ENV: replica})))
        want = sum(len(group["targets"]) for job in generated["scrape_configs"]
                   for group in job.get("static_configs", []))
        for port in prometheus:
            _wait_targets(port, want)
        yield AlertStack(workdir, spec_path, out, nodes, receivers, exporter, service, app, cluster, prometheus,
                         rule_metadata(out))
