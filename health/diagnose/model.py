"""What a diagnosis is made of: findings (id, what was seen, why it matters, the fix) grouped in sections.

A finding's id is the check table's id where the table has that check (its result is taken as evaluated), or a
diagnose-only id ``diag.<category prefix>.<name>`` (``diag.mem.doctor_big_peak``, ``diag.sec.dangerous_commands``):
grep either in cachewatch/checks/ or in health/diagnose/.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from cachewatch.health.evaluate import CheckResult
from cachewatch.health.report import format_value

Severity = Literal["critical", "warning", "unknown", "info"]
RANK: Mapping[str, int] = {"critical": 0, "warning": 1, "unknown": 2, "info": 3}
SECTIONS = ("performance", "memory", "network", "replication", "persistence", "configuration", "security")


@dataclass(frozen=True)
class Finding:
    id: str
    severity: Severity
    title: str
    seen: str  # what was measured, with its numbers
    why: str
    fix: str
    value: float | None = None


@dataclass(frozen=True)
class Section:
    """One concern of one node. ``lines`` are the measurements for people (shown even when all is well);
    ``facts`` the same numbers for --json; ``unknown`` says why the section could not be judged (a refused
    command), and its findings are then only those the rest of the evidence supports."""

    name: str
    findings: tuple[Finding, ...] = ()
    lines: tuple[str, ...] = ()
    facts: Mapping[str, object] = field(default_factory=dict)
    unknown: str = ""

    @property
    def status(self) -> str:
        """unknown, or the worst finding's severity, or ok."""
        if self.unknown:
            return "unknown"
        worst = min((RANK[f.severity] for f in self.findings), default=None)
        return "ok" if worst is None else next(s for s, r in RANK.items() if r == worst)


def sorted_findings(findings: list[Finding] | tuple[Finding, ...]) -> tuple[Finding, ...]:
    return tuple(sorted(findings, key=lambda f: (RANK[f.severity], f.id)))


def from_check(result: CheckResult) -> Finding:
    """A non-passing row of the check table as a finding (its texts are the table's)."""
    seen = format_value(result) if result.value is not None else ""
    if result.threshold is not None and result.unit not in ("bool", "level"):
        seen += f" (reached the {result.status} level {result.threshold:g} {result.unit})"
    if result.reason:
        seen = f"{seen}; {result.reason}" if seen else result.reason
    return Finding(id=result.id, severity=result.status,  # type: ignore[arg-type]
                   title=result.title, seen=seen, why=result.why, fix=result.fix, value=result.value)


def table_findings(results: tuple[CheckResult, ...], category: str) -> list[Finding]:
    """The table's non-passing results of one category (critical, warning, unknown, info)."""
    return [from_check(r) for r in results if r.category == category and r.status in RANK]


@dataclass(frozen=True)
class NodeReport:
    address: str
    state: str  # healthy, degraded, unhealthy, unknown (as `cachewatch health`)
    sections: tuple[Section, ...]
    cluster: str = ""
    kind: str = "cache"
    role: str = ""
    version: str = ""
    reason: str = ""  # set when the node could not be reached
    timestamp: float = 0.0
