"""Benchmark: the alert lifecycle service's intake and console, on this machine.

    .venv/bin/python bench/lifecycle_bench.py [--episodes 10000] [--posts 5000] [--concurrency 50] [--json out.json]

Figures (a Markdown table; the script never asserts and exits 0):

- replay: 100,000 webhook notifications (``--episodes`` × 10: each episode's firing and resolved notification
  from both members of an HA pair, a repeat from each, two exact replays, a retried resolve and a late firing
  duplicate), in the order Alertmanager would have sent them, through ``parse_webhook`` + ``Intake.ingest`` into a
  fresh SQLite store — one transaction per notification, as the webhook handler commits before it answers;
  notifications per second and the number of episodes (must be exactly ``--episodes``);
- /webhook under load: ``cachewatch alerts serve`` in its own process (SQLite), ``--concurrency`` clients posting
  ``--posts`` notifications (new alerts, repeats and resolves) at once; p50/p99 latency as the clients see it;
- console: the same service with ``--episodes`` open episodes; server time of the open-episodes page (``GET /``)
  and of the history page, median of 20 requests over loopback.
There is no peer to run beside it: no other Alertmanager companion keeps episodes (docs/alert-lifecycle.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from cachewatch.alert_lifecycle.intake import Intake
from cachewatch.alert_lifecycle.model import format_time
from cachewatch.alert_lifecycle.payload import parse_webhook
from cachewatch.alert_lifecycle.store import repository as repo
from cachewatch.alert_lifecycle.store.engine import open_store
from cachewatch.local_redis import free_port

T0 = 1_800_000_000.0
SPEC = """\
regions: [{name: eu, clusters: [{name: c0, team: team0, nodes: [{address: "10.0.0.1:6379"}]}]}]
teams:
  - {name: team0, members: [bench], channels: {hook: {kind: webhook, url: "http://127.0.0.1:9/"}},
     escalation: {critical: [hook]}}
