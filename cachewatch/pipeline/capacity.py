"""docs/capacity.md: what the fleet's metrics cost, computed from the spec and a measurement.

Series per node are not guessed: bench/series_per_node.py measured what the exporter serves for a primary and a
replica under a cache application's command mix (cachewatch/pipeline/series_measured.py, with its date and
versions), and ``family_filter.count`` turns that into the series the spec's ``exporter.series`` leaves. From
there everything is arithmetic on the spec: nodes per role and region, the scrape, probe and evaluation intervals,
the retentions, the Prometheus replicas and the long-term engine, with per-sample costs measured on this build's
Prometheus 2.42 and VictoriaMetrics 1.79 (../shared/reference/scale.md §3). The alert latency budgets reuse
docs/alert-latency.md's computation (alert_latency.py) for each region's paging alerts and add the global path's
delays for the fleet-level ones.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from cachewatch.alert_rules.alertmanager import TIMING
from cachewatch.artifacts import File
from cachewatch.catalog import CATALOG
from cachewatch.exporter.family_filter import Shape, count
from cachewatch.exporter.scrape_jobs import primary_with_replicas
from cachewatch.pipeline import alert_latency, series_measured
from cachewatch.pipeline.scale_remote_write import QUEUE_CONFIG
from cachewatch.rulefmt import Alert, Record, RuleGroup, alerts_of
from cachewatch.spec import FleetSpec
from cachewatch.spec.model import Cluster, Region
from cachewatch.spec.scale import long_term_retention_days, scale_of
from cachewatch.spec.series import REDUCTIONS, SeriesReduction

PATH = "docs/capacity.md"
SHAPES = {role: Shape.from_rows(rows) for role, rows in series_measured.SHAPES.items()}
# Prometheus adds these to every target of every job: up, scrape_duration_seconds, scrape_samples_scraped,
# scrape_samples_post_metric_relabeling, scrape_series_added. Remote write keeps the first two
# (scale_remote_write.LOCAL_ONLY keeps the bookkeeping in the region).
SYNTHETIC, SYNTHETIC_WRITTEN = 5, 2
# Bytes per stored sample, (low, high): Prometheus 2.42 TSDB measured 0.85-0.96 in chunks, 1.10-1.30 with the index
# (scale.md §3.2; its docs say 1-2); VictoriaMetrics claims 0.4-1 with its compression. The high end is the plan.
BYTES_PER_SAMPLE = {"prometheus": (1.1, 1.3), "victoriametrics": (0.4, 1.0), "thanos": (1.1, 1.3), "mimir": (1.1, 1.3)}
REMOTE_WRITE_BYTES = 19.8  # per sample on the wire, snappy protobuf, Prometheus 2.42 (measured, two runs)
HEAD_BYTES_PER_SERIES = 3000  # "around 3kB per series in the head" (robustperception.io); queries come on top
# Seconds after a sample is taken before the long-term store answers queries with it (what a global rule sees):
# VictoriaMetrics' -search.latencyOffset (written out in global/victoriametrics/flags.yml); Mimir's ingesters and
# Thanos' sidecars serve the newest samples at once.
VISIBILITY = {"victoriametrics": 30.0, "mimir": 0.0, "thanos": 0.0}
REMOTE_WRITE_DEADLINE = alert_latency.seconds(QUEUE_CONFIG["batch_send_deadline"])
DAY = 86400
OTHER_DONE = {"aggregate": "aggregated", "drop": "dropped"}
ABSENT_WINDOW = re.compile(r"absent_over_time\([^\[]*\[([0-9smhd]+)\]")


@dataclass(frozen=True)
class PerNode:
    """One node's series by source, for its role."""

    role: str
    scrape: int  # /scrape, under the spec's exporter.series
    probe: int  # /probe?module=health, and module=replication on a primary with replicas
    jobs: int  # scrape jobs reaching the node: redis, redis-probe health, redis-probe replication

    @property
    def total(self) -> int:
        return self.scrape + self.probe + SYNTHETIC * self.jobs

    @property
    def written(self) -> int:
        """What remote write sends to the long-term store."""
        return self.scrape + self.probe + SYNTHETIC_WRITTEN * self.jobs


