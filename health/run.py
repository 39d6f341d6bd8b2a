"""``cachewatch health``: check every node concurrently, once or every ``--watch`` period, and report.

Each node gets one pipelined round trip with its own deadline; at most ``concurrency`` are in flight, so a fleet
of hundreds does not open hundreds of sockets at once and a dead node costs its deadline, not the run's.

Rate checks (mem.eviction_rate, mem.oom_rejects, net.rejected_connections, repl.full_sync) compare two samples.
With ``--watch`` the previous cycle is the first sample, so they work from the second cycle on. Without it, one
sample is taken by default (those checks report ``skip``); ``--interval 5s`` takes a first sample, waits, and
evaluates the second against it.

Exit code: the worst node decides, in the order unhealthy (2) > unknown (3) > degraded (1) > healthy (0): a node
that could not be judged may hide anything up to unhealthy. ``--watch`` returns the last cycle's code when stopped
by SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO, TypeVar

import redis.asyncio

from cachewatch.checks import Snapshot
from cachewatch.health.alertmanager_post import AlertmanagerPoster
from cachewatch.health.client import client_for
from cachewatch.health.evaluate import NodeHealth, State, evaluate, unreachable
from cachewatch.health.report import table, to_json
from cachewatch.health.snapshot import NodeUnreachable, take_snapshot
from cachewatch.health.targets import (
    Credentials,
    Target,
    TargetError,
    Tls,
    read_credentials,
    targets_from_spec,
    targets_from_urls,
)
from cachewatch.logs import iso_time
from cachewatch.spec import FleetSpec

EXIT_CODES: Mapping[State, int] = {"healthy": 0, "degraded": 1, "unhealthy": 2, "unknown": 3}
WORST_FIRST: tuple[State, ...] = ("unhealthy", "unknown", "degraded", "healthy")
CONCURRENCY = 64
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_T = TypeVar("_T")


@dataclass(frozen=True)
class Options:
    timeout: float = 2.0  # seconds per node: connect, AUTH and the round trip
    interval: float = 0.0  # seconds between the two samples of a single run; 0: one sample
    watch: float | None = None  # repeat every so many seconds until stopped
    concurrency: int = CONCURRENCY


@dataclass
class Node:
    """A target with its client and its previous sample, kept across cycles (one open connection each)."""

    target: Target
    client: redis.asyncio.Redis
    previous: Snapshot | None = None


def worst(nodes: Sequence[NodeHealth]) -> State:
    states = {n.state for n in nodes}
    return next((state for state in WORST_FIRST if state in states), "unknown")


def exit_code(nodes: Sequence[NodeHealth]) -> int:
    return EXIT_CODES[worst(nodes)]


async def _sample(node: Node, timeout: float) -> Snapshot | NodeUnreachable:
    try:
        return await take_snapshot(node.client, kind=node.target.kind, timeout=timeout)
    except NodeUnreachable as exc:
        return exc


async def prime(node: Node, timeout: float) -> None:
    """A first sample for the rate checks; a failure leaves none (the check then reports the node)."""
    sample = await _sample(node, timeout)
    if isinstance(sample, Snapshot):
        node.previous = sample


async def check_node(node: Node, timeout: float) -> NodeHealth:
    target = node.target
    sample = await _sample(node, timeout)
    if isinstance(sample, NodeUnreachable):
        return unreachable(target.address, sample.phase, sample.reason, timestamp=time.time(),
                           cluster=target.cluster, kind=target.kind)
    health = evaluate(sample, node.previous, target.overrides, address=target.address, cluster=target.cluster)
    node.previous = sample
    return health


async def cycle(nodes: Sequence[Node], options: Options) -> list[NodeHealth]:
    """One check of every node, at most ``options.concurrency`` at a time."""
    limit = asyncio.Semaphore(options.concurrency)

    async def bounded(step: Callable[[Node, float], Awaitable[_T]], node: Node) -> _T:
        async with limit:
            return await step(node, options.timeout)

    unprimed = [n for n in nodes if n.previous is None]
    if options.interval > 0 and unprimed:
        await asyncio.gather(*(bounded(prime, n) for n in unprimed))
        await asyncio.sleep(options.interval)
    return list(await asyncio.gather(*(bounded(check_node, n) for n in nodes)))


async def watch(targets: Sequence[Target], credentials: Credentials, options: Options,
                emit: Callable[[list[NodeHealth]], None], stop: asyncio.Event | None = None,
                poster: AlertmanagerPoster | None = None) -> int:
    """Check every target once, or every ``options.watch`` seconds until ``stop`` is set; the exit code of the
    last cycle. Cycles never overlap: a slow cycle delays the next one. ``poster`` gets every cycle's results
    (unhealthy nodes become alerts in Alertmanager)."""
    nodes = [Node(t, client_for(t, credentials, options.timeout)) for t in targets]
    stop = stop or asyncio.Event()
    try:
        while True:
            started = time.monotonic()
            results = await cycle(nodes, options)
            emit(results)
            if poster is not None:
                await poster.update(results)
            if options.watch is None or await _stopped(stop, options.watch - (time.monotonic() - started)):
                return exit_code(results)
    finally:
        await asyncio.gather(*(n.client.aclose() for n in nodes), return_exceptions=True)


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds``; True when ``stop`` was set meanwhile."""
    try:
        async with asyncio.timeout(max(seconds, 0.0)):
            await stop.wait()
    except TimeoutError:
        return stop.is_set()
    return True


