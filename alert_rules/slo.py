"""SLO rules from the spec: SLI error ratios, budget and burn-rate records, and multi-window multi-burn-rate
alerts (SRE workbook ch. 5) — one page (critical) and one ticket (warning) rule per SLO.

Decisions, so that nobody has to reverse-engineer them from the YAML:
- One series per SLO (labels ``slo``, ``team``): the SLI aggregates over the SLO's clusters (all when none
  are listed); ``team`` is the SLO's team, else the clusters' single owner, else the fleet owner.
- Windows above 5m are ratios of sums of the recorded 5m rates, ``sum_over_time(bad[W]) / sum_over_time(all[W])``:
  cheap over 30d, and weighted by traffic, unlike an average of 5m ratios (sloth#241).
- Every denominator is guarded with ``/ (x > 0)``: without traffic the ratios are absent, never NaN (sloth#133).
- Low-traffic guard: a window pair counts only while events/s, averaged over its short window, reach
  ``min_requests_per_second`` (pyrra#1925). Availability has no guard: an outage takes the traffic away
  and must not silence its own page.
- Factors use Sloth's budget-percent form, factor = pct × SLO window / long window (2%, 5%, 10%, 10%): the
  workbook's 14.4/6/3/1 for 30d, 13.44/5.6/2.8/0.9333 for 28d (4 decimals). A pair whose threshold
  factor × budget is ≥ 1 can never fire (an error ratio is at most 1, sloth#341), so it is left out.
  For 7d the same percentages give 3.36/1.4/0.7/0.2333: both ticket factors are below 1 (Sloth's 7d
  example uses 8/12.5/20/42%, which ``BUDGET_SHARE_BY_WINDOW`` applies to 7d SLOs).
- A rule has one ``for``: the faster pair's. The slower pair's longer hold is ``min_over_time`` of its ratios
  over the difference (what ``for`` means for a conjunction of thresholds), plus ``… offset <hold>`` so
  that the SLI must have existed when the hold began.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from math import ceil

from cachewatch import latency_ladder as ladder
from cachewatch.artifacts import GeneratorError
from cachewatch.promql import REDIS, duration, matchers, num
from cachewatch.rulefmt import Alert, AlertTest, Record, RuleGroup, Series, Severity
from cachewatch.spec.model import SLO, FleetSpec

BAD = "cachewatch:slo_sli_bad_events:rate5m"
EVENTS = "cachewatch:slo_sli_events:rate5m"
RATIO = "cachewatch:slo_sli_error:ratio_rate"  # + window
OBJECTIVE, BUDGET = "cachewatch:slo_objective:ratio", "cachewatch:slo_error_budget:ratio"
PERIOD = "cachewatch:slo_time_period:days"
CURRENT_BURN, PERIOD_BURN = "cachewatch:slo_current_burn_rate:ratio", "cachewatch:slo_period_burn_rate:ratio"
REMAINING = "cachewatch:slo_error_budget_remaining:ratio"
SECONDS = {"5m": 300, "30m": 1800, "1h": 3600, "2h": 7200, "6h": 21600, "1d": 86400, "3d": 259200,
           "7d": 604800, "28d": 2419200, "30d": 2592000}
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
PANEL = "cachewatch-slo/burn-rate"
WHO = "{{ $labels.slo }} (team {{ $labels.team }})"  # the SLO in an alert's description
# Blocking commands wait for data or replicas by design; their duration says nothing about the server.
BLOCKING_COMMANDS = ("blpop", "brpop", "brpoplpush", "blmove", "blmpop", "bzpopmin", "bzpopmax", "bzmpop",
                     "xread", "xreadgroup", "wait", "waitaof", "subscribe", "psubscribe", "ssubscribe", "monitor",
                     "sync", "psync")
LOGIN_COMMANDS = ("auth", "hello")  # not in the error SLI: their failures are wrong credentials, not the cache
TEST_NODE = f'{REDIS},instance="10.9.9.8:6379"'


@dataclass(frozen=True)
class Pair:
    long: str
    short: str
    budget_pct: Decimal  # share of the whole budget spent within ``long`` at the alerting burn rate
    hold: int  # seconds the condition must hold (the workbook's ``for``)


@dataclass(frozen=True)
class Tier:
    alert: str
    severity: Severity
    summary: str
    pairs: tuple[Pair, ...]


TIERS = (
    Tier("RedisSLOBurnRateCritical", "critical", "SLO error budget is burning fast",
         (Pair("1h", "5m", Decimal("0.02"), 120), Pair("6h", "30m", Decimal("0.05"), 900))),
    Tier("RedisSLOBurnRateWarning", "warning", "SLO error budget is burning steadily",
         (Pair("1d", "2h", Decimal("0.1"), 3600), Pair("3d", "6h", Decimal("0.1"), 10800))),
)


# Short SLO windows spend a larger share of the budget per alert window (Sloth's 7d alert windows): with the
# 30d shares a 7d ticket would fire at a pace that never exhausts the budget.
BUDGET_SHARE_BY_WINDOW: dict[str, dict[str, Decimal]] = {
    "7d": {"1h": Decimal("0.08"), "6h": Decimal("0.125"), "1d": Decimal("0.2"), "3d": Decimal("0.42")},
}


def factor(window: str, pair: Pair) -> Decimal:
    """Burn-rate factor: spending the pair's share of the budget within its long window; 4 decimals."""
    share = BUDGET_SHARE_BY_WINDOW.get(window, {}).get(pair.long, pair.budget_pct)
    return (share * SECONDS[window] / SECONDS[pair.long]).quantize(Decimal("0.0001")).normalize()


