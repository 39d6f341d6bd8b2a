"""Benchmark: alert quality, measured on the real stack at the spec's default intervals — each fault an SRE meets,
injected into a small fleet, must reach the owning team's receivers (email, Slack, PagerDuty, webhook) at the right
severity, critical ones within 60 s, and no other team's.

    .venv/bin/python bench/alert_quality.py [--faults node-killed,exporter-killed] [--json out.json] [--strict]

The stack (tests/support/alert_stack.py): two primary + replica pairs (``sessions`` → team web, ``carts`` → shop),
a 3-shard Redis Cluster with a replica per shard (``catalog`` → data), the shop team's application using
cachewatch.tracing, one exporter (team platform owns fleet-wide alerts), Prometheus as an HA pair and an
Alertmanager cluster of two, both configured by ``cachewatch generate`` from a YAML spec with default intervals,
the alert lifecycle service, and fake receivers that timestamp every notification.

Per fault (one at a time): note the alerts already active, inject, and poll until every receiver of the team's
escalation for the expected severity got a firing notification naming an expected alert and the lifecycle service
lists its episode (``GET /api/v1/episodes?alertname=``), or ``--timeout`` (150 s), holding the fault at least
``--hold`` (150 s: what a lasting outage sends other teams shows only if it lasts); heal; wait for the resolved
notification (``--resolve-timeout``) and for Prometheus to be quiet again (``--settle``). A row passes when every
receiver of the team got the alert (within 60 s for a critical one), at the expected severity, and no other team
got a notification of an alert that was not already active. It prints a Markdown table and exits 0 unless
``--strict`` and a row failed. Everything runs in a temporary directory; every process started is stopped, also on
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.quiet_fleet import maintenance_window, quiet_run  # noqa: E402
from cachewatch.pipeline.alert_latency import seconds  # noqa: E402
from tests.support.alert_stack import (  # noqa: E402
    HEARTBEAT,
    MAXCLIENTS,
    PASSWORD,
    SLO_ALERTS,
    TEAMS,
    AlertStack,
    Notification,
    RedisNode,
    receivers_for,
    running_alert_stack,
    wait_until,
)

CRITICAL_BUDGET = 60.0  # seconds from the fault to every receiver, for a critical alert
DELIVERY_SLACK = 90.0  # scrape, evaluation, a warning's group_wait and delivery, on top of a rule's own waits
TIMEOUT, RESOLVE_TIMEOUT, SETTLE = 150.0, 120.0, 180.0
STACK_START = 120.0  # seconds the stack may take to come up (it takes 30-60 s)
HOLD = TIMEOUT  # seconds a fault lasts at least
POLL = 0.5
DEFAULT_MAXMEMORY = "64mb"


# --- injecting faults -------------------------------------------------------------------------------------------
@dataclass
class Injection:
    """A fault in place: ``heal()`` undoes it; ``notes`` collects what the fault saw (a failover's duration)."""

    heal: Callable[[], None]
    notes: list[str] = field(default_factory=list)


class Loop:
    """A background thread calling ``step()`` until stopped (load that makes a fault: writes, logins, sleeps)."""

    def __init__(self, step: Callable[[], None], name: str) -> None:
        self._stop = threading.Event()

        def run() -> None:
            while not self._stop.is_set():
                with contextlib.suppress(redis.RedisError, OSError):
                    step()

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _role(node: RedisNode) -> str:
    return node.client(socket_timeout=1).info("replication")["role"]


def _delete(client: redis.Redis, pattern: str) -> None:
    for batch in _batched(client.scan_iter(match=pattern, count=1000), 500):
        client.unlink(*batch)


def _batched(items: Iterator[bytes], size: int) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def node_killed(stack: AlertStack) -> Injection:
    """SIGKILL the sessions primary; heal: start it again (empty: no persistence on a cache)."""
    node = stack.node("sessions-primary")
    node.kill()
    return Injection(node.restart)


def node_hung(stack: AlertStack) -> Injection:
    """SIGSTOP the carts primary: the port accepts connections, nothing answers; heal: SIGCONT."""
    node = stack.node("carts-primary")
    node.signal(signal.SIGSTOP)
    return Injection(lambda: node.signal(signal.SIGCONT))


def cluster_primary_killed(stack: AlertStack) -> Injection:
    """SIGKILL shard s1's primary of the Redis Cluster; its replica is promoted after cluster-node-timeout (15 s).
    Heal: restart the old primary (it rejoins as a replica) and CLUSTER FAILOVER back to the spec's roles."""
    primary, replica = stack.node("catalog-primary-1"), stack.node("catalog-replica-1")
    killed = time.time()
    primary.kill()
    injection = Injection(lambda: None)
    promoted = threading.Event()

    def watch() -> None:
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: _role(replica) == "master", 120, "the replica promoted", step=0.5)
            injection.notes.append(f"replica promoted {time.time() - killed:.0f} s after the kill")
        promoted.set()

    threading.Thread(target=watch, daemon=True).start()

    def heal() -> None:
        promoted.wait(130)
        primary.restart()
        wait_until(lambda: "master_link_status:up" in primary.cli("INFO", "replication"), 60,
                   "the old primary in sync as a replica")
        # The primaries that voted for the promotion refuse another vote for this shard for 2 × node-timeout, and a
        # manual failover gives up after 5 s: ask again until it goes through.
        wait_until(lambda: _failover_back(primary), 120, "the old primary promoted back", step=0.1)

    injection.heal = heal
    return injection


