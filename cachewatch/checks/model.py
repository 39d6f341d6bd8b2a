"""The shape of one health check, and of what it reads: the check table's contract.

A check is data (id, category, cost tier, thresholds, unit, texts, panel) plus one pure ``measure`` function
over a ``Snapshot`` (what one pipelined round trip to a node returned) and, for checks that need a rate, the
previous snapshot. The health part evaluates the table; the rules, the docs and the health dashboard read the
same rows, so no check is written twice.

Where the exporter's metrics express the measure, ``FromMetrics`` holds the same measure in PromQL and how each
level is alerted on (``AlertAs``). A level's value comes, last one winning, from: the row; the spec's
``thresholds`` field the level's ``AlertAs.threshold`` names (fleet-wide, then the cluster's ``thresholds:``),
so the spec's alert thresholds set the check's level; the spec's ``checks:`` override of that level (fleet, then
cluster). A bound level's row value is the spec field's default (tests/alert_rules pin it), so docs/checks.md
states what applies when the spec sets nothing. ``Check.levels`` applies these rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from string import Formatter

from cachewatch.promql import num


class Category(StrEnum):
    PERFORMANCE = "performance"
    MEMORY = "memory"
    NETWORK = "network"
    REPLICATION = "replication"
    PERSISTENCE = "persistence"
    CONFIGURATION = "configuration"
    SECURITY = "security"


class Tier(StrEnum):
    """What a check costs the node: cheap ones run in the 30 s loop; sampling and probes are scheduled."""

    CHEAP = "cheap"  # INFO, CONFIG GET, ACL LIST, SLOWLOG, LATENCY LATEST: one pipelined round trip
    SAMPLING = "sampling"  # SCAN-based keyspace sampling, within a key and time budget
    PROBE = "probe"  # an active probe: a synthetic write/read or a timed connect
    HOST = "host"  # needs access to the host (not from a client)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY_ORDER = (Severity.CRITICAL, Severity.WARNING, Severity.INFO)
Kind = str  # "cache" | "store" (the spec's Cluster.kind)
KINDS: tuple[Kind, ...] = ("cache", "store")


@dataclass(frozen=True)
class Snapshot:
    """One node as one pipelined round trip saw it. ``refused`` names the commands the server refused (ACL,
    renamed, managed service): checks that need one of them are ``unknown``, never failed."""

    info: Mapping[str, str]  # every field of INFO (its default sections), flat
    config: Mapping[str, str] = field(default_factory=dict)  # CONFIG GET of CONFIG_KEYS
    acl_users: tuple[str, ...] = ()  # ACL LIST lines
    slowlog: tuple[tuple[int, int, int, str], ...] = ()  # (id, unix time, duration µs, command name)
    latency_latest: tuple[tuple[str, int, int, int], ...] = ()  # (event, unix time, latest ms, max ms)
    cluster_info: Mapping[str, str] = field(default_factory=dict)  # CLUSTER INFO fields (cluster mode only)
    refused: frozenset[str] = frozenset()  # "config", "acl", "slowlog", "latency", "cluster"
    kind: Kind = "cache"
    taken: float = 0.0  # the prober's wall clock (seconds) when the reply arrived

    def number(self, name: str, default: float | None = None) -> float | None:
        """An INFO field as a number, or ``default`` when absent or not numeric."""
        try:
            return float(self.info[name])
        except (KeyError, ValueError):
            return default


Measure = Callable[[Snapshot, Snapshot | None], float | None]


@dataclass(frozen=True)
class Thresholds:
    """``value >= level`` (or ``<=`` when lower is worse) gives that severity; a missing level never fires."""

    info: float | None = None
    warning: float | None = None
    critical: float | None = None

    def overridden(self, levels: Mapping[str, float | None]) -> Thresholds:
        """The levels a spec sets replace these, ``None`` switching one off; the levels it leaves out stay."""
        return Thresholds(**{name: levels.get(name, getattr(self, name)) for name in ("info", "warning", "critical")})


@dataclass(frozen=True, kw_only=True)
class AlertAs:
    """How Prometheus alerts on one level of a check. The name is stable (routes, silences and runbooks use it);
    ``severity`` is set only where routing wants the alert milder than the level (a cache without maxmemory makes
    the node unhealthy, but is a ticket, not a page); ``threshold`` names the spec ``Thresholds`` field that sets
    the level (see the module docstring)."""

    name: str
    severity: Severity | None = None  # None: the level's own
    for_: str | int = "5m"  # a Prometheus duration, or that many scrape/evaluation periods (follows the spec)
    threshold: str = ""


class _Node:
    """``{node}`` in a FromMetrics expression: the node selector's matchers; ``{node:a="b"}`` adds matchers."""

    def __init__(self, *matchers: str) -> None:
        self.matchers = [m for m in matchers if m]

    def __format__(self, extra: str) -> str:
        return "{" + ", ".join([*self.matchers, *([extra] if extra else [])]) + "}"


