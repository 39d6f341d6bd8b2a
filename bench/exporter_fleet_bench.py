"""Benchmark: one exporter for a fleet, scraped by a real Prometheus as in production, against the peer.

N local redis-servers (default 1,000; as many as the machine holds) are scraped through ``/scrape`` by Debian's
Prometheus at a 15 s interval (10 s timeout), the way the generated ``prometheus.yml`` does it: Prometheus
spreads the targets over the interval and keeps one HTTP connection per target. First through our exporter,
then through the peer (Debian's prometheus-redis-exporter 1.45 in multi-target mode), each for ``--intervals``
intervals after one interval of warm-up. Per side:

- scrape duration p50 / p99 / max as Prometheus saw it (``scrape_duration_seconds``), and failed scrapes
  (``up == 0``) — p99 must stay within the scrape timeout;
- exporter CPU per target scrape: the process's user + system CPU over the window / the scrapes Prometheus made
  in it;
- exporter memory per target: (RSS after the window − RSS before the first scrape) / N.

    .venv/bin/python bench/exporter_fleet_bench.py [--targets 1000] [--interval 15] [--intervals 4] [--json F]

The redis-servers are idle apart from the scrapes (a few keys each): the figure is the exporter's cost per
target, not Redis'. It never asserts; it prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cachewatch.local_redis import RedisServer, start_redis  # noqa: E402
from tests.support.exporter_process import ExporterProcess, start_exporter, start_peer  # noqa: E402
from tests.support.prometheus_process import api, running_prometheus  # noqa: E402

PEER_ARGS = ("--redis-only-metrics",)


@dataclass
class Side:
    name: str
    scrapes: int
    failed: int
    p50: float
    p99: float
    worst: float
    cpu_per_scrape: float
    rss_per_target: float
    prometheus_cpu: float


def start_fleet(size: int, stack: contextlib.ExitStack) -> list[RedisServer]:
    """``size`` redis-servers started 16 at a time, each with a few keys; all stopped when ``stack`` closes."""
    servers: list[RedisServer] = []
    lock = threading.Lock()

    def one(_: int) -> None:
        server = start_redis("--save", "", "--appendonly", "no")
        with lock:
            servers.append(server)
            stack.callback(server.stop)
        with contextlib.closing(redis.Redis(port=server.port)) as client:
            client.mset({f"key:{i}": "x" * 64 for i in range(20)})
            client.get("key:1")

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, range(size)))
    return servers


def prometheus_yml(exporter_port: int, servers: list[RedisServer], interval: float) -> str:
    targets = json.dumps([s.addr for s in servers])
    return f"""global:
  scrape_interval: {round(interval * 1000)}ms
  scrape_timeout: {round(min(10.0, interval * 2 / 3) * 1000)}ms
scrape_configs:
- job_name: redis
  metrics_path: /scrape
  static_configs:
  - targets: {targets}
  relabel_configs:
  - source_labels: [__address__]
    target_label: __param_target
    replacement: redis://$1
  - source_labels: [__address__]
    target_label: instance
  - target_label: __address__
    replacement: 127.0.0.1:{exporter_port}
