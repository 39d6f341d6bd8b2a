"""Every check of the table on one snapshot → the node's health. Pure: no I/O, no clock, no randomness.

Per check, the first rule that holds gives the status:

1. the cluster's kind is not one the check applies to → ``skip``;
2. INFO, or a command in ``check.needs``, was refused → ``unknown`` (managed services forbid CONFIG: that is not
   a failure of the node);
3. the measure raised → ``unknown``, with the exception as the reason (the other checks go on);
4. the measure returned None (another role or policy, or a rate without a previous sample) → ``skip``;
5. the value reaches a level (the spec's override, else the row's) → ``info`` / ``warning`` / ``critical``;
6. otherwise → ``pass``.

Node state: any ``critical`` → ``unhealthy``; else any ``warning`` → ``degraded``; else ``healthy`` when at least
one check was decided (pass or info); ``unknown`` only when none was (INFO itself refused). An unreachable node
is ``unhealthy``, with a single ``net.connect`` result naming the phase (connect, tls, auth, timeout, reply).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from cachewatch.checks import CHECKS, Check, Snapshot, Thresholds
from cachewatch.health.replies import INFO_REFUSED
from cachewatch.spec import CheckLevels

Status = Literal["pass", "info", "warning", "critical", "unknown", "skip"]
State = Literal["healthy", "degraded", "unhealthy", "unknown"]
DECIDED: frozenset[Status] = frozenset({"pass", "info", "warning", "critical"})
NOT_PASSING: tuple[Status, ...] = ("critical", "warning", "unknown", "info")  # what a report lists, worst first
STATE_OF: tuple[tuple[Status, State], ...] = (("critical", "unhealthy"), ("warning", "degraded"))
CONNECT_CHECK = "net.connect"


@dataclass(frozen=True)
class CheckResult:
    """One check on one node: what was measured, the level it reached, and the row's texts."""

    id: str
    category: str
    status: Status
    value: float | None = None
    threshold: float | None = None  # the level the value reached (None: it reached none)
    unit: str = ""
    title: str = ""
    why: str = ""
    fix: str = ""
    reason: str = ""  # why it is unknown or skipped, or how the node could not be reached


@dataclass(frozen=True)
class NodeHealth:
    address: str
    state: State
    checks: tuple[CheckResult, ...]
    timestamp: float  # the prober's wall clock when the reply arrived (or the attempt failed)
    cluster: str = ""
    kind: str = "cache"
    reason: str = ""  # set when the node could not be reached

    @property
    def not_passing(self) -> tuple[CheckResult, ...]:
        """Critical, warning, unknown, then info results: what needs a look, worst first."""
        rank = {status: i for i, status in enumerate(NOT_PASSING)}
        return tuple(sorted((c for c in self.checks if c.status in rank), key=lambda c: (rank[c.status], c.id)))


def levels(check: Check, override: CheckLevels | None) -> Thresholds:
    """The row's thresholds with the levels the spec sets explicitly (``warning: null`` switches one off)."""
    return check.levels(override=override.given() if override is not None else None)


def _wrong_kind(check: Check, snap: Snapshot) -> str:
    return "" if snap.kind in check.kinds else f"applies to {' and '.join(check.kinds)} clusters, not {snap.kind}"


def _refused(check: Check, snap: Snapshot) -> str:
    refused = sorted(({INFO_REFUSED} | check.needs) & snap.refused)
    return f"{', '.join(name.upper() for name in refused)} refused by the server (ACL, renamed command or " \
           "managed service)" if refused else ""


# Rules 1 and 2: (test giving a reason, status when it does).
GUARDS: tuple[tuple[Callable[[Check, Snapshot], str], Status], ...] = ((_wrong_kind, "skip"), (_refused, "unknown"))
NOT_APPLICABLE = "does not apply to this node (role, policy, version), or needs a previous sample"


def evaluate_check(check: Check, snap: Snapshot, previous: Snapshot | None, thresholds: Thresholds) -> CheckResult:
    """One check on one snapshot (the rules in the module docstring)."""
    texts = {"id": check.id, "category": check.category.value, "unit": check.unit, "title": check.title,
             "why": check.why, "fix": check.fix}
    for guard, status in GUARDS:
        reason = guard(check, snap)
        if reason:
            return CheckResult(status=status, reason=reason, **texts)
    try:
        value = check.measure(snap, previous)
    except Exception as exc:  # a broken measure is that check's problem, not the node's or the other checks'
        return CheckResult(status="unknown", reason=f"measure failed: {type(exc).__name__}: {exc}", **texts)
    if value is None or math.isnan(value):
        return CheckResult(status="skip", reason=NOT_APPLICABLE, **texts)
    severity = check.severity(value, thresholds)
    if severity is None:
        return CheckResult(status="pass", value=value, **texts)
    return CheckResult(status=severity.value, value=value, threshold=getattr(thresholds, severity.value), **texts)


def node_state(results: tuple[CheckResult, ...]) -> State:
    statuses = {r.status for r in results}
    for status, state in STATE_OF:
        if status in statuses:
            return state
    return "healthy" if statuses & DECIDED else "unknown"


def evaluate(snapshot: Snapshot, previous: Snapshot | None = None,
             overrides: Mapping[str, CheckLevels] | None = None, *, address: str = "",
             cluster: str = "") -> NodeHealth:
    """Every check of CHECKS on ``snapshot`` (``previous`` feeds the rate checks; ``overrides`` is
    ``spec.checks_for(cluster)``)."""
    overrides = overrides or {}
    results = tuple(evaluate_check(check, snapshot, previous, levels(check, overrides.get(check.id)))
                    for check in CHECKS.values())
    return NodeHealth(address=address, state=node_state(results), checks=results, timestamp=snapshot.taken,
                      cluster=cluster, kind=snapshot.kind)


def unreachable(address: str, phase: str, reason: str, *, timestamp: float, cluster: str = "",
                kind: str = "cache") -> NodeHealth:
    """A node that gave no usable answer: unhealthy, with one ``net.connect`` result naming the phase."""
    check = CHECKS[CONNECT_CHECK]
    result = CheckResult(id=check.id, category=check.category.value, status="critical", value=1.0,
                         threshold=check.thresholds.critical, unit=check.unit, title=check.title, why=check.why,
                         fix=check.fix, reason=f"{phase}: {reason}")
    return NodeHealth(address=address, state="unhealthy", checks=(result,), timestamp=timestamp, cluster=cluster,
                      kind=kind, reason=f"{phase}: {reason}")
