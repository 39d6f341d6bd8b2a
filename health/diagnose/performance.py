"""Performance: the client-side latency distribution, event-loop load, slow-command offenders and per-command
latency percentiles.

- Latency: PING round trips in µs over the window, bucketed as ``redis-cli --latency-dist`` buckets them. The
  finding is on the median (a slow node is slow for every client); p99 is shown, since on a busy client host its
  tail is partly the client's own scheduling.
- Event loop: ops/s and the main thread's CPU (``used_cpu_sys_main_thread + used_cpu_user_main_thread``, else
  the process's) as a rate over the window; ``perf.eventloop_busy`` of the check table adds the 7.2+ measure.
- Slow commands: SLOWLOG by command name only (arguments may hold keys and values: never read or shown).
- Per-command percentiles: INFO latencystats with commandstats' calls.
"""

from __future__ import annotations

import math
from collections import defaultdict

from cachewatch.checks.measures import BLOCKING_COMMANDS
from cachewatch.health.diagnose.collect import Evidence
from cachewatch.health.diagnose.model import Finding, Section, table_findings
from cachewatch.health.diagnose.units import count, refusal, usec
from cachewatch.health.evaluate import NodeHealth
from cachewatch.redis_text import parse_pairs

# redis-cli --latency-dist's bucket upper bounds, in µs.
BUCKETS_USEC: tuple[float, ...] = (
    10, 125, 250, 500, *range(1000, 10_000, 1000), 10_000, 20_000, 30_000, 40_000, 50_000,
    100_000, 200_000, 300_000, 400_000, 500_000, 1e6, 2e6, 4e6, 8e6, 16e6, 30e6, 60e6, math.inf,
)
PING_MEDIAN = {"warning": 5_000.0, "critical": 20_000.0}  # µs
MAIN_THREAD_CPU = {"warning": 0.8, "critical": 0.95}  # cores
COMMAND_P99_USEC = 10_000.0
TOP_COMMANDS = 8
BAR = 30


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted samples (q in 0..100)."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def buckets(samples: tuple[float, ...]) -> list[tuple[float, int]]:
    """(upper bound µs, samples in it) for every non-empty bucket."""
    counts: dict[float, int] = defaultdict(int)
    for value in samples:
        counts[next(b for b in BUCKETS_USEC if value <= b)] += 1
    return [(b, counts[b]) for b in BUCKETS_USEC if counts[b]]


def level(value: float, levels: dict[str, float]) -> str | None:
    return next((name for name in ("critical", "warning") if value >= levels[name]), None)


def _latency(ev: Evidence) -> tuple[list[str], dict[str, object], list[Finding]]:
    ordered = sorted(ev.pings_usec)
    if not ordered:
        return ["latency: no sample (window too short)"], {}, []
    stats = {name: percentile(ordered, q) for name, q in (("p50", 50), ("p90", 90), ("p99", 99))}
    stats |= {"min": ordered[0], "max": ordered[-1]}
    dist = buckets(ev.pings_usec)
    lines = [f"latency (client-side PING, {len(ordered)} samples over {ev.window:.1f} s): "
             + "  ".join(f"{name} {usec(stats[name])}" for name in ("min", "p50", "p90", "p99", "max"))]
    for bound, n in dist:
        label = "> 60 s" if math.isinf(bound) else f"≤ {usec(bound)}"
        lines.append(f"  {label:>10}  {'█' * max(1, round(BAR * n / len(ordered))):<{BAR}}  {n} "
                     f"({100 * n / len(ordered):.1f}%)")
    facts = {"samples": len(ordered), **{f"{k}_usec": round(v, 1) for k, v in stats.items()},
             "buckets": [{"le_usec": None if math.isinf(b) else b, "count": n} for b, n in dist]}
    findings = []
    severity = level(stats["p50"], PING_MEDIAN)
    if severity:
        findings.append(Finding(
            id="diag.perf.ping_median", severity=severity,  # type: ignore[arg-type]
            title="Round trips to the node are slow", value=stats["p50"],
            seen=f"median PING {usec(stats['p50'])}, p99 {usec(stats['p99'])} over {len(ordered)} samples "
                 f"(warning ≥ {usec(PING_MEDIAN['warning'])}, critical ≥ {usec(PING_MEDIAN['critical'])})",
            why="Every command pays this before any work: the network path, a busy event loop or a starved host.",
            fix="Compare with redis-cli --intrinsic-latency 5 on the Redis host (host stalls) and the event-loop "
                "load below; check the network path (same zone, no proxy hop)."))
    return lines, facts, findings


