"""One active probe of one node, in blackbox_exporter's style: ``probe(...)`` → samples for the exporter's
``/probe`` route (the top floor passes this function into the exporter's hook; neither part imports the other).

Phases, each timed on the prober's monotonic clock over one real connection: connect, tls (TLS targets only),
auth (with a password only), ping, then the module's own phase: ``checks`` (modules ``health`` and ``config``,
probe_checks.py) or ``heartbeat`` (module ``replication``, heartbeat.py).

Every failure (refused connection, TLS, a wrong password, a black hole, a refused command the module cannot do
without) becomes ``redis_probe_success 0`` plus the durations of the phases reached, the failed one last; no
exception leaves ``probe()`` and it returns within ``timeout`` seconds (one asyncio deadline around all of it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

from cachewatch.health.heartbeat import heartbeat
from cachewatch.health.phases import CHECKS, HEARTBEAT, PING, PhaseClock, ProbeFailure, failure_reason
from cachewatch.health.probe_checks import SnapshotMemory, evaluate_module, read_snapshot, unreachable_state
from cachewatch.health.probe_samples import DURATION, SUCCESS, Sample
from cachewatch.health.probe_wire import Endpoint, TlsOptions, Wire, dial
from cachewatch.spec import CheckLevels

KINDS = ("cache", "store")
# The heartbeat stops polling this long before the deadline (a share of it, capped) to report what it saw.
REPORT_MARGIN, REPORT_SHARE = 0.25, 0.1


@dataclass(frozen=True)
class ProbeOutcome:
    """The samples to expose, and (for logs, never for labels) where and why a failed probe stopped."""

    samples: tuple[Sample, ...]
    success: bool
    failed_phase: str = ""
    reason: str = ""


@dataclass(frozen=True)
class _Context:
    endpoint: Endpoint
    kind: str
    deadline: float  # the loop's clock: when the heartbeat stops polling
    memory: SnapshotMemory | None
    overrides: Mapping[str, CheckLevels]
    handshake: float = 0.0  # seconds the connect, tls and auth phases took


async def _checks(module: str, wire: Wire, ctx: _Context) -> list[Sample]:
    snap = await read_snapshot(wire, ctx.kind)
    previous = None
    if ctx.memory is not None and module == "health":  # config has no rate check: it keeps no snapshot
        previous = ctx.memory.swap(f"{ctx.kind}|{ctx.endpoint.address}", snap)
    return evaluate_module(module, snap, previous, ctx.overrides)


async def _replication(module: str, wire: Wire, ctx: _Context) -> list[Sample]:
    return await heartbeat(wire, ctx.endpoint, ctx.deadline, ctx.handshake)


# module → (its phase, what it does on the open connection)
RUNNERS: Mapping[str, tuple[str, Callable[[str, Wire, _Context], Awaitable[list[Sample]]]]] = {
    "health": (CHECKS, _checks),
    "config": (CHECKS, _checks),
    "replication": (HEARTBEAT, _replication),
}
MODULES = tuple(RUNNERS)


async def _ping(wire: Wire) -> None:
    reply = await wire.call("PING")
    if reply != "PONG":
        raise ProbeFailure(f"PING answered {str(reply).split(' ', 1)[0]!r}, not PONG")


async def probe(host: str, port: int, *, tls: bool = False, ca_file: str | None = None,
                cert_file: str | None = None, key_file: str | None = None, server_name: str | None = None,
                insecure_skip_verify: bool = False, username: str | None = None, password: str | None = None,
                module: str = "health", timeout: float = 5.0, kind: str = "cache",
                memory: SnapshotMemory | None = None,
                overrides: Mapping[str, CheckLevels] | None = None) -> ProbeOutcome:
    """Probe ``host:port`` with ``module`` within ``timeout`` seconds. ``memory`` keeps the previous snapshot
    per node for the rate checks (none: rate checks skip); ``overrides`` are the spec's check levels.
    An unknown module or kind is the caller's error (ValueError), not the node's."""
    if module not in RUNNERS:
        raise ValueError(f"unknown probe module {module!r}; use one of {', '.join(MODULES)}")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    loop = asyncio.get_running_loop()
    start = loop.time()
    tls_options = TlsOptions(ca_file, cert_file, key_file, server_name, insecure_skip_verify) if tls else None
    endpoint = Endpoint(host, port, tls_options, username or None, password)
    ctx = _Context(endpoint, kind, start + timeout - min(REPORT_MARGIN, timeout * REPORT_SHARE), memory,
                   overrides or {})
    phase, run = RUNNERS[module]
    clock = PhaseClock()
    wire: Wire | None = None
    try:
        async with asyncio.timeout_at(start + timeout):
            wire = await dial(endpoint, clock)
            ctx = replace(ctx, handshake=sum(clock.durations.values()))
            with clock.phase(PING):
                await _ping(wire)
            with clock.phase(phase):
                found = await run(module, wire, ctx)
    except Exception as exc:  # every failure of one probe is its result: success 0 and the phase it stopped in
        failed = (Sample(SUCCESS, {}, 0.0), *_durations(clock))
        extra = unreachable_state() if phase == CHECKS else []
        return ProbeOutcome((*failed, *extra), False, clock.current, failure_reason(exc, timeout))
    finally:
        if wire is not None:
            wire.close()
    return ProbeOutcome((Sample(SUCCESS, {}, 1.0), *_durations(clock), *found), True)


def _durations(clock: PhaseClock) -> list[Sample]:
    return [Sample(DURATION, {"phase": name}, seconds) for name, seconds in clock.durations.items()]