def _failover_back(node: RedisNode) -> bool:
    node.cli("CLUSTER", "FAILOVER")
    with contextlib.suppress(TimeoutError):
        return wait_until(lambda: _role(node) == "master", 7, "the manual failover", step=0.5)
    return False


ROTATED = "rotated-pw-not-on-the-replica"


def replication_broken(stack: AlertStack) -> Injection:
    """A password rotation that missed the replica: the sessions primary's default password changes and the
    replica's link is cut; it reconnects, fails AUTH, and stays down. Heal: the old password back."""
    primary = stack.node("sessions-primary")
    admin = primary.client()
    admin.config_set("requirepass", ROTATED)  # this connection stays logged in
    admin.client_kill_filter(_type="replica")

    def heal() -> None:
        admin.config_set("requirepass", PASSWORD)
        admin.close()

    return Injection(heal)


def replica_lagging(stack: AlertStack) -> Injection:
    """The carts replica stops applying the replication stream while it keeps answering reads (``CLIENT PAUSE
    WRITE`` on the replica postpones the primary's writes, not GET or INFO): INFO's lag (seconds since the last
    ACK) stays small, the heartbeat probe's token never arrives, and its delay series holds the time it waited (the
    probe timeout, above the critical 10 s). Heal: CLIENT UNPAUSE, the backlog applies at once."""
    client = stack.node("carts-replica").client()
    client.execute_command("CLIENT", "PAUSE", "600000", "WRITE")

    def heal() -> None:
        client.execute_command("CLIENT", "UNPAUSE")
        client.close()

    return Injection(heal)


def memory_full(stack: AlertStack) -> Injection:
    """The sessions primary under ``noeviction`` with maxmemory 8 MB above what it uses, and 10 KB writes until
    every write fails with OOM. Heal: stop, delete the keys, the cache's settings back."""
    client = stack.node("sessions-primary").client()
    used = client.info("memory")["used_memory"]
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", used + (8 << 20))
    value, counter = b"x" * 10_000, iter(range(10**9))

    def write() -> None:
        pipe = client.pipeline(transaction=False)
        for _ in range(20):
            pipe.set(f"fault:memory:{next(counter)}", value)
        try:
            pipe.execute()
        except redis.ResponseError:
            time.sleep(0.05)  # full: keep trying, as an application does

    loop = Loop(write, "memory-full")

    def heal() -> None:
        loop.stop()
        _delete(client, "fault:memory:*")
        client.config_set("maxmemory", DEFAULT_MAXMEMORY)
        client.config_set("maxmemory-policy", "allkeys-lru")
        client.close()

    return Injection(heal)


def eviction_storm(stack: AlertStack) -> Injection:
    """The carts primary (allkeys-lru) squeezed to 4 MB above its use while writes of 1 KB values pour in: keys
    are evicted by the thousand each second, the application's carts among them. Heal: stop, maxmemory back."""
    client = stack.node("carts-primary").client()
    used = client.info("memory")["used_memory"]
    client.config_set("maxmemory", used + (4 << 20))
    value, counter = b"y" * 1_000, iter(range(10**9))

    def write() -> None:
        pipe = client.pipeline(transaction=False)
        for _ in range(100):
            pipe.set(f"fault:evict:{next(counter)}", value)
        pipe.execute()

    loop = Loop(write, "eviction-storm")

    def heal() -> None:
        loop.stop()
        client.config_set("maxmemory", DEFAULT_MAXMEMORY)
        _delete(client, "fault:evict:*")
        client.close()

    return Injection(heal)


