"""What every cachewatch dashboard shares: variables, selectors, links, alert annotations, panel helpers.

Every node-level query selects ``{job="redis", region=~"$region", cluster=~"$cluster", instance=~"$instance"}``
(``NODE``) and every rate uses ``$__rate_interval``, so a panel works for one node or the whole fleet. Every other
selector honours ``$region`` too, as ``region=~"$region|"`` (``OF_REGION``): in scale mode every series in the
long-term store carries its region (the node's, the application's, or the external label of the Prometheus pair that
scraped or recorded it), while outside it the fleet-wide jobs and the SLO records have none and stay selected.
``Board`` assigns panel ids: the fixed ones from ``panels.PANEL_IDS`` for panels alerts link to, the rest
from ``FIRST_FREE_ID`` in layout order.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import heatmap, prometheus, stat, table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

from cachewatch.panels import FIRST_FREE_ID, PANEL_IDS
from cachewatch.promql import EXPORTER, NOT_WATCHDOG, REDIS, selector
from cachewatch.spec.model import FleetSpec

TAG = "cachewatch"
RATE = "$__rate_interval"
DATASOURCE = cm.DataSourceRef(type_val="prometheus", uid="${datasource}")
# Selectors per kind of series; the dashboards' variables filter each kind by the labels it has.
IN_REGION, IN_CLUSTER = 'region=~"$region"', 'cluster=~"$cluster"'
OF_REGION = 'region=~"$region|"'  # series that have a region in scale mode, and may have none outside it
NODE = f'{REDIS}, {IN_REGION}, {IN_CLUSTER}, instance=~"$instance"'  # exporter series
CLUSTER = 'region=~"$region", cluster=~"$cluster"'  # per-cluster recording rules (no instance)
EXPORTER_SELF = f"{EXPORTER}, {OF_REGION}"  # the exporter's own /metrics (no node labels)
APP = f'cache=~"$cache", {OF_REGION}'  # client library series (labelled by cache and the application's region)
SLO = f'slo=~"$slo", {OF_REGION}'  # SLO recording rules (labels slo, team; region in scale mode)
IN_SLO_REGION = "slo, team, region"  # what an SLO series is one of: in scale mode each region records its own
# Firing alerts of the selected region/cluster, plus fleet-wide ones (which have no region/cluster label).
# The Watchdog always fires: it is the alerting pipeline's heartbeat, not news.
ALERTS_FIRING = f'ALERTS{{alertstate="firing", {NOT_WATCHDOG}, region=~"$region|", cluster=~"$cluster|"}}'
LEGEND_NODE = "{{instance}} ({{cluster}})"


def m(name: str, sel: str = NODE, extra: str = "") -> str:
    """``name{<sel>, <extra>}``: the variables' selector by default."""
    return selector(name, sel, extra)


def busy_quantile(q: float, by: str, sel: str = NODE) -> str:
    """The ``q`` latency quantile of the slowest busy command (over 1 call/s) per ``by``, taken per node and command:
    Redis reports a command's buckets only up to its slowest call, so a sum by ``le`` across commands or nodes is
    no histogram (cachewatch/latency_ladder.py)."""
    cmd = f"le, instance, cmd, {by}"
    per_command = (f"histogram_quantile({q:g}, sum by ({cmd}) "
                   f"(rate(redis_commands_latencies_usec_bucket{{{sel}}}[{RATE}])))")
    busy = f"sum by ({cmd.removeprefix('le, ')}) (rate(redis_commands_latencies_usec_count{{{sel}}}[{RATE}])) > 1"
    return f"max by ({by}) ({per_command} and {busy})"


def rate(name: str, sel: str = NODE, extra: str = "") -> str:
    """``rate(name{...}[$__rate_interval])``: the window follows the scrape interval and the zoom."""
    return f"rate({m(name, sel, extra)}[{RATE}])"


# --- variables ----------------------------------------------------------------------------------------
def _query_var(name: str, label: str, query: str, description: str) -> db.QueryVariable:
    return (db.QueryVariable(name).label(label).description(description).datasource(DATASOURCE)
            .query(query).definition(query).multi(True).include_all(True).all_value(".*")
            .allow_custom_value(True).refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dm.VariableSort.ALPHABETICAL_ASC))


def variables(extra: tuple[str, ...] = ()) -> list[db.DatasourceVariable | db.QueryVariable]:
    """datasource, region, cluster, instance (each narrowing the next), plus ``cache`` / ``slo`` if asked."""
    out: list = [
        db.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        .description("Prometheus that scrapes the cachewatch exporters."),
        _query_var("region", "Region", f"label_values({selector('redis_up', REDIS)}, region)",
                   "Regions from the spec."),
        _query_var("cluster", "Cluster", f"label_values({selector('redis_up', REDIS, IN_REGION)}, cluster)",
                   "Clusters of the selected regions."),
        _query_var("instance", "Node", f"label_values({selector('redis_up', REDIS, IN_REGION, IN_CLUSTER)}, "
                   "instance)", "Redis nodes (host:port) of the selected clusters."),
    ]
    if "cache" in extra:
        out.append(_query_var("cache", "Cache", f"label_values({selector('cache_requests_total', OF_REGION)}, cache)",
                              "Caches named by applications using cachewatch.tracing in the selected regions."))
    if "slo" in extra:
        out.append(_query_var("slo", "SLO", f"label_values({selector('cachewatch:slo_objective:ratio', OF_REGION)}, "
                              "slo)", "SLOs from the spec."))
    return out


