"""All the I/O of a diagnosis of one node: what the sections then judge, purely.

In order, within the node's deadline per step:

1. connect timing: a bare TCP connect, then a fresh client's first PING (TCP + TLS + AUTH + PING), a second PING
   and an AUTH on the open connection; TLS is what the first PING took beyond TCP, AUTH and PING;
2. a health snapshot (the check table's one round trip);
3. the latency window: PINGs on one connection for ``latency_seconds`` (1 ms apart), timed in µs, as
   ``redis-cli --latency-dist`` does;
4. a second health snapshot: the rate checks and the CPU / connection / replication rates use the two;
5. one pipelined round trip of the diagnose-only commands (``EXTRA``); each refused one is noted with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import redis.asyncio

from cachewatch.checks import Snapshot
from cachewatch.health.client import client_for
from cachewatch.health.replies import parse_config, parse_fields, text
from cachewatch.health.snapshot import classify, take_snapshot
from cachewatch.health.targets import Credentials, Target
from cachewatch.logs import redact

PING_PAUSE = 0.001  # seconds between two latency samples
MAX_PINGS = 100_000
SLOWLOG_ENTRIES = 128  # the default slowlog-max-len: all of it
# Configuration the sections read beyond the snapshot's CONFIG_KEYS (drift keys included).
CONFIG = ("maxmemory", "maxmemory-policy", "maxmemory-samples", "maxclients", "save", "appendonly", "appendfsync",
          "repl-backlog-size", "repl-timeout", "client-output-buffer-limit", "timeout", "tcp-keepalive", "hz",
          "io-threads", "lazyfree-lazy-eviction", "lazyfree-lazy-expire", "activedefrag", "latency-tracking",
          "latency-monitor-threshold", "slowlog-log-slower-than", "slowlog-max-len", "protected-mode", "bind",
          "tls-port", "hash-max-listpack-entries", "zset-max-listpack-entries", "set-max-intset-entries")
# family → command; parsed by PARSE below.
EXTRA: Mapping[str, tuple[str, ...]] = {
    "latencystats": ("INFO", "latencystats"),
    "commandstats": ("INFO", "commandstats"),
    "memory_stats": ("MEMORY", "STATS"),
    "memory_doctor": ("MEMORY", "DOCTOR"),
    "config": ("CONFIG", "GET", *CONFIG),
    "slowlog": ("SLOWLOG", "GET", str(SLOWLOG_ENTRIES)),
}


def flat_pairs(reply: object) -> dict[str, object]:
    """MEMORY STATS: ``[name, value, ...]`` with nested lists (``db.0``) → a dict (nested ones too)."""
    items = list(reply)  # type: ignore[call-overload]
    out: dict[str, object] = {}
    for name, value in zip(items[::2], items[1::2], strict=True):
        if isinstance(value, list):
            out[text(name)] = flat_pairs(value)
        elif isinstance(value, bytes | str):
            try:
                out[text(name)] = float(value)
            except ValueError:
                out[text(name)] = text(value)
        else:
            out[text(name)] = value
    return out


def slow_entries(reply: object) -> list[tuple[int, int, int, str]]:
    """SLOWLOG GET → (id, unix time, µs, command name); arguments are dropped here, never kept or shown."""
    out = []
    for entry in reply:  # type: ignore[attr-defined]
        argv = entry[3]
        name = text(argv[0]).lower() if argv else ""
        if len(argv) > 1 and name in ("config", "client", "memory", "object", "acl", "debug", "cluster"):
            name = f"{name}|{text(argv[1]).lower()}"  # a subcommand name is no key or value
        out.append((int(entry[0]), int(entry[1]), int(entry[2]), name))
    return out


PARSE = {"latencystats": parse_fields, "commandstats": parse_fields, "memory_stats": flat_pairs,
         "memory_doctor": text, "config": parse_config, "slowlog": slow_entries}


@dataclass(frozen=True)
class Evidence:
    target: Target
    first: Snapshot
    snapshot: Snapshot  # the second, after the latency window
    window: float  # seconds between the two snapshots (the prober's clock)
    pings_usec: tuple[float, ...]
    timings: Mapping[str, float]  # phase → seconds: tcp, tls, auth, ping (absent: did not apply)
    extra: Mapping[str, object] = field(default_factory=dict)  # family → parsed reply
    refused: Mapping[str, str] = field(default_factory=dict)  # family → the server's reason

    def number(self, name: str, default: float = 0.0) -> float:
        value = self.snapshot.number(name)
        return default if value is None else value

    def rate(self, name: str) -> float | None:
        """Per-second growth of an INFO counter over the window."""
        before, now = self.first.number(name), self.snapshot.number(name)
        if before is None or now is None or now < before or self.window <= 0:
            return None
        return (now - before) / self.window

    @property
    def config(self) -> Mapping[str, str]:
        got = self.extra.get("config")
        return {**self.snapshot.config, **(got if isinstance(got, dict) else {})}


@dataclass(frozen=True)
class Options:
    timeout: float = 2.0  # per step (connect, each round trip)
    latency_seconds: float = 1.0  # the latency window; at least this long between the two snapshots


async def time_connect(target: Target, credentials: Credentials, timeout: float) -> dict[str, float]:
    """Seconds per phase of opening a connection (see the module docstring)."""
    start = time.perf_counter()
    _, writer = await asyncio.wait_for(asyncio.open_connection(target.host, target.port), timeout)
    tcp = time.perf_counter() - start
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    client = client_for(target, credentials, timeout)
    try:
        async with asyncio.timeout(timeout * 3):
            start = time.perf_counter()
            await client.execute_command("PING")
            first = time.perf_counter() - start
            start = time.perf_counter()
            await client.execute_command("PING")
            ping = time.perf_counter() - start
            out = {"tcp": tcp, "ping": ping}
            if credentials.password:
                user = credentials.username or target.username
                start = time.perf_counter()
                await client.execute_command("AUTH", *([user] if user else []), credentials.password)
                out["auth"] = time.perf_counter() - start
            if target.tls:
                out["tls"] = max(first - tcp - out.get("auth", 0.0) - ping, 0.0)
            return out
    finally:
        await client.aclose()


async def ping_window(client: redis.asyncio.Redis, seconds: float, timeout: float) -> tuple[float, ...]:
    """PING round trips in µs on one connection for ``seconds`` (one at a time, ``PING_PAUSE`` apart)."""
    out: list[float] = []
    connection = await client.connection_pool.get_connection()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and len(out) < MAX_PINGS:
            start = time.perf_counter_ns()
            async with asyncio.timeout(timeout):
                await connection.send_command("PING")
                await connection.read_response()
            out.append((time.perf_counter_ns() - start) / 1000)
            await asyncio.sleep(PING_PAUSE)
    finally:
        await client.connection_pool.release(connection)
    return tuple(out)


async def extra_round_trip(client: redis.asyncio.Redis, timeout: float) -> tuple[dict[str, object], dict[str, str]]:
    pipe = client.pipeline(transaction=False)
    pipe.response_callbacks = {}
    for command in EXTRA.values():
        pipe.execute_command(*command)
    async with asyncio.timeout(timeout):
        replies = await pipe.execute(raise_on_error=False)
    parsed: dict[str, object] = {}
    refused: dict[str, str] = {}
    for family, reply in zip(EXTRA, replies, strict=True):
        if isinstance(reply, BaseException):
            refused[family] = redact(str(reply).splitlines()[0] if str(reply) else type(reply).__name__)
            continue
        try:
            parsed[family] = PARSE[family](reply)
        except (ValueError, TypeError, IndexError, KeyError, AttributeError):
            refused[family] = "unreadable reply"
    return parsed, refused


async def collect(target: Target, credentials: Credentials, options: Options = Options()) -> Evidence:
    """Everything the sections need from one node; NodeUnreachable (with the phase) when it cannot be asked."""
    try:
        timings = await time_connect(target, credentials, options.timeout)
    except Exception as exc:  # the node's failure is its report, never the run's crash
        raise classify(exc, options.timeout) from None
    client = client_for(target, credentials, options.timeout)
    try:
        first = await take_snapshot(client, kind=target.kind, timeout=options.timeout)
        started = time.monotonic()
        try:
            pings = await ping_window(client, options.latency_seconds, options.timeout)
            await asyncio.sleep(max(options.latency_seconds - (time.monotonic() - started), 0.0))
            second = await take_snapshot(client, kind=target.kind, timeout=options.timeout)
            extra, refused = await extra_round_trip(client, options.timeout)
        except Exception as exc:
            raise classify(exc, options.timeout) from None
        window = second.taken - first.taken
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
    refused_too = {family: "refused" for family in second.refused if family not in refused}
    return Evidence(target=target, first=first, snapshot=second, window=window, pings_usec=pings, timings=timings,
                    extra=extra, refused={**refused_too, **refused})
