"""The quiet-fleet run of bench/alert_quality.py: the healthy stack under steady cache traffic, with what a healthy
cache does (misses, expiries, evictions under allkeys-lru at normal rates, a replica's full resync, a planned restart
inside the spec's maintenance window), must notify no one. False positives are reported as alerts that fired
divided by alert evaluations (alerting rules × evaluation rounds of the run).

What runs:
- on each replicated primary and the Redis Cluster: read-through traffic over a hot set (GET; on a miss, SET with a
  TTL of 1-5 minutes, so keys expire and are read back in), plus new colder keys of 4 KB a few times a second
  (TTL 10 minutes);
- the sessions primary given a maxmemory 16 MiB over its use and filled to 1 MiB below it: from the first minutes
  on allkeys-lru evicts a few keys a second, as a full cache does;
- at the start the sessions replica is detached and re-attached (REPLICAOF NO ONE, then back): a full resync;
- at ``restart_at`` the replica of the ``reports`` pair is stopped for ``down`` seconds and started again (empty:
  another full resync), inside the maintenance window of its cluster (``maintenance_window()``, which the stack's
  spec gets; the stack then starts that pair, so the window mutes nothing the fault matrix injects into).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import redis
import yaml
from redis.cluster import ClusterNode, RedisCluster

from cachewatch.pipeline.alert_latency import seconds
from tests.support.alert_stack import HEARTBEAT, PASSWORD, AlertStack, RedisNode, wait_until

MAINTAINED_CLUSTER, RESTARTED = "reports", "reports-replica"  # a pair of its own (tests/support/alert_stack.py)
RESYNCED, SQUEEZED = "sessions-replica", "sessions-primary"
READS_PER_SECOND, COLD_WRITES_PER_SECOND = 150.0, 4.0
HOT_KEYS, COLD_VALUE, HOT_VALUE = 2_000, b"c" * 4096, b"h" * 200
HEADROOM, SPARE = 16 << 20, 1 << 20  # the squeezed primary's maxmemory over its use, and what is left unfilled
WATCHDOG = "CachewatchWatchdog"


def maintenance_window(lasts: float, now: datetime | None = None) -> dict:
    """The spec's maintenance entry muting the planned-restart cluster from now for ``lasts`` seconds (whole
    minutes, UTC, clamped to the day: a time range may not cross midnight)."""
    now = now or datetime.now(UTC)
    start = now.replace(second=0, microsecond=0)
    end = now + timedelta(seconds=lasts + 60)
    end_text = "24:00" if end.date() != start.date() else end.strftime("%H:%M")
    return {"name": "planned-restart", "clusters": [MAINTAINED_CLUSTER],
            "window": {"times": [f"{start:%H:%M}-{end_text}"], "location": "UTC"}}


# --- traffic ------------------------------------------------------------------------------------------------------
@dataclass
class Traffic:
    """Counts of one load loop."""

    reads: int = 0
    hits: int = 0
    writes: int = 0
    errors: int = 0


class SteadyLoad:
    """Paced read-through cache traffic on one client (a redis.Redis or a RedisCluster) in a thread."""

    def __init__(self, client: redis.Redis | RedisCluster, name: str, reads_per_second: float = READS_PER_SECOND,
                 cold_per_second: float = COLD_WRITES_PER_SECOND) -> None:
        self.client, self.name, self.traffic = client, name, Traffic()
        self._tick = 0.05  # seconds per round
        self._reads = max(1, round(reads_per_second * self._tick))
        self._cold_every = max(1, round(1 / (cold_per_second * self._tick)))  # rounds between cold writes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"load-{name}", daemon=True)
        self._rng = random.Random(name)

    def start(self) -> SteadyLoad:
        """Warm the hot set first (a cache in service has its working set), then run."""
        for batch in range(0, HOT_KEYS, 500):
            pipe = self.client.pipeline(transaction=False)
            for i in range(batch, min(batch + 500, HOT_KEYS)):
                pipe.set(f"hot:{i}", HOT_VALUE, ex=self._rng.randint(60, 300))
            pipe.execute()
        self._thread.start()
        return self

    def _round(self, n: int) -> None:
        for key in [f"hot:{self._rng.randrange(HOT_KEYS)}" for _ in range(self._reads)]:
            self.traffic.reads += 1
            if self.client.get(key) is not None:
                self.traffic.hits += 1
            else:  # read-through: the origin's answer, cached for 1-5 minutes
                self.client.set(key, HOT_VALUE, ex=self._rng.randint(60, 300))
                self.traffic.writes += 1
        if n % self._cold_every == 0:
            self.client.set(f"cold:{self.name}:{n}", COLD_VALUE, ex=600)
            self.traffic.writes += 1

    def _run(self) -> None:
        n, next_at = 0, time.monotonic()
        while not self._stop.is_set():
            try:
                self._round(n)
            except (redis.RedisError, OSError):
                self.traffic.errors += 1
            n += 1
            next_at += self._tick
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        with contextlib.suppress(redis.RedisError, OSError):
            self.client.close()


def _cluster_client(nodes: Sequence[RedisNode]) -> RedisCluster:
    return RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", n.port) for n in nodes], password=PASSWORD,
                        socket_timeout=5)


def start_loads(stack: AlertStack) -> list[SteadyLoad]:
    """One loop per replicated primary, one through a cluster client when the stack has the Redis Cluster."""
    loads = [SteadyLoad(node.client(), node.name).start() for name, node in stack.nodes.items()
             if name.endswith("-primary")]
    cluster = [node for name, node in stack.nodes.items() if name.startswith("catalog-")]
    if cluster:
        loads.append(SteadyLoad(_cluster_client(cluster), "catalog").start())
    return loads


# --- what a healthy fleet goes through ------------------------------------------------------------------------------
def full_resync(stack: AlertStack) -> str:
    """Detach the sessions replica and attach it again: it comes back with a new replication id, so the primary
    sends it a full copy. Returns what the primary's counters say."""
    primary, replica = stack.node(SQUEEZED), stack.node(RESYNCED)
    before = int(primary.client().info("stats")["sync_full"])
    replica.cli("REPLICAOF", "NO", "ONE")
    replica.cli("REPLICAOF", "127.0.0.1", str(primary.port))
    wait_until(lambda: "master_link_status:up" in replica.cli("INFO", "replication"), 60, "the replica in sync")
    after = int(primary.client().info("stats")["sync_full"])
    return f"{RESYNCED}: full resyncs {before} → {after}"