def slow_commands(stack: AlertStack) -> Injection:
    """A 200 ms command (``DEBUG SLEEP 0.2``, as a slow Lua script or a KEYS) on shard s2's primary twice a
    second: every client waits behind it, the slow log and the latency monitor (threshold 100 ms) record it."""
    client = stack.node("catalog-primary-2").client()
    loop = Loop(lambda: (client.execute_command("DEBUG", "SLEEP", "0.2"), time.sleep(0.3)), "slow-commands")

    def heal() -> None:
        loop.stop()
        client.close()

    return Injection(heal)


def auth_failures(stack: AlertStack) -> Injection:
    """Twenty wrong passwords a second against the sessions primary: a guessing client on one raw connection
    sending ``AUTH mallory <guess>`` (a client library would give up at its first NOAUTH reply on connect)."""
    port = stack.node("sessions-primary").port
    holder: dict[str, socket.socket] = {}

    def guess() -> None:
        if "sock" not in holder:
            holder["sock"] = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock = holder["sock"]
        try:
            sock.sendall(b"AUTH mallory guess\r\n")
            if not sock.recv(256):  # the server closed it
                raise ConnectionError("closed")
        except OSError:
            holder.pop("sock").close()
            raise
        time.sleep(0.05)

    loop = Loop(guess, "auth-failures")

    def heal() -> None:
        loop.stop()
        if "sock" in holder:
            holder.pop("sock").close()

    return Injection(heal)


def maxclients_exhausted(stack: AlertStack) -> Injection:
    """A connection leak on shard s3's primary: connections opened (each answering PING) until the node refuses
    the next one at its maxclients (200), and held. Heal: close them."""
    node = stack.node("catalog-primary-3")
    held: list[socket.socket] = []
    refused = 0
    while len(held) < 2 * MAXCLIENTS and not refused:
        sock = socket.create_connection(("127.0.0.1", node.port), timeout=2)
        sock.sendall(b"PING\r\n")
        try:
            reply = sock.recv(128)
        except OSError:
            reply = b""
        if reply.startswith(b"-NOAUTH") or reply.startswith(b"+PONG"):
            held.append(sock)
        else:  # "-ERR max number of clients reached", then the node closes it
            refused += 1
            sock.close()

    def heal() -> None:
        for sock in held:
            sock.close()

    return Injection(heal, [f"{len(held)} connections held, the next refused"])


def exporter_killed(stack: AlertStack) -> Injection:
    """SIGKILL the exporter (every node's scrapes and probes go through it); heal: start it again."""
    stack.exporter.kill()
    return Injection(stack.exporter.start)


def hit_ratio_collapse(stack: AlertStack) -> Injection:
    """The shop team's application starts reading keys it never wrote (a deploy put a request id in the key):
    every read misses. Heal: the old keys."""
    stack.app.keys_miss(True)
    return Injection(lambda: stack.app.keys_miss(False))


