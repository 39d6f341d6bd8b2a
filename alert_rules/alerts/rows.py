"""What an alert row is: every field named (``Row``), and the threshold variant it is written for (``Ctx``:
its matchers, its thresholds, and the labels of its promtool test series)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from cachewatch.promql import REDIS, REDIS_JOB, duration, num, selector, series
from cachewatch.rulefmt import Alert, AlertTest, Series, Severity
from cachewatch.spec.model import FleetSpec, Thresholds

Scope = Literal["node", "shard", "cluster", "fleet"]  # what Alertmanager's inhibitions compare
TEST_INSTANCE, TEST_SHARD = "10.9.9.9:6379", "s0"  # the node every test series describes
OTHER_INSTANCE = "10.9.9.8:6379"  # a second node, for quiet cases that must not mix with the first


def test_node(region: str, cluster: str, team: str) -> dict[str, str]:
    """The labels of the test node every promtool case describes (a primary), as the scrape config sets them."""
    return {"job": REDIS_JOB, "instance": TEST_INSTANCE, "region": region, "cluster": cluster, "shard": TEST_SHARD,
            "role": "primary", "team": team}


@dataclass(frozen=True, kw_only=True)
class Row:
    """One alert of the table. ``description`` is a Go template; the text promtool expects is rendered from it
    and ``test`` (its labels and, where the template prints ``$value``, its value)."""

    name: str
    expr: str
    for_: str
    severity: Severity
    scope: Scope
    summary: str  # static: no template
    description: str
    panel: str  # dashboard uid/panel key, e.g. "cachewatch-node/memory"
    runbook_text: str  # what to check and do; rendered into runbooks.md
    test: AlertTest
    team: str = ""  # a rule label, for alerts whose series carry no team (fleet-wide: the fleet's owner)
    twin: str = ""  # shared by a warning/critical pair, so Alertmanager inhibits the warning
    dashboard_vars: tuple[str, ...] = ("instance",)
    keep_firing_for: str = ""  # set with ``for_="0s"``: see rulefmt.Alert

    def alert(self) -> Alert:
        labels = {"team": self.team} if self.team else {}
        labels["scope"] = self.scope
        if self.twin:
            labels["twin"] = self.twin
        return Alert(name=self.name, expr=self.expr, for_=self.for_, severity=self.severity, summary=self.summary,
                     description=self.description, runbook=self.name.lower(), panel=self.panel, test=self.test,
                     labels=labels, dashboard_vars=self.dashboard_vars, runbook_text=self.runbook_text,
                     keep_firing_for=self.keep_firing_for)


@dataclass(frozen=True)
class Ctx:
    """One threshold variant: its label selector, its thresholds, and labels for its test series."""

    spec: FleetSpec
    t: Thresholds
    sel: str  # extra matchers, e.g. 'cluster!~"a|b"', or ""
    cluster: str
    region: str
    team: str

    def m(self, name: str, extra: str = "") -> str:
        """``name{<the Redis job>, <variant>, <extra>}``."""
        return selector(name, REDIS, self.sel, extra)

    @property
    def node(self) -> dict[str, str]:
        return test_node(self.region, self.cluster, self.team)

    @property
    def shard_labels(self) -> dict[str, str]:
        return {"region": self.region, "cluster": self.cluster, "shard": TEST_SHARD, "team": self.team}

    def series(self, name: str, values: str, **labels: str) -> Series:
        """A test series of the test node, with labels added or changed."""
        return Series(series(name, {**self.node, **labels}), values)

    def case(self, *, fire: list[Series], quiet: list[Series], value: float | None = None, eval_time: str = "15m",
             labels: Mapping[str, str] | None = None) -> AlertTest:
        """A test of a per-node alert: it fires with the node's labels (plus ``labels``)."""
        return AlertTest(fire=tuple(fire), quiet=tuple(quiet), exp_labels={**self.node, **(labels or {})},
                         value=value, eval_time=eval_time)

    def gauge_case(self, metric: str, *, fire: str, quiet: str, value: float | None = None, eval_time: str = "15m",
                   **labels: str) -> AlertTest:
        """The common test: one series of ``metric`` (with ``labels`` added) that fires, one that stays quiet."""
        return self.case(fire=[self.series(metric, fire, **labels)], quiet=[self.series(metric, quiet, **labels)],
                         value=value, eval_time=eval_time)

    def rate_case(self, counter: str, limit: float, *, quiet: str, **labels: str) -> AlertTest:
        """A counter growing at twice ``limit`` per second (one sample a minute) fires with that rate."""
        return self.gauge_case(counter, fire=f"0+{num(limit * 120)}x20", quiet=quiet, value=limit * 2, **labels)

    @property
    def fleet_team(self) -> str:
        return self.spec.owner_of_fleet

    def after(self, evaluations: int) -> str:
        """A ``for`` of this many scrape/evaluation periods: follows the spec's intervals (40s at 10 s × 4). One
        period means two consecutive samples agree: a single failed scrape never fires the alert."""
        return duration(evaluations * max(self.spec.intervals.scrape, self.spec.intervals.evaluation))

    @property
    def one_probe(self) -> str:
        """One probe interval: how long a ``for: 0s`` probe alert keeps firing after one good probe."""
        return duration(self.spec.intervals.probe)