def per_node(role: str, replicated: bool, series: SeriesReduction) -> PerNode:
    probes = series_measured.PROBE_SERIES
    probe = probes["health"][role] + (probes["replication"]["primary"] if replicated else 0)
    return PerNode(role, count(SHAPES[role], series), probe, 2 + replicated)


@dataclass(frozen=True)
class Group:
    """What one Prometheus (pair) scrapes: a region in scale mode, the whole fleet otherwise."""

    name: str
    nodes: tuple[PerNode, ...]
    clusters: int
    exporters: int
    records: int  # series the recording rules write (estimate, see recorded())
    scrape: float
    probe: float
    record_samples: float  # per second

    def count(self, role: str) -> int:
        return sum(1 for n in self.nodes if n.role == role)

    @property
    def exporter_series(self) -> int:
        return self.exporters * (series_measured.EXPORTER_OWN_SERIES["total"] + SYNTHETIC)

    @property
    def series(self) -> int:
        return sum(n.total for n in self.nodes) + self.exporter_series + self.records

    @property
    def samples(self) -> float:
        """Samples per second ingested by each Prometheus of the group."""
        scraped = sum(n.scrape + SYNTHETIC for n in self.nodes) + self.exporter_series
        probed = sum(n.probe + SYNTHETIC * (n.jobs - 1) for n in self.nodes)
        return scraped / self.scrape + probed / self.probe + self.record_samples

    @property
    def written_series(self) -> int:
        """The group's series in the long-term store (the scrape bookkeeping and runtime internals stay local)."""
        own = series_measured.EXPORTER_OWN_SERIES
        exporters = self.exporters * (own["total"] - own["python"] + SYNTHETIC_WRITTEN)
        return sum(n.written for n in self.nodes) + exporters + self.records

    @property
    def written_samples(self) -> float:
        """Samples per second each Prometheus of the group remote-writes."""
        own = series_measured.EXPORTER_OWN_SERIES
        scraped = sum(n.scrape + SYNTHETIC_WRITTEN for n in self.nodes)
        scraped += self.exporters * (own["total"] - own["python"] + SYNTHETIC_WRITTEN)
        probed = sum(n.probe + SYNTHETIC_WRITTEN * (n.jobs - 1) for n in self.nodes)
        return scraped / self.scrape + probed / self.probe + self.record_samples


def recorded(groups: list[RuleGroup], nodes: int, clusters: int, evaluation: float) -> tuple[int, float]:
    """(series, samples/s) the recording rules write, from each recorded family's labels in the catalog: one
    series per node where it keeps ``instance``, per cluster where it keeps ``cluster``, else one per rule (an SLO,
    a fleet constant). An estimate: a rule over nodes without traffic writes nothing."""
    series, samples = 0, 0.0
    for group in groups:
        every = alert_latency.seconds(group.interval) if group.interval else evaluation
        for rule in group.rules:
            if not isinstance(rule, Record):
                continue
            labels = CATALOG[rule.record].labels if rule.record in CATALOG else ()
            n = nodes if "instance" in labels else clusters if "cluster" in labels else 1
            series += n
            samples += n / every
    return series, samples


def exporters_of(spec: FleetSpec, region: Region | None) -> int:
    if region is not None and spec.scale is not None and spec.scale.exporters.get(region.name):
        return len(spec.scale.exporters[region.name])
    return len(spec.exporter.addresses)


def group(spec: FleetSpec, name: str, clusters: list[Cluster], groups: list[RuleGroup], exporters: int) -> Group:
    series = spec.exporter.series
    nodes = tuple(
        per_node(node.role, primary_with_replicas(cluster, node), series)
        for cluster in clusters
        for node in cluster.nodes
    )
    iv = spec.intervals
    records, record_samples = recorded(groups, len(nodes), len(clusters), iv.evaluation)
    return Group(name, nodes, len(clusters), exporters, records, iv.scrape, iv.probe, record_samples)


def fleet_groups(spec: FleetSpec, groups: list[RuleGroup]) -> list[Group]:
    """One group per region in scale mode (each region's pair scrapes only its nodes), else one for the fleet."""
    if spec.scale is None:
        return [group(spec, "fleet", [c for _, c in spec.clusters], groups, exporters_of(spec, None))]
    return [group(spec, r.name, list(r.clusters), groups, exporters_of(spec, r)) for r in spec.regions]


# --- rendering ------------------------------------------------------------------------------------------------
def n(value: float) -> str:
    return f"{value:,.0f}"


