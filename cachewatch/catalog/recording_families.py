"""Families written by the generated recording rules (alert_rules/): node ratios, SLIs, SLO burn rates, business
figures.

Their names follow the ``level:metric:operations`` recording-rule convention; grep a name to find the rule.
"""

from __future__ import annotations

from cachewatch.catalog.model import Family, MetricType, Source

G = MetricType.GAUGE
NODE = ("region", "cluster", "shard", "role", "team", "instance")
SLO_LABELS = ("slo", "team")
CLUSTER = ("region", "cluster", "team")


def _rec(name: str, help_: str, labels: tuple[str, ...], unit: str = "", group: str = "recording") -> Family:
    return Family(name=name, type=G, help=help_, labels=labels, unit=unit, source=Source.RECORDING, group=group)


def _slo_ratio(name: str, window: str) -> Family:
    """One SLI error ratio window: the alert windows of alert_rules/slo.py (5m … 3d) and the SLO windows the
    spec allows (7d, 28d, 30d)."""
    return _rec(name, f"SLI error ratio over {window}: bad / all events; absent without events.", SLO_LABELS,
                "ratio", group="slo")


RECORDING_FAMILIES: tuple[Family, ...] = (
    # --- nodes (alert_rules/node_records.py): one series per node, every node label kept ----------------------
    _rec("redis:memory_used:ratio", "used_memory / maxmemory per node; absent where maxmemory is 0.", NODE),
    _rec("redis:connections:ratio", "connected_clients / maxclients per node.", NODE),
    _rec("redis:keyspace_hit:ratio_rate5m", "Server-side hit ratio over 5m per node; absent without reads.", NODE),
    _rec("redis:commands:rate5m", "Commands per second over 5m per node.", NODE),
    # --- SLOs (alert_rules/slo.py): one series per SLO -----------------------------------------------------
    _rec("cachewatch:slo_sli_events:rate5m", "SLI events per second over 5m, summed over the SLO's clusters "
         "(availability: node-seconds per second, i.e. nodes).", SLO_LABELS, group="slo"),
    _rec("cachewatch:slo_sli_bad_events:rate5m", "Bad SLI events per second over 5m (misses, slow or failed calls, "
         "node-seconds down).", SLO_LABELS, group="slo"),
    _slo_ratio("cachewatch:slo_sli_error:ratio_rate5m", "5m"),
    _slo_ratio("cachewatch:slo_sli_error:ratio_rate30m", "30m"),
    _slo_ratio("cachewatch:slo_sli_error:ratio_rate1h", "1h"),
    _slo_ratio("cachewatch:slo_sli_error:ratio_rate2h", "2h"),
    _slo_ratio("cachewatch:slo_sli_error:ratio_rate6h", "6h"),
    _slo_ratio("cachewatch:slo_sli_error:ratio_rate1d", "1d"),
    _slo_ratio("cachewatch:slo_sli_error:ratio_rate3d", "3d"),
    _slo_ratio("cachewatch:slo_sli_error:ratio_rate7d", "7d"),
    _slo_ratio("cachewatch:slo_sli_error:ratio_rate28d", "28d"),
    _slo_ratio("cachewatch:slo_sli_error:ratio_rate30d", "30d"),
    _rec("cachewatch:slo_objective:ratio", "SLO objective as a ratio, e.g. 0.999.", SLO_LABELS, "ratio", group="slo"),
    _rec("cachewatch:slo_error_budget:ratio", "Allowed error ratio, 1 - objective.", SLO_LABELS, "ratio",
         group="slo"),
    _rec("cachewatch:slo_time_period:days", "SLO window in days.", SLO_LABELS, "days", group="slo"),
    _rec("cachewatch:slo_current_burn_rate:ratio", "Error ratio over 5m / error budget (1 = on pace to spend "
         "exactly the budget).", SLO_LABELS, "ratio", group="slo"),
    _rec("cachewatch:slo_period_burn_rate:ratio", "Error ratio over the SLO window / error budget.", SLO_LABELS,
         "ratio", group="slo"),
    _rec("cachewatch:slo_error_budget_remaining:ratio", "Share of the error budget left over the SLO window; "
         "negative when overspent.", SLO_LABELS, "ratio", group="slo"),
    # --- business figures (alert_rules/business.py): one series per cluster --------------------------------
    _rec("cachewatch:cluster_up:ratio_avg5m", "Share of the cluster's nodes up (redis_up), averaged over 5m.",
         CLUSTER, "ratio", group="business"),
    _rec("cachewatch:sla_compliance:percent", "Node-time availability over 30d in percent, to compare with the "
         "SLA target.", CLUSTER, "percent", group="business"),
    _rec("cachewatch:sla_target:percent", "The SLA target from the spec (business.sla_target).", (), "percent",
         group="business"),
    _rec("cachewatch:sla_error_budget_remaining:ratio", "Share of the SLA's allowed downtime left over 30d; "
         "negative when the SLA is missed.", CLUSTER, "ratio", group="business"),
    _rec("cachewatch:cost_per_hour:currency", "Cost per hour: used memory GB × cost_per_gb_hour + nodes × "
         "cost_per_node_hour; absent when both prices are 0.", (*CLUSTER, "currency"), "currency",
         group="business"),
    _rec("cachewatch:cost_per_gb_hour:currency", "Cost per hour / used memory in GB (2^30 bytes): the effective "
         "price of a used GB-hour.", (*CLUSTER, "currency"), "currency", group="business"),
    _rec("cachewatch:cost_per_million_requests:currency", "Cost per hour / million commands processed per hour "
         "(1h rate); absent without commands.", (*CLUSTER, "currency"), "currency", group="business"),
    # --- scale mode: fleet roll-ups across regions, evaluated by vmalert on the long-term store ----------------
    _rec("cachewatch_fleet:slo_sli_error:ratio_rate5m", "SLI error ratio over 5m across every region.",
         ("slo", "team"), "ratio", group="fleet"),
    _rec("cachewatch_fleet:slo_sli_error:ratio_rate7d", "SLI error ratio over 7d across every region.",
         ("slo", "team"), "ratio", group="fleet"),
    _rec("cachewatch_fleet:slo_sli_error:ratio_rate28d", "SLI error ratio over 28d across every region.",
         ("slo", "team"), "ratio", group="fleet"),
    _rec("cachewatch_fleet:slo_sli_error:ratio_rate30d", "SLI error ratio over 30d across every region.",
         ("slo", "team"), "ratio", group="fleet"),
    _rec("cachewatch_fleet:slo_error_budget_remaining:ratio", "Share of the SLO's error budget left across every "
         "region.", ("slo", "team"), "ratio", group="fleet"),
    _rec("cachewatch_fleet:cost_per_hour:currency", "Cost per hour of the whole fleet, by team.",
         ("team", "currency"), "currency", group="fleet"),
)
