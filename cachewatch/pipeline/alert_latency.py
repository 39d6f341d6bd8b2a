"""docs/alert-latency.md: how long each critical alert takes from a fault to its first notification, computed from
the spec (scrape, probe and evaluation intervals, timeouts, each rule's ``for``, the critical group_wait).

The brief promises a page within a minute. Every term below is a wait nobody can skip: the next sample, the
measurement itself (a hung node answers only at the deadline; a heartbeat is late only after it waited), the next
rule evaluation, the ``for`` (rounded up to whole evaluations: Prometheus fires at the first evaluation at least
``for`` after the alert became pending), Alertmanager's group_wait for a new group, and the delivery. The sums are
worst cases (every wait at its longest) and typical cases (the fault lands mid-interval, the measurement is quick).
``FAULTS`` is the fault matrix: which critical alerts each fault must page with, within the minute; ``EXEMPT``
lists the critical alerts that wait longer on purpose, each with its reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from cachewatch.alert_rules.alertmanager import TIMING
from cachewatch.artifacts import File
from cachewatch.promql import PROBE
from cachewatch.rulefmt import Alert
from cachewatch.spec import FleetSpec

PATH = "docs/alert-latency.md"
WORST_LIMIT, TYPICAL_LIMIT = 60.0, 45.0  # the brief: within a minute in the worst case, 45 s typically
# Prometheus sends an alert to Alertmanager right after the evaluation that fires it, and Alertmanager posts to
# the receiver as soon as group_wait ends (in an Alertmanager pair the first member does not wait for its peer).
# What is left is two HTTP round trips and the receiver's own API: a bound, not a measurement.
DELIVERY = (5.0, 1.0)
# Redis' default cluster-node-timeout: a Redis Cluster marks a primary failed (and cluster_state fail, when no
# replica takes over) this long after it stopped answering. Redis' setting, not the spec's.
CLUSTER_NODE_TIMEOUT = 15.0
RATE = re.compile(r"\b(rate|irate|increase|delta|idelta|deriv)\(")  # needs two samples of the series
HEARTBEAT_DELAY = "redis_replication_probe_delay_seconds"  # the probe waits this long at least before it reports it
SLO_RECORDS = "cachewatch:slo_"
DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")  # Prometheus' duration units
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


@dataclass(frozen=True)
class Fault:
    """One row of the fault matrix: what is injected, the critical alerts that must page for it within the
    minute, and the warnings it also raises (tickets: batched, outside the minute by design)."""

    name: str
    pages: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    note: str = ""


# The twelve faults (bench/alert_quality.py injects them). Critical alerts no fault names still meet the
# minute (the test checks every critical alert not in EXEMPT), they are just not injected.
FAULTS: tuple[Fault, ...] = (
    Fault("node killed", ("RedisDown",), note="a killed primary also pages RedisShardWithoutPrimary and its "
          "replicas' RedisReplicationLinkDown"),
    Fault("node hung (SIGSTOP)", ("RedisDown",), note="the exporter reports it down at the scrape timeout: the worst "
          "case below includes it, the typical case adds it"),
    Fault("primary killed in a Redis Cluster", ("RedisDown",), note="RedisClusterStateNotOk and RedisClusterSlotsFail "
          "page (within the minute, onset included) only when no replica takes over: a failover flips "
          "cluster_state for a second or two"),
    Fault("replication broken", ("RedisReplicationLinkDown",)),
    Fault("replica lagging (heartbeat delay)", ("RedisReplicationDelayHighCritical",),
          ("RedisReplicationDelayHigh",)),
    Fault("memory full under noeviction", ("RedisMemoryHighCritical", "RedisOomRejects"), ("RedisMemoryHigh",)),
    Fault("eviction storm", ("RedisEvictionCannotKeepUp",), ("RedisEvictionsHigh", "RedisEvictionRatioHigh"),
          note="evictions alone are normal for a cache (warnings); eviction falling behind the writes pages"),
    Fault("slow commands", ("RedisLatencySpikesCritical", "RedisHealthCheckCritical"),
          ("RedisLatencySpikes", "RedisSlowlogGrowing", "RedisLatencyP99High", "RedisEventloopBusy"),
          note="RedisHealthCheckCritical with check=perf.slow_commands (a command ≥ 0.5 s); spikes need "
               "latency-monitor-threshold"),
    Fault("auth failures flood", (), ("RedisAuthFailuresSpike",), note="a security ticket, not a page"),
    Fault("maxclients exhausted", ("RedisConnectionsHighCritical",), ("RedisRejectedConnections",)),
    Fault("exporter killed", ("RedisExporterDown",), note="RedisExporterDown inhibits every node's RedisDown, "
          "RedisScrapeFailing and RedisProbeFailing fleet-wide"),
    Fault("hit ratio collapsing (instrumented application)", (), ("RedisClientHitRatioLow",),
          note="a ticket after 30 minutes (a cold cache after a restart is normal); the hit-ratio SLO's burn-rate "
               "alerts follow over their windows"),
)

# Critical alerts whose wait is part of what they mean; no fault of the matrix relies on them for its page.
EXEMPT: dict[str, str] = {
    "RedisLoading": "every restart loads the dataset (a minute or more for a big node) and a planned one sits in a "
                    "maintenance window: the 5m `for` is how long a load may take before it is an outage; a node "
                    "that dies pages as RedisDown first",
    "RedisShardMultiplePrimaries": "a former primary that comes back stays a primary until Sentinel or the cluster "
                                   "demotes it (10-20 s): a `for` short enough for the minute would page every "
                                   "failover; a split brain is not a fault the matrix injects",
    "RedisSLOBurnRateCritical": "a burn rate is a condition over windows (1h and 5m, or 6h and 30m where 14.4x is "
                                "out of reach): it pages for an error budget that will be gone in days, and the "
                                "fault that burns it pages on its own alert first",
}


@dataclass(frozen=True)
class Term:
    name: str
    worst: float
    typical: float
    why: str


@dataclass(frozen=True)
class Budget:
    alert: str
    source: str
    terms: tuple[Term, ...]

    @property
    def worst(self) -> float:
        return sum(t.worst for t in self.terms)

    @property
    def typical(self) -> float:
        return sum(t.typical for t in self.terms)

    @property
    def exempt(self) -> str:
        return EXEMPT.get(self.alert, "")

    def meets_the_minute(self) -> bool:
        return self.worst <= WORST_LIMIT and self.typical <= TYPICAL_LIMIT


# What Redis Cluster decides only after cluster-node-timeout (not, say, redis_cluster_connections: sockets in use).
CLUSTER_VERDICT = re.compile(r"redis_cluster_(state|slots_fail|slots_pfail)\b")


def seconds(text: str) -> float:
    """A Prometheus duration (``1m30s``, ``0s``) in seconds."""
    return sum(int(n) * UNITS[unit] for n, unit in DURATION.findall(text))


def critical_group_wait(spec: FleetSpec) -> float:
    """What a critical leaf of alertmanager.yml waits before a new group's first notification."""
    return max(spec.intervals.group_wait, TIMING["critical"][0])


