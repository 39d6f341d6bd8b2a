"""Scale mode end to end, on the real binaries and what ``cachewatch generate`` writes for two regions
(tests/support/scale_stack.py starts it): a Prometheus HA pair per region remote-writing to VictoriaMetrics,
vmalert with the fleet-level rules, two Alertmanagers in a gossip cluster, the team's webhook a recording endpoint.

- Each pair scrapes only its region's nodes, through its region's exporter; the store holds each series once,
  without the replica label.
- A Redis killed in region west pages once, although both Prometheus replicas fire and both Alertmanagers hold it.
- A killed Prometheus replica loses no sample in the store (the series keeps one sample per scrape interval, once,
  across the kill) and no alert (a Redis killed after it still pages, from the other replica; nothing resolves).
- Region east's pair stopped: vmalert's CachewatchRegionSilent pages for east, not for west.
- 90 days backfilled through /api/v1/import answer a 90-day range query, a rate and an avg_over_time over [90d],
  asked where the generated Grafana datasource points.

The tests share one stack, in file order: the first reads it whole, the second breaks it (each alone also passes).
"""

from __future__ import annotations

import bisect
import itertools
import json
import time
import urllib.request
from collections.abc import Iterator

import pytest
import yaml

from tests.support.scale_stack import SCRAPE, TEAM, ScaleStack, get_json, running_scale_stack, wait_until

pytestmark = pytest.mark.e2e

# How long a second page could still come: the Alertmanager at cluster position 1 sends what position 0 has not
# after --cluster.peer-timeout (15 s; the generated args keep the default), so silence after that is final.
DUPLICATE_WINDOW = 20.0
PAGE_TIMEOUT = 30.0
AROUND_KILL = 15.0  # seconds of samples compared before and after the replica is killed
# CachewatchRegionSilent: the store's -search.latencyOffset (30 s), 12 scrapes without `up`, 6 evaluations of
# `for`, group_wait; a minute and a half bounds it with room for a busy machine.
SILENT_TIMEOUT = 90.0
DAY = 86400
BACKFILL_DAYS, BACKFILL_STEP, QUERY_STEP = 90, 300, 3600  # 90 days of 5-minute samples, read hourly
COMMANDS_PER_STEP = 600.0  # the backfilled counter's increase per sample: 2 commands/s


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaleStack]:
    with running_scale_stack(tmp_path_factory.mktemp("scale")) as running:
        yield running


def pages(stack: ScaleStack, alertname: str, since: float, **labels: str) -> list[dict]:
    """Notifications since ``since`` in which an alert ``alertname`` with ``labels`` is firing."""

    def firing(alert: dict) -> bool:
        return (
            alert["status"] == "firing"
            and alert["labels"].get("alertname") == alertname
            and all(alert["labels"].get(k) == v for k, v in labels.items())
        )

    return [n for n in stack.notifications(alertname, since) if any(firing(a) for a in n["alerts"])]


def wait_for_page(stack: ScaleStack, alertname: str, since: float, timeout: float, **labels: str) -> dict:
    stack.receiver.wait_for(
        lambda _: pages(stack, alertname, since, **labels), timeout, f"{alertname} {labels} at the team's webhook"
    )
    return pages(stack, alertname, since, **labels)[0]


def prometheus_firing(url: str, alertname: str, instance: str) -> bool:
    alerts = get_json(f"{url}/api/v1/alerts")["data"]["alerts"]
    return any(
        a["labels"]["alertname"] == alertname and a["labels"].get("instance") == instance and a["state"] == "firing"
        for a in alerts
    )


def alertmanager_holds(url: str, alertname: str, instance: str) -> bool:
    alerts = get_json(f"{url}/api/v2/alerts", filter=f'alertname="{alertname}"')
    return any(a["labels"].get("instance") == instance for a in alerts)


