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
  INFO itself (bench/exporter_bench.py's method and priming).
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
from cachewatch.health.run import Node, Options, cycle  # noqa: E402
from cachewatch.health.snapshot import take_snapshot  # noqa: E402
from cachewatch.health.targets import Credentials, Target  # noqa: E402
from cachewatch.local_redis import RedisServer, start_redis  # noqa: E402
from tests.support.exporter_process import start_peer  # noqa: E402


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


def peer_usec(server: RedisServer, scrapes: int) -> float:
    stats = redis.Redis(port=server.port)
    with contextlib.closing(stats), start_peer(f"--redis.addr=redis://127.0.0.1:{server.port}", *PEER_ARGS) as peer:
        cost = snapshot_cost(stats)
        conn = http.client.HTTPConnection("127.0.0.1", peer.port, timeout=10)
        conn.request("GET", "/metrics")
        conn.getresponse().read()
        before = snapshot(stats)
        for _ in range(scrapes):
            conn.request("GET", "/metrics")
            conn.getresponse().read()
        after = snapshot(stats)
        conn.close()
    return (after.usec - before.usec - cost) / scrapes


def redis_rows(probes: int) -> list[Row]:
    servers = [start_redis(), start_redis()]
    try:
        for server in servers:
            prime(server)
        ours, peer = ours_usec(servers[0], probes), peer_usec(servers[1], probes)
    finally:
        for server in servers:
            server.stop()
    return [Row("Redis time per health probe (ours)", ours, "µs"),
            Row("Redis time per peer scrape (redis_exporter 1.45)", peer, "µs"),
            Row("ratio ours / peer", ours / peer, "×", "≤ 0.5", ours / peer <= 0.5)]


def markdown(rows: list[Row]) -> str:
    lines = ["| figure | value | target | met |", "|---|---|---|---|"]
    return "\n".join(lines + ["| " + " | ".join(row.cells()) + " |" for row in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fleet-size", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = fleet_rows(args.fleet_size, args.cycles) + redis_rows(args.probes)
    print(markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps([row.__dict__ for row in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