def source(alert: Alert) -> str:
    """Where the alert's data comes from: absent (no sample at all), probe (/probe), slo (recorded from scraped
    series in the same evaluation), scrape (/scrape, /metrics)."""
    if alert.expr.startswith("absent("):
        return "absent"
    if SLO_RECORDS in alert.expr:
        return "slo"
    return "probe" if PROBE in alert.expr else "scrape"


def budget(spec: FleetSpec, alert: Alert) -> Budget:
    iv = spec.intervals
    kind = source(alert)
    terms = []
    if CLUSTER_VERDICT.search(alert.expr):
        terms.append(Term("onset", CLUSTER_NODE_TIMEOUT, CLUSTER_NODE_TIMEOUT,
                          "cluster-node-timeout: the cluster declares the primary failed"))
    every = {"scrape": iv.scrape, "slo": iv.scrape, "probe": iv.probe, "absent": 0.0}[kind]
    samples = 2 if RATE.search(alert.expr) else 1
    terms.append(Term("sample", every * samples, every / 2 + every * (samples - 1),
                      {"absent": "the series go stale at once", "slo": "the next scrape",
                       "scrape": "the next scrape", "probe": "the next probe"}[kind]
                      + (" and one more: a rate needs two samples" if samples == 2 else "")))
    if kind in ("scrape", "slo"):
        terms.append(Term("measure", iv.scrape_timeout, 0.0, "a hung node is reported at the scrape timeout"))
    elif kind == "probe" and HEARTBEAT_DELAY in alert.expr:
        terms.append(Term("measure", iv.probe_timeout, spec.thresholds.replication_delay_critical_seconds,
                          "the heartbeat waits past the critical delay, at most the probe timeout"))
    elif kind == "probe":
        terms.append(Term("measure", iv.probe_timeout, 0.0, "a slow node answers the probe at its deadline"))
    terms.append(Term("evaluation", iv.evaluation, iv.evaluation / 2, "the next rule evaluation"))
    hold = math.ceil(seconds(alert.for_) / iv.evaluation) * iv.evaluation
    terms.append(Term("for", hold, hold, f"`for: {alert.for_}`, in whole evaluations"))
    wait = critical_group_wait(spec)
    terms.append(Term("group_wait", wait, wait, "Alertmanager's wait for a new group"))
    terms.append(Term("delivery", *DELIVERY, "to Alertmanager and on to the receiver"))
    return Budget(alert.name, kind, tuple(terms))


def budgets(spec: FleetSpec, alerts: list[Alert]) -> list[Budget]:
    """One budget per critical alert name: the slowest of its copies (threshold variants, SLOs), by name."""
    out: dict[str, Budget] = {}
    for alert in alerts:
        if alert.severity != "critical":
            continue
        b = budget(spec, alert)
        if alert.name not in out or b.worst > out[alert.name].worst:
            out[alert.name] = b
    return [out[name] for name in sorted(out)]


def _n(value: float) -> str:
    return f"{value:g}"


def _cell(b: Budget, name: str) -> str:
    term = next((t for t in b.terms if t.name == name), None)
    if term is None:
        return "–"
    return _n(term.worst) if term.worst == term.typical else f"{_n(term.worst)} / {_n(term.typical)}"