# --- the command's entry point -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """What the command line asked for (cachewatch/cli/health.py builds it)."""

    spec: FleetSpec | None = None
    urls: tuple[str, ...] = ()
    as_json: bool = False
    options: Options = Options()
    user: str | None = None
    password_file: str | None = None
    tls: Tls = field(default_factory=Tls)
    alertmanager_url: str | None = None  # post RedisNodeUnhealthy for unhealthy nodes (the monitor's loop)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def plan(request: Request) -> tuple[list[Target], Credentials]:
    """The targets and credentials, or TargetError (a usage error: nothing was contacted)."""
    targets = (targets_from_spec(request.spec, request.environ) if request.spec else []) + \
        targets_from_urls(request.urls)
    if not targets:
        raise TargetError("nothing to check: give a SPEC or at least one --target redis://host:port")
    return targets, read_credentials(request.user, request.password_file, request.environ, request.tls)


def printer(as_json: bool, watching: bool, out: TextIO) -> Callable[[list[NodeHealth]], None]:
    """How each cycle is printed: a table (with the time when watching), pretty JSON, or one JSON line per cycle."""
    def emit(nodes: list[NodeHealth]) -> None:
        if as_json:
            text = to_json(nodes, compact=watching) + "\n"
        else:
            text = (f"# {iso_time(time.time())}\n" if watching else "") + table(nodes) + ("\n" if watching else "")
        out.write(text)
        out.flush()
    return emit


def main(request: Request, out: TextIO = sys.stdout) -> int:
    """Run the command; TargetError for a usage problem. With ``--watch``, SIGINT/SIGTERM end it after the
    current cycle."""
    targets, credentials = plan(request)
    emit = printer(request.as_json, request.options.watch is not None, out)
    return asyncio.run(_main(targets, credentials, request.options, emit, request.alertmanager_url))


async def _main(targets: list[Target], credentials: Credentials, options: Options,
                emit: Callable[[list[NodeHealth]], None], alertmanager_url: str | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if options.watch is not None:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stop.set)
    try:
        poster = AlertmanagerPoster(alertmanager_url, interval=options.watch or 30.0, timeout=options.timeout) \
            if alertmanager_url else None
        return await watch(targets, credentials, options, emit, stop, poster)
    finally:
        if options.watch is not None:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
