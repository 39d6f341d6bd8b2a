"""SLOs and business: error budgets, burn rates per window, SLA compliance and cost.

In scale mode each region's Prometheus pair records every SLO over its own nodes, so an SLO series is one per (slo,
team, region) in the store: the joins match on region too, and the legends name it (empty outside scale mode).
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dm

from cachewatch.dashboards.common import CLUSTER, IN_SLO_REGION, SLO, Board, Q, m, thresholds
from cachewatch.spec.model import FleetSpec

UID = "cachewatch-slo"
BURN_WINDOWS = ("5m", "1h", "6h", "1d", "3d")


def build(spec: FleetSpec) -> dm.Dashboard:
    slos = ", ".join(f"{s.name} ({s.kind}, {s.objective}% over {s.window})" for s in spec.slos) or "none in the spec"
    budget = m("cachewatch:slo_error_budget:ratio", SLO)
    b = Board(spec, UID, "SLOs and business", f"Error budgets and burn rates of the spec's SLOs ({slos}), SLA "
              "compliance and cost.", extra_vars=("slo",))
    b.row("SLOs")
    b.panel("timeseries", "Burn rate per window", "SLI error ratio over each window / error budget: 1 spends the "
            "budget exactly over the SLO window. Pages at 14.4× (1h & 5m) or 6× (6h & 30m), tickets at 3× and 1× "
            "(30d windows; scaled for 28d and 7d).", "x",
            [Q(f"{m('cachewatch:slo_sli_error:ratio_rate' + w, SLO)} / on ({IN_SLO_REGION}) {budget}",
               f"{{{{slo}}}} {w} {{{{region}}}}") for w in BURN_WINDOWS], key="burn-rate",
            steps=thresholds((None, "green"), (1, "orange"), (6, "red")))
    # Each SLO's attainment next to its objective (the brief's: hit ratio > 90%, P95 < 10 ms as 95% of calls
    # within 10 ms, errors < 0.1%, availability > 99.9%): 1 - error ratio over the SLO's own window.
    attained = f"1 - {m('cachewatch:slo_period_burn_rate:ratio', SLO)} * on ({IN_SLO_REGION}) {budget}"
    b.panel("stat", "SLI over the SLO window", "Share of good events over each SLO's window (hit ratio: hits; "
            "latency: calls within the threshold; error rate: calls that succeed; availability: node-time up), "
            "beside its objective.", "percentunit",
            [Q(attained, "{{slo}} {{region}}"),
             Q(m("cachewatch:slo_objective:ratio", SLO), "{{slo}} objective {{region}}")])
    b.panel("stat", "Error budget left", "Share of each SLO's error budget left over its window.", "percentunit",
            [Q(m("cachewatch:slo_error_budget_remaining:ratio", SLO), "{{slo}} {{region}}")],
            steps=thresholds((None, "red"), (0, "orange"), (0.25, "green")))
    b.panel("timeseries", "SLI events", "Good and bad SLI events per second (availability: node-seconds).", "reqps",
            [Q(m("cachewatch:slo_sli_events:rate5m", SLO), "all {{slo}} {{region}}"),
             Q(m("cachewatch:slo_sli_bad_events:rate5m", SLO), "bad {{slo}} {{region}}")])
    b.row("SLA and cost")
    b.panel("timeseries", "SLA compliance", f"Node-time availability over 30d per cluster; target "
            f"{spec.business.sla_target}%.", "percent", [Q(m("cachewatch:sla_compliance:percent", CLUSTER),
                                                          "{{cluster}}")],
            steps=thresholds((None, "red"), (spec.business.sla_target, "green")))
    b.panel("timeseries", "Cost per GB-hour", f"Cost per hour / used GB, in {spec.business.currency}.", "currencyUSD"
            if spec.business.currency == "USD" else "short",
            [Q(m("cachewatch:cost_per_gb_hour:currency", CLUSTER), "{{cluster}}")])
    b.panel("timeseries", "Cost per million requests", f"Cost per hour / million commands per hour, in "
            f"{spec.business.currency}.", "currencyUSD" if spec.business.currency == "USD" else "short",
            [Q(m("cachewatch:cost_per_million_requests:currency", CLUSTER), "{{cluster}}")])
    return b.build()