COLUMNS = ("onset", "sample", "measure", "evaluation", "for", "group_wait", "delivery")


def _faults_of(alert: str) -> str:
    return ", ".join(f.name for f in FAULTS if alert in f.pages) or "–"


def markdown(spec: FleetSpec, alerts: list[Alert]) -> str:
    iv = spec.intervals
    rows = budgets(spec, alerts)
    head = ("| Alert | Source | Faults | " + " | ".join(COLUMNS) + " | **worst** | **typical** |\n"
            "|---|---|---|" + "---:|" * (len(COLUMNS) + 2) + "\n")

    def line(b: Budget) -> str:
        mark = "" if b.meets_the_minute() else " ⚠"
        return (f"| {b.alert} | {b.source} | {_faults_of(b.alert)} | " + " | ".join(_cell(b, c) for c in COLUMNS)
                + f" | **{_n(b.worst)}**{mark} | **{_n(b.typical)}** |\n")

    out = [f"""# Alert latency

Generated by `cachewatch generate` from the spec `{spec.name}`: the time from a fault to the first notification
of every critical alert, term by term, in seconds. The promise: within **{_n(WORST_LIMIT)} s in the worst case and
{_n(TYPICAL_LIMIT)} s typically** for every critical alert a fault of the matrix pages with (a test pins it for
`examples/fleet.py` and for the spec's defaults). Cells read `worst / typical` where they differ.

## The formula

    fault → notification = onset + sample + measure + evaluation + for + group_wait + delivery

- **onset**: for Redis Cluster state, the cluster's own cluster-node-timeout ({_n(CLUSTER_NODE_TIMEOUT)} s, Redis'
  default) before it declares a primary failed; 0 for everything else.
- **sample**: the next scrape (every {_n(iv.scrape)} s) or probe (every {_n(iv.probe)} s) that sees the fault: a
  whole interval at worst, half of it typically. A rate (`rate`, `increase`, `delta`) needs two samples of its
  series (an error counter appears with its first error), so one more interval. `absent()` sees stale series at
  the next evaluation.
- **measure**: how long the measurement itself takes. A hung node answers only at the scrape timeout
  ({_n(iv.scrape_timeout)} s: the exporter reports `redis_up 0` just before it); a slow node answers a probe at the
  probe timeout ({_n(iv.probe_timeout)} s); the replication heartbeat reports a delay only after waiting past the
  critical level ({_n(spec.thresholds.replication_delay_critical_seconds)} s, the typical case). A killed node
  refuses at once (typical 0).
- **evaluation**: the next rule evaluation (every {_n(iv.evaluation)} s).
- **for**: Prometheus fires at the first evaluation at least `for` after the alert became pending, so `for` counts
  in whole evaluations. Every `for` still covers one failed scrape: a gauge alert needs at least two samples in a
  row. The probe alerts with `for: 0s` read one observation that already lasted (a heartbeat late by 10 s, a
  check judged on one snapshot; a failed probe reports neither) and carry `keep_firing_for` one probe, so one
  good probe mid-fault does not resolve and re-page them.
- **group_wait**: a critical leaf's wait before a new group's first notification ({_n(critical_group_wait(spec))}
  s). An alert joining a group that already notified waits for the group's next tick instead (group_interval,
  {_n(iv.group_interval)} s): a second node of the same cluster, or an alert that fires again soon after resolving.
- **delivery**: Prometheus → Alertmanager → the receiver: {_n(DELIVERY[0])} s at worst, {_n(DELIVERY[1])} s
  typically (Prometheus sends right after the evaluation; in an Alertmanager pair the first member sends without
  waiting for its peer).

## Critical alerts

""", head]
    out += [line(b) for b in rows if not b.exempt]
    out.append("\n## Critical alerts that wait longer on purpose\n\n")
    out.append(head)
    out += [line(b) for b in rows if b.exempt]
    out.append("\n")
    out += [f"- **{b.alert}**: {b.exempt}.\n" for b in rows if b.exempt]
    out.append("\n## The fault matrix\n\n| Fault | Pages (critical, within the minute) | Also (warnings) | Note |\n"
               "|---|---|---|---|\n")
    out += [f"| {f.name} | {', '.join(f.pages) or '–'} | {', '.join(f.warnings) or '–'} | {f.note or '–'} |\n"
            for f in FAULTS]
    out.append("\nWarnings are tickets: Alertmanager batches them for at least 30 s and mutes them outside business "
               "hours where the team asks for it; they make no promise of a minute.\n")
    return "".join(out)


def files(spec: FleetSpec, alerts: list[Alert]) -> list[File]:
    return [File(PATH, markdown(spec, alerts))]


def default_alert_latency() -> str:
    """docs/alert-latency.md of the repository: the spec's defaults, for a one-node fleet."""
    from cachewatch.alert_rules.contribution import rule_groups
    from cachewatch.pipeline.runbooks import default_spec
    from cachewatch.rulefmt import alerts_of

    spec = default_spec()
    return markdown(spec, alerts_of(rule_groups(spec)))
