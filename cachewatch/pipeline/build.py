"""``cachewatch generate``: gather every part's contribution → assemble the shared files → lint → files.

Each part turns the spec into a ``Contribution`` (pure functions, no I/O). This module is the only place
that knows all the parts; the files several parts feed (``prometheus.yml``, ``alertmanager.yml`` and its route
tests, the rule files and their promtool tests, the mixin, the PrometheusRule, the runbooks, the alert latency
budget, the capacity plan, the exporters' config) are assembled
here, every query is linted against the catalog, and the result goes to the one writer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cachewatch.alert_lifecycle.contribution import contribution as alert_lifecycle
from cachewatch.alert_rules.contribution import contribution as alert_rules
from cachewatch.artifacts import Contribution, File, GeneratorError
from cachewatch.dashboards.contribution import contribution as dashboards
from cachewatch.exporter.contribution import contribution as exporter
from cachewatch.pipeline import (
    alert_latency,
    alertmanager_yml,
    capacity,
    exporter_config,
    lint,
    mixin,
    prometheus_rule,
    prometheus_yml,
    rule_files,
    runbooks,
    scale,
)
from cachewatch.pipeline.writer import rendered
from cachewatch.rulefmt import alerts_of
from cachewatch.spec import FleetSpec
from cachewatch.tracing.contribution import contribution as tracing

# Every part that contributes, in the order its scrape jobs, rule groups and routes appear in shared files.
# Route order matters: alert_rules' team routes end the walk (continue: false) and its last route catches every
# other alert, so a route placed after them is never reached. The alert lifecycle's history route (continue: true,
# every alert) therefore comes before them: alert_lifecycle is listed before alert_rules.
PARTS: tuple[Callable[[FleetSpec], Contribution], ...] = (exporter, alert_lifecycle, alert_rules, dashboards, tracing)


@dataclass(frozen=True)
class Generated:
    fleet: str
    files: tuple[File, ...]

    def texts(self) -> dict[str, str]:
        """Relative path → the exact text the writer puts on disk."""
        return rendered(self.files, self.fleet)


def merged_dashboards(contributions: list[Contribution]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for c in contributions:
        for uid, board in c.dashboards.items():
            if uid in out:
                raise GeneratorError(f"dashboard uid {uid} is contributed twice")
            out[uid] = board
    return out


def assemble(spec: FleetSpec, contributions: list[Contribution]) -> Generated:
    groups = [group for c in contributions for group in c.rule_groups]
    boards = merged_dashboards(contributions)
    lint.lint(groups, boards)
    docs = rule_files.rule_docs(spec, groups)
    files = [
        *rule_files.files(spec, groups, docs),
        *prometheus_yml.files(spec, list(docs), contributions),
        *alertmanager_yml.files(spec, [c.alerting for c in contributions]),
        *prometheus_rule.files(spec, docs),
        *mixin.files(spec, docs, boards),
        *runbooks.files(alerts_of(groups)),
        *alert_latency.files(spec, alerts_of(groups)),
        *capacity.files(spec, groups),
        *exporter_config.files(spec, groups, boards),
        *(File(f"dashboards/{uid}.json", board) for uid, board in boards.items()),
        *(file for c in contributions for file in c.files),
    ]
    if spec.scale is not None:  # regions, HA pairs, long-term store, logs (scale.py)
        files = scale.files(spec, files, contributions, groups, list(docs))
    return Generated(spec.name, tuple(files))


def build(spec: FleetSpec) -> Generated:
    """Everything ``cachewatch generate`` writes for ``spec``, as data."""
    return assemble(spec, [part(spec) for part in PARTS])
