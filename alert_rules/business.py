"""Business figures per cluster from the spec's prices and SLA target: SLA compliance, SLA budget left, costs.

Decisions:
- SLA compliance is node-time availability (``redis_up``) over a calendar-month-like 30d window, the usual
  SLA period; the spec has no SLA window. Per-SLO budgets are ``cachewatch:slo_error_budget_remaining:ratio``
  (slo.py); here the budget is the SLA's, per cluster.
- Cost per hour = used memory in GB (2^30 bytes, as cloud price sheets count) × cost_per_gb_hour + nodes
  scraped × cost_per_node_hour. A price of 0 drops its term; with both 0 no cost records are written, since
  a flat 0 on a dashboard would read as "free" rather than "not configured".
- Requests are ``redis_commands_processed_total`` of every node over 1h; replicas count replicated writes too,
  so this is the work the fleet does, not what clients asked for.
"""

from __future__ import annotations

from decimal import Decimal

from cachewatch.promql import REDIS, num, selector
from cachewatch.rulefmt import Record, RuleGroup
from cachewatch.spec.model import FleetSpec

UP = "cachewatch:cluster_up:ratio_avg5m"
COMPLIANCE = "cachewatch:sla_compliance:percent"
TARGET = "cachewatch:sla_target:percent"
SLA_LEFT = "cachewatch:sla_error_budget_remaining:ratio"
COST = "cachewatch:cost_per_hour:currency"
COST_GB = "cachewatch:cost_per_gb_hour:currency"
COST_MREQ = "cachewatch:cost_per_million_requests:currency"
SLA_WINDOW = "30d"
GB = 1 << 30
BY = "region, cluster, team"
NODES = selector("redis_up", REDIS)
MEMORY = selector("redis_memory_used_bytes", REDIS)
PROCESSED = selector("redis_commands_processed_total", REDIS)
PER_MILLION_PER_HOUR = 0.0036  # requests/s × 3600 s / 1e6


def sla_records(spec: FleetSpec) -> list[Record]:
    target = Decimal(repr(spec.business.sla_target))
    allowed = num(float(100 - target))  # percent of node-time allowed down: 99.9 → 0.1
    return [
        Record(UP, f"avg by ({BY}) (avg_over_time({NODES}[5m]))"),
        Record(COMPLIANCE, f"100 * avg_over_time({UP}[{SLA_WINDOW}])"),
        Record(TARGET, f"vector({num(float(target))})"),
        Record(SLA_LEFT, f"1 - (100 - {COMPLIANCE}) / {allowed}"),
    ]


def cost_records(spec: FleetSpec) -> list[Record]:
    prices = spec.business
    nodes = f"count by ({BY}) ({NODES})"
    memory_gb = f"sum by ({BY}) ({MEMORY}) / {GB}"
    node_cost = f"{nodes} * {num(prices.cost_per_node_hour)}" if prices.cost_per_node_hour else ""
    memory_cost = f"{memory_gb} * {num(prices.cost_per_gb_hour)}" if prices.cost_per_gb_hour else ""
    if node_cost and memory_cost:  # a cluster whose nodes are all down still costs its nodes
        per_hour = f"{node_cost} + ({memory_cost} or {nodes} * 0)"
    elif node_cost or memory_cost:
        per_hour = node_cost or memory_cost
    else:
        return []
    currency = {"currency": prices.currency}
    requests_per_million = f"sum by ({BY}) (rate({PROCESSED}[1h])) * {num(PER_MILLION_PER_HOUR)}"
    return [
        Record(COST, per_hour, currency),
        Record(COST_GB, f"{COST} / on ({BY}) ({memory_gb} > 0)", currency),
        Record(COST_MREQ, f"{COST} / on ({BY}) ({requests_per_million} > 0)", currency),
    ]


def groups(spec: FleetSpec) -> list[RuleGroup]:
    return [RuleGroup(name="cachewatch-business", file="business.yml",
                      rules=(*sla_records(spec), *cost_records(spec)))]
