"""Every selector of every generated dashboard honours ``$region``: each vector selector of each panel target (and
of the alert annotation and the query variables below ``region``) carries a ``region=~`` matcher on the variable.

In scale mode every dashboard reads the long-term store, where every series has a region; a selector without the
matcher would show every region's series whatever the operator picked. The walk tokenises PromQL (strings, matcher
blocks, ranges, names, numbers with their duration units) and skips what is no selector: function names, grouping
clauses (``by (...)``, ``on (...)``), keywords.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from cachewatch.dashboards.generate import dashboards
from cachewatch.spec import FleetSpec, load_spec
from tests.support.paths import ROOT

SPECS = ("small", "fleet", "regions")  # one Prometheus; scale mode (3 regions); scale mode (2 regions)
_STRING = r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\''
TOKEN = re.compile(
    rf"""
    (?P<string>{_STRING})
  | (?P<matchers>\{{(?:{_STRING}|[^{{}}"'])*\}})
  | (?P<range>\[[^\]]*\])
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])*)
  | (?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<other>\S)
""",
    re.VERBOSE,
)
MATCHER = re.compile(rf"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*({_STRING})")
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"})


def vector_selectors(expr: str) -> list[tuple[str, dict[tuple[str, str], str]]]:
    """(metric name or '', {(label, operator): value}) of every vector selector in a PromQL expression."""
    tokens = [(m.lastgroup, m.group()) for m in TOKEN.finditer(expr)]
    out, i = [], 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
        if kind == "name" and text in GROUPING and following[1] == "(":
            depth, i = 0, i + 1
            while i < len(tokens):  # skip the label list of the clause
                depth += {"(": 1, ")": -1}.get(tokens[i][1], 0)
                if depth == 0:
                    break
                i += 1
        elif kind == "name" and (following[1] in ("(", "by", "without") or text.lower() in KEYWORDS):
            pass  # a function call, an aggregation with its clause first (sum by (x) (...)), or a keyword
        elif kind == "name":
            block = following[1] if following[0] == "matchers" else "{}"
            out.append((text, matchers(block)))
            i += following[0] == "matchers"
        elif kind == "matchers":
            out.append(("", matchers(text)))
        i += 1
    return out


def matchers(block: str) -> dict[tuple[str, str], str]:
    return {(label, op): value[1:-1] for label, op, value in MATCHER.findall(block)}


def honours_region(found: dict[tuple[str, str], str]) -> bool:
    """``region=~"$region"`` or ``region=~"$region|"`` (series that may have no region outside scale mode)."""
    return found.get(("region", "=~"), "").split("|")[0] in ("$region", "${region}")


def queries(board: dict) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target, the annotations and the query variables that region narrows."""

    def walk(panels: list[dict]) -> Iterator[dict]:
        for panel in panels:
            yield panel
            yield from walk(panel.get("panels", []))

    for panel in walk(board["panels"]):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} (id {panel['id']}) target {target.get('refId')}", target["expr"]
    for annotation in board.get("annotations", {}).get("list", []):
        if annotation.get("expr"):
            yield f"annotation {annotation['name']!r}", annotation["expr"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query" and variable["name"] != "region":
            yield f"variable {variable['name']!r}", re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", variable["query"])


def region_problems(boards: dict[str, dict]) -> list[str]:
    """One line per selector without the region matcher, naming the dashboard, the panel and the selector."""
    problems = []
    for uid, board in boards.items():
        if "region" not in {v["name"] for v in board["templating"]["list"]}:
            continue
        for where, expr in queries(board):
            found = vector_selectors(expr)
            if not found:
                problems.append(f"{uid} / {where}: no vector selector found in {expr!r}")
            problems += [
                f'{uid} / {where}: {name or "{…}"} lacks region=~"$region" in {expr!r}'
                for name, labels in found
                if not honours_region(labels)
            ]
    return problems


@pytest.fixture(scope="module", params=SPECS)
def spec(request) -> FleetSpec:
    return load_spec(ROOT / "examples" / f"{request.param}.py")


def test_every_selector_of_every_dashboard_honours_the_region_variable(spec: FleetSpec) -> None:
    boards = dashboards(spec)
    assert all("region" in {v["name"] for v in b["templating"]["list"]} for b in boards.values())
    assert sum(1 for b in boards.values() for _ in queries(b)) > 100  # the walk reaches every board's queries
    problems = region_problems(boards)
    assert not problems, f"{len(problems)} selectors ignore $region:\n" + "\n".join(problems)


def test_the_walk_finds_every_selector_and_skips_functions_clauses_and_durations() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, cluster) (rate(a_bucket{job="redis", region=~"$region"}'
        '[$__rate_interval]))) / on (slo, team) b offset 5m or vector(0) + count({__name__="c"}) > bool 1e-3'
    )
    found = vector_selectors(expr)
    assert [name for name, _ in found] == ["a_bucket", "b", ""]
    assert found[0][1] == {("job", "="): "redis", ("region", "=~"): "$region"}
    assert [honours_region(labels) for _, labels in found] == [True, False, False]
    assert honours_region(matchers('{region=~"$region|"}')) and not honours_region(matchers('{region="eu"}'))


def test_a_selector_without_the_matcher_is_named_by_dashboard_and_panel() -> None:
    board = {
        "templating": {"list": [{"name": "region", "type": "query", "query": "label_values(up, region)"}]},
        "annotations": {"list": []},
        "panels": [
            {
                "type": "row",
                "title": "Row",
                "id": 1,
                "panels": [
                    {"title": "Good", "id": 2, "targets": [{"refId": "A", "expr": 'sum(x{region=~"$region|"})'}]},
                    {"title": "Bad", "id": 3, "targets": [{"refId": "B", "expr": 'x{region=~"$region"} / y'}]},
                ],
            }
        ],
    }
    assert region_problems({"some-board": board}) == [
        "some-board / panel 'Bad' (id 3) target B: y lacks region=~\"$region\" in 'x{region=~\"$region\"} / y'"
    ]