def size(value: float) -> str:
    """Bytes as MB below a GB, else GB (decimal units, as disks and egress bills count)."""
    return f"{value / 1e6:,.0f} MB" if value < 1e9 else f"{value / 1e9:,.1f} GB"


def size_range(samples_per_second: float, days: float, engine: str) -> str:
    """Storage for ``days`` at the engine's measured bytes per sample, low–**plan**."""
    low, high = BYTES_PER_SAMPLE[engine]
    total = samples_per_second * DAY * days
    return f"{size(total * low)}–**{size(total * high)}**"


def series_summary(series: SeriesReduction) -> str:
    if series.is_default:
        return "the default: every family, per command"
    parts = []
    if series.drop_families:
        parts.append(f"drop_families: {', '.join(series.drop_families)}")
    if series.command_allowlist is not None:
        parts.append(
            f"command_allowlist: [{', '.join(series.command_allowlist)}] over "
            f"{', '.join(series.command_families)}, the rest {OTHER_DONE[series.other_commands]}"
        )
    return "; ".join(parts)


def node_section(spec: FleetSpec) -> str:
    series = spec.exporter.series
    primary, replica = per_node("primary", True, series), per_node("replica", False, series)
    m = series_measured
    rows = [
        ("/scrape (the exporter; exporter.series below)", primary.scrape, replica.scrape),
        ("/probe?module=health", m.PROBE_SERIES["health"]["primary"], m.PROBE_SERIES["health"]["replica"]),
        ("/probe?module=replication (a primary with replicas)", m.PROBE_SERIES["replication"]["primary"], "–"),
        (f"Prometheus' own, {SYNTHETIC} per job and target", SYNTHETIC * primary.jobs, SYNTHETIC * replica.jobs),
        ("**per node**", f"**{primary.total}**", f"**{replica.total}**"),
        (
            f"for comparison: redis_exporter {m.VERSIONS['redis_exporter']} /scrape, same workload",
            m.PEER_SERIES["primary"],
            m.PEER_SERIES["replica"],
        ),
    ]
    table = "".join(f"| {a} | {b} | {c} |\n" for a, b, c in rows)
    return f"""## Series per node

Measured by `bench/series_per_node.py` on {m.MEASURED} (redis-server {m.VERSIONS["redis"]}, cachewatch \
{m.VERSIONS["cachewatch"]}; workload: {m.WORKLOAD}), counted for this spec's `exporter.series`: \
{series_summary(series)}.

| source | primary | replica |
|---|---:|---:|
{table}
A node's per-command families grow with the commands its clients send: each command costs 4 counters, a 5-series
latency summary and a histogram of 4-12 buckets (+3), about 16 series. The workload above sends 29 commands to the
primary; the exporter's and Redis' own commands (INFO, LATENCY HISTOGRAM, PSYNC, REPLCONF, ...) add about 12.
Redis Cluster nodes add the `redis_cluster_*` families (about 12 series); key-group sampling adds its own.

### What each family costs (default, measured)

{family_table()}
### What the reduction options give

`exporter.series` in the spec (written to `exporter/cachewatch-exporter.yml`), or the exporter's `series:` config
and `--drop-family` / `--command-allowlist` / `--other-commands` flags. Series per node from `/scrape`:

{options_table(spec)}
Aggregating keeps every sum over commands exact (a node's call rate, its latency histogram, the latency SLO and the
p95/p99 alerts read the same numbers); only the per-command breakdown of the commands outside the allowlist goes.
Dropping `redis_commands_latencies_usec` is refused by `cachewatch generate` while a generated rule reads it (the
p95/p99 latency alerts, latency SLOs).
"""


def family_table(top: int = 8) -> str:
    primary, replica = SHAPES["primary"].families, SHAPES["replica"].families
    names = sorted(primary, key=lambda f: (-primary[f], f))
    total = SHAPES["primary"].total
    rows = [
        f"| {name} | {primary[name]} | {replica.get(name, 0)} | {100 * primary[name] / total:.0f} % |\n"
        for name in names[:top]
    ]
    rest = names[top:]
    rows.append(
        f"| the other {len(rest)} families | {sum(primary[f] for f in rest)} | "
        f"{sum(v for f, v in replica.items() if f not in names[:top])} | "
        f"{100 * sum(primary[f] for f in rest) / total:.0f} % |\n"
    )
    rows.append(f"| **total** | **{total}** | **{SHAPES['replica'].total}** | |\n")
    return "| family | primary | replica | share (primary) |\n|---|---:|---:|---:|\n" + "".join(rows)


