"""``exporter/cachewatch-exporter.yml``: the spec's ``exporter.series`` as the exporters' config file, so that what
the exporters serve is what docs/capacity.md counts.

Written only when the spec reduces anything (the default serves every family and needs no file). Before it is
written, the reduction is checked against what the generated rules read: a dropped family that an alert or a
recording rule reads would leave that alert silent forever, so the spec is refused, naming the rules. Dashboards
only lose panels; their names are listed in the file's header.
"""

from __future__ import annotations

from cachewatch.artifacts import File
from cachewatch.catalog.lint import base_family, metric_names
from cachewatch.pipeline.lint import dashboard_queries, rule_queries
from cachewatch.rulefmt import RuleGroup
from cachewatch.spec import FleetSpec, SpecError
from cachewatch.spec.series import PER_COMMAND_FAMILIES

PATH = "exporter/cachewatch-exporter.yml"


def readers(queries: dict[str, str], families: list[str]) -> dict[str, list[str]]:
    """Dropped family → the rules or panels whose query reads it."""
    out: dict[str, list[str]] = {}
    for where, expr in queries.items():
        for name in {base_family(m) for m in metric_names(expr)} & set(families):
            out.setdefault(name, []).append(where)
    return out


def refusal(family: str, rules: list[str]) -> str:
    shown = ", ".join(rules[:3]) + (", ..." if len(rules) > 3 else "")
    instead = (
        "keep it, or aggregate its commands with command_allowlist" if family in PER_COMMAND_FAMILIES else ("keep it")
    )
    return (
        f"exporter.series.drop_families: {family} is read by {len(rules)} generated rule(s) ({shown}), which "
        f"would never fire; {instead}"
    )


def files(spec: FleetSpec, groups: list[RuleGroup], dashboards: dict[str, dict]) -> list[File]:
    series = spec.exporter.series
    if series.is_default:
        return []
    read = readers(rule_queries(groups), series.drop_families)
    if read:
        raise SpecError("\n".join(refusal(name, rules) for name, rules in sorted(read.items())))
    panels = sorted(
        {
            where.split("#")[0]
            for wheres in readers(dashboard_queries(dashboards), series.drop_families).values()
            for where in wheres
        }
    )
    comment = (
        "\nThe exporter settings the spec sets (exporter.series): run every exporter with\n"
        f"  cachewatch exporter --config {PATH.rsplit('/', 1)[1]} ...\n"
        "Series per node with these settings, and what each option saves: docs/capacity.md.\n"
    )
    if panels:
        comment += "Dashboard panels left without data by the dropped families:\n" + "".join(
            f"  {panel}\n" for panel in panels
        )
    return [File(PATH, {"series": series.model_dump(exclude_defaults=True)}, comment=comment)]
