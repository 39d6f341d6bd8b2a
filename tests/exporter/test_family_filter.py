"""Series reduction at the source (exporter.series): dropped families are gone, aggregated commands add up, the
exposition stays valid, the default is untouched, and ``count`` predicts ``apply`` exactly.

Against a real primary + replica (redis-server from apt) that ran a cache application's command mix, scraped by
the real exporter process."""

from __future__ import annotations

import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Iterator

import pytest
import yaml

from cachewatch.cli import exporter as exporter_cli
from cachewatch.exporter.exposition import MetricSet
from cachewatch.exporter.family_filter import FamilyFilter, count, merge_buckets, renderer, shape_of, split
from cachewatch.exporter.options import SettingsError, build_settings
from cachewatch.local_redis import require_binary
from cachewatch.spec.series import BLOCKING, LATENCY_FAMILIES, OTHER, PER_COMMAND_FAMILIES, SeriesReduction
from tests.support.command_mix import Pair, commands_seen, metric_set, mixed_pair, series_per_family
from tests.support.exporter_process import ExporterProcess, start_exporter

HISTOGRAM, PERCENTILES = "redis_commands_latencies_usec", "redis_latency_percentiles_usec"
HOT = ["get", "set", "mget", "hget"]
OPTIONS = [
    SeriesReduction(drop_families=[HISTOGRAM]),
    SeriesReduction(drop_families=[*LATENCY_FAMILIES, "redis_db_keys", "redis_db_keys_expiring"]),
    SeriesReduction(command_allowlist=HOT),
    SeriesReduction(command_allowlist=HOT, other_commands="drop"),
    SeriesReduction(command_allowlist=[]),
    SeriesReduction(command_allowlist=[], command_families=list(PER_COMMAND_FAMILIES)),
    SeriesReduction(command_allowlist=["get"], command_families=[PERCENTILES], drop_families=[HISTOGRAM]),
]


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with mixed_pair(rounds=100) as servers:
        yield servers


def scrape(exporter: ExporterProcess, url: str, times: int = 3) -> str:
    """The last of a few scrapes: the exporter's own commands are in commandstats from the second on."""
    body = ""
    for _ in range(times):
        result = exporter.get(f"/scrape?target={url}")
        assert result.status == 200, result.body
        body = result.body
    return body


@pytest.fixture(scope="module")
def default_scrapes(pair: Pair) -> dict[str, str]:
    with start_exporter("--allow-target", "127.0.0.1:*") as exporter:
        return {role: scrape(exporter, server.url) for role, server in pair.by_role().items()}


def values(metrics: MetricSet, series: str) -> dict[tuple[str, str], float]:
    """(cmd, rest of the labels) → value of every line of ``series`` (a name with its suffix)."""
    family = series.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
    out = {}
    for line in metrics.lines(family):
        parts = split(line)
        if parts is not None and parts.name == series:
            out[(parts.cmd, parts.rest)] = parts.value
    return out


def sample_count(text: str) -> int:
    return sum(series_per_family(text).values())


def promtool_lines(text: str) -> set[str]:
    """What `promtool check metrics` says about an exposition (parse errors and lint warnings)."""
    promtool = require_binary("promtool")  # apt-get install -y prometheus
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    return {line for line in (out.stdout + out.stderr).splitlines() if line.strip()}


# --- in process, on real scrapes ------------------------------------------------------------------------------
@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.model_dump_json(exclude_defaults=True))
def test_count_predicts_what_apply_serves(default_scrapes: dict[str, str], option: SeriesReduction) -> None:
    for role, text in default_scrapes.items():
        metrics = metric_set(text)
        served = FamilyFilter(option).render(metrics)
        assert count(shape_of(metrics), option) == sample_count(served), role


def test_the_default_renders_the_scrape_untouched(default_scrapes: dict[str, str]) -> None:
    assert renderer(SeriesReduction()) is MetricSet.render
    metrics = metric_set(default_scrapes["primary"])
    assert FamilyFilter(SeriesReduction()).render(metrics) == metrics.render()
    assert count(shape_of(metrics), SeriesReduction()) == sample_count(default_scrapes["primary"])


def test_aggregation_keeps_every_sum_over_commands(default_scrapes: dict[str, str]) -> None:
    """Counters, summary sums and counts, the histogram's count and every bucket: the totals over commands are the
    same before and after, so node-level rates and the latency SLO read the same numbers."""
    option = SeriesReduction(command_allowlist=HOT, command_families=list(PER_COMMAND_FAMILIES))
    for role, text in default_scrapes.items():
        before = metric_set(text)
        after = metric_set(FamilyFilter(option).render(before))
        for family in PER_COMMAND_FAMILIES:
            suffixes = ("_sum", "_count") if family in LATENCY_FAMILIES else ("",)
            for series in (family + suffix for suffix in suffixes):
                assert sum(values(before, series).values()) == pytest.approx(sum(values(after, series).values())), (
                    role,
                    series,
                )
        kept = {cmd for cmd, _ in values(after, "redis_commands_total")}
        assert kept <= {*HOT, OTHER, *BLOCKING}, role
        assert OTHER in kept and len(kept) < len(commands_seen(text)), role


