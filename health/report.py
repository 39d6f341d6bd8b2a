"""Node health as a table for people, or JSON for scripts. Both are built from ``NodeHealth`` alone, which holds
numbers, static texts and scrubbed reasons: no reply text, ACL line or credential can reach the output."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence

from cachewatch.health.evaluate import CheckResult, NodeHealth
from cachewatch.logs import iso_time

COLUMNS = ("NODE", "CLUSTER", "STATE", "CHECK", "STATUS", "VALUE", "TITLE")
# unit → how a value reads in the table (JSON keeps the raw number).
FORMATS: Mapping[str, Callable[[float], str]] = {
    "bool": lambda v: "yes" if v else "no",
    "seconds": lambda v: f"{v * 1000:.0f} ms" if v < 1 else f"{v:.3g} s",
    "ratio": lambda v: f"{v:.2f}",
    "per second": lambda v: f"{v:.3g}/s",
    "count": lambda v: f"{v:g}",
    "level": lambda v: f"{v:g}",
}


def format_value(result: CheckResult) -> str:
    if result.value is None:
        return "-"
    formatter = FORMATS.get(result.unit)
    return formatter(result.value) if formatter else f"{result.value:.3g} {result.unit}"


def _rows(node: NodeHealth) -> list[tuple[str, ...]]:
    head = (node.address, node.cluster or "-", node.state)
    checks = node.not_passing
    if not checks:
        return [(*head, "", "", "", "")]
    rows = []
    for i, check in enumerate(checks):
        title = f"{check.title} ({check.reason})" if check.reason else check.title
        rows.append((*(head if i == 0 else ("", "", "")), check.id, check.status, format_value(check), title))
    return rows


def table(nodes: Sequence[NodeHealth]) -> str:
    """One line per node, then one per check that is not passing (critical, warning, unknown, info)."""
    rows = [COLUMNS, *(row for node in nodes for row in _rows(node))]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
             for row in rows]
    return "\n".join(line.rstrip() for line in lines) + "\n" + summary(nodes) + "\n"


def summary(nodes: Sequence[NodeHealth]) -> str:
    counts = {state: sum(n.state == state for n in nodes) for state in ("unhealthy", "unknown", "degraded",
                                                                         "healthy")}
    parts = ", ".join(f"{count} {state}" for state, count in counts.items() if count)
    return f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}: {parts or 'none'}"


def _number(value: float | None) -> float | None:
    """JSON has no Infinity or NaN."""
    return value if value is not None and math.isfinite(value) else None


def check_dict(check: CheckResult) -> dict[str, object]:
    return {"id": check.id, "category": check.category, "status": check.status, "value": _number(check.value),
            "unit": check.unit, "threshold": _number(check.threshold), "title": check.title, "fix": check.fix,
            "reason": check.reason or None}


def node_dict(node: NodeHealth) -> dict[str, object]:
    return {"address": node.address, "cluster": node.cluster or None, "kind": node.kind, "state": node.state,
            "reason": node.reason or None, "timestamp": iso_time(node.timestamp),
            "checks": [check_dict(c) for c in node.checks]}


def to_json(nodes: Sequence[NodeHealth], *, compact: bool = False) -> str:
    """A list of nodes; ``compact``: on one line (``--watch --json`` prints one line per cycle)."""
    data = [node_dict(n) for n in nodes]
    return json.dumps(data, separators=(",", ":")) if compact else json.dumps(data, indent=2)
