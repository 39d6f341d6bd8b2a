"""Benchmark: ``cachewatch health`` over a local fleet, and what one health probe costs Redis against one scrape
by the peer (Debian's prometheus-redis-exporter 1.45), measured in the same run.

    .venv/bin/python bench/health_bench.py [--fleet-size 100] [--cycles 5] [--probes 200] [--json out.json]

Figures (a Markdown table; the script never asserts and exits 0):

- fleet, cold single run: ``python -m cachewatch health --target ... --json`` over every node as a subprocess;
  wall time and CPU (user + system of the child, interpreter start-up, imports and connects included);
- fleet, ``--watch`` cycle: the same nodes checked in-process on kept connections, as every cycle after the first
  of ``--watch 30s``; wall time and process CPU per cycle (median and worst);
- Redis time per health probe against one peer scrape: the delta of the ``usec`` sums of INFO commandstats over
  ``--probes`` probes (ours: ``take_snapshot`` on a kept connection; the peer: GET /metrics with
  ``--redis-only-metrics``), each on its own identically primed redis-server, minus the cost of the measuring
  INFO itself (bench/exporter_bench.py's method and priming);
- keyspace (``--keyspace-keys``, default 1,000,000; 0 skips): one redis-server loaded with 60% ``user:<id>:cart``
  hashes, 30% ``session:<uuid>`` strings with a TTL and 10% ``product:<id>`` strings. Redis main-thread time of
  ``cachewatch diagnose --keyspace``'s analysis (default budgets) against ``redis-cli --memkeys`` on the same
  data, as two figures: the commandstats ``usec`` delta (command execution) and the delta of
  ``used_cpu_sys_main_thread + used_cpu_user_main_thread`` (execution plus reading requests and writing replies);
  and the longest single stall during each run, from ``LATENCY LATEST`` with ``latency-monitor-threshold 1`` and
  ``SLOWLOG`` with ``slowlog-log-slower-than 1000`` (both only record ≥ 1 ms: "< 1 ms" when empty).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.exporter_bench import PEER_ARGS, prime, snapshot, snapshot_cost, start_fleet  # noqa: E402
from cachewatch.health.client import client_for  # noqa: E402
from cachewatch.health.keyspace import Budget, analyse  # noqa: E402
from cachewatch.health.probe import probe  # noqa: E402
from cachewatch.health.run import Node, Options, cycle  # noqa: E402
from cachewatch.health.snapshot import take_snapshot  # noqa: E402
from cachewatch.health.targets import Credentials, Target  # noqa: E402
from cachewatch.local_redis import RedisServer, require_binary, start_redis  # noqa: E402
from tests.support.exporter_process import start_peer  # noqa: E402
from tests.support.keyspace_data import load_keyspace  # noqa: E402


@dataclass
class Row:
    figure: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None

    def cells(self) -> list[str]:
        verdict = "" if self.met is None else ("yes" if self.met else "**no**")
        return [self.figure, f"{self.value:.3g} {self.unit}", self.target, verdict]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_run(servers: list[RedisServer]) -> tuple[float, float, int]:
    """(wall s, CPU s, nodes answered) of one `cachewatch health` subprocess over the fleet."""
    args = [arg for s in servers for arg in ("--target", s.url)]
    cpu0, start = children_cpu(), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cachewatch", "health", *args, "--json"], capture_output=True,
                          text=True, timeout=120)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu0
    answered = sum(not n["reason"] for n in json.loads(done.stdout))
    return wall, cpu, answered


async def warm_cycles(servers: list[RedisServer], cycles: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each cycle after a first (connecting) one, on kept connections."""
    options = Options()
    nodes = [Node(t, client_for(t, Credentials(), options.timeout))
             for t in (Target(host="127.0.0.1", port=s.port) for s in servers)]
    walls, cpus = [], []
    try:
        await cycle(nodes, options)
        for _ in range(cycles):
            cpu0, start = time.process_time(), time.perf_counter()
            await cycle(nodes, options)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu0)
    finally:
        await asyncio.gather(*(n.client.aclose() for n in nodes))
    return walls, cpus


def fleet_rows(size: int, cycles: int) -> list[Row]:
    with contextlib.ExitStack() as stack:
        servers = start_fleet(size, stack)
        wall, cpu, answered = cold_run(servers)
        walls, cpus = asyncio.run(warm_cycles(servers, cycles))
    return [
        Row(f"cold single run over {size} nodes: wall (start-up included)", wall, "s", "≤ 2 s", wall <= 2),
        Row(f"cold single run over {size} nodes: CPU", cpu, "s", "≤ 1 s", cpu <= 1),
        Row("nodes answered in the cold run", answered, f"of {size}"),
        Row(f"--watch cycle over {size} nodes: wall, median", statistics.median(walls), "s", "≤ 2 s",
            statistics.median(walls) <= 2),
        Row(f"--watch cycle over {size} nodes: CPU, median (worst {max(cpus):.3f} s)", statistics.median(cpus), "s",
            "≤ 1 s", statistics.median(cpus) <= 1),
    ]