def budget(slo: SLO) -> Decimal:
    """The allowed error ratio, exactly: 99.95 → 0.0005 (no float noise)."""
    return (Decimal(100) - Decimal(repr(slo.objective))) / 100


def reachable(slo: SLO, tier: Tier) -> tuple[Pair, ...]:
    return tuple(p for p in tier.pairs if factor(slo.window, p) * budget(slo) < 1)


def slo_team(spec: FleetSpec, slo: SLO) -> str:
    if slo.team:
        return slo.team
    owners = {c.team for _, c in spec.clusters if not slo.clusters or c.name in slo.clusters}
    return owners.pop() if len(owners) == 1 else spec.owner_of_fleet


def _sel(slo: SLO, *extra: str) -> str:
    clusters = f'cluster=~"{"|".join(slo.clusters)}"' if slo.clusters else ""
    return matchers(REDIS, clusters, *extra, sep=",")


# --- SLIs: (bad events/s, all events/s) over 5m per kind --------------------------------------------------
def latency_bucket_usec(slo: SLO) -> int:
    """The largest LATENCY HISTOGRAM bucket ≤ the threshold, as Redis spells it (1, 2, 4, 8, 16, 33, 66, 132, …;
    cachewatch/latency_ladder.py): a call counted good surely was fast."""
    usec = int(Decimal(repr(slo.latency_threshold_seconds)) * 1_000_000)
    if usec < 1:
        raise GeneratorError(f"slo {slo.name}: latency_threshold_seconds below 1µs passed the spec's validation")
    return ladder.at_or_below(usec)


def _go_float(n: int) -> str:
    """How client_golang and Prometheus 3 spell a bound ≥ 1e6: 1048576 → 1.048576e+06."""
    digits, exp = str(n).rstrip("0"), len(str(n)) - 1
    return f"{digits[0]}.{digits[1:]}e+{exp:02d}" if len(digits) > 1 else f"{digits}e+{exp:02d}"


def le_matcher(top: int) -> str:
    """Every Redis bucket up to ``top`` in each spelling in use: ours (1056), Prometheus 3 (1056.0), Go
    (1.08213e+06).

    Redis reports only a command's non-empty range, so the bound ``top`` itself may be missing for a command; the
    SLI takes the largest bucket present ≤ ``top`` per node and command, whose cumulative count is the same.
    """
    bounds = ladder.up_to(top)
    spellings = ["(" + "|".join(map(str, bounds)) + ")(\\.0)?"]
    spellings += [_go_float(b).replace(".", "\\.").replace("+", "\\+") for b in bounds if b >= 10**6]
    return 'le=~"' + "|".join(spellings).replace("\\", "\\\\") + '"'


def _availability(slo: SLO) -> tuple[str, str]:
    up = f"avg_over_time(redis_up{_sel(slo)}[5m])"  # node-seconds up per second, per node
    return f"sum(1 - {up})", f"count({up})"


def _hit_ratio(slo: SLO) -> tuple[str, str]:
    hits = f"sum(rate(redis_keyspace_hits_total{_sel(slo)}[5m]))"
    misses = f"sum(rate(redis_keyspace_misses_total{_sel(slo)}[5m]))"
    return misses, f"{hits} + {misses}"