def _event_loop(ev: Evidence) -> tuple[list[str], dict[str, object], list[Finding]]:
    main = [ev.rate(f"used_cpu_{k}_main_thread") for k in ("sys", "user")]
    total = [ev.rate(f"used_cpu_{k}") for k in ("sys", "user")]
    cpu = sum(main) if None not in main else (sum(total) if None not in total else None)  # type: ignore[arg-type]
    ops = ev.number("instantaneous_ops_per_sec")
    source = "main thread" if None not in main else "process"
    facts: dict[str, object] = {"ops_per_sec": ops, "cpu_cores": cpu, "cpu_source": source}
    line = f"event loop: {count(ops)} ops/s"
    if cpu is not None:
        line += f", {source} CPU {cpu:.2f} cores (used_cpu_sys+user over {ev.window:.1f} s)"
    findings = []
    severity = level(cpu, MAIN_THREAD_CPU) if cpu is not None and ev.window >= 0.5 else None
    if severity:
        findings.append(Finding(
            id="diag.perf.main_thread_cpu", severity=severity,  # type: ignore[arg-type]
            title="The main thread is busy", value=cpu,
            seen=f"{source} CPU {cpu:.2f} cores over {ev.window:.1f} s at {count(ops)} ops/s (warning ≥ 0.8)",
            why="Redis executes commands on one thread: near a full core, every request queues.",
            fix="Find the expensive commands (per-command latency below, SLOWLOG); spread keys over more shards; "
                "io-threads 4 offloads socket I/O."))
    return [line], facts, findings


def _slowlog(ev: Evidence) -> tuple[list[str], dict[str, object], list[Finding]]:
    entries = ev.extra.get("slowlog") or []
    by_name: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # count, max µs, total µs
    for _, _, micros, name in entries:  # type: ignore[attr-defined]
        row = by_name[name]
        row[0], row[1], row[2] = row[0] + 1, max(row[1], micros), row[2] + micros
    ranked = sorted(by_name.items(), key=lambda kv: (-kv[1][2], kv[0]))
    offenders = [{"command": n, "count": c, "max_usec": m, "total_usec": t} for n, (c, m, t) in ranked]
    threshold = ev.config.get("slowlog-log-slower-than", "?")
    lines = [f"slow log ({len(entries)} entries over {usec(float(threshold)) if threshold.isdigit() else threshold}"
             f"; command names only): " + (", ".join(f"{o['command']} ×{o['count']} max {usec(o['max_usec'])}"
                                                      for o in offenders[:5]) or "empty")]
    findings = []
    if offenders:
        worst = offenders[0]
        findings.append(Finding(
            id="diag.perf.slow_offenders", severity="info", title="Commands in the slow log",
            value=float(worst["max_usec"]),
            seen="; ".join(f"{o['command']}: {o['count']}× (max {usec(o['max_usec'])}, total "
                           f"{usec(o['total_usec'])})" for o in offenders[:5]),
            why="Each entry blocked every other client for its duration.",
            fix="KEYS → SCAN; HGETALL/SMEMBERS/LRANGE 0 -1 on big keys → HSCAN/SSCAN or smaller keys; DEL of big "
                "keys → UNLINK; see --keyspace for the biggest keys."))
    return lines, {"entries": len(entries), "offenders": offenders}, findings


def _commands(ev: Evidence) -> tuple[list[str], dict[str, object], list[Finding]]:
    latency = ev.extra.get("latencystats") or {}
    stats = ev.extra.get("commandstats") or {}
    rows = []
    for name, value in latency.items():  # type: ignore[attr-defined]
        command = name.removeprefix("latency_percentiles_usec_")
        pct = {k: float(v) for k, v in parse_pairs(value).items()}
        calls = float(parse_pairs(stats.get(f"cmdstat_{command}", "")).get("calls", 0))  # type: ignore[attr-defined]
        rows.append({"command": command, "calls": calls, **{f"{k}_usec": v for k, v in pct.items()}})
    rows.sort(key=lambda r: (-r["calls"], r["command"]))
    lines = ["per-command latency (INFO latencystats, top by calls): " + (", ".join(
        f"{r['command']} ×{count(r['calls'])} p50 {usec(r.get('p50_usec', 0))} p99 {usec(r.get('p99_usec', 0))}"
        for r in rows[:TOP_COMMANDS]) or "none (latency-tracking off?)")]
    slow = [r for r in rows if r.get("p99_usec", 0) >= COMMAND_P99_USEC and r["command"] not in BLOCKING_COMMANDS]
    findings = []
    if slow:
        findings.append(Finding(
            id="diag.perf.command_p99", severity="warning", title="Some commands are slow at p99",
            value=max(r["p99_usec"] for r in slow),
            seen="; ".join(f"{r['command']} p99 {usec(r['p99_usec'])} over {count(r['calls'])} calls" for r in slow[:5])
                 + f" (≥ {usec(COMMAND_P99_USEC)})",
            why="A slow command delays every other client queued behind it on the single thread.",
            fix="Shrink the keys these commands touch (--keyspace shows the biggest), use the O(1)/O(log N) "
                "variants, or move the workload; CONFIG RESETSTAT starts the percentiles afresh."))
    return lines, {"commands": rows}, findings


def section(ev: Evidence, health: NodeHealth) -> Section:
    lines: list[str] = []
    facts: dict[str, object] = {}
    findings = table_findings(health.checks, "performance")
    for name, part in (("latency", _latency), ("event_loop", _event_loop), ("slowlog", _slowlog),
                       ("commands", _commands)):
        part_lines, part_facts, part_findings = part(ev)
        lines += part_lines
        facts[name] = part_facts
        findings += part_findings
    unknown = refusal(ev.refused, {"slowlog": "SLOWLOG GET", "latencystats": "INFO latencystats"})
    return Section("performance", findings=tuple(findings), lines=tuple(lines), facts=facts, unknown=unknown)
