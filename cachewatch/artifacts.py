"""What a part contributes to ``cachewatch generate``, as data.

Each part turns the spec into one ``Contribution`` with pure functions and never writes a file. The pipeline
(the top floor) gathers every part's contribution, assembles the files several parts feed (``prometheus.yml``,
``alertmanager.yml`` and its route tests, the rule files and their promtool tests, the mixin, the
PrometheusRule, the docs), lints every query against the metric catalog, and hands the result to one writer.
A new part adds rules, scrape jobs, routes or dashboards by returning them here, without touching the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cachewatch.rulefmt import RuleGroup

Json = dict[str, Any]


class GeneratorError(RuntimeError):
    """A generator produced something inconsistent: a bug in cachewatch, never a problem with the user's spec
    (those are ``SpecError``s). The CLI reports it with its traceback."""


@dataclass(frozen=True)
class File:
    """A whole file a part owns. ``data`` is a mapping (serialised by the writer from the suffix: ``.yml``,
    ``.yaml``, ``.json``) or finished text; ``comment`` is explanation the writer puts under its header."""

    path: str  # relative to the output directory, with forward slashes
    data: Any  # a mapping or list for YAML/JSON, or str
    comment: str = ""


@dataclass(frozen=True)
class Alerting:
    """An Alertmanager fragment. The root route's settings (``root``: receiver, grouping, timers) come from
    exactly one part; every part's ``routes`` become children of the root, in the order the parts are listed.
    ``route_tests`` are ``amtool config routes test`` cases: labels and the receivers they must reach."""

    root: Json | None = None
    routes: tuple[Json, ...] = ()
    receivers: tuple[Json, ...] = ()
    inhibit_rules: tuple[Json, ...] = ()
    time_intervals: tuple[Json, ...] = ()
    route_tests: tuple[Json, ...] = ()


@dataclass(frozen=True)
class Contribution:
    """Everything one part adds to the generated artifacts."""

    part: str
    files: tuple[File, ...] = ()
    rule_groups: tuple[RuleGroup, ...] = ()
    scrape_jobs: tuple[Json, ...] = ()
    scrape_comment: str = ""  # what prometheus.yml's header says about this part's jobs, one line per line
    alerting: Alerting = field(default_factory=Alerting)
    dashboards: dict[str, Json] = field(default_factory=dict)  # uid → Grafana JSON
