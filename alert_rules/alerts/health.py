"""health.yml: a node that does not answer, and scrapes through the exporter that fail or are slow."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.promql import num

SCRAPE_SECONDS = "redis_exporter_last_scrape_duration_seconds"


def rows(c: Ctx) -> list[Row]:
    return [redis_down(c), scrape_failing(c), exporter_slow(c)]


def redis_down(c: Ctx) -> Row:
    return Row(
        name="RedisDown", severity="critical", scope="node",
        expr=f"{c.m('redis_up')} == 0",
        for_=c.after(1),  # two evaluations in a row see the node down: delivered within a minute
        summary="Redis node is down",
        description="{{ $labels.instance }} ({{ $labels.cluster }}/{{ $labels.shard }}, {{ $labels.role }}) does not "
                    "answer the exporter.",
        panel="cachewatch-node/up",
        runbook_text="Check the process and host (systemctl status, dmesg for OOM kills), then the exporter's "
                     "redis_exporter_last_scrape_error reason.",
        test=c.case(fire=[c.series("redis_up", "1 0x20")], quiet=[c.series("redis_up", "1x20")]),
    )


def scrape_failing(c: Ctx) -> Row:
    return Row(
        name="RedisScrapeFailing", severity="warning", scope="node",
        expr=f"{c.m('up')} == 0",
        for_="2m",
        summary="Prometheus cannot scrape a Redis target through the exporter",
        description="Scrapes of {{ $labels.instance }} through the exporter fail.",
        panel="cachewatch-exporter/scrapes",
        runbook_text="The exporter is reachable but this target's scrape fails: check the exporter's allowlist, "
                     "auth_module and logs.",
        test=c.case(fire=[c.series("up", "0x20")], quiet=[c.series("up", "1x20")]),
    )


def exporter_slow(c: Ctx) -> Row:
    slow = c.t.exporter_scrape_seconds
    return Row(
        name="RedisExporterSlow", severity="warning", scope="node",
        expr=f"{c.m(SCRAPE_SECONDS)} > {num(slow)}",
        for_="10m",
        summary="Scraping a Redis node is slow",
        description='Scraping {{ $labels.instance }} takes {{ $value | printf "%.2f" }}s.',
        panel="cachewatch-exporter/duration",
        runbook_text="A slow scrape usually means a slow or overloaded Redis (check latency) or an overloaded "
                     "exporter (check its CPU and redis_exporter_targets).",
        test=c.case(fire=[c.series(SCRAPE_SECONDS, f"{num(slow * 2)}x20")],
                    quiet=[c.series(SCRAPE_SECONDS, "0.01x20")], value=slow * 2),
    )
