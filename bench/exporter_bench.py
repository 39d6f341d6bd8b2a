"""Benchmark: cachewatch's exporter against the peer (Debian's prometheus-redis-exporter 1.45).

One run measures both exporters against identical, freshly started and identically primed
redis-servers and prints a Markdown table of absolute figures, the ratio ours/peer and whether
each target is met. It never asserts: it reports and exits 0 (1 only with ``--strict`` and a
target missed or a phase that failed).

    .venv/bin/python bench/exporter_bench.py [--quick] [--json out.json] [--strict]

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import http.client
import itertools
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cachewatch import __version__ as CACHEWATCH_VERSION  # noqa: E402
from cachewatch.local_redis import RedisServer, start_redis  # noqa: E402
from tests.support.exporter_process import ExporterProcess, start_exporter, start_peer  # noqa: E402

KINDS = ("ours", "peer")
METRICS_KINDS = KINDS
# Interval phase: Prometheus scrape intervals simulated in compressed time. Our latency_refresh_interval (60 s)
# becomes SIM_PERIOD seconds and every interval shrinks by the same factor, so each interval keeps its number
# of scrapes per latency refresh; between two scrapes, TRAFFIC runs once on both servers.
LATENCY_REFRESH_SECONDS = 60.0
SIM_PERIOD = 0.24
SIM_INTERVALS = {15.0: 40, 60.0: 14, 300.0: 8}  # simulated interval (s) → measured scrapes
SCRAPE_HEADERS = {"Accept-Encoding": "gzip", "X-Prometheus-Scrape-Timeout-Seconds": "10"}
PEER_ARGS = ("--redis-only-metrics",)
PRIME_KEYS = 2000
PRIME_ROUNDS = 20
SNAPSHOT_SAMPLES = 15


# --- small utilities ------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, ``q`` in [0, 100]."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of one process (its threads included, children excluded)."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def threads_cpu_seconds(pid: int) -> float:
    """On-CPU time of every thread of a process, in ns resolution (/proc/PID/task/*/schedstat): exact where
    psutil's 10 ms ticks would swamp a few dozen scrapes."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


def main_thread_cpu_seconds(pid: int) -> float:
    """On-CPU time of a process's main thread in ns resolution (/proc/PID/schedstat covers the leader only)."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def rss_bytes(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


def interleaved(round_index: int, kinds: tuple[str, ...] = METRICS_KINDS) -> tuple[str, ...]:
    """Rotate who goes first, so drift in machine load hits every side equally."""
    shift = round_index % len(kinds)
    return kinds[shift:] + kinds[:shift]


def start_side(kind: str, stack: contextlib.ExitStack, *args: str) -> ExporterProcess:
    """Start our exporter or the peer; ``stack`` stops it and removes its log file."""
    if kind == "peer":
        exporter = start_peer(*args, *PEER_ARGS)
    elif kind == "ours_sim":
        config = Path(tempfile.mkstemp(prefix="cw-bench-", suffix=".yml")[1])
        # Both refresh intervals in compressed time: what a real 60 s would fetch, the simulation fetches too.
        config.write_text(f"latency_refresh_interval: {SIM_PERIOD * 1000:.0f}ms\n"
                          f"config_refresh_interval: {SIM_PERIOD * 1000:.0f}ms\n")
        stack.callback(config.unlink, missing_ok=True)
        exporter = start_exporter(*args, "--config", str(config))
    else:
        exporter = start_exporter(*args)
    stack.callback(exporter.log_path.unlink, missing_ok=True)
    stack.callback(exporter.stop)
    return exporter


# --- redis priming and INFO snapshots --------------------------------------------------------------------
def prime(server: RedisServer, keys: int = PRIME_KEYS, rounds: int = PRIME_ROUNDS) -> None:
    """Same keys and the same fixed ~10-command mix on every server, so INFO sizes match."""
    client = redis.Redis(host="127.0.0.1", port=server.port)
    try:
        pipe = client.pipeline(transaction=False)
        for i in range(keys):
            pipe.set(f"bench:str:{i}", "x" * 32)
            if i % 10 == 0:
                pipe.hset(f"bench:hash:{i}", mapping={"a": "1", "b": "2", "c": "3"})
                pipe.lpush(f"bench:list:{i}", "a", "b", "c")
                pipe.sadd(f"bench:set:{i}", "a", "b", "c")
                pipe.zadd(f"bench:zset:{i}", {"a": 1, "b": 2, "c": 3})
        pipe.execute()
        for i in range(rounds):  # unpipelined, so latencystats see real single calls
            client.get(f"bench:str:{i}")
            client.incr("bench:counter")
            client.hget(f"bench:hash:{i * 10}", "a")
            client.lrange(f"bench:list:{i * 10}", 0, -1)
            client.smembers(f"bench:set:{i * 10}")
            client.zrange(f"bench:zset:{i * 10}", 0, -1)
            client.expire(f"bench:str:{i}", 3600)
            client.exists(f"bench:str:{i}")
            client.mget([f"bench:str:{i}", f"bench:str:{i + 1}"])
            client.delete(f"bench:missing:{i}")
    finally:
        client.close()


TRAFFIC = ("get", "incrby", "hget", "lrange", "smembers", "zrange", "expire", "exists", "mget", "del")


def traffic(client: redis.Redis, i: int) -> None:
    """One round of the steady application mix (the commands of ``prime``'s loop, INCR booked as INCRBY)."""
    client.get(f"bench:str:{i % 2000}")
    client.incr("bench:counter")
    client.hget(f"bench:hash:{i % 200 * 10}", "a")
    client.lrange(f"bench:list:{i % 200 * 10}", 0, -1)
    client.smembers(f"bench:set:{i % 200 * 10}")
    client.zrange(f"bench:zset:{i % 200 * 10}", 0, -1)
    client.expire(f"bench:str:{i % 2000}", 3600)
    client.exists(f"bench:str:{i % 2000}")
    client.mget([f"bench:str:{i % 2000}", f"bench:str:{(i + 1) % 2000}"])
    client.delete(f"bench:missing:{i}")


@dataclass
class RedisSnapshot:
    usec: int
    calls: int
    connections: int
    per_command: dict[str, tuple[int, int]] = field(default_factory=dict)  # name → (calls, usec)

    def minus(self, other: RedisSnapshot) -> RedisSnapshot:
        per_command = {}
        for name, (calls, usec) in self.per_command.items():
            old_calls, old_usec = other.per_command.get(name, (0, 0))
            if calls != old_calls:
                per_command[name] = (calls - old_calls, usec - old_usec)
        return RedisSnapshot(self.usec - other.usec, self.calls - other.calls,
                             self.connections - other.connections, per_command)


def snapshot(client: redis.Redis) -> RedisSnapshot:
    """Sum of usec and calls over all cmdstat_* lines, plus total_connections_received, in ONE INFO call."""
    info = client.execute_command("INFO", "stats", "commandstats")
    per_command = {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
                   for k, v in info.items() if k.startswith("cmdstat_")}
    return RedisSnapshot(usec=sum(u for _, u in per_command.values()), calls=sum(c for c, _ in per_command.values()),
                         connections=int(info["total_connections_received"]), per_command=per_command)


def snapshot_cost(client: redis.Redis, samples: int = SNAPSHOT_SAMPLES) -> float:
    """usec that one snapshot call adds to the next snapshot (Redis books a command after it ran)."""
    shots = [snapshot(client) for _ in range(samples + 1)]
    return percentile([b.usec - a.usec for a, b in itertools.pairwise(shots)], 50)


# --- phase 1: /metrics against one primed redis-server each ---------------------------------------------
@dataclass
class ScrapeSide:
    kind: str
    server: RedisServer
    exporter: ExporterProcess
    stats_client: redis.Redis
    conn: http.client.HTTPConnection
    latencies: list[float] = field(default_factory=list)
    cpu: float = 0.0
    redis_cpu: float = 0.0
    reconnects: int = 0

    def scrape(self) -> tuple[float, bytes, http.client.HTTPResponse]:
        """(seconds, body as sent, response) of one /metrics GET on the keep-alive connection."""
        try:
            return self._get()
        except (http.client.RemoteDisconnected, ConnectionError, http.client.CannotSendRequest):
            self.conn.close()  # the server dropped keep-alive: reconnect once, and count it
            self.reconnects += 1
            return self._get()

    def _get(self) -> tuple[float, bytes, http.client.HTTPResponse]:
        start = time.perf_counter()
        self.conn.request("GET", "/metrics", headers=SCRAPE_HEADERS)
        resp = self.conn.getresponse()
        body = resp.read()
        return time.perf_counter() - start, body, resp

    def block(self, count: int, record: bool) -> None:
        pid, redis_pid = self.exporter.proc.pid, self.server.proc.pid
        cpu0, redis0 = cpu_seconds(pid), main_thread_cpu_seconds(redis_pid)
        for _ in range(count):
            elapsed, _, resp = self.scrape()
            if resp.status != 200:
                raise RuntimeError(f"{self.kind} /metrics answered {resp.status}")
            if record:
                self.latencies.append(elapsed)
        if record:
            self.cpu += cpu_seconds(pid) - cpu0
            self.redis_cpu += main_thread_cpu_seconds(redis_pid) - redis0


def check_body(side: ScrapeSide) -> dict[str, object]:
    """One verified scrape: 200, redis_up 1; returns sizes for the report."""
    _, body, resp = side.scrape()
    raw = gzip.decompress(body) if resp.getheader("Content-Encoding") == "gzip" else body
    text = raw.decode("utf-8", "replace")
    series = [line for line in text.splitlines() if line and not line.startswith("#")]
    return {"status": resp.status, "redis_up": "redis_up 1" in series, "series": len(series),
            "bytes_wire": len(body), "bytes_plain": len(raw), "gzip": resp.getheader("Content-Encoding") == "gzip"}


def open_scrape_side(kind: str, stack: contextlib.ExitStack) -> ScrapeSide:
    server = start_redis()
    stack.callback(server.stop)
    prime(server)
    target = (f"--redis.addr={server.url}",) if kind == "peer" else ("--redis-addr", server.url)
    exporter = start_side(kind, stack, *target)
    stats_client = redis.Redis(host="127.0.0.1", port=server.port)
    stats_client.ping()  # connect (and HELLO) now, outside any measured window
    stack.callback(stats_client.close)
    conn = http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=30)
    stack.callback(conn.close)
    return ScrapeSide(kind, server, exporter, stats_client, conn)


def run_blocks(sides: dict[str, ScrapeSide], total: int, block: int, record: bool) -> None:
    done, index = 0, 0
    while done < total:
        count = min(block, total - done)
        for kind in interleaved(index):
            sides[kind].block(count, record)
        done += count
        index += 1


def metrics_phase(scrapes: int, warmup: int, block: int) -> dict[str, dict[str, object]]:
    with contextlib.ExitStack() as stack:
        sides = {kind: open_scrape_side(kind, stack) for kind in METRICS_KINDS}
        checks = {kind: check_body(side) for kind, side in sides.items()}
        run_blocks(sides, warmup, block, record=False)
        costs = {kind: snapshot_cost(side.stats_client) for kind, side in sides.items()}
        before = {kind: snapshot(side.stats_client) for kind, side in sides.items()}
        run_blocks(sides, scrapes, block, record=True)
        after = {kind: snapshot(side.stats_client) for kind, side in sides.items()}
        return {kind: summarize_side(side, after[kind].minus(before[kind]), costs[kind], checks[kind], scrapes)
                for kind, side in sides.items()}


def summarize_side(side: ScrapeSide, delta: RedisSnapshot, cost: float, check: dict[str, object],
                   scrapes: int) -> dict[str, object]:
    lat = side.latencies
    return {
        "p50_ms": percentile(lat, 50) * 1e3,
        "p90_ms": percentile(lat, 90) * 1e3,
        "p99_ms": percentile(lat, 99) * 1e3,
        "cpu_ms_per_scrape": side.cpu / scrapes * 1e3,
        "redis_thread_usec_per_scrape": side.redis_cpu / scrapes * 1e6,
        "redis_usec_per_scrape": (delta.usec - cost) / scrapes,
        "redis_calls_per_scrape": (delta.calls - 1) / scrapes,  # minus our one snapshot INFO
        "redis_connections_per_scrape": delta.connections / scrapes,
        "snapshot_cost_usec": cost,
        "per_command": per_command_breakdown(delta, cost, scrapes),
        "reconnects": side.reconnects,
        "check": check,
    }


def per_command_breakdown(delta: RedisSnapshot, cost: float, scrapes: int) -> dict[str, dict[str, float]]:
    """calls and usec per scrape by command, largest first, without our own snapshot INFO."""
    commands = dict(delta.per_command)
    if "info" in commands:
        calls, usec = commands["info"]
        commands["info"] = (calls - 1, int(usec - cost))
    ranked = sorted(commands.items(), key=lambda kv: -kv[1][1])
    return {name: {"calls_per_scrape": c / scrapes, "usec_per_scrape": u / scrapes} for name, (c, u) in ranked
            if c > 0}


# --- phase 1b: Redis time per scrape at simulated scrape intervals -------------------------------------------
@dataclass
class IntervalSide:
    kind: str
    side: ScrapeSide
    traffic_client: redis.Redis
    scrapes: int = 0
    before: RedisSnapshot | None = None
    after: RedisSnapshot | None = None
    cpu: float = 0.0  # exporter CPU seconds over the measured scrapes


def exporter_usec(before: RedisSnapshot, after: RedisSnapshot, cost: float) -> float:
    """usec of the exporter's own commands between two snapshots: everything but the traffic mix, minus the
    first snapshot's own INFO (booked after it ran, so inside the delta)."""
    delta = after.minus(before)
    return sum(usec for name, (_, usec) in delta.per_command.items() if name not in TRAFFIC) - cost


def interval_phase(rounds: int = 1) -> dict[str, dict[str, object]]:
    """For each simulated interval: ours (latency period SIM_PERIOD) and the peer, scraped in turn every
    interval × SIM_PERIOD / 60 s with one round of traffic before each scrape. One snapshot before and one
    after the measured scrapes (a snapshot INFO between two scrapes would be booked at a cold-cache price
    that the hot-measured snapshot cost does not cancel)."""
    results: dict[str, dict[str, object]] = {}
    with contextlib.ExitStack() as stack:
        for interval, scrapes in SIM_INTERVALS.items():
            sides = {}
            for kind in ("ours_sim", "peer"):  # fresh servers and exporters per interval: no history carried
                side = open_scrape_side(kind, stack)
                client = redis.Redis(host="127.0.0.1", port=side.server.port)
                stack.callback(client.close)
                sides[kind] = IntervalSide(kind, side, client)
            costs = {kind: snapshot_cost(s.side.stats_client) for kind, s in sides.items()}
            tick = interval * SIM_PERIOD / LATENCY_REFRESH_SECONDS
            warmup = int(SIM_PERIOD / tick) + 2  # the connection's first full fetch, then one period
            start = time.monotonic()
            for i in range(warmup + scrapes * rounds):
                for kind in interleaved(i, ("ours_sim", "peer")):
                    s = sides[kind]
                    traffic(s.traffic_client, i)
                    if i == warmup:
                        s.before = snapshot(s.side.stats_client)
                    cpu0 = threads_cpu_seconds(s.side.exporter.proc.pid)
                    _, _, resp = s.side.scrape()
                    if i >= warmup:
                        s.cpu += threads_cpu_seconds(s.side.exporter.proc.pid) - cpu0
                    if resp.status != 200:
                        raise RuntimeError(f"{kind} /metrics answered {resp.status}")
                    s.scrapes += i >= warmup
                time.sleep(max(0.0, start + (i + 1) * tick - time.monotonic()))
            for s in sides.values():
                s.after = snapshot(s.side.stats_client)
            deviation = percentile_deviation(sides["ours_sim"].side)
            for kind, s in sides.items():
                name = "ours" if kind == "ours_sim" else "peer"
                assert s.before is not None and s.after is not None
                delta = s.after.minus(s.before)
                results.setdefault(name, {})[f"{interval:.0f}"] = {
                    "mean_usec": exporter_usec(s.before, s.after, costs[kind]) / s.scrapes,
                    "exporter_cpu_ms": s.cpu / s.scrapes * 1e3,
                    "scrapes": s.scrapes,
                    "latency_histogram_calls_per_scrape": delta.per_command.get("latency|histogram", (0, 0))[0]
                    / s.scrapes,
                    "per_command": {name: {"calls_per_scrape": c / s.scrapes, "usec_per_scrape": u / s.scrapes}
                                    for name, (c, u) in delta.per_command.items() if name not in TRAFFIC},
                    **({"percentile_deviation": deviation} if kind == "ours_sim" else {}),
                }
    return results


def percentile_deviation(side: ScrapeSide) -> dict[str, float]:
    """How far our percentiles (read off LATENCY HISTOGRAM) are from INFO latencystats' exact ones, for the
    traffic mix: the factor max(a/b, b/a), median and max over commands × {p50, p99, p99.9}."""
    _, body, resp = side.scrape()
    text = (gzip.decompress(body) if resp.getheader("Content-Encoding") == "gzip" else body).decode()
    ours = {}
    for line in text.splitlines():
        match = re.match(r'redis_latency_percentiles_usec\{cmd="([^"]+)",quantile="([^"]+)"\} (\S+)$', line)
        if match:
            ours[(match.group(1), match.group(2))] = float(match.group(3))
    exact = side.stats_client.info("latencystats")
    factors = []
    for cmd in TRAFFIC:
        row = exact.get(f"latency_percentiles_usec_{cmd}", {})
        for key, quantile in (("p50", "50"), ("p99", "99"), ("p99.9", "99.9")):
            a, b = ours.get((cmd, quantile)), row.get(key)
            if a and b:
                factors.append(max(a / b, b / a))
    return {"median_factor": percentile(factors, 50), "max_factor": max(factors, default=float("nan")),
            "compared": len(factors)}


# --- phase 2: a fleet of redis-servers through /scrape ---------------------------------------------------
class RawHttpConnection:
    """A minimal keep-alive HTTP/1.1 GET client on asyncio streams (Content-Length or chunked bodies)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reconnects = 0

    async def get(self, path: str) -> tuple[float, int, dict[str, str], bytes]:
        """(seconds, status, headers, body) of one GET, reconnecting once if keep-alive was dropped."""
        try:
            return await self._get(path)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close()
            self.reconnects += 1
            return await self._get(path)

    async def _get(self, path: str) -> tuple[float, int, dict[str, str], bytes]:
        request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                   + "".join(f"{k}: {v}\r\n" for k, v in SCRAPE_HEADERS.items()) + "\r\n").encode()
        start = time.perf_counter()
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(request)
        status, headers, body = await self._read_response(self._stream())
        if headers.get("connection", "").lower() == "close":
            self.close()
        return time.perf_counter() - start, status, headers, body

    def _stream(self) -> asyncio.StreamReader:
        if self.reader is None:
            raise ConnectionError("not connected")
        return self.reader

    async def _read_response(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *lines = head[:-4].split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await read_chunked(reader)
        else:
            body = await reader.read()
            self.close()
        return int(status_line.split(" ")[1]), headers, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append((await reader.readexactly(size + 2))[:-2])


@dataclass
class FleetSide:
    kind: str
    exporter: ExporterProcess
    conns: list[RawHttpConnection]
    latencies: list[float] = field(default_factory=list)
    cpu: float = 0.0
    errors: int = 0
    up_in_warmup: int = 0


async def fleet_round(side: FleetSide, paths: list[str], record: bool, verify: bool = False) -> None:
    """Fire one /scrape per target at once (one keep-alive connection per target) and wait for all."""
    pid = side.exporter.proc.pid
    cpu0 = cpu_seconds(pid)
    results = await asyncio.gather(*(c.get(p) for c, p in zip(side.conns, paths, strict=True)),
                                   return_exceptions=True)
    cpu1 = cpu_seconds(pid)
    for result in results:
        if isinstance(result, BaseException) or result[1] != 200:
            side.errors += 1
            continue
        if record:
            side.latencies.append(result[0])
        if verify:
            body = gzip.decompress(result[3]) if result[2].get("content-encoding") == "gzip" else result[3]
            side.up_in_warmup += b"\nredis_up 1\n" in b"\n" + body
    if record:
        side.cpu += cpu1 - cpu0


async def fleet_rounds(sides: dict[str, FleetSide], paths: list[str], rounds: int) -> None:
    try:
        for kind in KINDS:
            await fleet_round(sides[kind], paths, record=False, verify=True)
        for index in range(rounds):
            for kind in interleaved(index, KINDS):
                await fleet_round(sides[kind], paths, record=True)
    finally:
        for side in sides.values():
            for conn in side.conns:
                conn.close()


def start_fleet(size: int, stack: contextlib.ExitStack) -> list[RedisServer]:
    """Start ``size`` redis-servers in parallel; every one that started is stopped when ``stack`` closes."""
    servers: list[RedisServer] = []
    lock = threading.Lock()

    def start_one() -> None:
        server = start_redis()
        with lock:
            servers.append(server)
            stack.callback(server.stop)
        prime(server, keys=200, rounds=2)

    pool = ThreadPoolExecutor(max_workers=16)
    try:
        futures = [pool.submit(start_one) for _ in range(size)]
        wait(futures)
    except BaseException:  # Ctrl-C: drop the queued starts, let running ones finish (they register their stop)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise RuntimeError(f"{len(errors)}/{size} redis-servers failed to start: {errors[0]!r}")
    return servers


def fleet_phase(size: int, rounds: int) -> dict[str, dict[str, object]]:
    with contextlib.ExitStack() as stack:
        servers = start_fleet(size, stack)
        paths = [f"/scrape?target={quote(s.url, safe='')}" for s in servers]
        sides: dict[str, FleetSide] = {}
        for kind in KINDS:
            exporter = start_side(kind, stack, *(("--allow-target", "127.0.0.1:*") if kind == "ours" else ()))
            sides[kind] = FleetSide(kind, exporter, [RawHttpConnection(exporter.port) for _ in servers])
        asyncio.run(fleet_rounds(sides, paths, rounds))
        return {kind: {
            "p50_ms": percentile(side.latencies, 50) * 1e3,
            "p99_ms": percentile(side.latencies, 99) * 1e3,
            "max_ms": max(side.latencies, default=float("nan")) * 1e3,
            "rss_mb": rss_bytes(side.exporter.proc.pid) / 2**20,
            "cpu_s_per_round": side.cpu / rounds,
            "errors": side.errors,
            "up_in_warmup": side.up_in_warmup,
            "requests": len(side.latencies),
            "reconnects": sum(c.reconnects for c in side.conns),
        } for kind, side in sides.items()}


# --- report ---------------------------------------------------------------------------------------------
@dataclass
class Row:
    figure: str
    ours: float | None
    peer: float | None
    target: float | None = None  # max ratio ours/peer; None = for information
    unit_fmt: str = "{:.2f}"

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.peer is None or self.peer == 0:
            return None
        return self.ours / self.peer

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.ratio is not None and self.ratio <= self.target

    def cells(self) -> list[str]:
        def fmt(value: float | None) -> str:
            return "—" if value is None else self.unit_fmt.format(value)

        ratio = "—" if self.ratio is None else f"{self.ratio:.2f}"
        target = "info" if self.target is None else f"≤ {self.target:.1f}"
        met = {None: "—", True: "yes", False: "**NO**"}[self.met]
        return [self.figure, fmt(self.ours), fmt(self.peer), ratio, target, met]


def metric_rows(m: dict[str, dict[str, object]]) -> list[Row]:
    def row(figure: str, key: str, target: float | None = None, fmt: str = "{:.2f}") -> Row:
        return Row(figure, float(m["ours"][key]), float(m["peer"][key]), target, fmt)  # type: ignore[arg-type]

    def check(figure: str, key: str) -> Row:
        return Row(figure, float(m["ours"]["check"][key]), float(m["peer"]["check"][key]),  # type: ignore[index]
                   None, "{:.0f}")

    return [
        row("/metrics wall time p50 (ms)", "p50_ms", 0.5, "{:.3f}"),
        row("/metrics wall time p90 (ms)", "p90_ms", None, "{:.3f}"),
        row("/metrics wall time p99 (ms)", "p99_ms", None, "{:.3f}"),
        row("exporter CPU per scrape (ms)", "cpu_ms_per_scrape", 0.5, "{:.3f}"),
        row("redis main-thread time per back-to-back scrape (µs; no traffic between scrapes)",
            "redis_usec_per_scrape", None, "{:.1f}"),
        row("redis main-thread CPU incl. connects and I/O (µs)", "redis_thread_usec_per_scrape", None, "{:.1f}"),
        row("redis commands per scrape", "redis_calls_per_scrape"),
        row("redis connections per scrape", "redis_connections_per_scrape"),
        check("/metrics redis_up (1 = the verification scrape saw redis_up 1)", "redis_up"),
        check("/metrics series (lines)", "series"),
        check("/metrics body, uncompressed (bytes)", "bytes_plain"),
        check("/metrics body, on the wire (bytes)", "bytes_wire"),
    ]


def interval_rows(r: dict[str, dict[str, dict[str, float]]]) -> list[Row]:
    rows = []
    for interval in (f"{i:.0f}" for i in SIM_INTERVALS):
        ours, peer = r["ours"][interval], r["peer"][interval]
        rows.append(Row(f"redis time per scrape at a {interval} s interval, mean (µs; commandstats usec, "
                        "steady traffic)", ours["mean_usec"], peer["mean_usec"], 0.5, "{:.1f}"))
        rows.append(Row(f"… at {interval} s: exporter CPU per scrape (ms; scrapes that far apart)",
                        ours["exporter_cpu_ms"], peer["exporter_cpu_ms"], None, "{:.3f}"))
        rows.append(Row(f"… at {interval} s: LATENCY HISTOGRAM calls per scrape",
                        ours["latency_histogram_calls_per_scrape"], peer["latency_histogram_calls_per_scrape"], None,
                        "{:.2f}"))
    dev = r["ours"]["300"]["percentile_deviation"]
    rows.append(Row("redis_latency_percentiles_usec against INFO latencystats: median factor (ours only)",
                    float(dev["median_factor"]), None, None, "{:.2f}"))  # type: ignore[arg-type]
    rows.append(Row("… largest factor (ours only)", float(dev["max_factor"]), None, None,  # type: ignore[arg-type]
                    "{:.2f}"))
    return rows


def fleet_rows(f: dict[str, dict[str, object]], size: int) -> list[Row]:
    def row(figure: str, key: str, target: float | None = None, fmt: str = "{:.2f}") -> Row:
        return Row(figure, float(f["ours"][key]), float(f["peer"][key]), target, fmt)  # type: ignore[arg-type]

    return [
        row(f"fleet of {size}: /scrape latency p50 (ms)", "p50_ms", None, "{:.1f}"),
        row(f"fleet of {size}: /scrape latency p99 (ms)", "p99_ms", 1.0, "{:.1f}"),
        row(f"fleet of {size}: exporter RSS after rounds (MiB)", "rss_mb", None, "{:.1f}"),
        row(f"fleet of {size}: exporter CPU per round (s)", "cpu_s_per_round", None, "{:.3f}"),
        row(f"fleet of {size}: failed requests", "errors", None, "{:.0f}"),
        row(f"fleet of {size}: targets up in warm-up round", "up_in_warmup", None, "{:.0f}"),
    ]


def markdown(rows: list[Row]) -> str:
    header = ["figure", "ours", "peer", "ratio ours/peer", "target", "met?"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * 4 + [":---:"]) + "|"]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def machine_info() -> dict[str, object]:
    def first_line(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"unavailable ({exc})"
        return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else ""

    peer = first_line(["prometheus-redis-exporter", "--version"])
    match = re.search(r'msg="([^"]*)"', peer)
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "loadavg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redis_server": first_line(["redis-server", "--version"]),
        "peer": " ".join(match.group(1).split()) if match else peer,
        "cachewatch": CACHEWATCH_VERSION,
    }


# --- main -----------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scrapes", type=int, default=500, help="measured /metrics scrapes per exporter (500)")
    p.add_argument("--warmup", type=int, default=50, help="unmeasured /metrics scrapes per exporter first (50)")
    p.add_argument("--block", type=int, default=50, help="scrapes per interleaved block (50)")
    p.add_argument("--fleet-size", type=int, default=100, help="redis-servers scraped at once via /scrape (100)")
    p.add_argument("--rounds", type=int, default=20, help="measured fleet rounds per exporter (20)")
    p.add_argument("--quick", action="store_true", help="smoke run: 100 scrapes, fleet of 20, 5 rounds")
    p.add_argument("--skip-fleet", action="store_true", help="leave out the fleet phase")
    p.add_argument("--skip-intervals", action="store_true", help="leave out the scrape-interval phase")
    p.add_argument("--interval-rounds", type=int, default=1,
                   help="multiply the measured scrapes of the interval phase (1: 40 / 14 / 8 at 15 / 60 / 300 s)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed or a phase failed")
    args = p.parse_args(argv)
    if args.quick:
        args.scrapes, args.warmup, args.fleet_size, args.rounds = 100, 20, 20, 5
    return args


def run_phase(name: str, fn: Callable[[], dict[str, dict[str, object]]], errors: dict[str, str]
              ) -> dict[str, dict[str, object]] | None:
    """Run one phase; a failure is reported (and recorded), never raised, so the other phase still runs."""
    print(f"# running {name} ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        result = fn()
    except Exception as exc:  # the benchmark reports, it does not crash
        traceback.print_exc()
        errors[name] = f"{type(exc).__name__}: {exc}"
        return None
    print(f"# {name} done in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
    return result


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so every finally (and ExitStack) stops its processes."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def kill_leftover_children() -> None:
    """Last resort: stop any process this benchmark started that is still alive (by pid, ours only)."""
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child.kill()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    errors: dict[str, str] = {}
    rows: list[Row] = []
    results: dict[str, object] = {}
    with sigterm_as_interrupt():
        try:
            m = run_phase("metrics", lambda: metrics_phase(args.scrapes, args.warmup, args.block), errors)
            if m is not None:
                results["metrics"] = m
                rows += metric_rows(m)
            if not args.skip_intervals:
                r = run_phase("intervals", lambda: interval_phase(args.interval_rounds), errors)
                if r is not None:
                    results["intervals"] = r
                    rows += interval_rows(r)  # type: ignore[arg-type]
            if not args.skip_fleet:
                f = run_phase("fleet", lambda: fleet_phase(args.fleet_size, args.rounds), errors)
                if f is not None:
                    results["fleet"] = f
                    rows += fleet_rows(f, args.fleet_size)
        finally:
            kill_leftover_children()
    print_report(machine, args, rows, results, errors)
    if args.json:
        write_json(Path(args.json), machine, args, rows, results, errors)
    missed = [r.figure for r in rows if r.met is False]
    return 1 if args.strict and (missed or errors) else 0


def print_report(machine: dict[str, object], args: argparse.Namespace, rows: list[Row],
                 results: dict[str, object], errors: dict[str, str]) -> None:
    print("## Machine\n")
    for key, value in machine.items():
        print(f"- {key}: {value}")
    print(f"\n## Results ({args.scrapes} scrapes after {args.warmup} warm-up, blocks of {args.block}; "
          f"fleet of {args.fleet_size}, {args.rounds} rounds)\n")
    print(markdown(rows))
    if "metrics" in results:
        print("\n## Redis time per /metrics scrape, by command (µs; from INFO commandstats)\n")
        print(command_table(results["metrics"]))  # type: ignore[arg-type]
    for name, message in errors.items():
        print(f"\n**phase {name} failed**: {message}")


def command_table(m: dict[str, dict[str, object]]) -> str:
    ours: dict[str, dict[str, float]] = m["ours"]["per_command"]  # type: ignore[assignment]
    peer: dict[str, dict[str, float]] = m["peer"]["per_command"]  # type: ignore[assignment]
    names = sorted(set(ours) | set(peer), key=lambda n: -max(ours.get(n, {}).get("usec_per_scrape", 0),
                                                              peer.get(n, {}).get("usec_per_scrape", 0)))
    lines = ["| command | ours µs | peer µs | ours calls | peer calls |", "|---|---:|---:|---:|---:|"]
    for name in names:
        o, p = ours.get(name, {}), peer.get(name, {})
        cells = [f"{d['usec_per_scrape']:.1f}" if d else "—" for d in (o, p)]
        cells += [f"{d['calls_per_scrape']:.2f}" if d else "—" for d in (o, p)]
        lines.append(f"| {name.replace('|', ' ').upper()} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(path: Path, machine: dict[str, object], args: argparse.Namespace, rows: list[Row],
               results: dict[str, object], errors: dict[str, str]) -> None:
    doc = {
        "machine": machine,
        "config": {k: v for k, v in vars(args).items() if k != "json"},
        "rows": [{"figure": r.figure, "ours": r.ours, "peer": r.peer, "ratio": r.ratio, "target": r.target,
                  "met": r.met} for r in rows],
        "raw": results,
        "errors": errors,
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
