"""docs/metrics.md, generated from the metric catalog (``cachewatch docs``; a test keeps it current)."""

from __future__ import annotations

from itertools import groupby

from cachewatch.catalog import CATALOG, Family

HEADER = """# Metrics

Generated from `cachewatch/catalog` by `cachewatch docs`; do not edit by hand.

*peer*: ✓ where Debian's redis_exporter 1.45 emits the same name, label names and type against Redis 7.0.
*compat*: why a name breaks a Prometheus naming rule on purpose (promtool check metrics warns about these).
"""


def _row(f: Family) -> str:
    labels = ", ".join(f"`{label}`" for label in f.labels) or "—"
    source = f"INFO `{f.info_field}`" if f.info_field else f.source.value
    cells = [f"`{f.name}`", f.type.value, f.unit or "—", labels, source, "✓" if f.peer else "", f.help,
             f.compat or ""]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def metrics_markdown() -> str:
    out = [HEADER]
    families = sorted(CATALOG.values(), key=lambda f: (f.source.value, f.group, f.name))
    for (source, group), rows in groupby(families, key=lambda f: (f.source.value, f.group)):
        out.append(f"\n## {source}: {group or 'other'}\n")
        out.append("| name | type | unit | labels | from | peer | help | compat |")
        out.append("|---|---|---|---|---|---|---|---|")
        out.extend(_row(f) for f in rows)
    return "\n".join(out) + "\n"
