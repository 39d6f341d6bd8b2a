"""``cachewatch diagnose``: collect every node's evidence concurrently, judge it section by section, report.

Per node: collect.py's I/O (≈ ``latency_seconds`` + a few round trips), the check table evaluated on the second
snapshot against the first (so its rate checks work), then the sections. Drift needs every node's configuration,
so the sections are built once all nodes answered. ``--keyspace`` then samples each primary (on its replica) one
node at a time, so that the fleet is never sampled all at once; a replica whose primary is also a target is left
to the primary's analysis.

Exit code, as ``cachewatch health``, from each node's state: a critical finding or an unreachable node →
unhealthy (2); else a warning → degraded (1); else healthy (0); unknown (3) when INFO itself was refused.
The worst node decides, in the order unhealthy > unknown > degraded > healthy. An unknown section (a refused
command) does not change the state by itself: it says what could not be judged.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from cachewatch.health.diagnose import (
    configuration,
    keyspace,
    memory,
    network,
    performance,
    persistence,
    replication,
    security,
)
from cachewatch.health.diagnose.collect import Evidence, Options, collect
from cachewatch.health.diagnose.configuration import Drift, drifts
from cachewatch.health.diagnose.model import Finding, NodeReport, Section
from cachewatch.health.diagnose.report import text, to_json
from cachewatch.health.evaluate import evaluate
from cachewatch.health.keyspace import Budget, analyse
from cachewatch.health.replies import INFO_REFUSED
from cachewatch.health.run import EXIT_CODES, WORST_FIRST
from cachewatch.health.snapshot import NodeUnreachable, classify
from cachewatch.health.targets import (
    Credentials,
    Target,
    TargetError,
    Tls,
    read_credentials,
    targets_from_spec,
    targets_from_urls,
)
from cachewatch.spec import FleetSpec

CONCURRENCY = 16
DEFAULTS = Options()
SECTIONS = (performance.section, memory.section, network.section, replication.section, persistence.section)


def node_state(findings: Sequence[Finding], info_refused: bool) -> str:
    severities = {f.severity for f in findings}
    if "critical" in severities:
        return "unhealthy"
    if "warning" in severities:
        return "degraded"
    return "unknown" if info_refused else "healthy"


def judge(ev: Evidence, drift: Sequence[Drift] = ()) -> NodeReport:
    """The sections of one node's evidence (pure)."""
    target = ev.target
    health = evaluate(ev.snapshot, ev.first, target.overrides, address=target.address, cluster=target.cluster)
    sections = [build(ev, health) for build in SECTIONS]
    sections += [configuration.section(ev, health, drift), security.section(ev, health)]
    return _report(ev, tuple(sections))


def _report(ev: Evidence, sections: tuple[Section, ...]) -> NodeReport:
    target, info = ev.target, ev.snapshot.info
    return NodeReport(address=target.address, cluster=target.cluster, kind=target.kind, role=info.get("role", ""),
                      version=info.get("redis_version", ""), timestamp=ev.snapshot.taken, sections=sections,
                      state=node_state([f for s in sections for f in s.findings],
                                       INFO_REFUSED in ev.snapshot.refused))


def unreachable(target: Target, error: NodeUnreachable) -> NodeReport:
    finding = Finding(id="net.connect", severity="critical", title="The node cannot be reached",
                      seen=f"{error.phase}: {error.reason}", why="Clients cannot use it.",
                      fix="Check that redis-server runs and listens, the network path, TLS and the credentials.")
    return NodeReport(address=target.address, cluster=target.cluster, kind=target.kind, state="unhealthy",
                      reason=f"{error.phase}: {error.reason}", timestamp=time.time(),
                      sections=(Section("network", findings=(finding,)),))


def _sampled_elsewhere(ev: Evidence, addresses: set[str]) -> str:
    """A replica whose primary is a target too: the primary's analysis samples this replica."""
    info = ev.snapshot.info
    primary = f"{info.get('master_host')}:{info.get('master_port')}"
    return primary if info.get("role") == "slave" and primary in addresses else ""


async def _keyspace(ev: Evidence, credentials: Credentials, budget: Budget, timeout: float,
                    addresses: set[str]) -> Section:
    primary = _sampled_elsewhere(ev, addresses)
    if primary:
        return Section("keyspace", lines=(f"analysed with its primary {primary}",))
    try:
        report = await analyse(ev.target, credentials, budget, timeout)
    except Exception as exc:  # a node failing now gets an unknown section, not a crashed run
        error = classify(exc, timeout)
        return Section("keyspace", unknown=f"{error.phase}: {error.reason}")
    return keyspace.section(report, ev.snapshot.info.get("maxmemory_policy", ""))


async def diagnose(targets: Sequence[Target], credentials: Credentials, options: Options = DEFAULTS,
                   budget: Budget | None = None, concurrency: int = CONCURRENCY) -> list[NodeReport]:
    limit = asyncio.Semaphore(concurrency)

    async def one(target: Target) -> Evidence | NodeUnreachable:
        async with limit:
            try:
                return await collect(target, credentials, options)
            except NodeUnreachable as exc:
                return exc

    evidence = await asyncio.gather(*(one(t) for t in targets))
    answered = [ev for ev in evidence if isinstance(ev, Evidence)]
    configs: Mapping[str, tuple[str, Mapping[str, str]]] = {
        ev.target.address: (ev.target.cluster, ev.config) for ev in answered if "config" not in ev.refused}
    drift = drifts(configs)
    addresses = {t.address for t in targets}
    out = []
    for target, ev in zip(targets, evidence, strict=True):
        if isinstance(ev, NodeUnreachable):
            out.append(unreachable(target, ev))
            continue
        report = judge(ev, drift.get(target.address, ()))
        if budget is not None:
            section = await _keyspace(ev, credentials, budget, options.timeout, addresses)
            report = _report(ev, (*report.sections, section))
        out.append(report)
    return out


def exit_code(nodes: Sequence[NodeReport]) -> int:
    states = {n.state for n in nodes}
    return EXIT_CODES[next((s for s in WORST_FIRST if s in states), "unknown")]  # type: ignore[index]


@dataclass(frozen=True)
class Request:
    """What the command line asked for (cachewatch/cli/diagnose.py builds it)."""

    spec: FleetSpec | None = None
    urls: tuple[str, ...] = ()
    as_json: bool = False
    options: Options = DEFAULTS
    keyspace: Budget | None = None  # None: no keyspace analysis
    user: str | None = None
    password_file: str | None = None
    tls: Tls = field(default_factory=Tls)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def main(request: Request, out: TextIO = sys.stdout) -> int:
    """Run the command; TargetError for a usage problem (nothing was contacted)."""
    targets = (targets_from_spec(request.spec, request.environ) if request.spec else []) + \
        targets_from_urls(request.urls)
    if not targets:
        raise TargetError("nothing to diagnose: give a SPEC or a TARGET (redis://host:port)")
    credentials = read_credentials(request.user, request.password_file, request.environ, request.tls)
    nodes = asyncio.run(diagnose(targets, credentials, request.options, request.keyspace))
    out.write(to_json(nodes) + "\n" if request.as_json else text(nodes))
    out.flush()
    return exit_code(nodes)