def remote_written(url: str) -> float:
    """Samples this Prometheus has sent to the store so far (its own remote-write counter)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("prometheus_remote_storage_samples_total{")
    )


def test_each_pair_scrapes_only_its_region_and_the_store_keeps_one_replica_free_copy(stack: ScaleStack) -> None:
    for region in stack.regions.values():
        nodes = {node.addr for node in region.nodes.values()}
        for prometheus in region.prometheus:
            targets = get_json(f"{prometheus.url}/api/v1/targets", state="active")["data"]["activeTargets"]
            assert {t["labels"]["instance"] for t in targets if t["labels"]["job"] == "redis"} == nodes
            assert {t["scrapeUrl"].split("/")[2] for t in targets} == {f"127.0.0.1:{region.exporter.port}"}
    series = get_json(
        f"{stack.store.url}/api/v1/series", **{"match[]": 'up{job="redis"}'}, start=int(time.time()) - 600
    )["data"]
    assert sorted((s["region"], s["instance"]) for s in series) == sorted(
        (region.name, node.addr) for region in stack.regions.values() for node in region.nodes.values()
    )
    assert all(s["fleet"] == "scale-e2e" and "replica" not in s for s in series)


def test_ha_pairs_page_once_lose_nothing_when_a_replica_dies_and_a_stopped_region_goes_silent(
    stack: ScaleStack,
) -> None:
    west, east = stack.regions["west"], stack.regions["east"]
    began = time.time()

    # East's pair stops first: its silence takes the longest to be noticed (the store's 30 s visibility delay).
    silent_since = time.time()
    for prometheus in east.prometheus:
        prometheus.stop()

    # A Redis killed in west: both replicas fire, both Alertmanagers hold the alert, one page.
    replica = west.nodes["replica"]
    killed = time.time()
    replica.kill()
    first = wait_for_page(stack, "RedisDown", killed, PAGE_TIMEOUT, instance=replica.addr)
    print(f"\ntiming: RedisDown paged {time.time() - killed:.1f} s after the kill")
    for prometheus in west.prometheus:  # the second may fire an evaluation later than the first
        wait_until(
            lambda p=prometheus: prometheus_firing(p.url, "RedisDown", replica.addr),
            10,
            f"{prometheus.name} fires RedisDown",
            prometheus.tail,
        )
    for am in stack.alertmanagers:
        wait_until(
            lambda a=am: alertmanager_holds(a.url, "RedisDown", replica.addr), 10, f"{am.name} holds RedisDown", am.tail
        )
    (alert,) = [a for a in first["alerts"] if a["labels"]["alertname"] == "RedisDown"]
    assert alert["labels"]["region"] == "west" and "replica" not in alert["labels"]
    assert first["receiver"] == f"{TEAM}-critical"
    time.sleep(DUPLICATE_WINDOW)
    assert len(pages(stack, "RedisDown", killed, instance=replica.addr)) == 1, stack.notifications("RedisDown")

    # One replica of west's pair killed: the other carries on.
    doomed, survivor = west.prometheus
    assert remote_written(doomed.url) > 0 and remote_written(survivor.url) > 0  # both write the same series
    died = time.time()
    doomed.kill()
    primary = west.nodes["primary"]
    primary.kill()
    wait_for_page(stack, "RedisDown", died, PAGE_TIMEOUT, instance=primary.addr)
    paged = time.time()
    print(f"timing: RedisDown paged {paged - died:.1f} s after the kill, with one replica left")

    # No sample lost: the series holds one sample per scrape interval around the kill, and only one.
    series = f'up{{job="redis",instance="{primary.addr}"}}'
    start, end = died - AROUND_KILL, died + AROUND_KILL
    wait_until(
        lambda: (s := stack.store_samples(series, start, end + 5)) and s[-1] >= end,
        30,
        f"{series} in the store until {AROUND_KILL:.0f} s after the kill",
        stack.logs,
    )
    samples = stack.store_samples(series, start, end)
    expected = round((end - start) / SCRAPE)
    gaps = [b - a for a, b in itertools.pairwise(samples)]
    print(
        f"timing: {len(samples)} samples in {end - start:.0f} s around the kill (expected {expected}), "
        f"largest gap {max(gaps):.2f} s"
    )
    assert expected - 1 <= len(samples) <= expected + 1, samples  # none lost, none twice
    assert max(gaps) < 2 * SCRAPE, gaps  # no scrape missing, across the kill
    # The replicas' two copies deduplicated: one sample per -dedup.minScrapeInterval (the scrape interval).
    assert len({int(t // SCRAPE) for t in samples}) == len(samples), samples

    # No alert lost: the first RedisDown never resolved when its replica died.
    resolved = [a for n in stack.notifications("RedisDown", began) for a in n["alerts"] if a["status"] == "resolved"]
    assert resolved == []

    # Region silent: east, and only east.
    page = wait_for_page(stack, "CachewatchRegionSilent", silent_since, SILENT_TIMEOUT, region="east")
    print(f"timing: CachewatchRegionSilent paged {time.time() - silent_since:.1f} s after east's pair stopped")
    assert {a["labels"]["region"] for a in page["alerts"]} == {"east"}
    assert page["receiver"] == f"{TEAM}-critical"  # the fleet's owner, paged as for any critical alert
    assert pages(stack, "CachewatchRegionSilent", silent_since, region="west") == []
    active = get_json(f"{stack.vmalert.url}/api/v1/alerts")["data"]["alerts"] or []
    assert {a["labels"]["region"] for a in active if a["name"] == "CachewatchRegionSilent"} == {"east"}

    # The page from the lone replica came once too.
    time.sleep(max(0.0, DUPLICATE_WINDOW - (time.time() - paged)))
    assert len(pages(stack, "RedisDown", died, instance=primary.addr)) == 1, stack.notifications("RedisDown", died)


def backfill(store: str, end: int) -> tuple[list[int], list[float], list[float]]:
    """90 days of a node's connected clients and commands counter, through /api/v1/import (JSON lines)."""
    count = BACKFILL_DAYS * DAY // BACKFILL_STEP
    timestamps = [end - (count - 1 - i) * BACKFILL_STEP for i in range(count)]
    clients = [float(50 + (t // 3600) % 24 * 10) for t in timestamps]  # a daily cycle of 50..280
    commands = [i * COMMANDS_PER_STEP for i in range(count)]
    labels = {
        "job": "redis",
        "instance": "backfill.example:6379",
        "fleet": "scale-e2e",
        "region": "west",
        "cluster": "west-cache",
    }
    lines = [
        json.dumps(
            {"metric": {"__name__": name, **labels}, "values": values, "timestamps": [t * 1000 for t in timestamps]}
        )
        for name, values in (("redis_connected_clients", clients), ("redis_commands_processed_total", commands))
    ]
    request = urllib.request.Request(f"{store}/api/v1/import", data="\n".join(lines).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 204
    return timestamps, clients, commands


def test_a_90_day_query_through_the_global_store_answers(stack: ScaleStack) -> None:
    datasources = yaml.safe_load((stack.out / "global/grafana/provisioning/datasources/cachewatch.yaml").read_text())
    (url,) = [d["url"] for d in datasources["datasources"] if d["type"] == "prometheus"]
    assert url == stack.store.url  # Grafana's Prometheus datasource is the global store
    # The newest sample a minute old (past the store's 30 s latency offset), the oldest 90 days before it: inside
    # the generated -retentionPeriod=90d by four minutes.
    end = int(time.time()) - 60
    timestamps, clients, _ = backfill(url, end)
    selector = '{instance="backfill.example:6379"}'
    hours = BACKFILL_DAYS * 24

    def answered() -> list:
        result = get_json(
            f"{url}/api/v1/query_range",
            query=f"redis_connected_clients{selector}",
            start=end - BACKFILL_DAYS * DAY,
            end=end,
            step=QUERY_STEP,
        )["data"]["result"]
        return result and len(result[0]["values"]) >= hours - 1 and result

    (series,) = wait_until(answered, 30, "the 90-day range query answers every hour", stack.store.tail)
    points = [(float(t), float(v)) for t, v in series["values"]]
    assert [b[0] - a[0] for a, b in itertools.pairwise(points)] == [QUERY_STEP] * (len(points) - 1)
    assert 0 <= points[0][0] - timestamps[0] < QUERY_STEP and abs(points[-1][0] - end) < QUERY_STEP
    for t, value in points:  # each hour answers the last sample taken by then
        assert value == clients[bisect.bisect_right(timestamps, t) - 1], t

    def instant(promql: str) -> float:
        (result,) = get_json(f"{url}/api/v1/query", query=promql, time=end)["data"]["result"]
        return float(result["value"][1])

    assert instant(f"count_over_time(redis_connected_clients{selector}[90d])") == len(timestamps)
    assert instant(f"avg_over_time(redis_connected_clients{selector}[90d])") == pytest.approx(
        sum(clients) / len(clients)
    )
    assert instant(f"rate(redis_commands_processed_total{selector}[90d])") == pytest.approx(
        COMMANDS_PER_STEP / BACKFILL_STEP
    )