def ours_usec(server: RedisServer, probes: int) -> float:
    stats = redis.Redis(port=server.port)
    cost = snapshot_cost(stats)

    async def run() -> tuple[int, int]:
        client = client_for(Target(host="127.0.0.1", port=server.port), Credentials(), 2.0)
        try:
            await take_snapshot(client)  # connect first: the watch loop keeps its connection
            before = snapshot(stats)
            for _ in range(probes):
                await take_snapshot(client)
            return before.usec, snapshot(stats).usec
        finally:
            await client.aclose()

    try:
        before, after = asyncio.run(run())
    finally:
        stats.close()
    return (after - before - cost) / probes


def route_probe_cost(server: RedisServer, probes: int) -> tuple[float, float]:
    """What one ``/probe?module=health`` costs Redis: (commandstats µs, main-thread CPU µs) per probe. Each probe
    opens its own connection (connect, PING, the pipelined round trip, close), as the exporter's route does."""
    stats = redis.Redis(port=server.port)
    cost = snapshot_cost(stats)

    async def run() -> None:
        for _ in range(probes):
            outcome = await probe("127.0.0.1", server.port, module="health", timeout=2.0)
            assert outcome.success, outcome.reason

    try:
        before, cpu_before = snapshot(stats), main_thread_cpu(stats)
        asyncio.run(run())
        after, cpu_after = snapshot(stats), main_thread_cpu(stats)
    finally:
        stats.close()
    return (after.usec - before.usec - cost) / probes, (cpu_after - cpu_before) * 1e6 / probes


def peer_cost(server: RedisServer, scrapes: int) -> tuple[float, float]:
    """What one peer scrape costs Redis: (commandstats µs, main-thread CPU µs) per scrape, over the same scrapes
    (the peer keeps its connection to the exporter; it opens one to Redis per scrape)."""
    stats = redis.Redis(port=server.port)
    with contextlib.closing(stats), start_peer(f"--redis.addr=redis://127.0.0.1:{server.port}", *PEER_ARGS) as peer:
        cost = snapshot_cost(stats)
        conn = http.client.HTTPConnection("127.0.0.1", peer.port, timeout=10)
        conn.request("GET", "/metrics")
        conn.getresponse().read()
        before, cpu_before = snapshot(stats), main_thread_cpu(stats)
        for _ in range(scrapes):
            conn.request("GET", "/metrics")
            conn.getresponse().read()
        after, cpu_after = snapshot(stats), main_thread_cpu(stats)
        conn.close()
    return (after.usec - before.usec - cost) / scrapes, (cpu_after - cpu_before) * 1e6 / scrapes


def redis_rows(probes: int) -> list[Row]:
    servers = [start_redis() for _ in range(3)]
    try:
        for server in servers:
            prime(server)
        ours = ours_usec(servers[0], probes)
        peer, peer_main = peer_cost(servers[1], probes)
        route_usec, route_cpu = route_probe_cost(servers[2], probes)
    finally:
        for server in servers:
            server.stop()
    return [Row("Redis time per health check round trip, kept connection (health --watch)", ours, "µs"),
            Row("Redis time per peer scrape (redis_exporter 1.45)", peer, "µs"),
            Row("ratio ours / peer", ours / peer, "×", "≤ 0.5", ours / peer <= 0.5),
            Row("Redis time per /probe?module=health (new connection each)", route_usec, "µs"),
            Row("ratio /probe / peer scrape", route_usec / peer, "×", "≤ 0.5", route_usec / peer <= 0.5),
            Row("main-thread CPU per /probe?module=health (accept, PING, pipeline, close)", route_cpu, "µs"),
            Row("main-thread CPU per peer scrape", peer_main, "µs"),
            Row("ratio /probe / peer scrape (main-thread CPU)", route_cpu / peer_main, "×", "≤ 0.5",
                route_cpu / peer_main <= 0.5)]


def main_thread_cpu(client: redis.Redis) -> float:
    cpu = client.info("cpu")
    return cpu["used_cpu_sys_main_thread"] + cpu["used_cpu_user_main_thread"]


SAMPLING_COMMANDS = ("scan", "type", "memory|usage", "pttl", "object|encoding", "strlen", "hlen", "scard", "zcard",
                     "llen", "dbsize")


