"""Generator-time lint: every metric a generated expression names must be in the metric catalog.

PromQL has no Python parser here, so this strips what is not a metric name — strings, label
matchers, ranges, grouping clauses, function calls, keywords, numbers — and checks what is left.
"""

from __future__ import annotations

import re

from cachewatch.catalog import CATALOG

KEYWORDS = frozenset({"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left", "group_right",
                      "offset", "inf", "nan", "atan2"})
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_FUNCTION = re.compile(r"\b[a-zA-Z_][a-zA-Z0-9_]*\s*\(")
_IDENTIFIER = re.compile(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*")
_NUMBER = re.compile(r"\b\d+(\.\d+)?([eE][+-]?\d+)?\b")


class CatalogLintError(ValueError):
    """Generated expressions name metrics the catalog does not know."""


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _FUNCTION.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name not in KEYWORDS}


def base_family(name: str) -> str:
    """Histogram and summary series (``_bucket``, ``_sum``, ``_count``) belong to their family."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in CATALOG:
            return name[: -len(suffix)]
    return name


def unknown_metrics(exprs: dict[str, str]) -> dict[str, set[str]]:
    """Rule name → metric names its expression uses that are not in the catalog."""
    out = {}
    for rule, expr in exprs.items():
        missing = {m for m in metric_names(expr) if base_family(m) not in CATALOG}
        if missing:
            out[rule] = missing
    return out


def check_catalog(exprs: dict[str, str], records: list[str]) -> None:
    problems = [f"{rule}: {', '.join(sorted(names))}" for rule, names in unknown_metrics(exprs).items()]
    problems += [f"recording rule {name} writes a family missing from the catalog" for name in records
                 if name not in CATALOG]
    if problems:
        raise CatalogLintError("metrics not in the catalog (cachewatch/catalog):\n  " + "\n  ".join(problems))