def _latency(slo: SLO) -> tuple[str, str]:
    cmd = f'cmd!~"{"|".join(BLOCKING_COMMANDS)}"'
    total = f"sum(rate(redis_commands_latencies_usec_count{_sel(slo, cmd)}[5m]))"
    bucket = f"redis_commands_latencies_usec_bucket{_sel(slo, cmd, le_matcher(latency_bucket_usec(slo)))}"
    good = f"sum(max by (job, instance, cmd) (rate({bucket}[5m])))"
    return f"clamp_min({total} - ({good} or vector(0)), 0)", total


def _error_rate(slo: SLO) -> tuple[str, str]:
    """INFO commandstats: failed and rejected calls over calls that ran plus calls rejected before running. Logins
    are left out: a client guessing passwords fails AUTH by the thousand without any user's command failing
    (security alerts cover it: RedisAuthFailuresSpike)."""
    sel = _sel(slo, f'cmd!~"{"|".join(LOGIN_COMMANDS)}"')
    failed = f"(sum(rate(redis_commands_failed_calls_total{sel}[5m])) or vector(0))"
    rejected = f"(sum(rate(redis_commands_rejected_calls_total{sel}[5m])) or vector(0))"
    calls = f"sum(rate(redis_commands_total{sel}[5m]))"
    return f"{failed} + {rejected}", f"{calls} + {rejected}"


SLIS: dict[str, Callable[[SLO], tuple[str, str]]] = {
    "availability": _availability, "hit_ratio": _hit_ratio, "latency": _latency, "error_rate": _error_rate}
BAD_EVENTS = {"availability": "node-time down (redis_up == 0)", "hit_ratio": "keyspace lookups that miss",
              "latency": "calls slower than {usec}µs", "error_rate": "calls that fail or are rejected"}
HINTS = {
    "availability": "Find the nodes with redis_up == 0 (RedisDown alerts); check the hosts, the exporter's "
                    "scrape errors and failovers in the cluster.",
    "hit_ratio": "Check evictions and memory (maxmemory too small?), recent deploys changing key names or TTLs, "
                 "and cache flushes.",
    "latency": "Check the slow log, CPU saturation, big keys and O(N) commands, fork latency during saves and "
               "network retransmits; blocking commands are excluded from this SLI.",
    "error_rate": "See redis_errors_total by err for the error class (OOM, NOAUTH, WRONGTYPE, ...) and which "
                  "commands fail in redis_commands_failed_calls_total / rejected_calls_total.",
}


def bad_events(slo: SLO) -> str:
    return BAD_EVENTS[slo.kind].format(usec=latency_bucket_usec(slo) if slo.kind == "latency" else 0)


# --- records ---------------------------------------------------------------------------------------------
def records(spec: FleetSpec, slo: SLO) -> list[Record]:
    """Every record carries ``slo`` and ``team`` as rule labels: the same name in many groups must differ in
    its labels (promtool's duplicate-rule lint), and the constants need them anyway."""
    labels = {"slo": slo.name, "team": slo_team(spec, slo)}
    me = f'{{slo="{slo.name}"}}'
    bad, events = SLIS[slo.kind](slo)
    out = [Record(BAD, bad, labels), Record(EVENTS, events, labels),
           Record(f"{RATIO}5m", f"{BAD}{me} / ({EVENTS}{me} > 0)", labels)]
    out += [Record(f"{RATIO}{w}", f"sum_over_time({BAD}{me}[{w}]) / (sum_over_time({EVENTS}{me}[{w}]) > 0)",
                   labels) for w in (*WINDOWS[1:], slo.window)]
    b = num(float(budget(slo)))
    out += [
        Record(OBJECTIVE, f"vector({num(float(Decimal(repr(slo.objective)) / 100))})", labels),
        Record(BUDGET, f"vector({b})", labels),
        Record(PERIOD, f"vector({SECONDS[slo.window] // 86400})", labels),
        Record(CURRENT_BURN, f"{RATIO}5m{me} / {b}", labels),
        Record(PERIOD_BURN, f"{RATIO}{slo.window}{me} / {b}", labels),
        Record(REMAINING, f"1 - {RATIO}{slo.window}{me} / {b}", labels),
    ]
    return out


# --- alerts ----------------------------------------------------------------------------------------------
def _pair_expr(slo: SLO, pair: Pair, hold: int) -> str:
    me, b, f = f'{{slo="{slo.name}"}}', num(float(budget(slo))), num(float(factor(slo.window, pair)))

    def burn(window: str) -> str:
        ratio = f"{RATIO}{window}{me}"
        if hold:
            ratio = f"min_over_time({ratio}[{duration(hold)}])"
        return f"{ratio} / {b} > {f}"

    parts = [burn(pair.long), burn(pair.short)]
    if hold:  # the SLI existed when the hold began: right after a gap, a short min_over_time is no hold at all
        parts.append(f"{RATIO}{pair.short}{me} offset {duration(hold)}")
    if slo.kind != "availability" and slo.min_requests_per_second > 0:
        parts.append(f"avg_over_time({EVENTS}{me}[{pair.short}]) >= {num(slo.min_requests_per_second)}")
    return "(" + " and ".join(parts) + ")"


