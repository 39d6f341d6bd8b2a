"""The shape of one health check, and of what it reads: the check table's contract.

A check is data (id, category, cost tier, thresholds, unit, texts, panel) plus one pure ``measure`` function
over a ``Snapshot`` (what one pipelined round trip to a node returned) and, for checks that need a rate, the
previous snapshot. The health part evaluates the table; the rules, the docs and the health dashboard read the
same rows, so no check is written twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum


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
class FromMetrics:
    """The same measure computed by Prometheus from the exporter's metrics, so a rule can alert on it."""

    expr: str  # PromQL of the measured value per node; "{node}" stands for the node selector
    fire: Mapping[str, float]  # a test node's metric values at which the check reaches its highest level
    fire_value: float  # the measured value those give (what the alert's description prints)
    quiet: Mapping[str, float]  # values at which the check passes
    panel: str  # the dashboard panel an alert links to
    for_: str = "5m"


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
