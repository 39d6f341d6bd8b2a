"""health.yml: scrapes through the exporter that fail or are slow. A node that does not answer (RedisDown) is the
health check net.connect (cachewatch/checks/network.py): its alert is in checks-network.yml."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.promql import num

SCRAPE_SECONDS = "redis_exporter_last_scrape_duration_seconds"


def rows(c: Ctx) -> list[Row]:
    slow = c.t.exporter_scrape_seconds
    return [
        Row(name="RedisScrapeFailing", severity="warning", scope="node", for_="2m", panel="cachewatch-exporter/scrapes",
            expr=f"{c.m('up')} == 0", test=c.gauge_case("up", fire="0x20", quiet="1x20"),
            summary="Prometheus cannot scrape a Redis target through the exporter",
            description="Scrapes of {{ $labels.instance }} through the exporter fail.",
            runbook_text="The exporter is reachable but this target's scrape fails: check the exporter's "
                         "allowlist, auth_module and logs."),
        Row(name="RedisExporterSlow", severity="warning", scope="node", for_="10m",
            expr=f"{c.m(SCRAPE_SECONDS)} > {num(slow)}", panel="cachewatch-exporter/duration",
            summary="Scraping a Redis node is slow",
            description='Scraping {{ $labels.instance }} takes {{ $value | printf "%.2f" }}s.',
            runbook_text="A slow scrape usually means a slow or overloaded Redis (check latency) or an overloaded "
                         "exporter (check its CPU and redis_exporter_targets).",
            test=c.gauge_case(SCRAPE_SECONDS, fire=f"{num(slow * 2)}x20", quiet="0.01x20", value=slow * 2)),
    ]