# --- the matrix ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    """One row: the fault, the alerts that page for it (any of them counts; the first is the one named), the
    severity an SRE expects, the team whose receivers must get it."""

    name: str
    title: str
    alerts: tuple[str, ...]
    severity: str
    team: str
    inject: Callable[[AlertStack], Injection]
    needs_cluster: bool = False
    doc: str = ""  # its row in cachewatch/pipeline/alert_latency.py's FAULTS (docs/alert-latency.md); a test ties them


FAULTS: tuple[Fault, ...] = (
    Fault("node-killed", "node killed (SIGKILL, sessions primary)", ("RedisDown",), "critical", "web", node_killed,
          doc="node killed"),
    Fault("node-hung", "node hung (SIGSTOP, carts primary)", ("RedisDown",), "critical", "shop", node_hung,
          doc="node hung (SIGSTOP)"),
    Fault("cluster-failover", "primary killed in the Redis Cluster (failover)",
          ("RedisDown", "RedisClusterStateNotOk", "RedisClusterSlotsFail"), "critical", "data",
          cluster_primary_killed, needs_cluster=True, doc="primary killed in a Redis Cluster"),
    Fault("replication-broken", "replication broken (password rotated, replica not)",
          ("RedisReplicationLinkDown",), "critical", "web", replication_broken, doc="replication broken"),
    Fault("replica-lagging", "replica lagging (stream paused on the replica)", ("RedisReplicationDelayHighCritical",),
          "critical", "shop", replica_lagging, doc="replica lagging (heartbeat delay)"),
    Fault("memory-full", "memory full under noeviction", ("RedisOomRejects", "RedisMemoryHighCritical"),
          "critical", "web", memory_full, doc="memory full under noeviction"),
    Fault("eviction-storm", "eviction storm (allkeys-lru)", ("RedisEvictionsHigh", "RedisEvictionRatioHigh"),
          "warning", "shop", eviction_storm, doc="eviction storm"),
    Fault("slow-commands", "slow commands (200 ms, 2/s)",
          ("RedisLatencySpikes", "RedisSlowlogGrowing", "RedisLatencyP99High", "RedisEventloopBusy"), "warning",
          "data", slow_commands, needs_cluster=True, doc="slow commands"),
    Fault("auth-failures", "auth failures flood (20/s)", ("RedisAuthFailuresSpike",), "warning", "web",
          auth_failures, doc="auth failures flood"),
    Fault("maxclients", "maxclients exhausted", ("RedisConnectionsHighCritical",),
          "critical", "data", maxclients_exhausted, needs_cluster=True, doc="maxclients exhausted"),
    Fault("exporter-killed", "exporter killed (SIGKILL)", ("RedisExporterDown",), "critical", "platform",
          exporter_killed, doc="exporter killed"),
    Fault("hit-ratio", "hit ratio collapsing in the application", ("RedisClientHitRatioLow",), "warning", "shop",
          hit_ratio_collapse, doc="hit ratio collapsing (instrumented application)"),
)
BY_NAME = {fault.name: fault for fault in FAULTS}


# --- measuring --------------------------------------------------------------------------------------------------------
@dataclass
class Row:
    fault: str
    title: str
    alert: str
    severity: str
    team: str
    receivers: dict[str, float | None]  # kind → seconds from the fault to its first notification (None: never)
    episode: float | None  # seconds from the fault until the lifecycle service listed the episode
    resolved: float | None  # seconds from the heal to the resolved notification at the team's webhook
    severities: list[str]  # severity labels of the team's notifications of the expected alerts
    also: list[str]  # other alerts the team got
    others: list[str]  # "team/kind: alertname" of notifications other teams got
    passed: bool
    reasons: list[str]
    notes: list[str]

    @property
    def reached(self) -> list[float]:
        return [t for t in self.receivers.values() if t is not None]


def _names(notifications: Sequence[Notification]) -> set[str]:
    return {name for n in notifications for name in n.alertnames}


def _active(stack: AlertStack) -> set[str]:
    return {a["labels"].get("alertname", "") for a in stack.prometheus_alerts()}


def _episode_seen(stack: AlertStack, fault: Fault, since: float) -> bool:
    for name in fault.alerts:
        for episode in stack.episodes(name, since):
            started = datetime.fromisoformat(episode["starts_at"].replace("Z", "+00:00")).timestamp()
            if episode["team"] == fault.team and started >= since - 60:
                return True
    return False


def patience(fault: Fault, rules: dict[str, dict[str, str]], floor: float) -> float:
    """How long a row waits for its alert at most: a critical one ``floor`` (it must come within the minute; the
    rest says how late), a warning the soonest any of its rules can fire (its ``for`` plus its longest range: a rate
    over [10m] may need most of it to cross) plus delivery."""
    if fault.severity == "critical":
        return floor
    waits = [seconds(rule["for"]) + max((seconds(r) for r in re.findall(r"\[([^\]:]+)\]", rule["expr"])),
                                           default=0.0)
             for name in fault.alerts if (rule := rules.get(name))]
    return max(floor, min(waits, default=0.0) + DELIVERY_SLACK)


def judge(fault: Fault, row: Row, rules: dict[str, dict[str, str]]) -> None:
    """Fill ``passed`` and ``reasons`` from the measured row."""
    expected = receivers_for(fault.severity)
    missing = [kind for kind in expected if row.receivers.get(kind) is None]
    if missing:
        fors = ", ".join(f"{a} for: {rules[a]['for']}" for a in fault.alerts if a in rules)
        row.reasons.append(f"not at {', '.join(missing)} within the timeout" + (f" ({fors})" if fors else ""))
    if fault.severity == "critical" and row.reached and max(row.reached) > CRITICAL_BUDGET:
        row.reasons.append(f"critical after {max(row.reached):.0f} s (> {CRITICAL_BUDGET:.0f} s)")
    wrong = sorted({s for s in row.severities if s and s != fault.severity})
    if wrong:
        row.reasons.append(f"severity {', '.join(wrong)}, expected {fault.severity}")
    if row.others:
        row.reasons.append("other teams notified")
    unknown = [a for a in fault.alerts if a not in rules]
    if len(unknown) == len(fault.alerts):
        row.reasons.append(f"no generated rule named {', '.join(unknown)}")
    row.passed = not row.reasons


def run_fault(stack: AlertStack, fault: Fault, *, timeout: float = TIMEOUT, hold: float = HOLD,
              resolve_timeout: float = RESOLVE_TIMEOUT, log: Callable[[str], None] = print) -> Row:
    """Inject one fault, measure, heal after ``hold`` seconds at least (a real outage lasts until someone acts:
    what it does to other teams' receivers shows only if it lasts), wait for the resolve; the row is judged, never
    raised on."""
    background = _active(stack)
    timeout = patience(fault, stack.rules, timeout)
    expected, wanted = receivers_for(fault.severity), set(fault.alerts)
    meta = stack.rules.get(fault.alerts[0], {})
    start = time.time()
    try:
        injection = fault.inject(stack)
    except Exception as exc:  # the row fails and says why; the matrix goes on
        log(f"{fault.name}: injection failed: {exc!r}")
        injection = Injection(lambda: None, [f"injection failed: {exc!r}"])
    log(f"{fault.name}: injected; waiting for {'/'.join(fault.alerts)} at {fault.team}'s {', '.join(expected)}")
    first: dict[str, float] = {}
    episode: float | None = None
    try:
        while True:
            elapsed = time.time() - start
            for n in stack.receivers.notifications(start):
                if n.team == fault.team and n.status == "firing" and wanted & set(n.alertnames) and (
                        n.at - start <= timeout):
                    first.setdefault(n.kind, n.at - start)
            if episode is None and elapsed <= timeout:
                with contextlib.suppress(httpx.HTTPError, OSError, ValueError, KeyError):
                    if _episode_seen(stack, fault, start):
                        episode = time.time() - start
            done = all(kind in first for kind in expected) and episode is not None
            if elapsed >= hold and (done or elapsed >= timeout):
                break
            time.sleep(POLL)
    finally:
        healed = time.time()
        try:
            injection.heal()
        except Exception as exc:  # a row's failed heal is a finding too; the matrix goes on
            injection.notes.append(f"heal failed: {exc}")
            log(f"{fault.name}: heal failed: {exc}")
    log(f"{fault.name}: healed after {healed - start:.0f} s; receivers "
        f"{ {kind: round(at, 1) for kind, at in first.items()} }")
    resolved = None
    if first:
        def resolve_seen() -> float | None:
            return next((n.at - healed for n in stack.receivers.notifications(healed)
                         if n.team == fault.team and n.kind == "webhook" and n.status == "resolved"
                         and wanted & set(n.alertnames)), None)

        with contextlib.suppress(TimeoutError):
            resolved = wait_until(resolve_seen, resolve_timeout, "the resolve", step=POLL)
    seen = stack.receivers.notifications(start)
    mine = [n for n in seen if n.team == fault.team and n.status == "firing"]
    background = background | set(SLO_ALERTS)  # the fleet's SLOs burn for any fault: reported, not judged
    others = sorted({f"{n.team}/{n.kind}: {'+'.join(sorted(set(n.alertnames) - background))}" for n in seen
                     if n.team not in (fault.team, HEARTBEAT) and n.status == "firing"
                     and set(n.alertnames) - background})
    burns = sorted({f"{a['labels'].get('slo')} ({a['labels'].get('severity')})" for n in seen if n.kind == "webhook"
                    and n.status == "firing" for a in n.alerts if a["labels"].get("alertname") in SLO_ALERTS})
    injection.notes.extend(f"SLO burn-rate alert: {burn}" for burn in burns)
    row = Row(fault=fault.name, title=fault.title, alert=fault.alerts[0],
              severity=meta.get("severity", "?") + ("" if meta.get("severity") == fault.severity else
                                                    f" (expected {fault.severity})"),
              team=fault.team, receivers={kind: first.get(kind) for kind in expected}, episode=episode,
              resolved=resolved,
              severities=sorted({n.severity for n in mine if wanted & set(n.alertnames) and n.kind == "webhook"}),
              also=sorted(_names(mine) - wanted - background), others=others, passed=False, reasons=[],
              notes=list(injection.notes))
    judge(fault, row, stack.rules)
    return row


def settle(stack: AlertStack, names: set[str], limit: float, log: Callable[[str], None] = print) -> list[str]:
    """Wait until none of ``names`` (a row's alerts) is pending or firing any more; those still active after
    ``limit`` seconds."""
    deadline = time.time() + limit
    while time.time() < deadline and _active(stack) & names:
        time.sleep(2)
    lingering = sorted(_active(stack) & names)
    if lingering:
        log(f"still active after {limit:.0f} s: {', '.join(lingering)}")
    return lingering


def row_alerts(fault: Fault, row: Row) -> list[str]:
    """The alerts a row is answerable for: the expected ones and the others its team got."""
    return [*fault.alerts, *row.also]


def unclaimed(stack: AlertStack, rows: Sequence[Row], since: float) -> list[str]:
    """Firing notifications of the whole run that no row accounts for (neither its team's expected alerts nor
    the others its team got): ``team: alertname (severity) ×count``, false positives unless a fault explains them."""
    claimed = {(row.team, name) for row in rows for name in (BY_NAME[row.fault].alerts + tuple(row.also))}
    claimed |= {(team, name) for team in TEAMS for name in SLO_ALERTS}
    counts: dict[str, int] = {}
    for n in stack.receivers.notifications(since):
        if n.status == "firing" and n.team != HEARTBEAT and n.kind == "webhook":
            for name in n.alertnames:
                if (n.team, name) not in claimed:
                    key = f"{n.team}: {name} ({n.severity})"
                    counts[key] = counts.get(key, 0) + 1
    return [f"{key} ×{count}" for key, count in sorted(counts.items())]


def run_matrix(stack: AlertStack, faults: Sequence[Fault], *, timeout: float = TIMEOUT,
               hold: float = HOLD, resolve_timeout: float = RESOLVE_TIMEOUT, settle_limit: float = SETTLE,
               log: Callable[[str], None] = print) -> list[Row]:
    rows = []
    for fault in faults:
        row = run_fault(stack, fault, timeout=timeout, hold=hold, resolve_timeout=resolve_timeout, log=log)
        lingering = settle(stack, set(row_alerts(fault, row)), settle_limit, log)
        if lingering:
            row.notes.append(f"still active {settle_limit:.0f} s after the heal: {', '.join(lingering)}")
        log(f"{fault.name}: {'pass' if row.passed else 'FAIL: ' + '; '.join(row.reasons)}")
        rows.append(row)
    return rows


def warm_up(stack: AlertStack, seconds: float, log: Callable[[str], None] = print) -> tuple[set[str], list[str]]:
    """Let the healthy fleet run; returns the alerts active at the end (the background every row discounts) and
    the notifications it caused (a healthy fleet should cause none)."""
    start = time.time()
    log(f"healthy fleet for {seconds:.0f} s")
    time.sleep(seconds)
    notified = sorted({f"{n.team}/{n.kind}: {'+'.join(n.alertnames)}" for n in stack.receivers.notifications(start)
                       if n.status == "firing" and n.team != HEARTBEAT})
    return _active(stack), notified


# --- output -------------------------------------------------------------------------------------------------------
def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} s"


def table(rows: Sequence[Row]) -> str:
    lines = ["| fault | expected alert (severity) → team | receivers reached | first notification min / max | "
             "episode | resolved | result |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        reached = [kind for kind, at in row.receivers.items() if at is not None]
        spread = (f"{min(row.reached):.0f} / {max(row.reached):.0f} s" if row.reached else "—")
        result = "pass" if row.passed else "FAIL: " + "; ".join(row.reasons)
        extra = "; ".join([*(f"also {', '.join(row.also)}" for _ in [0] if row.also),
                           *(f"others: {', '.join(row.others)}" for _ in [0] if row.others), *row.notes])
        lines.append(f"| {row.title} | {row.alert} ({row.severity}) → {row.team} | "
                     f"{len(reached)}/{len(row.receivers)} {' '.join(reached)} | {spread} | {_seconds(row.episode)} | "
                     f"{_seconds(row.resolved)} | {result}{' — ' + extra if extra else ''} |")
    return "\n".join(lines)


def _log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faults", help=f"comma-separated subset of: {', '.join(BY_NAME)}")
    parser.add_argument("--json", metavar="FILE", help="also write rows, the quiet run and rule timings as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a row failed")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds a fault is held at most (150)")
    parser.add_argument("--hold", type=float, default=HOLD, help="seconds a fault lasts at least, so that what it "
                        "does to other teams shows (150; 0: heal as soon as every receiver got it)")
    parser.add_argument("--resolve-timeout", type=float, default=RESOLVE_TIMEOUT,
                        help="seconds to wait for the resolved notification after the heal (120)")
    parser.add_argument("--settle", type=float, default=SETTLE,
                        help="seconds to wait for Prometheus to be quiet before the next fault (180)")
    parser.add_argument("--warmup", type=float, default=90.0, help="seconds the healthy fleet runs first (90)")
    parser.add_argument("--quiet", type=float, default=0.0, metavar="MINUTES",
                        help="run the quiet fleet (bench/quiet_fleet.py) for MINUTES instead of the fault matrix "
                             "(30 for the issue's run); with --faults, the matrix follows it")
    args = parser.parse_args(argv)
    if args.quiet and not args.faults:
        args.faults = "none"
    names = ([] if args.faults == "none" else
             [n.strip() for n in args.faults.split(",")] if args.faults else list(BY_NAME))
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown faults {unknown}; known: {', '.join(BY_NAME)}")
    faults = [BY_NAME[n] for n in names]
    signal.signal(signal.SIGTERM, _terminate)
    started = time.time()
    quiet_seconds = args.quiet * 60
    # The planned restart's window: from now over the start, the warm-up and the quiet run (a pair of its own).
    maintenance = [maintenance_window(STACK_START + args.warmup + quiet_seconds + 120)] if args.quiet else []
    quiet = None
    try:
        with (tempfile.TemporaryDirectory(prefix="cw-alert-quality-") as tmp,
              running_alert_stack(Path(tmp), redis_cluster=bool(args.quiet) or any(f.needs_cluster for f in faults),
                                  maintenance=maintenance, log=_log) as stack):
            _log(f"stack up after {time.time() - started:.0f} s")
            baseline, noisy = warm_up(stack, args.warmup, _log)
            if args.quiet:
                quiet = quiet_run(stack, quiet_seconds, restart_at=min(quiet_seconds / 3, 300.0), log=_log)
            rows = run_matrix(stack, faults, timeout=args.timeout, hold=args.hold,
                              resolve_timeout=args.resolve_timeout, settle_limit=args.settle, log=_log)
            rules = {a: stack.rules.get(a) for f in faults for a in f.alerts}
            beats = [n.at for n in stack.receivers.notifications() if n.team == HEARTBEAT]
            stray = unclaimed(stack, rows, started)
    except KeyboardInterrupt:
        _log("interrupted: every process stopped")
        return 130
    print(f"\n## Alert quality at the default intervals ({len(rows)} faults, {time.time() - started:.0f} s)\n")
    if quiet is not None:
        print(quiet.summary() + "\n")
    if rows:
        print(table(rows))
    print(f"\nActive on the healthy fleet after the warm-up: {', '.join(sorted(baseline)) or 'none'}")
    print(f"Notifications on the healthy fleet: {', '.join(noisy) or 'none'}")
    print(f"Webhook notifications no row accounts for: {', '.join(stray) or 'none'}")
    print(f"Dead man's switch (CachewatchWatchdog at the heartbeat webhook): {len(beats)} pings" + (
        f", first {beats[0] - started:.0f} s after the start" if beats else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": [asdict(r) | {"reached": r.reached} for r in rows],
                                               "baseline": sorted(baseline), "healthy_notifications": noisy,
                                               "rules": rules, "teams": list(TEAMS),
                                               "heartbeats": len(beats), "unclaimed": stray,
                                               "quiet": asdict(quiet) if quiet else None}, indent=2))
    failed = not all(r.passed for r in rows) or bool(quiet and (quiet.notifications or quiet.fired))
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
