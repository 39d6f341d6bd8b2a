"""The latency data's refresh: which commands' LATENCY HISTOGRAM a scrape fetches, and when.

The planner is pure (explicit clock); the scraper tests run it against a real redis-server and read the
server's own commandstats to see what was sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis

from cachewatch.exporter.credentials import NO_CREDENTIALS
from cachewatch.exporter.exposition import MetricSet
from cachewatch.exporter.latency_refresh import FULL, LatencyPlanner, quantile_values
from cachewatch.exporter.scraper import ScrapeSettings, TargetScraper
from cachewatch.exporter.stats import ExporterStats
from cachewatch.exporter.targets import parse_target
from cachewatch.local_redis import RedisServer, start_redis

PERIOD = 60.0


def histogram_reply(calls: dict[str, int]) -> list:
    """A LATENCY HISTOGRAM reply as hiredis decodes it: every call in the 1 µs bucket."""
    out: list = []
    for cmd, n in calls.items():
        out += [cmd, ["calls", n, "histogram_usec", [1, n]]]
    return out


def planner_after_full_fetch(calls: dict[str, int], now: float = 0.0) -> LatencyPlanner:
    planner = LatencyPlanner(PERIOD)
    assert planner.first_batch(now) == FULL
    planner.store(histogram_reply(calls), FULL, {}, now, {c: (n, n) for c, n in calls.items()})
    planner.observe(calls, {}, now)
    return planner


def test_the_first_scrape_of_a_connection_fetches_every_command() -> None:
    planner = LatencyPlanner(PERIOD)
    assert planner.first_batch(0.0) == FULL


def test_commands_that_did_not_run_are_never_fetched_again() -> None:
    planner = planner_after_full_fetch({"get": 10, "set": 5})
    for t in range(15, 600, 15):
        assert planner.first_batch(float(t)) is None
        planner.observe({"get": 10, "set": 5}, {}, float(t))
        assert planner.second_batch(float(t)) is None


def test_at_a_15s_interval_commands_that_ran_are_spread_over_the_period_and_each_refreshed_within_it() -> None:
    calls = {f"cmd{i}": 1 for i in range(8)}
    planner = planner_after_full_fetch(calls)
    fetched_at = dict.fromkeys(calls, 0.0)
    per_scrape = []
    for t in range(15, 15 * 40, 15):
        now = float(t)
        planned = planner.first_batch(now)
        assert planned != FULL
        batch = planned or ()
        if planned is not None:
            reply = histogram_reply({cmd: calls[cmd] for cmd in planned})
            planner.store(reply, planned, {}, now, {c: (n, n) for c, n in calls.items()})
        per_scrape.append(len(batch))
        for cmd in batch:
            fetched_at[cmd] = now
        calls = {cmd: n + 1 for cmd, n in calls.items()}  # every command runs in every interval
        planner.observe(calls, {}, now)
        assert planner.second_batch(now) is None  # one round trip at 15 s
        # Served data covers every call made up to a period ago (the calls made before the last fetch).
        assert all(now - at <= PERIOD for at in fetched_at.values())
    assert max(per_scrape[4:]) <= 3  # about 8 commands / 4 scrapes per period, not all 8 at once


def test_at_intervals_longer_than_the_period_a_command_that_ran_is_fetched_at_that_scrape_or_the_next() -> None:
    planner = planner_after_full_fetch({"get": 1, "set": 1, "del": 1})
    assert planner.first_batch(300.0) is None
    planner.observe({"get": 2, "set": 1, "del": 7}, {}, 300.0)
    assert planner.second_batch(300.0) == ("del",)  # half of what ran now (the oldest first) ...
    planner.store(histogram_reply({"del": 7}), ("del",), {}, 300.0, {})
    assert planner.first_batch(600.0) == ("get",)  # ... the rest in the next scrape's own pipeline


def simulate(interval: float, commands: int, scrapes: int) -> list[tuple[int, float]]:
    """Every command runs in every interval; per scrape: (commands fetched, oldest served data's age)."""
    calls = {f"cmd{i}": 1 for i in range(commands)}
    planner = planner_after_full_fetch(calls)
    fetched_at = dict.fromkeys(calls, 0.0)
    out = []
    for k in range(1, scrapes):
        now = k * interval
        calls = {cmd: n + 1 for cmd, n in calls.items()}  # the traffic of the interval, then the scrape
        fetched = 0
        for step in ("first", "second"):
            if step == "second":
                planner.observe(calls, {}, now)
            planned = planner.first_batch(now) if step == "first" else planner.second_batch(now)
            assert planned != FULL
            if planned:
                planner.store(histogram_reply({cmd: calls[cmd] for cmd in planned}), planned, {}, now,
                              {c: (n, n) for c, n in calls.items()})
                fetched += len(planned)
                fetched_at.update(dict.fromkeys(planned, now))
        out.append((fetched, max(now - at for at in fetched_at.values())))
    return out


@pytest.mark.parametrize("interval", [60.0, 120.0, 300.0])
def test_at_intervals_from_half_the_period_up_half_the_commands_are_fetched_at_each_scrape(interval: float) -> None:
    rounds = simulate(interval, commands=10, scrapes=20)
    assert all(age <= interval for _, age in rounds)  # served as of this scrape or the previous one, no older
    assert [fetched for fetched, _ in rounds[2:]] == [5] * len(rounds[2:])  # not all ten at once


def test_commands_only_this_exporter_ran_are_refreshed_one_per_scrape_once_a_period_old() -> None:
    planner = planner_after_full_fetch({"info": 1, "slowlog|len": 1, "get": 4})
    own = {"info": 0, "slowlog|len": 0}
    for t in (15.0, 30.0, 45.0):
        assert planner.first_batch(t) is None
        own = {cmd: n + 1 for cmd, n in own.items()}
        planner.observe({"info": 1 + own["info"], "slowlog|len": 1 + own["slowlog|len"], "get": 4}, own, t)
    picks = [planner.first_batch(75.0), planner.first_batch(90.0)]
    assert picks[0] in (("info",), ("slowlog|len",))
    assert planner.commands["get"].foreign_dirty is False


def test_a_reset_of_the_statistics_drops_the_cached_histograms_and_fetches_everything_again() -> None:
    planner = planner_after_full_fetch({"get": 10, "set": 5})
    planner.first_batch(15.0)
    planner.observe({"get": 2}, {}, 15.0)  # CONFIG RESETSTAT, then two GETs
    assert planner.commands == {}
    assert planner.second_batch(15.0) == FULL


def test_percentiles_are_read_off_the_cumulative_power_of_two_buckets() -> None:
    buckets = [(1.0, 50.0), (2.0, 90.0), (4.0, 99.0), (8.0, 100.0)]
    assert dict(quantile_values(buckets)) == {"50": 1.0, "99": 4.0, "99.9": 7.6}
    assert quantile_values([]) == []


# --- against a real redis-server ---------------------------------------------------------------------------
@pytest.fixture
def server() -> Iterator[RedisServer]:
    srv = start_redis()
    yield srv
    srv.stop()


def histogram_calls(server: RedisServer) -> int:
    stats = redis.Redis(port=server.port).info("commandstats")
    return int(stats.get("cmdstat_latency|histogram", {"calls": 0})["calls"])


def series(metrics: MetricSet, prefix: str) -> float | None:
    for line in metrics.render().splitlines():
        if line.startswith(prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


async def scrape(scraper: TargetScraper) -> MetricSet:
    return await scraper.scrape(5.0)


def new_scraper(server: RedisServer, period: float) -> TargetScraper:
    target, _ = parse_target(server.url)
    return TargetScraper(target, NO_CREDENTIALS, ScrapeSettings(latency_refresh_interval=period), ExporterStats())


GET_COUNT = 'redis_commands_latencies_usec_count{cmd="get"}'


def test_every_command_that_ran_is_served_fresh_within_one_period(server: RedisServer) -> None:
    client = redis.Redis(port=server.port)

    async def run() -> list[float | None]:
        scraper = new_scraper(server, 0.3)
        try:
            client.get("k")
            seen = [series(await scrape(scraper), GET_COUNT)]
            for _ in range(5):
                client.get("k")
            deadline = time.monotonic() + 0.3
            while time.monotonic() <= deadline + 0.05:  # scrape every 50 ms, past one period
                await asyncio.sleep(0.05)
                seen.append(series(await scrape(scraper), GET_COUNT))
            return seen
        finally:
            scraper.close()

    seen = asyncio.run(run())
    assert seen[0] == 1
    assert seen[-1] == 6


def test_at_intervals_longer_than_the_period_the_served_data_lags_one_scrape_at_most(server: RedisServer) -> None:
    client = redis.Redis(port=server.port)

    async def run() -> tuple[list[int], list[float | None]]:
        scraper = new_scraper(server, 0.1)
        made, served = [], []
        try:
            for _ in range(8):
                for _ in range(3):
                    client.get("k")
                made.append(3 * (len(made) + 1))
                served.append(series(await scrape(scraper), GET_COUNT))
                await asyncio.sleep(0.25)  # 2.5 periods between scrapes
            return made, served
        finally:
            scraper.close()

    made, served = asyncio.run(run())
    assert served[0] == made[0]
    for previous, count, now in zip(made, served[1:], made[1:], strict=False):
        assert count is not None and previous <= count <= now  # every call up to the scrape before, at least


def test_a_quiet_server_gets_no_histogram_fetch_for_its_idle_commands(server: RedisServer) -> None:
    client = redis.Redis(port=server.port)
    client.set("k", "v")
    client.get("k")

    async def run() -> tuple[int, int]:
        scraper = new_scraper(server, 60.0)
        try:
            await scrape(scraper)
            before = histogram_calls(server)
            for _ in range(10):
                await scrape(scraper)
            return before, histogram_calls(server)
        finally:
            scraper.close()

    before, after = asyncio.run(run())
    # The INFO calls of histogram_calls() are someone else's: at most one refresh of INFO's own histogram.
    assert after - before <= 1


def test_config_resetstat_is_noticed_and_no_pre_reset_histogram_is_served(server: RedisServer) -> None:
    client = redis.Redis(port=server.port)
    for _ in range(3):
        client.get("k")

    async def run() -> tuple[float | None, float | None, float | None]:
        scraper = new_scraper(server, 60.0)
        try:
            first = series(await scrape(scraper), GET_COUNT)
            client.config_resetstat()
            after_reset = series(await scrape(scraper), GET_COUNT)
            client.get("k")
            await scrape(scraper)  # notices GET ran again
            await asyncio.sleep(0.01)
            return first, after_reset, series(await scrape(scraper), GET_COUNT)
        finally:
            scraper.close()

    first, after_reset, later = asyncio.run(run())
    assert first == 3
    assert after_reset is None  # GET has not run since the reset: no stale histogram
    assert later in (None, 1)  # never the pre-reset 3 or 4


def test_a_restarted_server_gets_a_full_fetch_on_the_new_connection(server: RedisServer) -> None:
    port = server.port
    redis.Redis(port=port).get("k")

    async def run() -> tuple[float | None, float | None]:
        scraper = new_scraper(server, 60.0)
        try:
            before = series(await scrape(scraper), GET_COUNT)
            server.stop()
            restarted = start_redis(port=port)
            try:
                client = redis.Redis(port=port)
                for _ in range(4):
                    client.get("k")
                await scrape(scraper)  # may see the dropped connection, reconnects once
                return before, series(await scrape(scraper), GET_COUNT)
            finally:
                restarted.stop()
        finally:
            scraper.close()

    before, after = asyncio.run(run())
    assert before == 1
    assert after == 4


def test_exact_mode_serves_redis_own_percentiles_and_the_default_an_estimate(server: RedisServer) -> None:
    client = redis.Redis(port=server.port)
    for i in range(200):
        client.set(f"exact:{i}", "v" * (i % 50))
    p99 = 'redis_latency_percentiles_usec{cmd="set",quantile="99"}'

    async def scrape_once(exact: bool) -> float | None:
        target, _ = parse_target(server.url)
        settings = ScrapeSettings(latency_refresh_interval=PERIOD, exact_latency_percentiles=exact)
        scraper = TargetScraper(target, NO_CREDENTIALS, settings, ExporterStats())
        try:
            return series(await scrape(scraper), p99)
        finally:
            scraper.close()

    exact, estimated = asyncio.run(scrape_once(True)), asyncio.run(scrape_once(False))
    redis_own = float(client.info("latencystats")["latency_percentiles_usec_set"]["p99"])
    assert exact == redis_own
    assert estimated is not None and estimated > 0