def measured(client: redis.Redis, run: object) -> tuple[float, float, float, float, float]:
    """(commandstats ms, main-thread CPU ms, longest recorded stall ms, worst p99.9 ms of the sampling commands,
    wall s) of ``run()``, net of the measuring INFO. The recorded stall includes the host descheduling Redis (on a
    shared machine, LATENCY LATEST's ``fast-command`` event: O(1) commands that took ≥ 1 ms); the p99.9 is the
    commands' own cost."""
    client.config_set("latency-monitor-threshold", 1)
    client.config_set("slowlog-log-slower-than", 1000)
    client.execute_command("LATENCY", "RESET")
    client.slowlog_reset()
    client.config_resetstat()  # latencystats afresh: per-command percentiles of this run only
    cost = snapshot_cost(client)
    before, cpu0, start = snapshot(client), main_thread_cpu(client), time.perf_counter()
    run()  # type: ignore[operator]
    wall = time.perf_counter() - start
    after, cpu1 = snapshot(client), main_thread_cpu(client)
    latest = client.execute_command("LATENCY", "LATEST")
    stalls = [float(event[3]) for event in latest] + [entry["duration"] / 1000 for entry in client.slowlog_get(128)]
    latency = client.info("latencystats")
    p999 = [float(v.get("p99.9", 0)) for k, v in latency.items() if isinstance(v, dict)
            and k.removeprefix("latency_percentiles_usec_") in SAMPLING_COMMANDS]
    return ((after.usec - before.usec - cost) / 1000, (cpu1 - cpu0) * 1000, max(stalls, default=0.0),
            max(p999, default=0.0) / 1000, wall)


def keyspace_rows(keys: int) -> list[Row]:
    server = start_redis("--maxmemory-policy", "allkeys-lru")
    client = redis.Redis(port=server.port)
    try:
        load_keyspace(client, keys)
        budget = Budget()
        target = Target(host="127.0.0.1", port=server.port)
        report = None

        def ours() -> None:
            nonlocal report
            report = asyncio.run(analyse(target, Credentials(), budget))

        def peer() -> None:
            subprocess.run([require_binary("redis-cli"), "-p", str(server.port), "--memkeys"], capture_output=True,
                           check=True, timeout=600)

        o_usec, o_cpu, o_stall, o_p999, o_wall = measured(client, ours)
        p_usec, p_cpu, p_stall, p_p999, p_wall = measured(client, peer)
    finally:
        client.close()
        server.stop()
    assert report is not None
    return [
        Row(f"keyspace of {keys:,} keys, ours: sampled {report.sampled:,} keys"
            f"{' (partial: ' + report.stopped_by + ')' if report.partial else ''}, "
            f"{len(report.patterns)} patterns, wall", o_wall, "s"),
        Row("keyspace, redis-cli --memkeys (every key): wall", p_wall, "s"),
        Row("Redis command time (commandstats), ours", o_usec, "ms"),
        Row("Redis command time (commandstats), redis-cli --memkeys", p_usec, "ms"),
        Row("ratio ours / --memkeys, command time", o_usec / p_usec, "×", "≤ 0.5", o_usec / p_usec <= 0.5),
        Row("Redis main-thread CPU, ours", o_cpu, "ms"),
        Row("Redis main-thread CPU, redis-cli --memkeys", p_cpu, "ms"),
        Row("ratio ours / --memkeys, main-thread CPU", o_cpu / p_cpu, "×", "≤ 0.5", o_cpu / p_cpu <= 0.5),
        Row("longest single command, p99.9 of the sampling commands (latencystats), ours", o_p999, "ms", "≤ 5 ms",
            o_p999 <= 5),
        Row("longest single command, p99.9 of the sampling commands (latencystats), --memkeys", p_p999, "ms"),
        Row("longest recorded stall (LATENCY LATEST + SLOWLOG ≥ 1 ms, host descheduling included), ours", o_stall,
            "ms", "≤ 5 ms", o_stall <= 5),
        Row("longest recorded stall (LATENCY LATEST + SLOWLOG ≥ 1 ms, host descheduling included), --memkeys",
            p_stall, "ms"),
    ]


def markdown(rows: list[Row]) -> str:
    lines = ["| figure | value | target | met |", "|---|---|---|---|"]
    return "\n".join(lines + ["| " + " | ".join(row.cells()) + " |" for row in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fleet-size", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--keyspace-keys", type=int, default=1_000_000, help="0 skips the keyspace figures")
    parser.add_argument("--skip-fleet", action="store_true", help="leave out the fleet and probe figures")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = [] if args.skip_fleet else fleet_rows(args.fleet_size, args.cycles) + redis_rows(args.probes)
    if args.keyspace_keys:
        rows += keyspace_rows(args.keyspace_keys)
    print(markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps([row.__dict__ for row in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
