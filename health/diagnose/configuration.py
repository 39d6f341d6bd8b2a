"""Configuration: the settings that matter for a cache, and drift from the majority of the node's cluster.

Drift (BetterDB's config-drift idea): for each of ``DRIFT_KEYS``, the value a strict majority of the cluster's
nodes share (spec clusters; ``--target`` URLs form one group) is the expected one, and a node with another value
gets ``diag.cfg.drift``. Without a strict majority (two nodes that differ) nothing is claimed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cachewatch.health.diagnose.collect import Evidence
from cachewatch.health.diagnose.model import Finding, Section, table_findings
from cachewatch.health.diagnose.units import refusal
from cachewatch.health.evaluate import NodeHealth

DRIFT_KEYS = ("maxmemory", "maxmemory-policy", "maxmemory-samples", "maxclients", "save", "appendonly",
              "appendfsync", "repl-backlog-size", "repl-timeout", "client-output-buffer-limit", "timeout",
              "tcp-keepalive", "hz", "io-threads", "lazyfree-lazy-eviction", "lazyfree-lazy-expire", "activedefrag")
SHOWN = ("maxmemory", "maxmemory-policy", "save", "appendonly", "timeout", "tcp-keepalive", "hz", "io-threads",
         "latency-monitor-threshold", "latency-tracking", "slowlog-log-slower-than")


@dataclass(frozen=True)
class Drift:
    key: str
    value: str
    majority: str
    agreeing: int
    nodes: int


def drifts(configs: Mapping[str, tuple[str, Mapping[str, str]]]) -> dict[str, list[Drift]]:
    """address → its drifts, from address → (group, its config). Pure."""
    groups: dict[str, list[str]] = {}
    for address, (group, _) in configs.items():
        groups.setdefault(group, []).append(address)
    out: dict[str, list[Drift]] = {address: [] for address in configs}
    for members in groups.values():
        for key in DRIFT_KEYS:
            values = {a: configs[a][1][key] for a in members if key in configs[a][1]}
            if len(values) < 3:
                continue
            value, agreeing = Counter(values.values()).most_common(1)[0]
            if agreeing * 2 <= len(values):
                continue
            for address, mine in values.items():
                if mine != value:
                    out[address].append(Drift(key, mine, value, agreeing, len(values)))
    return out


def section(ev: Evidence, health: NodeHealth, drift: Sequence[Drift] = ()) -> Section:
    config = ev.config
    lines = ["; ".join(f"{key} {config[key]!r}" for key in SHOWN if key in config) or "CONFIG GET refused"]
    findings = table_findings(health.checks, "configuration")
    if drift:
        findings.append(Finding(
            id="diag.cfg.drift", severity="warning", title="Configuration differs from the rest of the cluster",
            seen="; ".join(f"{d.key} {d.value!r} where {d.agreeing} of {d.nodes} nodes have {d.majority!r}"
                           for d in drift),
            why="Nodes of one cluster behave differently (evictions, persistence, timeouts) and a failover changes "
                "behaviour; usually a hand-made CONFIG SET that was never written to the config files.",
            fix="; ".join(f"CONFIG SET {d.key} {d.majority!r}" for d in drift) + " (and CONFIG REWRITE), or fix "
                "the majority if this node is the intended one.", value=float(len(drift))))
    if config.get("latency-tracking") == "no":
        findings.append(Finding(
            id="diag.cfg.latency_tracking_off", severity="info", title="Per-command latency tracking is off",
            seen="latency-tracking no", why="INFO latencystats (per-command percentiles) stays empty.",
            fix="CONFIG SET latency-tracking yes"))
    facts = {"config": {k: config[k] for k in sorted(config)}, "drift": [d.__dict__ for d in drift]}
    unknown = refusal(ev.refused, {"config": "CONFIG GET"})
    return Section("configuration", findings=tuple(findings), lines=tuple(lines), facts=facts, unknown=unknown)