alert_lifecycle: {admins: [bench]}
"""


def _labels(e: int) -> dict[str, str]:
    return {"alertname": f"Alert{e % 40}", "team": f"team{e % 5}", "severity": ("critical", "warning")[e % 2],
            "cluster": f"c{e % 25}", "region": "eu", "instance": f"10.0.{e % 2500 // 250}.{e % 250}:6379"}


def _body(e: int, status: str, member: int, start: float, end: float, fingerprints: int = 2500) -> bytes:
    fingerprint = f"{e % fingerprints:016x}"
    labels = _labels(e)
    return json.dumps({
        "version": "4", "status": status, "receiver": "cachewatch-history", "truncatedAlerts": 0,
        "groupKey": f'{{}}/{{}}:{{fp="{fingerprint}"}}', "externalURL": f"http://am{member}:9093",
        "groupLabels": {}, "commonLabels": labels, "commonAnnotations": {},
        "alerts": [{"status": status, "labels": labels, "annotations": {"summary": "bench"},
                    "startsAt": format_time(start),
                    "endsAt": format_time(end) if status == "resolved" else "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus:9090/graph", "fingerprint": fingerprint}]}).encode()


def notifications(episodes: int) -> list[tuple[float, bytes]]:
    """Ten notifications per episode, in send order; 2,500 fingerprints, each firing four times."""
    out = []
    for e in range(episodes):
        start = T0 + e * 60.0
        end = start + 300
        for member in (0, 1):  # the HA pair: each member sends its own (15 s apart, peer_timeout)
            out += [(start + 1 + 15 * member, _body(e, "firing", member, start, end)),
                    (start + 130 + 15 * member, _body(e, "firing", member, start, end)),  # repeat
                    (end + 30 + 15 * member, _body(e, "resolved", member, start, end))]
        out += [(start + 1, _body(e, "firing", 0, start, end)),  # exact replays
                (end + 45, _body(e, "resolved", 1, start, end)),
                (end + 100, _body(e, "resolved", 0, start, end) + b" "),  # a retried resolve
                (start + 200, _body(e, "firing", 1, start, end) + b" ")]  # a late firing duplicate
    return sorted(out, key=lambda pair: pair[0])


def replay(episodes: int, tmp: Path) -> dict:
    store = open_store(str(tmp / "replay.db"))
    intake = Intake(store)
    sent = notifications(episodes)
    started = time.perf_counter()
    for at, body in sent:
        observations, record = parse_webhook(body, at)
        intake.ingest(observations, record)
    seconds = time.perf_counter() - started
    with store.read() as conn:
        count = repo.count_episodes(conn, repo.EpisodeFilter())
    store.close()
    return {"notifications": len(sent), "per_second": len(sent) / seconds, "episodes": count}


@contextlib.contextmanager
def serving(tmp: Path, database: Path) -> Iterator[str]:
    spec = tmp / "spec.yml"
    spec.write_text(SPEC)
    port = free_port()
    log = (tmp / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "cachewatch", "alerts", "serve", str(spec),
                             "--listen", f"127.0.0.1:{port}", "--database", str(database),
                             "--proxy-user-header", "X-Forwarded-User"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the service did not start:\n{(tmp / 'serve.log').read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


async def _post_all(base: str, bodies: list[bytes], concurrency: int) -> list[float]:
    """``concurrency`` keep-alive connections posting as fast as answers come. Raw HTTP/1.1 over asyncio streams:
    an HTTP client library would spend more CPU than the server on these two cores, and measure itself."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    queue = list(reversed(bodies))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while queue:
                body = queue.pop()
                head = (f"POST /webhook HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n").encode()
                started = time.perf_counter()
                writer.write(head + body)
                status = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if b" 200 " not in status:
                    raise SystemExit(f"/webhook answered {status!r}")
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def webhook_load(posts: int, concurrency: int, tmp: Path) -> dict:
    bodies = [body for _, body in notifications(max(1, posts // 10))][:posts]
    with serving(tmp, tmp / "webhook.db") as base:
        asyncio.run(_post_all(base, bodies[: concurrency * 2], concurrency))  # warm up
        started = time.perf_counter()
        latencies = sorted(asyncio.run(_post_all(base, bodies, concurrency)))
        seconds = time.perf_counter() - started
    return {"posts": len(latencies), "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1], "per_second": len(latencies) / seconds}


def console(episodes: int, tmp: Path) -> dict:
    database = tmp / "console.db"
    store = open_store(str(database))
    intake = Intake(store)
    for e in range(episodes):  # all open: one firing notification each, distinct fingerprints
        intake.ingest(*parse_webhook(_body(e, "firing", 0, T0 + e, T0 + e + 300, fingerprints=episodes), T0 + e + 1))
    store.close()
    figures = {}
    headers = {"X-Forwarded-User": "bench"}
    with serving(tmp, database) as base, httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for name, path in (("open_page", "/"), ("history_page", "/history")):
            client.get(path).raise_for_status()
            times = []
            for _ in range(20):
                started = time.perf_counter()
                response = client.get(path)
                times.append(time.perf_counter() - started)
                response.raise_for_status()
            figures[f"{name}_ms"] = 1000 * statistics.median(times)
            figures[f"{name}_kib"] = len(response.content) / 1024
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cachewatch-lifecycle-bench-") as tmp:
        results = {"replay": replay(args.episodes, Path(tmp)),
                   "webhook": webhook_load(args.posts, args.concurrency, Path(tmp)),
                   "console": console(args.episodes, Path(tmp))}
    r, w, c = results["replay"], results["webhook"], results["console"]
    print("| figure | result | target |\n|---|---|---|")
    print(f"| replay of {r['notifications']:,} webhook notifications into SQLite | {r['per_second']:,.0f}/s, "
          f"{r['episodes']:,} episodes | ≥ 2,000/s, exactly {args.episodes:,} |")
    print(f"| /webhook under {args.concurrency} concurrent posts ({w['posts']:,} posts) | p50 {w['p50_ms']:.1f} ms, "
          f"p99 {w['p99_ms']:.1f} ms ({w['per_second']:,.0f}/s) | p99 ≤ 50 ms |")
    print(f"| console list page, {args.episodes:,} open episodes | {c['open_page_ms']:.0f} ms "
          f"({c['open_page_kib']:.0f} KiB); history page {c['history_page_ms']:.0f} ms | ≤ 300 ms |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