@dataclass(frozen=True, kw_only=True)
class FromMetrics:
    """The same measure computed by Prometheus from the exporter's metrics, so a rule can alert on it.

    ``expr`` is PromQL of the measured value per node: ``{node}`` stands for the node selector's matchers,
    ``{node:a="b"}`` adds matchers, ``{<Thresholds field>}`` is that spec threshold (a parameter of the measure,
    not a level). Test series (``fire``, ``quiet``) map a metric, optionally with labels (``name{a="b"}``), to a
    constant value or to ``"start+step"`` per minute (counters); ``fire`` lies beyond every valid level.
    """

    expr: str
    fire: Mapping[str, float | str]  # series at which every alerted level fires
    fire_value: float  # the measured value those give (what the alert's description prints)
    quiet: Mapping[str, float | str]  # series at which the check passes
    panel: str  # the dashboard panel an alert links to
    labels: Mapping[str, str] = field(default_factory=dict)  # labels the fire case's result has beyond the node's
    description: str = ""  # Go template; default: instance, title and value
    scope: str = "node"  # what Alertmanager's inhibitions compare: node, shard, cluster
    alerts: Mapping[Severity, AlertAs] | None = None  # None: every level, named after the id (RedisMaxmemoryVsHost)

    @property
    def params(self) -> tuple[str, ...]:
        """The spec thresholds the expression reads (its placeholders other than ``node``)."""
        return tuple(dict.fromkeys(name for _, name, _, _ in Formatter().parse(self.expr) if name and name != "node"))

    def query(self, *matchers: str, thresholds: object = None) -> str:
        """The expression for the nodes ``matchers`` select, with the spec thresholds it reads filled in."""
        return self.expr.format(node=_Node(*matchers), **{p: num(getattr(thresholds, p)) for p in self.params})


@dataclass(frozen=True, kw_only=True)
class Check:
    """One row of the check table; every field named."""

    id: str  # "<category prefix>.<name>", stable: dashboards, rules and runbooks link to it
    category: Category
    tier: Tier
    title: str  # what is wrong when it fires, static
    unit: str  # of the measured value: "ratio", "seconds", "per second", "bool", "count"
    thresholds: Thresholds
    measure: Measure  # None = does not apply to this node (role, version, policy) or needs a previous sample
    trigger: str  # the condition in words, for docs and reports
    why: str  # why it matters
    fix: str  # what to do: the config line, the command
    needs: frozenset[str] = frozenset()  # commands whose refusal makes the check unknown
    kinds: tuple[Kind, ...] = KINDS  # cluster kinds it applies to
    lower_is_worse: bool = False
    panel: str = "cachewatch-health/checks"
    metrics: FromMetrics | None = None  # set where the exporter's metrics express the measure: a rule is generated

    @property
    def bound(self) -> Mapping[str, str]:
        """Level → the spec ``Thresholds`` field that sets it."""
        alerts = (self.metrics.alerts or {}) if self.metrics else {}
        return {level.value: a.threshold for level, a in alerts.items() if a.threshold}

    def bound_levels(self, thresholds: object) -> dict[str, float | None]:
        """Level → its value in the spec ``Thresholds`` (``thresholds``), for the levels bound to a field."""
        return {level: getattr(thresholds, name) for level, name in self.bound.items()} if thresholds else {}

    def levels(self, thresholds: object = None, override: Mapping[str, float | None] | None = None) -> Thresholds:
        """The levels in force: the row's, then the spec's ``thresholds`` (``thresholds``, a spec Thresholds) for
        the bound levels, then the spec's ``checks:`` override (``CheckLevels.given()``)."""
        return self.thresholds.overridden(self.bound_levels(thresholds)).overridden(override or {})

    def severity(self, value: float, thresholds: Thresholds | None = None) -> Severity | None:
        """The severity ``value`` reaches against ``thresholds`` (the row's own by default), or None."""
        levels = thresholds or self.thresholds
        for severity in SEVERITY_ORDER:
            level = getattr(levels, severity.value)
            if level is not None and (value <= level if self.lower_is_worse else value >= level):
                return severity
        return None


def index(checks: tuple[Check, ...]) -> Mapping[str, Check]:
    """id → check, refusing an id used twice."""
    out: dict[str, Check] = {}
    for check in checks:
        if check.id in out:
            raise ValueError(f"check {check.id} is declared twice")
        out[check.id] = check
    return out
