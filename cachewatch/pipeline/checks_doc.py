"""docs/checks.md, generated from the check table (``cachewatch docs``; a test keeps it current)."""

from __future__ import annotations

from itertools import groupby

from cachewatch.checks import CHECKS, Check

HEADER = """# Health checks

Generated from `cachewatch/checks` by `cachewatch docs`; do not edit by hand. Every check has a stable id;
`cachewatch health` and the health monitor evaluate them on each node, and reports, rules and dashboards link
to them by id. Thresholds are defaults: a spec overrides them fleet-wide (`FleetSpec.checks`) or per cluster
(`Cluster.checks`), e.g. `checks={"net.maxclients": CheckLevels(warning=0.7, critical=0.9)}`.

*tier*: `cheap` = one pipelined round trip (INFO, CONFIG GET, ACL LIST, SLOWLOG, LATENCY LATEST), run every
30 s; `sampling`, `probe` and `host` checks run on their own schedule. *kinds*: the cluster kinds a check applies
to (`cache`: the origin can rebuild the data; `store`: it must not be lost). A check whose command the server
refuses (ACL, a managed service) reports `unknown`, never a failure.
"""


def _levels(check: Check) -> str:
    t = check.thresholds
    op = "≤" if check.lower_is_worse else "≥"
    parts = [f"{name} {op} {value:.4g}" for name, value in (("info", t.info), ("warning", t.warning),
                                                          ("critical", t.critical)) if value is not None]
    return ", ".join(parts)


def _row(check: Check) -> str:
    cells = [f"`{check.id}`", check.title, check.trigger, _levels(check), check.unit, check.tier.value,
             ", ".join(check.kinds), check.why, check.fix]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def checks_markdown() -> str:
    out = [HEADER]
    rows = sorted(CHECKS.values(), key=lambda c: (c.category.value, c.id))
    for category, checks in groupby(rows, key=lambda c: c.category.value):
        out.append(f"\n## {category}\n")
        out.append("| id | what | trigger | levels | unit | tier | kinds | why it matters | fix |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        out.extend(_row(check) for check in checks)
    return "\n".join(out) + "\n"
