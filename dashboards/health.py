"""Health: what the exporter's active probes (job ``redis-probe``) report: each node's state, the checks that do not
pass by category, the probe itself (success and phase timings), and replication delay from the heartbeat.

One panel per check category, keyed by the category: the check table's rows (cachewatch/checks) link to
``cachewatch-health/<category>``, so a check's alert opens the panel that shows it. The check ids each panel
covers come from the same table.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from cachewatch.checks import CHECKS, Category, Severity
from cachewatch.dashboards.common import IN_CLUSTER, IN_REGION, Board, Q, m, thresholds
from cachewatch.promql import PROBE
from cachewatch.spec.model import FleetSpec

UID = "cachewatch-health"
PROBED = f'{PROBE}, {IN_REGION}, {IN_CLUSTER}, instance=~"$instance"'  # the probe job's series of the selection
STATE, STATUS = "redis_health_state", "redis_health_check_status"
# redis_health_state's states, each with the colour its column of the matrix shows
STATES = {"healthy": "green", "degraded": "orange", "unhealthy": "red", "unknown": "purple"}
# a check's level as one number per node and check: the highest severity it reached (0: passing)
LEVELS = {Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}
LEVEL_COLOURS = {0: "green", 1: "blue", 2: "orange", 3: "red"}


def at(category: Category, severity: Severity) -> str:
    return f'category="{category.value}", severity="{severity.value}"'


def level(category: Category) -> str:
    """``max by (instance, check) (status{info} * 1 or status{warning} * 2 or status{critical} * 3)``."""
    parts = [f"{m(STATUS, PROBED, at(category, severity))} * {n}" for severity, n in LEVELS.items()]
    return f"max by (instance, check) ({' or '.join(parts)})"


def level_mappings() -> list[dm.ValueMapping]:
    names = {0: "ok", **{n: s.value for s, n in LEVELS.items()}}
    return [dm.ValueMap(options={str(n): dm.ValueMappingResult(text=names[n], color=LEVEL_COLOURS[n], index=n)
                                 for n in names})]


def matrix_options() -> dict:
    """The state table as a node × state matrix: one row per node, one column per state, a dot where it is."""
    return {
        "transformations": [dm.DataTransformerConfig(id_val="groupingToMatrix", options={
            "columnField": "state", "rowField": "instance", "valueField": "Value", "emptyValue": "null"})],
        "mappings": [dm.ValueMap(options={"0": dm.ValueMappingResult(text=" ", index=0),
                                          "1": dm.ValueMappingResult(text="●", index=1)})],
        "overrides": [db.DashboardFieldConfigSourceOverrides()
                      .matcher(dm.MatcherConfig(id_val="byName", options=state))
                      .properties([dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": colour}),
                                   dm.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-text"})])
                      for state, colour in STATES.items()],
    }


def build(spec: FleetSpec) -> dm.Dashboard:
    delay_warning = spec.thresholds.replication_delay_warning_seconds
    delay_critical = spec.thresholds.replication_delay_critical_seconds
    b = Board(spec, UID, "Health", f"Active probes of the selected nodes (job redis-probe, every "
              f"{spec.intervals.probe:g} s): health state, "
              "checks that do not pass by category (docs/checks.md), probe phases, replication delay by heartbeat.")
    b.row("State")
    b.panel("table", "Health state per node", "Each node's state by the health-check table on its last probe "
            "(redis_health_state): healthy, degraded (a warning), unhealthy (a critical check), unknown (checks "
            "could not run).", "none",
            [Q(f"max by (instance, state) ({m(STATE, PROBED)})", instant=True, fmt="table")], key="states",
            options=matrix_options())
    b.panel("timeseries", "Nodes per state", "How many of the selected nodes are in each health state.", "short",
            [Q(f"count by (state) ({m(STATE, PROBED)} == 1)", "{{state}}")], min_val=0)
    b.row("Checks")
    b.panel("table", "Checks not passing", "Every check at info, warning or critical on the last probe, per node; "
            "look the id up in docs/checks.md for the trigger, why it matters and the fix.", "none",
            [Q(f"max by (region, cluster, instance, category, check, severity) ({m(STATUS, PROBED)} == 1)",
               instant=True, fmt="table")], key="checks", span=24)
    for category in Category:
        ids = sorted(c.id for c in CHECKS.values() if c.category is category)
        b.panel("timeseries", f"{category.value.capitalize()} checks", "The level each check reached on the last "
                f"probe, per node: 0 ok, 1 info, 2 warning, 3 critical. Checks: {', '.join(ids) or 'none'}.",
                "none", [Q(level(category), "{{instance}} {{check}}")], key=category.value, span=8,
                steps=thresholds(*((n or None, colour) for n, colour in LEVEL_COLOURS.items())), min_val=0, max_val=3,
                options={"mappings": level_mappings()})
    b.row("Probe")
    b.panel("timeseries", "Probe success", "1 when the probe reached the node and ran its module (health on every "
            "node, replication on primaries with replicas), 0 when a phase failed.", "bool",
            [Q(f"min by (instance, module) ({m('redis_probe_success', PROBED)})", "{{instance}} {{module}}")],
            key="probe", min_val=0, max_val=1)
    b.panel("timeseries", "Probe phases", "Seconds each phase of the probe took: connect, tls, auth, ping, then the "
            "module's own. On a failed probe the last phase drawn is the one that failed.", "s",
            [Q(f"max by (instance, module, phase) ({m('redis_probe_duration_seconds', PROBED)})",
               "{{instance}} {{module}} {{phase}}")], key="phases")
    b.row("Replication")
    b.panel("timeseries", "Replication delay (heartbeat)", "Seconds from a heartbeat written on the primary to its "
            "value arriving on each replica, on the prober's clock: the real data delay, unlike INFO's lag. Alerts "
            f"above {delay_warning:g} s (warning) and {delay_critical:g} s (critical) (spec thresholds "
            "replication_delay_*_seconds).", "s",
            [Q(f"max by (instance, replica) ({m('redis_replication_probe_delay_seconds', PROBED)})",
               "{{instance}} → {{replica}}")], key="delay", span=24,
            steps=thresholds((None, "green"), (delay_warning, "orange"), (delay_critical, "red")))
    return b.build()