"""


def samples(port: int, promql: str, at: float) -> list[float]:
    """Every sample value of a range-vector query evaluated at ``at``."""
    result = api(port, "query", query=promql, time=f"{at:.3f}")["result"]  # type: ignore[index]
    return [float(v) for series in result for _, v in series["values"]]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * q / 100))]


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def measure(name: str, exporter: ExporterProcess, servers: list[RedisServer], interval: float, intervals: int,
            tmp: Path) -> Side:
    rss_before = psutil.Process(exporter.proc.pid).memory_info().rss
    config = tmp / f"{name}.yml"
    config.write_text(prometheus_yml(exporter.port, servers, interval))
    data = tmp / name
    data.mkdir()
    with running_prometheus(config, data) as port:
        time.sleep(interval * 1.5)  # warm-up: every target scraped at least once, connections open
        prometheus = next(p for p in psutil.process_iter(["cmdline"])
                          if f"--web.listen-address=127.0.0.1:{port}" in (p.info["cmdline"] or []))
        start, cpu0, prom0 = time.time(), cpu_seconds(exporter.proc.pid), cpu_seconds(prometheus.pid)
        time.sleep(interval * intervals)
        end, cpu1, prom1 = time.time(), cpu_seconds(exporter.proc.pid), cpu_seconds(prometheus.pid)
        window = f"{int(end - start)}s"
        durations = samples(port, f'scrape_duration_seconds{{job="redis"}}[{window}]', end)
        up = samples(port, f'up{{job="redis"}}[{window}]', end)
        rss_after = psutil.Process(exporter.proc.pid).memory_info().rss
    return Side(name=name, scrapes=len(durations), failed=sum(1 for v in up if v == 0),
                p50=percentile(durations, 50), p99=percentile(durations, 99), worst=max(durations, default=math.nan),
                cpu_per_scrape=(cpu1 - cpu0) / max(1, len(durations)),
                rss_per_target=(rss_after - rss_before) / len(servers),
                prometheus_cpu=(prom1 - prom0) / (end - start))


def table(sides: dict[str, Side], targets: int, interval: float, timeout: float) -> str:
    ours, peer = sides["ours"], sides["peer"]
    rows = [
        ("scrapes in the window", f"{ours.scrapes}", f"{peer.scrapes}", "", ""),
        ("failed scrapes (up == 0)", f"{ours.failed}", f"{peer.failed}", "", "0"),
        ("scrape duration p50", f"{ours.p50 * 1e3:.1f} ms", f"{peer.p50 * 1e3:.1f} ms",
         f"{ours.p50 / peer.p50:.2f}", ""),
        ("scrape duration p99", f"{ours.p99 * 1e3:.1f} ms", f"{peer.p99 * 1e3:.1f} ms",
         f"{ours.p99 / peer.p99:.2f}", f"< {timeout:g} s: {'yes' if ours.p99 < timeout else 'NO'}"),
        ("scrape duration max", f"{ours.worst * 1e3:.1f} ms", f"{peer.worst * 1e3:.1f} ms", "", ""),
        ("exporter CPU per target scrape", f"{ours.cpu_per_scrape * 1e3:.3f} ms",
         f"{peer.cpu_per_scrape * 1e3:.3f} ms", f"{ours.cpu_per_scrape / peer.cpu_per_scrape:.2f}",
         f"≤ 0.5: {'yes' if ours.cpu_per_scrape <= 0.5 * peer.cpu_per_scrape else 'NO'}"),
        ("exporter CPU, share of one core", f"{ours.cpu_per_scrape * targets / interval:.1%}",
         f"{peer.cpu_per_scrape * targets / interval:.1%}", "", ""),
        ("exporter memory per target", f"{ours.rss_per_target / 1024:.1f} KiB", f"{peer.rss_per_target / 1024:.1f} KiB",
         "", ""),
        ("Prometheus CPU (cores)", f"{ours.prometheus_cpu:.2f}", f"{peer.prometheus_cpu:.2f}", "", ""),
    ]
    head = [f"{targets} redis-servers, scrape interval {interval:g} s, timeout {timeout:g} s", "",
            "| figure | ours | peer | ours/peer | target |", "|---|---:|---:|---:|---|"]
    return "\n".join(head + [f"| {' | '.join(row)} |" for row in rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--intervals", type=int, default=4, help="measured intervals per side, after a warm-up")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    timeout = min(10.0, args.interval * 2 / 3)
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="cw-fleet-bench-") as tmp:
        started = time.monotonic()
        servers = start_fleet(args.targets, stack)
        print(f"# {len(servers)} redis-servers up in {time.monotonic() - started:.0f} s", file=sys.stderr)
        sides = {}
        for name, start in (("ours", lambda: start_exporter("--allow-target", "127.0.0.1:*")),
                            ("peer", lambda: start_peer(*PEER_ARGS))):
            with start() as exporter:
                sides[name] = measure(name, exporter, servers, args.interval, args.intervals, Path(tmp))
            print(f"# {name}: {sides[name]}", file=sys.stderr)
    print(table(sides, args.targets, args.interval, timeout))
    if args.json:
        Path(args.json).write_text(json.dumps({k: v.__dict__ for k, v in sides.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
