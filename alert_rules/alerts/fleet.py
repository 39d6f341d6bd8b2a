"""fleet.yml: built once for the whole fleet: exporters down, the fleet's targets gone, and hit ratios (per node
on the server side, per application on the client side)."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import OTHER_INSTANCE, TEST_INSTANCE, Ctx, Row
from cachewatch.promql import EXPORTER, EXPORTER_JOB, REDIS, REDIS_JOB, num, rate, ratio, selector, series
from cachewatch.rulefmt import AlertTest, Series

HITS, MISSES = "redis_keyspace_hits_total", "redis_keyspace_misses_total"
EXPORTER_LABELS = {"job": EXPORTER_JOB, "instance": "exporter-0:9121"}
# Client side, per application: the apps scrape job's `team` label routes the alert to the team owning the
# application (so no static `team` label here: a rule label would override it).
CLIENT, CLIENT_BY, HIT = "cache_requests_total", "application, team, cache, operation", 'result="hit"'


def rows(c: Ctx) -> list[Row]:
    up = series("up", EXPORTER_LABELS)
    return [
        # One period: two failed scrapes of the exporter's own /metrics. A restart of the exporter (a second or
        # two) fails at most one scrape; a killed exporter pages within the minute (docs/alert-latency.md).
        Row(name="RedisExporterDown", severity="critical", scope="fleet", team=c.fleet_team, for_=c.after(1),
            expr=f"{selector('up', EXPORTER)} == 0", panel="cachewatch-exporter/up",
            summary="A cachewatch exporter is down",
            description="Exporter {{ $labels.instance }} does not answer Prometheus.",
            runbook_text="Restart the exporter; while it is down every Redis it serves looks down.",
            test=AlertTest(fire=(Series(up, "0x20"),), quiet=(Series(up, "1x20"),), exp_labels=EXPORTER_LABELS)),
        Row(name="RedisTargetsAbsent", severity="critical", scope="fleet", team=c.fleet_team, dashboard_vars=(),
            # Three periods: right after Prometheus starts, the first scrapes land within one interval (plus a
            # scrape's duration); three evaluations without a single redis target is a lost scrape configuration.
            expr=f"absent({selector('up', REDIS)})", for_=c.after(3), panel="cachewatch-fleet/up",
            summary="No Redis targets are scraped",
            description="Prometheus has no targets in job {{ $labels.job }}: the scrape configuration lost the fleet.",
            runbook_text="Check prometheus.yml was generated from the current spec and loaded (promtool check "
                         "config).",
            test=AlertTest(fire=(Series('up{job="other"}', "1x20"),),
                           quiet=(Series(series("up", {"job": REDIS_JOB, "instance": TEST_INSTANCE}), "1x20"),),
                           exp_labels={"job": REDIS_JOB})),
        hit_ratio_low(c),
        client_hit_ratio_low(c),
    ]


def per_minute(c: Ctx) -> tuple[int, int]:
    """Requests and hits per minute in the tests: twice the low-traffic guard, half the minimum hit ratio."""
    requests = round(max(c.t.hit_ratio_min_requests_per_second, 1) * 2 * 60)
    return requests, round(c.t.hit_ratio_min / 2 * requests)


def hit_ratio_low(c: Ctx) -> Row:
    low, guard = c.t.hit_ratio_min, c.t.hit_ratio_min_requests_per_second
    hits, misses = rate(c.m(HITS), "10m"), rate(c.m(MISSES), "10m")
    requests, hit = per_minute(c)
    return Row(
        name="RedisHitRatioLow", severity="warning", scope="node", for_="30m", panel="cachewatch-node/hit-ratio",
        expr=f"{ratio(hits, f'{hits} + {misses}')} < {num(low)} and ({hits} + {misses}) > {num(guard)}",
        summary="Redis hit ratio is low",
        description="Server-side hit ratio of {{ $labels.instance }} is {{ $value | humanizePercentage }}.",
        runbook_text="Keys expire or are evicted before reuse, or the application reads keys it never wrote. "
                     "Compare evictions, TTLs and the client-side hit ratio per operation.",
        # quiet: the misses belong to another instance, and a node with a low ratio serves too little traffic
        test=c.case(fire=[c.series(HITS, f"0+{hit}x60"), c.series(MISSES, f"0+{requests - hit}x60")],
                    quiet=[c.series(HITS, f"0+{hit}x60"), c.series(MISSES, f"0+{requests - hit}x60", instance="x"),
                           c.series(HITS, "0+1x60", instance=OTHER_INSTANCE),
                           c.series(MISSES, "0+5x60", instance=OTHER_INSTANCE)],
                    value=hit / requests, eval_time="50m"),
    )


def client_hit_ratio_low(c: Ctx) -> Row:
    low, guard = c.t.hit_ratio_min, c.t.hit_ratio_min_requests_per_second
    requests, hit = per_minute(c)
    app, team = next(((a.name, a.team) for a in c.spec.applications), ("demo-app", c.team))
    labels = {"application": app, "team": team, "cache": "sessions", "operation": "GET"}

    def app_series(result: str, values: str, application: str = app) -> Series:
        return Series(series(CLIENT, {**labels, "application": application, "result": result}), values)

    # A busy healthy application on the same cache and operation: summed with it (by cache, operation) the
    # ratio would be above the threshold; per application the low one fires, and only it.
    busy = (int(low / (1 - low)) + 1) * requests
    every = f"sum by ({CLIENT_BY}) ({rate(CLIENT, '10m')})"
    hits = f"sum by ({CLIENT_BY}) ({rate(selector(CLIENT, HIT), '10m')})"
    return Row(
        name="RedisClientHitRatioLow", severity="warning", scope="fleet", dashboard_vars=("cache",), for_="30m",
        expr=f"{ratio(hits, every)} < {num(low)} and {every} > {num(guard)}",
        summary="An application's cache hit ratio is low", panel="cachewatch-app/hit-ratio",
        description="Hit ratio of {{ $labels.application }} cache {{ $labels.cache }} {{ $labels.operation }} is "
                    "{{ $value | humanizePercentage }}.",
        runbook_text="As RedisHitRatioLow, seen from the application (includes the in-process layer). It goes to "
                     "the team owning the application.",
        test=AlertTest(fire=(app_series("hit", f"0+{hit}x60"), app_series("miss", f"0+{requests - hit}x60"),
                             app_series("hit", f"0+{busy}x60", application="busy-app")),
                       quiet=(app_series("hit", f"0+{requests}x60"), app_series("miss", "0+1x60")),
                       exp_labels=labels, value=hit / requests, eval_time="50m"),
    )
