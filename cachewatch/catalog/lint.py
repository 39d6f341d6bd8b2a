"""Generator-time lint: every metric a generated expression names must be in the metric catalog.

PromQL has no Python parser here, so this strips what is not a metric name — strings, label
matchers, ranges, grouping clauses, function calls, keywords, numbers — and checks what is left.
"""

from __future__ import annotations

import re

from cachewatch.catalog import CATALOG, MetricType

KEYWORDS = frozenset({"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left", "group_right",
                      "offset", "inf", "nan"})
# What is not a metric name, removed in this order.
_STRIP = tuple(re.compile(p) for p in (
    r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`',  # strings
    r"\{[^{}]*\}",  # label matchers
    r"\[[^\]]*\]",  # ranges and subqueries
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",  # grouping clauses
    r"\b[a-zA-Z_][a-zA-Z0-9_]*\s*(?=\()",  # function names
    r"(?<![\w:])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-z]*",  # numbers and durations (offset 13m)
))
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    for pattern in _STRIP:
        expr = pattern.sub(" ", expr)
    return {name for name in _IDENTIFIER.findall(expr) if name.lower() not in KEYWORDS}


def base_family(name: str) -> str:
    """Histogram and summary series (``_bucket``, ``_sum``, ``_count``) belong to their family."""
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and base in CATALOG and CATALOG[base].type in (MetricType.HISTOGRAM, MetricType.SUMMARY):
            return base
    return name


def unknown_metrics(exprs: dict[str, str]) -> dict[str, set[str]]:
    """Rule name → metric names its expression uses that are not in the catalog."""
    out = {}
    for rule, expr in exprs.items():
        missing = {m for m in metric_names(expr) if base_family(m) not in CATALOG}
        if missing:
            out[rule] = missing
    return out
