"""Fleet-level rules for scale mode, evaluated on the long-term store (vmalert, Thanos Ruler or the Mimir ruler).

Every paging rule stays in the regional Prometheus pairs, close to the data: a global path adds remote-write
batching and the store's visibility delay (VictoriaMetrics' -search.latencyOffset, 30 s) to every alert, and a
WAN outage would blind it. What only the global store can answer is evaluated here:
- roll-ups of the regional ``cachewatch:*`` SLO and cost series across regions (``cachewatch_fleet:*``). Each one
  reads the regional series directly, never another roll-up: vmalert sees a result it wrote only after the store's
  visibility delay, so a chained rule would lag;
- ``CachewatchRegionSilent`` per region: no ``up`` sample of the region reached the store for 12 scrape intervals
  (2 minutes at the default 10 s). A dead Prometheus pair cannot page about itself, and a cut WAN link hides the
  region from every fleet view;
- the Watchdog again: its heartbeat proves the global rule path (ruler, store, Alertmanager) alive, as the
  regional ones prove theirs.

Pure functions of the spec; ``cachewatch/pipeline/scale_global.py`` writes and tests the files.
"""

from __future__ import annotations

from decimal import Decimal

from cachewatch.alert_rules import business, slo, watchdog
from cachewatch.promql import duration, num
from cachewatch.rulefmt import Alert, AlertTest, Record, RuleGroup, Series
from cachewatch.spec.model import SLO, FleetSpec

ROLLUPS_FILE, META_FILE = "fleet-rollups.yml", "fleet-meta.yml"
FLEET = "cachewatch_fleet"  # the level of every roll-up: the whole fleet, across regions
FLEET_RATIO = f"{FLEET}:slo_sli_error:ratio_rate"  # + window
FLEET_REMAINING = f"{FLEET}:slo_error_budget_remaining:ratio"
FLEET_COST = f"{FLEET}:cost_per_hour:currency"
REGION_SILENT = "CachewatchRegionSilent"
# Fleet views need no 10 s resolution, and a month-long sum_over_time is the heaviest query the store answers.
ROLLUP_EVERY = "1m"
# A region is silent after this many scrape intervals without an ``up`` sample in the store, held for this many
# evaluation intervals: 2 min + 1 min at the default 10 s (~3.5 min on a store 30 s behind). In scrape intervals,
# not minutes: twelve missed scrapes are an outage at any interval, and a spec with fast intervals gets a fast alert.
SILENT_SCRAPES, SILENT_EVALUATIONS = 12, 6


def _budget(objective: float) -> str:
    return num(float((100 - Decimal(repr(objective))) / 100))


def _fleet_ratio(name: str, window: str) -> str:
    """bad / all over ``window``, summed over every region's series of one SLO."""
    sel = f'{{slo="{name}"}}'
    if window == "5m":
        return (f"sum by (slo, team) ({slo.BAD}{sel}) / "
                f"(sum by (slo, team) ({slo.EVENTS}{sel}) > 0)")
    return (f"sum by (slo, team) (sum_over_time({slo.BAD}{sel}[{window}])) / "
            f"(sum by (slo, team) (sum_over_time({slo.EVENTS}{sel}[{window}])) > 0)")


def slo_rollups(target: SLO) -> RuleGroup:
    """The SLO's error ratio now and over its window, and the budget left, for the whole fleet."""
    window_ratio = _fleet_ratio(target.name, target.window)
    return RuleGroup(name=f"cachewatch-fleet-slo-{target.name}", file=ROLLUPS_FILE, interval=ROLLUP_EVERY, rules=(
        Record(f"{FLEET_RATIO}5m", _fleet_ratio(target.name, "5m")),
        Record(f"{FLEET_RATIO}{target.window}", window_ratio),
        Record(FLEET_REMAINING, f"1 - ({window_ratio}) / {_budget(target.objective)}"),
    ))


def cost_rollups(spec: FleetSpec) -> list[RuleGroup]:
    """The fleet's cost per hour per team, where the regions record costs (a price is set)."""
    if not business.cost_records(spec):
        return []
    return [RuleGroup(name="cachewatch-fleet-cost", file=ROLLUPS_FILE, interval=ROLLUP_EVERY, rules=(
        Record(FLEET_COST, f"sum by (team, currency) ({business.COST})"),))]


def silent_after(spec: FleetSpec) -> str:
    """How long a region may send no ``up`` sample before it counts as silent."""
    return duration(SILENT_SCRAPES * spec.intervals.scrape)


def region_silent(spec: FleetSpec, region: str, others: list[str]) -> Alert:
    """Fires when no ``up`` sample of ``region`` reached the store for ``silent_after``. The test stops the region
    after a few scrapes and evaluates once the window and the ``for`` have passed; the quiet case keeps every region
    scraping until then."""
    scrape, after = spec.intervals.scrape, silent_after(spec)
    hold = SILENT_EVALUATIONS * spec.intervals.evaluation
    stop_after = 5  # scrapes the silent region still sends in the fire case
    eval_at = (stop_after + SILENT_SCRAPES + 2) * scrape + hold
    samples = int(eval_at // scrape) + 1
    return Alert(
        name=REGION_SILENT, expr=f'absent_over_time(up{{region="{region}"}}[{after}])', for_=duration(hold),
        # One rule per region (promtool refuses twins); the team label pages the fleet's owner on its critical route,
        # as the regional fleet alerts do (without it the alert would fall to the platform's warning fallback).
        severity="critical", labels={"region": region, "team": spec.owner_of_fleet},
        summary="A region's metrics stopped reaching the long-term store",
        description="No sample of region {{ $labels.region }} reached the long-term store for " + after
                    + ": its Prometheus pair is down or cut off, and its own pages may be silent too.",
        runbook=REGION_SILENT.lower(), panel="cachewatch-fleet/up", dashboard_vars=("region",),
        runbook_text="Check the region's Prometheus pair (both replicas up, prometheus_remote_storage_"
                     "samples_failed_total and _pending_samples flat) and the WAN path to the store. While it "
                     "lasts the region may page on its own (its rules run locally), but nothing global sees it. "
                     "Remote write retries for about 2 h without loss; the 35-day local retention holds the rest.",
        test=AlertTest(fire=(Series(f'up{{region="{region}"}}', f"1x{stop_after}"),
                             *(Series(f'up{{region="{r}"}}', f"1x{samples}") for r in others)),
                       quiet=tuple(Series(f'up{{region="{r}"}}', f"1x{samples}") for r in [region, *others]),
                       exp_labels={"region": region}, eval_time=duration(eval_at), interval=duration(scrape)))


def meta_group(spec: FleetSpec) -> RuleGroup:
    names = [r.name for r in spec.regions]
    alerts = [region_silent(spec, name, [n for n in names if n != name]) for name in names]
    return RuleGroup(name="cachewatch-fleet-meta", file=META_FILE, rules=(*alerts, watchdog.watchdog()))


def groups(spec: FleetSpec) -> list[RuleGroup]:
    """Every fleet-level rule group, in file order."""
    return [*(slo_rollups(target) for target in spec.slos), *cost_rollups(spec), meta_group(spec)]
