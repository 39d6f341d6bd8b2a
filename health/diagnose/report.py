"""A diagnosis for people (text) or scripts (--json). Built from NodeReports alone: numbers, static texts, command
names and scrubbed reasons; the only key names are those of the --keyspace section (the operator asked for them)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from cachewatch.health.diagnose.model import Finding, NodeReport, Section
from cachewatch.logs import iso_time

MARK = {"critical": "CRIT", "warning": "WARN", "unknown": "????", "info": "info"}


def _finding_lines(finding: Finding) -> list[str]:
    return [f"  [{MARK[finding.severity]}] {finding.id}: {finding.title}",
            *(f"         {label}: {value}" for label, value in (("seen", finding.seen), ("why", finding.why),
                                                                ("fix", finding.fix)) if value)]


def _section_lines(section: Section) -> list[str]:
    head = f"== {section.name}: {section.status}" + (f" ({section.unknown})" if section.unknown else "")
    return [head, *(f"  {line}" for line in section.lines),
            *(line for finding in section.findings for line in _finding_lines(finding))]


def text(nodes: Sequence[NodeReport]) -> str:
    out = []
    for node in nodes:
        about = ", ".join(filter(None, (node.cluster and f"cluster {node.cluster}", node.kind,
                                        node.version and f"redis {node.version}", node.role and f"role {node.role}")))
        out.append(f"# {node.address} ({about}): {node.state.upper()}" + (f" — {node.reason}" if node.reason else ""))
        for section in node.sections:
            out += _section_lines(section)
        out.append("")
    counts = {s: sum(n.state == s for n in nodes) for s in ("unhealthy", "unknown", "degraded", "healthy")}
    out.append(f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}: "
               + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(out) + "\n"


def _clean(value: object) -> object:
    """JSON has no Infinity or NaN; tuples become lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def node_dict(node: NodeReport) -> dict[str, object]:
    return {"address": node.address, "cluster": node.cluster or None, "kind": node.kind, "role": node.role or None,
            "version": node.version or None, "state": node.state, "reason": node.reason or None,
            "timestamp": iso_time(node.timestamp),
            "sections": [{"name": s.name, "status": s.status, "unknown": s.unknown or None,
                          "findings": [f.__dict__ for f in s.findings], "facts": s.facts} for s in node.sections]}


def to_json(nodes: Sequence[NodeReport]) -> str:
    return json.dumps(_clean({"nodes": [node_dict(n) for n in nodes]}), indent=2)