def fill(stack: AlertStack, headroom: int = HEADROOM, spare: int = SPARE) -> str:
    """A full cache: maxmemory = used + ``headroom`` on the sessions primary (allkeys-lru stays), then cold keys up
    to ``spare`` bytes below it, so that the steady cold writes make allkeys-lru evict a few keys a second from the
    first minutes on. (A headroom of a few hundred KiB is no cache: replication and client buffers, which eviction
    cannot free, then fill it and writes fail with OOM.)"""
    client = stack.node(SQUEEZED).client()
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used + headroom)
    pipe, n = client.pipeline(transaction=False), 0
    most = 2 * headroom // len(COLD_VALUE)  # bounded: a node that evicts early never reaches the mark
    while int(client.info("memory")["used_memory"]) < used + headroom - spare and n < most:
        for _ in range(100):
            pipe.set(f"cold:fill:{n}", COLD_VALUE, ex=600)
            n += 1
        pipe.execute()
    client.close()
    return f"{SQUEEZED}: maxmemory {(used + headroom) >> 20} MiB, filled to {spare >> 10} KiB below it ({n} keys)"


def planned_restart(stack: AlertStack, down: float) -> str:
    """Stop the planned-restart replica for ``down`` seconds, start it again (empty, so it resyncs in full)."""
    node = stack.node(RESTARTED)
    node.kill()
    time.sleep(down)
    node.restart()
    wait_until(lambda: "master_link_status:up" in node.cli("INFO", "replication"), 60, "the restarted replica in sync")
    return f"{RESTARTED}: stopped {down:.0f} s and restarted inside the maintenance window"


# --- the run and its accounting -------------------------------------------------------------------------------------
@dataclass
class QuietReport:
    seconds: float
    notifications: list[str]  # "team/kind: alertname (status)" of every notification but the heartbeat's
    fired: list[str]  # alerts that fired in Prometheus (labels), outside the planned restart
    fired_planned: list[str]  # alerts of the restarted node while it was down (muted by the maintenance window)
    pending_only: list[str]  # alerts that went pending and never fired
    alerting_rules: int
    evaluations: int  # alerting rules × evaluation rounds
    traffic: dict[str, dict[str, int]]
    events: list[str] = field(default_factory=list)

    @property
    def false_positive_rate(self) -> float:
        return len(self.fired) / self.evaluations if self.evaluations else 0.0

    def summary(self) -> str:
        reads = sum(t["reads"] for t in self.traffic.values())
        hits = sum(t["hits"] for t in self.traffic.values())
        writes = sum(t["writes"] for t in self.traffic.values())
        errors = sum(t["errors"] for t in self.traffic.values())
        lines = [
            f"Quiet fleet: {self.seconds / 60:.1f} min, {reads / self.seconds:.0f} reads/s and "
            f"{writes / self.seconds:.0f} writes/s from the load loops (hit ratio {hits / max(reads, 1):.1%}, "
            f"{errors} errors), plus the application's 50 reads/s",
            *(f"- {event}" for event in self.events),
            f"Notifications (heartbeat excluded): {len(self.notifications)}"
            + (": " + ", ".join(self.notifications) if self.notifications else ""),
            f"Alerts fired: {len(self.fired)}" + (": " + ", ".join(self.fired) if self.fired else "")
            + f"; of the planned restart (muted): {', '.join(self.fired_planned) or 'none'}",
            f"Pending, never fired: {', '.join(self.pending_only) or 'none'}",
            f"False positives: {len(self.fired)} fired / {self.evaluations:,} alert evaluations "
            f"({self.alerting_rules} alerting rules × {self.evaluations // max(self.alerting_rules, 1)} rounds) = "
            f"{self.false_positive_rate:.4%}",
        ]
        return "\n".join(lines)