def options_table(spec: FleetSpec) -> str:
    nodes = [(node.role) for _, c in spec.clusters for node in c.nodes]
    chosen = spec.exporter.series
    rows = []
    for name, (what, option) in REDUCTIONS.items():
        per = {role: count(SHAPES[role], option) for role in SHAPES}
        fleet = sum(per[role] for role in nodes)
        mark = " ← this spec" if option == chosen else ""
        rows.append(f"| {name}{mark} | {what} | {per['primary']} | {per['replica']} | {n(fleet)} |\n")
    if not any(option == chosen for _, option in REDUCTIONS.values()):
        per = {role: count(SHAPES[role], chosen) for role in SHAPES}
        rows.append(
            f"| this spec | {series_summary(chosen)} | {per['primary']} | {per['replica']} | "
            f"{n(sum(per[role] for role in nodes))} |\n"
        )
    return "| option | what | primary | replica | fleet (/scrape only) |\n|---|---|---:|---:|---:|\n" + "".join(rows)


def fleet_section(spec: FleetSpec, groups: list[Group]) -> str:
    where = "region (each Prometheus of its pair holds all of it)" if spec.scale else "Prometheus"
    rows = []
    for g in groups:
        rows.append(
            f"| {g.name} | {g.count('primary')} | {g.count('replica')} | {n(sum(x.total for x in g.nodes))} | "
            f"{n(g.exporter_series)} | {n(g.records)} | **{n(g.series)}** | **{n(g.samples)}** |\n"
        )
    if len(groups) > 1:
        rows.append(
            f"| **fleet** | {sum(g.count('primary') for g in groups)} | "
            f"{sum(g.count('replica') for g in groups)} | {n(sum(sum(x.total for x in g.nodes) for g in groups))}"
            f" | {n(sum(g.exporter_series for g in groups))} | {n(sum(g.records for g in groups))} | "
            f"**{n(sum(g.series for g in groups))}** | **{n(sum(g.samples for g in groups))}** |\n"
        )
    iv = spec.intervals
    return f"""## Active series and samples per second, per {where}

Scrapes every {iv.scrape:g} s, probes every {iv.probe:g} s, rules every {iv.evaluation:g} s. Exporters: their own
`/metrics` ({series_measured.EXPORTER_OWN_SERIES["total"]} series each, measured) plus Prometheus' {SYNTHETIC}.
Recording rules: one series per node, cluster or SLO by what each recorded family keeps (an upper bound: a node
without traffic records no ratio). Applications' client-library series (`cache_*`) depend on their caches and
operations and are not counted.

| {"region" if spec.scale else "scope"} | primaries | replicas | node series | exporters | recording rules | \
active series | samples/s |
|---|---:|---:|---:|---:|---:|---:|---:|
{"".join(rows)}"""