def description(slo: SLO, tier: Tier) -> str:
    """Static apart from the labels, so that promtool can check the rendered text exactly."""
    pairs = reachable(slo, tier)
    burns = ", or ".join(f"{num(float(factor(slo.window, p)))}x over {p.long} and {p.short}" for p in pairs)
    fastest = max(factor(slo.window, p) for p in pairs)
    left = duration(round(SECONDS[slo.window] / float(fastest) / 60) * 60)
    return (f"SLO {WHO} spends its {num(slo.objective)}% / {slo.window} error budget at least "
            f"{burns} as fast as sustainable; bad events: {bad_events(slo)}. At this pace the budget is gone "
            f"within {left}.")


def _test_series(slo: SLO, burning: bool, minutes: int) -> tuple[Series, ...]:
    """One node with plenty of traffic (10× the low-traffic guard): all events bad, or all good."""
    node = TEST_NODE + (f',cluster="{slo.clusters[0]}"' if slo.clusters else ',cluster="any"')
    per_minute = ceil(max(slo.min_requests_per_second * 10, 100) * 60)
    ramp, flat = f"0+{per_minute}x{minutes}", f"0x{minutes}"
    bad, good = (ramp, flat) if burning else (flat, ramp)
    if slo.kind == "availability":
        return (Series(f"redis_up{{{node}}}", f"{0 if burning else 1}x{minutes}"),)
    if slo.kind == "hit_ratio":
        return (Series(f"redis_keyspace_hits_total{{{node}}}", good),
                Series(f"redis_keyspace_misses_total{{{node}}}", bad))
    if slo.kind == "latency":
        top, hist = latency_bucket_usec(slo), "redis_commands_latencies_usec"
        return (Series(f'{hist}_bucket{{{node},cmd="get",le="{top}"}}', good),
                Series(f'{hist}_bucket{{{node},cmd="get",le="{ladder.above(top)}"}}', ramp),
                Series(f'{hist}_bucket{{{node},cmd="get",le="+Inf"}}', ramp),
                Series(f'{hist}_count{{{node},cmd="get"}}', ramp))
    return (Series(f'redis_commands_total{{{node},cmd="get"}}', ramp),
            Series(f'redis_commands_failed_calls_total{{{node},cmd="get"}}', bad),
            Series(f'redis_commands_rejected_calls_total{{{node},cmd="get"}}', flat))


def alert(spec: FleetSpec, slo: SLO, tier: Tier) -> Alert | None:
    pairs = reachable(slo, tier)
    if not pairs:
        return None
    rule_for = min(p.hold for p in pairs)
    expr = " or ".join(_pair_expr(slo, p, p.hold - rule_for) for p in pairs)
    team = slo_team(spec, slo)
    eval_seconds = rule_for + 600
    minutes = eval_seconds // 60 + 5
    test = AlertTest(fire=_test_series(slo, True, minutes), quiet=_test_series(slo, False, minutes),
                     exp_labels={"slo": slo.name, "team": team}, eval_time=duration(eval_seconds))
    return Alert(name=tier.alert, expr=expr, for_=duration(rule_for), severity=tier.severity, summary=tier.summary,
                 description=description(slo, tier), runbook=tier.alert.lower(), panel=PANEL, test=test,
                 labels={"team": team, "slo": slo.name, "scope": "cluster" if slo.clusters else "fleet",
                         "twin": f"slo-{slo.name}"},
                 dashboard_vars=("slo",),
                 runbook_text=f"The SLI counts {bad_events(slo)} as bad. {HINTS[slo.kind]} The critical tier "
                              "pages for budget gone in days; the warning tier files a ticket for budget gone "
                              "within the window. Alertmanager inhibits the warning while the critical fires.")


def groups(spec: FleetSpec) -> list[RuleGroup]:
    """One group per SLO, records in dependency order, then its alerts (fresh values in one evaluation)."""
    out = []
    for slo in spec.slos:
        alerts = [a for tier in TIERS if (a := alert(spec, slo, tier)) is not None]
        out.append(RuleGroup(name=f"cachewatch-slo-{slo.name}", file="slo.yml", rules=(*records(spec, slo), *alerts)))
    return out
