"""Every query the pipeline is about to write — each rule's expression, each dashboard panel's query, each
dashboard annotation — checked against the metric catalog before anything is written.

A miss is a generator bug (a typo'd or uncatalogued metric), so it raises ``GeneratorError``, not a spec error.
"""

from __future__ import annotations

from collections.abc import Iterator

from cachewatch.artifacts import GeneratorError
from cachewatch.catalog import CATALOG
from cachewatch.catalog.lint import unknown_metrics
from cachewatch.rulefmt import Alert, Record, RuleGroup


def panels(board: dict) -> Iterator[dict]:
    """Every panel, the panels inside rows included."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(dashboards: dict[str, dict]) -> dict[str, str]:
    """``uid/panel title#ref`` → query, for every panel target and annotation query."""
    out = {}
    for uid, board in dashboards.items():
        for panel in panels(board):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    out[f"{uid}/{panel.get('title', panel.get('id'))}#{target.get('refId', '')}"] = target["expr"]
        for annotation in board.get("annotations", {}).get("list", []):
            if annotation.get("expr"):
                out[f"{uid}/annotation {annotation.get('name', '')}"] = annotation["expr"]
    return out


def rule_queries(groups: list[RuleGroup]) -> dict[str, str]:
    out = {}
    for group in groups:
        for rule in group.rules:
            name = rule.name if isinstance(rule, Alert) else rule.record
            out[f"{group.file}/{name}"] = rule.expr
    return out


def lint(groups: list[RuleGroup], dashboards: dict[str, dict]) -> None:
    """Raise GeneratorError listing every query naming a metric the catalog lacks, and every recording rule
    writing a family the catalog lacks."""
    queries = rule_queries(groups) | dashboard_queries(dashboards)
    problems = [f"{where}: {', '.join(sorted(names))}" for where, names in unknown_metrics(queries).items()]
    problems += [f"{group.file}/{rule.record}: writes a family missing from the catalog" for group in groups
                 for rule in group.rules if isinstance(rule, Record) and rule.record not in CATALOG]
    if problems:
        raise GeneratorError("metrics not in the catalog (cachewatch/catalog):\n  " + "\n  ".join(problems))
