"""Memory: MEMORY STATS, MEMORY DOCTOR's conditions computed here the way Redis computes them
(src/object.c getMemoryDoctorReport), fragmentation split into its causes, and overhead.

The doctor's conditions are computed, not read from its text: the text is for people (and shown when the server
allows it), the numbers decide. Below 5 MB allocated Redis's doctor says only "empty", and so does this section.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cachewatch.health.diagnose.collect import Evidence
from cachewatch.health.diagnose.model import Finding, Section, Severity, table_findings
from cachewatch.health.diagnose.units import refusal, size
from cachewatch.health.evaluate import NodeHealth

MB = 1 << 20
EMPTY_BYTES = 5 * MB
OVERHEAD = {"warning": 0.3, "critical": 0.5}  # (used_memory_overhead − used_memory_startup) / maxmemory
Stats = Mapping[str, object]


def stat(stats: Stats, name: str) -> float:
    value = stats.get(name, 0)
    return float(value) if isinstance(value, int | float) else 0.0


@dataclass(frozen=True)
class Doctor:
    """One MEMORY DOCTOR condition: (value, fires) from MEMORY STATS and INFO, and what to say."""

    name: str
    severity: Severity
    title: str
    measure: Callable[[Stats, Evidence], tuple[float, bool]]
    seen: str  # formatted with {value}
    why: str
    fix: str


def _ratio_and_bytes(ratio: str, wasted: str) -> Callable[[Stats, Evidence], tuple[float, bool]]:
    return lambda s, ev: (stat(s, ratio), stat(s, ratio) > 1.1 and stat(s, wasted) > 10 * MB)


def _client_buffers(s: Stats, ev: Evidence) -> tuple[float, bool]:
    normal = ev.number("connected_clients") - ev.number("connected_slaves")
    average = stat(s, "clients.normal") / normal if normal > 0 else 0.0
    return average, average > 200 * 1024


DOCTOR: tuple[Doctor, ...] = (
    Doctor("big_peak", "info", "Memory peaked well above today's use",
           lambda s, ev: (r := stat(s, "peak.allocated") / max(stat(s, "total.allocated"), 1), r > 1.5),
           "peak.allocated / total.allocated = {value:.2f} (> 1.5)",
           "Freed memory often stays with the process (RSS), which reads as fragmentation.",
           "Usually nothing: it explains a high fragmentation ratio. MEMORY PURGE returns free pages."),
    Doctor("high_frag", "warning", "RSS is well above the memory Redis allocated",
           lambda s, ev: (stat(s, "fragmentation"), stat(s, "fragmentation") > 1.4
                          and stat(s, "fragmentation.bytes") > 10 * MB),
           "fragmentation = {value:.2f} (> 1.4 with more than 10 MB)",
           "The host pays for memory the dataset does not use; maxmemory does not count it.",
           "See the causes below; CONFIG SET activedefrag yes for allocator fragmentation."),
    Doctor("high_alloc_frag", "info", "The allocator is fragmented",
           _ratio_and_bytes("allocator-fragmentation.ratio", "allocator-fragmentation.bytes"),
           "allocator-fragmentation.ratio = {value:.2f} (> 1.1 with more than 10 MB)",
           "Half-empty allocator pages after many deletes or size changes.",
           "CONFIG SET activedefrag yes (jemalloc builds)."),
    Doctor("high_alloc_rss", "info", "The allocator keeps freed pages",
           _ratio_and_bytes("allocator-rss.ratio", "allocator-rss.bytes"),
           "allocator-rss.ratio = {value:.2f} (> 1.1 with more than 10 MB)",
           "Pages freed by Redis stay resident until the allocator releases them.", "MEMORY PURGE"),
    Doctor("high_proc_rss", "info", "The process holds memory outside the allocator",
           _ratio_and_bytes("rss-overhead.ratio", "rss-overhead.bytes"),
           "rss-overhead.ratio = {value:.2f} (> 1.1 with more than 10 MB)",
           "Lua, modules, copy-on-write pages of a fork, or a big query buffer.",
           "Check number_of_cached_scripts and loaded modules; it shrinks after a fork ends."),
    Doctor("big_client_buf", "warning", "Clients hold big buffers", _client_buffers,
           "clients.normal per normal client = {value:,.0f} B (> 200 KB)",
           "Output buffers of slow readers (or MONITOR, pub/sub) count towards maxmemory and evict keys.",
           "CLIENT LIST: find clients with a big omem; cap them with client-output-buffer-limit normal."),
    Doctor("big_slave_buf", "warning", "Replica output buffers are big",
           lambda s, ev: (stat(s, "clients.slaves"), ev.number("connected_slaves") > 0
                          and stat(s, "clients.slaves") > 10 * MB),
           "clients.slaves = {value:,.0f} B (> 10 MB in total)",
           "Replicas cannot keep up with writes; past client-output-buffer-limit replica they resync in full.",
           "Check the replicas' network and load; raise client-output-buffer-limit replica."),
    Doctor("many_scripts", "warning", "Many scripts are cached",
           lambda s, ev: (ev.number("number_of_cached_scripts"), ev.number("number_of_cached_scripts") > 1000),
           "number_of_cached_scripts = {value:,.0f} (> 1000)",
           "Scripts built with values inside (EVAL of generated text) fill the script cache for good.",
           "Pass values as ARGV and load each script once (EVALSHA or FUNCTION); SCRIPT FLUSH empties the cache."),
)
CAUSES = (  # (MEMORY STATS bytes field, cause, remedy)
    ("allocator-fragmentation.bytes", "allocator fragmentation", "activedefrag yes"),
    ("allocator-rss.bytes", "pages the allocator keeps", "MEMORY PURGE"),
    ("rss-overhead.bytes", "RSS outside the allocator (Lua, modules, fork COW)", "check scripts and modules"),
)


def _doctor(stats: Stats, ev: Evidence) -> list[Finding]:
    if stat(stats, "total.allocated") < EMPTY_BYTES:
        return []
    out = []
    for row in DOCTOR:
        value, fires = row.measure(stats, ev)
        if fires:
            out.append(Finding(id=f"diag.mem.doctor_{row.name}", severity=row.severity, title=row.title,
                               seen=row.seen.format(value=value), why=row.why, fix=row.fix, value=value))
    return out


def _overhead(ev: Evidence) -> list[Finding]:
    maxmemory = ev.number("maxmemory")
    if not maxmemory:
        return []
    share = (ev.number("used_memory_overhead") - ev.number("used_memory_startup")) / maxmemory
    severity = next((s for s in ("critical", "warning") if share >= OVERHEAD[s]), None)
    if severity is None:
        return []
    return [Finding(id="diag.mem.overhead", severity=severity, title="Overhead takes much of maxmemory",  # type: ignore[arg-type]
                    seen=f"(used_memory_overhead − used_memory_startup) / maxmemory = {share:.2f} (warning ≥ 0.3)",
                    why="Buffers, the backlog and dictionaries leave less room for keys: more evictions.",
                    fix="Check client and replica buffers, repl-backlog-size and many tiny keys (--keyspace).",
                    value=share)]


DOCTOR_CHARS = 400  # the doctor's text in the report (its conditions are findings above; JSON has all of it)


def sentences(text: str, limit: int) -> str:
    """``text`` cut after its last whole sentence within ``limit`` characters (marked "…"), never mid-word."""
    if len(text) <= limit:
        return text
    cut = text.rfind(". ", 0, limit)
    return (text[:cut + 1] if cut > 0 else text[:limit].rsplit(" ", 1)[0]) + " …"


def section(ev: Evidence, health: NodeHealth) -> Section:
    stats = ev.extra.get("memory_stats") or {}
    doctor_text = ev.extra.get("memory_doctor")
    findings = table_findings(health.checks, "memory")
    used, maxmemory = ev.number("used_memory"), ev.number("maxmemory")
    lines = [f"used {size(used)} of maxmemory {size(maxmemory) if maxmemory else 'unset'}"
             f" (policy {ev.snapshot.info.get('maxmemory_policy', '?')}), RSS {size(ev.number('used_memory_rss'))}, "
             f"peak {size(ev.number('used_memory_peak'))}"]
    facts: dict[str, object] = {"used_memory": used, "maxmemory": maxmemory,
                                "used_memory_rss": ev.number("used_memory_rss")}
    if stats:
        frag = stat(stats, "fragmentation")
        causes = sorted(((stat(stats, f), cause, fix) for f, cause, fix in CAUSES), reverse=True)
        lines.append(f"fragmentation {frag:.2f} ({size(stat(stats, 'fragmentation.bytes'))} over the allocated): "
                     + ", ".join(f"{cause} {size(b)}" for b, cause, _ in causes)
                     + (f"; likely cause: {causes[0][1]} ({causes[0][2]})" if causes[0][0] > 0 else ""))
        lines.append(f"overhead {size(stat(stats, 'overhead.total'))} (startup {size(stat(stats, 'startup.allocated'))}"
                     f", clients {size(stat(stats, 'clients.normal'))}, replicas {size(stat(stats, 'clients.slaves'))}"
                     f", backlog {size(stat(stats, 'replication.backlog'))}); dataset "
                     f"{size(stat(stats, 'dataset.bytes'))} = {stat(stats, 'dataset.percentage'):.1f}% of net memory; "
                     f"{stat(stats, 'keys.count'):,.0f} keys, {stat(stats, 'keys.bytes-per-key'):,.0f} B per key")
        facts["memory_stats"] = dict(stats)
        facts["likely_fragmentation_cause"] = causes[0][1] if causes[0][0] > 0 else None
        findings += _doctor(stats, ev)
    if isinstance(doctor_text, str):
        lines.append("MEMORY DOCTOR: " + sentences(" ".join(doctor_text.split()), DOCTOR_CHARS))
        facts["memory_doctor"] = doctor_text
    findings += _overhead(ev)
    unknown = refusal(ev.refused, {"memory_stats": "MEMORY STATS"})
    return Section("memory", findings=tuple(findings), lines=tuple(lines), facts=facts, unknown=unknown)