def links() -> list[db.DashboardLink]:
    """One drop-down to every cachewatch dashboard, keeping time range and variables."""
    return [db.DashboardLink("Cachewatch").type(dm.DashboardLinkType.DASHBOARDS).tags([TAG]).as_dropdown(True)
            .include_vars(True).keep_time(True).tooltip("Other cachewatch dashboards")]


def alert_annotation() -> db.AnnotationQuery:
    return (db.AnnotationQuery().name("Firing alerts").datasource(DATASOURCE).enable(True).icon_color("red")
            .expr(ALERTS_FIRING).step("60s").title_format("{{alertname}}").tag_keys("severity,instance")
            .text_format("{{alertname}} {{severity}} {{instance}}").use_value_for_time(False))


# --- queries and panels -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Q:
    """One Prometheus query of a panel."""

    expr: str
    legend: str = ""
    instant: bool = False
    fmt: str = ""  # "", "table", "heatmap"
    exemplar: bool = False

    def build(self, ref: str) -> prometheus.Dataquery:
        q = prometheus.Dataquery().expr(self.expr).ref_id(ref).datasource(DATASOURCE)
        if self.legend:
            q = q.legend_format(self.legend)
        if self.instant:
            q = q.instant()
        if self.fmt:
            q = q.format(pm.PromQueryFormat(self.fmt))
        if self.exemplar:
            q = q.exemplar(True)
        return q


def thresholds(*steps: tuple[float | None, str]) -> db.ThresholdsConfig:
    """``(None, "green"), (0.85, "orange"), ...``: the first step is the base colour."""
    return db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(
        [dm.Threshold(value=v, color=c) for v, c in steps])


KINDS = {"timeseries": timeseries.Panel, "stat": stat.Panel, "table": table.Panel, "heatmap": heatmap.Panel}


class Board:
    """One dashboard being built: title, uid, variables, links, annotations and panels with stable ids."""

    def __init__(self, spec: FleetSpec, uid: str, title: str, description: str, extra_vars: tuple[str, ...] = ()):
        self.spec, self.uid = spec, uid
        self._fixed = PANEL_IDS.get(uid, {})
        self._next = FIRST_FREE_ID
        self.keys: dict[str, int] = {}
        self.builder = (db.Dashboard(f"Cachewatch / {title}").uid(uid).description(description)
                        .tags([TAG, spec.name]).time("now-3h", "now").refresh("1m").timezone("browser")
                        .tooltip(dm.DashboardCursorSync.CROSSHAIR).readonly().variables(variables(extra_vars))
                        .links(links()).annotation(alert_annotation()))

    def _id(self, key: str | None) -> int:
        if key is not None:
            if key not in self._fixed:
                raise KeyError(f"panel key {key!r} of {self.uid} has no fixed id in panels.PANEL_IDS")
            self.keys[key] = self._fixed[key]
            return self._fixed[key]
        self._next += 1
        return self._next - 1

    def row(self, title: str) -> Board:
        self.builder.with_row(db.Row(title).id(self._id(None)))
        return self

    def panel(self, kind: str, title: str, description: str, unit: str, queries: list[Q], *, key: str | None = None,
              span: int = 12, height: int = 8, steps: db.ThresholdsConfig | None = None,
              min_val: float | None = None, max_val: float | None = None,
              options: dict | None = None) -> Board:
        """Add a panel; ``key`` marks it as an alert's target (its id then comes from PANEL_IDS)."""
        p = (KINDS[kind]().id(self._id(key)).title(title).description(description).unit(unit)
             .datasource(DATASOURCE).span(span).height(height))
        for i, q in enumerate(queries):
            p = p.with_target(q.build(chr(ord("A") + i)))
        if steps is not None:
            p = p.thresholds(steps)
        if min_val is not None:
            p = p.min(min_val)
        if max_val is not None:
            p = p.max(max_val)
        if kind == "timeseries":
            p = p.legend(cb.VizLegendOptions().display_mode(cm.LegendDisplayMode.LIST)
                         .placement(cm.LegendPlacement.BOTTOM).show_legend(True))
            if steps is not None:
                p = p.thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED))
        elif kind == "stat":
            p = p.reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"])).graph_mode(
                cm.BigValueGraphMode.AREA)
        elif kind == "heatmap":
            p = (p.calculate(False).y_axis(heatmap.YAxisConfig().unit(unit))
                 .color(heatmap.HeatmapColorOptions().mode("scheme").scheme("Spectral").steps(64)
                        .exponent(0.5).fill("dark-orange"))
                 .cell_values(heatmap.CellValues().unit("reqps")).exemplars_color("rgba(255,0,255,0.7)"))
        for name, value in (options or {}).items():
            p = getattr(p, name)(value)
        self.builder.with_panel(p)
        return self

    def build(self) -> dm.Dashboard:
        missing = set(self._fixed) - set(self.keys)
        if missing:
            raise KeyError(f"{self.uid}: PANEL_IDS lists panels that were not built: {sorted(missing)}")
        return self.builder.build()