def storage_section(spec: FleetSpec, groups: list[Group]) -> str:
    lo, hi = BYTES_PER_SAMPLE["prometheus"]
    if spec.scale is None:
        days = spec.retention.metrics_days
        rows = "".join(
            f"| {g.name} | {n(g.samples)} | {size_range(g.samples, 1, 'prometheus')} | "
            f"{size_range(g.samples, days, 'prometheus')} | {size(g.series * HEAD_BYTES_PER_SERIES)} |\n"
            for g in groups
        )
        return f"""## Storage and memory

One Prometheus keeps everything for retention.metrics_days ({days} days) at {lo}–{hi} bytes per sample (measured
on Prometheus 2.42 with its index; the plan uses {hi}). Memory: about {HEAD_BYTES_PER_SERIES // 1000} kB per
active series in the head block; queries and the page cache come on top.

| Prometheus | samples/s | per day | for {days} days | head memory |
|---|---:|---:|---:|---:|
{rows}
Local storage is not replicated: for a second copy, long retention and a view across regions, use scale mode
(`scale` in the spec).
"""
    scale = scale_of(spec)
    local_days, replicas = scale.prometheus.local_retention_days, scale.prometheus.replicas
    engine = scale.long_term.engine
    lt_days = long_term_retention_days(spec)
    regional = "".join(
        f"| {g.name} | {n(g.samples)} | {size_range(g.samples, 1, 'prometheus')} | "
        f"{size_range(g.samples, local_days, 'prometheus')} | {size(g.series * HEAD_BYTES_PER_SERIES)} |\n"
        for g in groups
    )
    written = sum(g.written_samples for g in groups)
    lt_lo, lt_hi = BYTES_PER_SAMPLE[engine]
    copies = (
        "one copy: both replicas send, the store keeps one sample per interval (deduplication)"
        if engine != "thanos"
        else (
            "each replica uploads its blocks; the compactor deduplicates by the replica label, so raw "
            "blocks are stored twice until compacted"
        )
    )
    egress = "".join(
        f"| {g.name} | {n(g.written_samples)} | {replicas} | "
        f"{size(g.written_samples * REMOTE_WRITE_BYTES * replicas * DAY)} |\n"
        for g in groups
    )
    total_egress = written * REMOTE_WRITE_BYTES * replicas * DAY
    upload = (
        ""
        if engine != "thanos"
        else (
            "\nThanos does not remote-write: each sidecar uploads its Prometheus' 2-hour blocks, about the regional "
            "storage per day above, per replica.\n"
        )
    )
    return f"""## Storage and memory

### Each regional Prometheus ({replicas} per region)

Keeps its region {local_days} days (scale.prometheus.local_retention_days: the rules read up to 30 days) at
{lo}–{hi} bytes per sample (measured on Prometheus 2.42 with its index; the plan uses {hi}). Head memory: about
{HEAD_BYTES_PER_SERIES // 1000} kB per active series; queries and the page cache come on top.

| region | samples/s | per day | for {local_days} days | head memory |
|---|---:|---:|---:|---:|
{regional}
### The long-term store ({engine})

Remote write leaves Prometheus' scrape bookkeeping (3 of its {SYNTHETIC} series per target) and runtime internals in
the region: **{n(written)} samples/s** reach the store from the fleet, {copies}. At {lt_lo}–{lt_hi} bytes per
sample ({"VictoriaMetrics compression" if engine == "victoriametrics" else "Prometheus TSDB blocks"}):

| | per day | for {lt_days} days | memory (active series × {HEAD_BYTES_PER_SERIES // 1000} kB) |
|---|---:|---:|---:|
| {engine} | {size_range(written, 1, engine)} | {size_range(written, lt_days, engine)} | \
{size(sum(g.written_series for g in groups) * HEAD_BYTES_PER_SERIES)} |

## Remote-write egress

{REMOTE_WRITE_BYTES} bytes per sample on the wire (snappy protobuf, measured on Prometheus 2.42), from every
replica: both members of a pair send the same samples.

| region | samples/s per replica | replicas | per day |
|---|---:|---:|---:|
{egress}| **fleet** | {n(written)} | | **{size(total_egress)}** |
{upload}"""


def latency_section(spec: FleetSpec, alerts: list[Alert], groups: list[Group]) -> str:
    budgets = [b for b in alert_latency.budgets(spec, alerts) if not b.exempt]
    slowest = max(budgets, key=lambda b: (b.worst, b.typical, b.alert))
    down = next((b for b in budgets if b.alert == "RedisDown"), slowest)
    where = "each region's Prometheus pair" if spec.scale else "Prometheus"
    rows = "".join(
        f"| {g.name} | {len(budgets)} | {down.worst:g} / {down.typical:g} | {slowest.alert} | "
        f"**{slowest.worst:g} / {slowest.typical:g}** |\n"
        for g in groups
    )
    same = " (the same in every region: the spec's intervals are fleet-wide)" if spec.scale else ""
    out = f"""## Alert latency budget

### {"In each region" if spec.scale else "Paging alerts"}

Every paging rule runs in {where}, next to its data: fault → notification, seconds, worst / typical, as
docs/alert-latency.md computes it term by term from the intervals{same}. Exempt alerts (waits that are part of
what they mean) are left out.

| {"region" if spec.scale else "scope"} | critical alerts | RedisDown | slowest | its budget |
|---|---:|---:|---|---:|
{rows}"""
    if spec.scale is None:
        return out
    return out + global_latency(spec)


