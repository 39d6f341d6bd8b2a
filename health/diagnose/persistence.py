"""Persistence: what is configured (a pure cache should usually have none), the last save, and fork cost."""

from __future__ import annotations

from cachewatch.health.diagnose.collect import Evidence
from cachewatch.health.diagnose.model import Finding, Section, table_findings
from cachewatch.health.diagnose.units import size
from cachewatch.health.evaluate import NodeHealth

SLOW_FORK_USEC = 500_000


def section(ev: Evidence, health: NodeHealth) -> Section:
    info, config = ev.snapshot.info, ev.config
    fork_usec = ev.number("latest_fork_usec")
    # LATENCY DOCTOR's fork rate: GB of used memory copied per second of fork.
    rate = ev.number("used_memory") / fork_usec * 1e6 / (1 << 30) if fork_usec else None
    save = config.get("save", "?")
    lines = [f"save {save or '(off)'!r}, appendonly {config.get('appendonly', info.get('aof_enabled', '?'))}"
             f" (appendfsync {config.get('appendfsync', '?')}); last bgsave {info.get('rdb_last_bgsave_status', '?')}"
             f", {info.get('rdb_changes_since_last_save', '?')} changes since",
             f"last fork {fork_usec / 1000:.1f} ms" + (f" ({rate:.1f} GB/s for {size(ev.number('used_memory'))})"
                                                       if rate else " (none since start)")]
    facts = {"save": save, "appendonly": config.get("appendonly"), "latest_fork_usec": fork_usec,
             "fork_gb_per_second": rate, "rdb_last_bgsave_status": info.get("rdb_last_bgsave_status")}
    findings = table_findings(health.checks, "persistence")
    if fork_usec >= SLOW_FORK_USEC:
        findings.append(Finding(
            id="diag.pers.fork_slow", severity="warning", title="Forking the process is slow",
            seen=f"latest_fork_usec {fork_usec / 1000:.0f} ms (≥ {SLOW_FORK_USEC / 1000:.0f} ms)",
            why="Redis is frozen during fork (BGSAVE, AOF rewrite, full resync): every client waits that long.",
            fix="A smaller dataset per node, a host without a slow hypervisor fork (HVM, no Xen PV), THP off; "
                "for a cache: save \"\" and appendonly no.", value=fork_usec))
    if config.get("appendonly") == "yes" and config.get("appendfsync") == "always":
        findings.append(Finding(
            id="diag.pers.fsync_always", severity="info", title="Every write waits for the disk",
            seen="appendonly yes with appendfsync always",
            why="Each write command pays an fsync: latency follows the disk.",
            fix="CONFIG SET appendfsync everysec (at most one second of writes lost)."))
    return Section("persistence", findings=tuple(findings), lines=tuple(lines), facts=facts)