def _alerting_rules(stack: AlertStack) -> int:
    return sum(1 for path in (stack.out / "prometheus" / "rules").glob("*.yml")
               for group in (yaml.safe_load(path.read_text()) or {}).get("groups", [])
               for rule in group.get("rules", []) if "alert" in rule)


def _evaluation_interval(stack: AlertStack) -> float:
    config = yaml.safe_load((stack.out / "prometheus" / "prometheus.yml").read_text())
    return seconds(str(config.get("global", {}).get("evaluation_interval", "1m")))


def _alerts_over(stack: AlertStack, state: str, since: float, until: float, matcher: str = "") -> list[dict]:
    """Label sets of the alerts in ``state`` at any evaluation between ``since`` and ``until`` (wall clock)."""
    query = (f'max_over_time(ALERTS{{alertstate="{state}", alertname!="{WATCHDOG}"{matcher}}}'
             f'[{max(int(until - since), 1)}s])')
    response = httpx.get(f"http://127.0.0.1:{stack.prometheus[0]}/api/v1/query",
                         params={"query": query, "time": f"{until:.3f}"}, timeout=10)
    response.raise_for_status()
    return [r["metric"] for r in response.json()["data"]["result"]]


def _fired_outside(stack: AlertStack, labels: dict, start: float, window: tuple[float, float], now: float) -> bool:
    """Whether an alert of the restarted cluster also fired before or after the restart (then it is no planned
    alert)."""
    selector = ", ".join(f'{k}="{v}"' for k, v in labels.items() if k not in ("__name__", "alertstate"))
    return any(until - since >= 1 and _alerts_over(stack, "firing", since, until, ", " + selector)
               for since, until in ((start, window[0] - 1), (window[1] + 1, now)))


def _name(labels: dict) -> str:
    where = labels.get("instance") or labels.get("application") or labels.get("cluster") or ""
    return f"{labels.get('alertname')}{{{where}}}"


def quiet_run(stack: AlertStack, seconds: float, *, restart_at: float, down: float = 30.0,
              log: Callable[[str], None] = print) -> QuietReport:
    """Run the healthy fleet for ``seconds`` under load; the planned restart starts ``restart_at`` seconds in (the
    stack's spec must carry ``maintenance_window()`` covering it)."""
    start = time.time()
    loads = start_loads(stack)
    events: list[str] = []
    try:
        events.append(full_resync(stack))
        events.append(fill(stack))
        log(f"quiet fleet for {seconds:.0f} s: {'; '.join(events)}")
        time.sleep(max(0.0, start + restart_at - time.time()))
        restarted_at = time.time()
        events.append(planned_restart(stack, down))
        restart_window = (restarted_at - 1, time.time() + 60)  # until its alerts are resolved
        log(events[-1])
        time.sleep(max(0.0, start + seconds - time.time()))
        evicted = stack.node(SQUEEZED).client().info("stats")["evicted_keys"]
        events.append(f"{SQUEEZED}: {evicted} keys evicted ({evicted / seconds:.1f}/s over the run)")
    finally:
        for load in loads:
            load.stop()
    elapsed = time.time() - start
    notes = [f"{n.team}/{n.kind}: {'+'.join(n.alertnames)} ({n.status})"
             for n in stack.receivers.notifications(start) if n.team != HEARTBEAT]
    now = time.time()
    fired = _alerts_over(stack, "firing", start, now)
    # The restart's own alerts: its cluster's, while the node was down and until they resolved (muted by the window).
    planned = _alerts_over(stack, "firing", *restart_window, f', cluster="{MAINTAINED_CLUSTER}"')
    planned = [a for a in fired if a in planned and not _fired_outside(stack, a, start, restart_window, now)]
    pending = {_name(a) for a in _alerts_over(stack, "pending", start, now)} - {_name(a) for a in fired}
    rules = _alerting_rules(stack)
    rounds = int(elapsed // _evaluation_interval(stack))
    return QuietReport(elapsed, notes, sorted(_name(a) for a in fired if a not in planned),
                       sorted(_name(a) for a in planned), sorted(pending), rules, rules * rounds,
                       {load.name: vars(load.traffic) for load in loads}, events)