def global_budget(spec: FleetSpec, alert: Alert) -> alert_latency.Budget:
    """A fleet-level alert on the long-term store: the data must first reach it and become visible."""
    iv, engine = spec.intervals, scale_of(spec).long_term.engine
    Term = alert_latency.Term
    absent = ABSENT_WINDOW.search(alert.expr)
    window = alert_latency.seconds(absent[1]) if absent else 0.0
    terms = []
    if window:
        terms.append(Term("onset", window, window - iv.scrape / 2, "no sample of the region in the rule's window"))
    else:
        terms.append(Term("sample", iv.scrape, iv.scrape / 2, "the next scrape"))
        terms.append(
            Term("remote write", REMOTE_WRITE_DEADLINE, REMOTE_WRITE_DEADLINE / 2, "the queue's batch_send_deadline")
        )
    visible = VISIBILITY[engine]
    terms.append(Term("visibility", visible, visible, "the store's query offset"))
    terms.append(Term("evaluation", iv.evaluation, iv.evaluation / 2, "the ruler's next evaluation"))
    hold = math.ceil(alert_latency.seconds(alert.for_) / iv.evaluation) * iv.evaluation
    terms.append(Term("for", hold, hold, f"`for: {alert.for_}`"))
    wait = max(spec.intervals.group_wait, TIMING.get(alert.severity, (0, 0))[0])
    terms.append(Term("group_wait", wait, wait, "Alertmanager"))
    terms.append(Term("delivery", *alert_latency.DELIVERY, "to the receiver"))
    return alert_latency.Budget(alert.name, "global", tuple(terms))


def global_latency(spec: FleetSpec) -> str:
    from cachewatch.pipeline.scale_global_rules import groups as global_groups

    engine = scale_of(spec).long_term.engine
    alerts = [a for a in alerts_of(global_groups(spec)) if a.severity in ("critical", "warning")]
    budgets = {}
    for alert in alerts:
        b = global_budget(spec, alert)
        if alert.name not in budgets or b.worst > budgets[alert.name].worst:
            budgets[alert.name] = b
    names = ("onset", "sample", "remote write", "visibility", "evaluation", "for", "group_wait", "delivery")

    def cell(b: alert_latency.Budget, name: str) -> str:
        term = next((t for t in b.terms if t.name == name), None)
        if term is None:
            return "–"
        return f"{term.worst:g}" if term.worst == term.typical else f"{term.worst:g} / {term.typical:g}"

    rows = "".join(
        f"| {b.alert} | " + " | ".join(cell(b, c) for c in names) + f" | **{b.worst:g} / {b.typical:g}** |\n"
        for b in budgets.values()
    )
    extra = REMOTE_WRITE_DEADLINE + VISIBILITY[engine]
    return f"""
### Globally (the fleet-level rules on the long-term store)

A rule on the long-term store sees a sample only after remote write sent it (batches every
{REMOTE_WRITE_DEADLINE:g} s at most) and the store made it visible ({engine}: {VISIBILITY[engine]:g} s): up to
**{extra:g} s more** than the same rule in a region. That is why no paging rule runs there; the fleet-level
rules are roll-ups, the Watchdog, and the alert no region can raise about itself:

| alert | {" | ".join(names)} | **worst / typical** |
|---|{"---:|" * (len(names) + 1)}
{rows}"""


def markdown(spec: FleetSpec, rule_groups: list[RuleGroup]) -> str:
    groups = fleet_groups(spec, rule_groups)
    return "".join(
        (
            f"""# Capacity

Generated by `cachewatch generate` from the spec `{spec.name}`: series, samples, storage, memory, remote-write
egress and alert latency for its {sum(len(c.nodes) for _, c in spec.clusters)} nodes in {len(spec.regions)} \
region(s), computed from the spec and from a measurement of what the exporter serves per node. Figures in **bold**
are the plan (the high end of each measured range). Re-measure with `bench/series_per_node.py --write` when the
workload differs much from the one below; a test checks the per-node figures against a live exporter.

""",
            node_section(spec),
            "\n",
            fleet_section(spec, groups),
            "\n",
            storage_section(spec, groups),
            "\n",
            latency_section(spec, alerts_of(rule_groups), groups),
        )
    )


def files(spec: FleetSpec, rule_groups: list[RuleGroup]) -> list[File]:
    return [File(PATH, markdown(spec, rule_groups))]
