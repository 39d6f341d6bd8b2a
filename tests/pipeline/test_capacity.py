"""docs/capacity.md: its per-node figures for examples/regions.py match what the exporter serves against a real
primary + replica running the measured workload, under the default and under a reduction the spec passes to the
exporters through the generated config file; the fleet figures follow the spec; a reduction that would silence a
generated rule is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cachewatch.pipeline import capacity, exporter_config
from cachewatch.pipeline.build import build
from cachewatch.spec import FleetSpec, SpecError, load_spec
from cachewatch.spec.series import REDUCTIONS, SeriesReduction
from tests.support.command_mix import Pair, mixed_pair, series_per_family
from tests.support.exporter_process import ExporterProcess, start_exporter
from tests.support.paths import ROOT

TOLERANCE = 0.15  # histogram buckets depend on timing: a command's latencies spread over a few more or fewer
REDUCED = REDUCTIONS["latency-allowlist"][1]


@pytest.fixture(scope="module")
def regions() -> FleetSpec:
    return load_spec(ROOT / "examples" / "regions.py")


def with_series(spec: FleetSpec, series: SeriesReduction) -> FleetSpec:
    return spec.model_copy(update={"exporter": spec.exporter.model_copy(update={"series": series})})


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    """The workload the table was measured with; a first exporter runs its own commands once (steady state)."""
    with mixed_pair() as servers:
        with start_exporter("--allow-target", "127.0.0.1:*") as warmup:
            for server in servers.by_role().values():
                scrape(warmup, f"/scrape?target={server.url}")
        yield servers


def scrape(exporter: ExporterProcess, path: str) -> int:
    """Series in the last of three scrapes (the exporter's own commands appear from the second)."""
    body = ""
    for _ in range(3):
        result = exporter.get(path)
        assert result.status == 200, result.body
        body = result.body
    return sum(series_per_family(body).values())


def served(pair: Pair, *args: str) -> dict[str, dict[str, int]]:
    """What a live exporter started with ``args`` serves per role: /scrape and each /probe module."""
    with start_exporter("--allow-target", "127.0.0.1:*", *args) as exporter:
        return {
            role: {
                "scrape": scrape(exporter, f"/scrape?target={server.url}"),
                "health": scrape(exporter, f"/probe?target={server.url}&module=health"),
                "replication": scrape(exporter, f"/probe?target={server.url}&module=replication")
                if role == "primary"
                else 0,
            }
            for role, server in pair.by_role().items()
        }


def assert_close(measured: int, figure: int, what: str) -> None:
    assert abs(measured - figure) <= TOLERANCE * figure, (
        f"{what}: capacity says {figure}, the exporter serves {measured}"
    )


def assert_matches(spec: FleetSpec, live: dict[str, dict[str, int]]) -> None:
    for role, replicated in (("primary", True), ("replica", False)):
        figure = capacity.per_node(role, replicated, spec.exporter.series)
        assert_close(live[role]["scrape"], figure.scrape, f"{role} /scrape")
        assert_close(live[role]["health"] + live[role]["replication"], figure.probe, f"{role} /probe")


def test_regions_per_node_figures_match_a_live_exporter(regions: FleetSpec, pair: Pair) -> None:
    assert regions.exporter.series.is_default
    assert exporter_config.PATH not in build(regions).texts()  # the default needs no exporter config
    assert_matches(regions, served(pair))


def test_a_reduction_in_the_spec_reaches_the_exporters_and_the_figures(
    regions: FleetSpec, pair: Pair, tmp_path: Path
) -> None:
    spec = with_series(regions, REDUCED)
    texts = build(spec).texts()
    config = tmp_path / "cachewatch-exporter.yml"
    config.write_text(texts[exporter_config.PATH])
    assert yaml.safe_load(config.read_text()) == {"series": {"command_allowlist": sorted(REDUCED.command_allowlist)}}
    live = served(pair, "--config", str(config))
    assert_matches(spec, live)
    default = capacity.per_node("primary", True, SeriesReduction())
    assert live["primary"]["scrape"] < 0.75 * default.scrape
    assert f"| **per node** | **{capacity.per_node('primary', True, REDUCED).total}** |" in texts[capacity.PATH]


def test_fleet_figures_follow_the_spec(regions: FleetSpec) -> None:
    groups = capacity.fleet_groups(regions, [])
    assert [g.name for g in groups] == [r.name for r in regions.regions]
    for g, region in zip(groups, regions.regions, strict=True):
        primary = capacity.per_node("primary", True, regions.exporter.series)
        replica = capacity.per_node("replica", False, regions.exporter.series)
        nodes = [n for c in region.clusters for n in c.nodes]
        assert g.count("primary") == sum(n.role == "primary" for n in nodes)
        assert sum(x.total for x in g.nodes) == g.count("primary") * primary.total + g.count("replica") * replica.total
        assert g.samples == pytest.approx(
            sum(x.scrape + 5 for x in g.nodes) / regions.intervals.scrape
            + sum(x.probe + 5 * (x.jobs - 1) for x in g.nodes) / regions.intervals.probe
            + g.exporter_series / regions.intervals.scrape
        )
    slower = regions.model_copy(update={"intervals": regions.intervals.model_copy(update={"scrape": 20.0})})
    assert capacity.fleet_groups(slower, [])[0].samples < groups[0].samples
    doc = build(regions).texts()[capacity.PATH]
    assert "## Remote-write egress" in doc and "CachewatchRegionSilent" in doc and "RedisDown" in doc
    assert f"for {regions.scale.prometheus.local_retention_days} days" in doc and "for 90 days" in doc


def test_single_prometheus_spec_gets_a_capacity_doc_without_scale_sections() -> None:
    doc = build(load_spec(ROOT / "examples" / "small.py")).texts()[capacity.PATH]
    assert "## Series per node" in doc and "for 90 days" in doc
    assert "Remote-write egress" not in doc and "Globally" not in doc


def test_dropping_a_family_a_rule_reads_is_refused(regions: FleetSpec) -> None:
    spec = with_series(regions, SeriesReduction(drop_families=["redis_commands_latencies_usec"]))
    with pytest.raises(SpecError, match=r"redis_commands_latencies_usec is read by .*RedisLatencyP9"):
        build(spec)
    with pytest.raises(SpecError, match=r"redis_db_keys_expiring is read by .*RedisMemoryHigh.*; keep it$"):
        build(with_series(regions, SeriesReduction(drop_families=["redis_db_keys_expiring"])))
    dashboards_only = with_series(regions, SeriesReduction(drop_families=["redis_memory_used_scripts_bytes"]))
    config = build(dashboards_only).texts()[exporter_config.PATH]
    assert "drop_families:\n  - redis_memory_used_scripts_bytes" in config
    assert "cachewatch-node" in config  # the header names the panels left without data