def test_merged_buckets_are_cumulative_counts_of_the_others(default_scrapes: dict[str, str]) -> None:
    """Redis sends only non-empty buckets: a command's count at a bound it did not send is its count at the bound
    below, and the merged histogram counts exactly that at each bound any command sent."""
    metrics = metric_set(default_scrapes["primary"])
    flt = FamilyFilter(SeriesReduction(command_allowlist=HOT))
    buckets: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for (cmd, rest), value in values(metrics, f"{HISTOGRAM}_bucket").items():
        if not flt.keeps(cmd) and "+Inf" not in rest:
            buckets[cmd].append((float(rest.split('"')[1]), value))
    merged = dict(merge_buckets(list(buckets.values())))
    served = values(metric_set(flt.render(metrics)), f"{HISTOGRAM}_bucket")
    other = {float(rest.split('"')[1].replace("+Inf", "inf")): v for (cmd, rest), v in served.items() if cmd == OTHER}
    inf = other.pop(float("inf"))
    assert other == merged and len(other) >= max(len(b) for b in buckets.values())
    assert list(other.values()) == sorted(other.values()), "cumulative"
    assert inf == sum(v for (cmd, _), v in values(metrics, f"{HISTOGRAM}_count").items() if not flt.keeps(cmd))
    quantiles = [
        v
        for (cmd, rest), v in values(metric_set(flt.render(metrics)), PERCENTILES).items()
        if cmd == OTHER and "quantile" in rest
    ]
    assert len(quantiles) == 3 and quantiles == sorted(quantiles) and quantiles[0] > 0


# --- the exporter process, configured by flags and by its config file -----------------------------------------
def test_flags_limit_the_latency_families_to_the_allowlist(pair: Pair, default_scrapes: dict[str, str]) -> None:
    with start_exporter("--allow-target", "127.0.0.1:*", "--command-allowlist", ",".join(HOT)) as exporter:
        text = scrape(exporter, pair.primary.url)
    metrics = metric_set(text)
    for family in LATENCY_FAMILIES:
        cmds = {cmd for cmd, _ in values(metrics, f"{family}_count")}
        assert cmds <= {*HOT, OTHER, *BLOCKING} and {*HOT, OTHER} <= cmds, (family, cmds)
    # counters stay per command (only the latency families are limited by default)
    assert {cmd for cmd, _ in values(metrics, "redis_commands_total")} == commands_seen(default_scrapes["primary"])
    assert sample_count(text) < sample_count(default_scrapes["primary"]) * 0.75
    # nothing new to promtool: the only warnings are the default's (redis_exporter's names, kept on purpose)
    assert promtool_lines(text) <= promtool_lines(default_scrapes["primary"])


def test_config_file_drops_families_and_nothing_else(pair: Pair, default_scrapes: dict[str, str]) -> None:
    dropped = [HISTOGRAM, "redis_db_keys_expiring"]
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as config:
        yaml.safe_dump({"series": {"drop_families": dropped}}, config)
        config.flush()
        with start_exporter("--allow-target", "127.0.0.1:*", "--config", config.name) as exporter:
            text = scrape(exporter, pair.replica.url)
    served, default = set(series_per_family(text)), set(series_per_family(default_scrapes["replica"]))
    assert served == default - set(dropped)
    assert promtool_lines(text) <= promtool_lines(default_scrapes["replica"])


# --- settings -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("series", "problem"),
    [
        ({"drop_families": ["redis_up"]}, "RedisDown"),
        ({"drop_families": ["redis_no_such_family"]}, "not a family the exporter serves"),
        ({"drop_families": ["cache_requests_total"]}, "not a family the exporter serves"),
        ({"command_families": ["redis_db_keys"]}, "not a per-command family"),
        ({"command_allowlist": ["get", "other"]}, "label of the aggregated commands"),
        ({"other_commands": "sum"}, "series.other_commands"),
    ],
)
def test_bad_series_settings_name_the_field(series: dict, problem: str) -> None:
    with pytest.raises(SettingsError, match="series") as err:
        _from_file(series)
    assert problem in str(err.value)


def _from_file(series: dict) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as config:
        yaml.safe_dump({"series": series}, config)
        config.flush()
        build_settings(config.name, {}, env={})


def test_flags_set_the_series_options() -> None:
    parser = exporter_cli.argparse.ArgumentParser()
    exporter_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        [
            "exporter",
            "--drop-family",
            HISTOGRAM,
            "--drop-family",
            "redis_db_keys",
            "--command-allowlist",
            "GET, set",
            "--other-commands",
            "drop",
        ]
    )
    series = build_settings(None, exporter_cli.exporter_flags(args), env={}).series
    assert series == SeriesReduction(
        drop_families=[HISTOGRAM, "redis_db_keys"], command_allowlist=["get", "set"], other_commands="drop"
    )
    everything = parser.parse_args(["exporter", "--command-allowlist", ""])
    assert build_settings(None, exporter_cli.exporter_flags(everything), env={}).series.command_allowlist == []
    assert build_settings(None, {}, env={}).series.is_default
