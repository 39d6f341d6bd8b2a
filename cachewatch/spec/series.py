"""Which series the exporter serves: options that drop or aggregate the costly per-command families at the source.

By default every command Redis ran has its own series in six families (four commandstats counters, the latency
percentile summary and the latency histogram): with 20-30 commands in use they are half of a node's ~580 series
(docs/capacity.md, bench/series_per_node.py). A fleet that must spend fewer series names the families it does not
want (``drop_families``) or keeps per-command latency only for the commands it cares about
(``command_allowlist``), summing the rest into ``cmd="other"`` (``other_commands: aggregate``: fleet and node
totals stay exact, alerts and SLOs keep working) or leaving them out (``drop``).

One model for both sides: the spec's ``exporter.series`` and the exporter's own settings (``series:`` in its
config file, or flags), so that ``cachewatch generate`` writes exactly what the exporter reads.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from cachewatch.catalog import CATALOG, Source
from cachewatch.checks.measures import BLOCKING_COMMANDS
from cachewatch.spec.types import Strict

# Exporter families with a ``cmd`` label: one series (or one histogram / summary) per command Redis ran.
PER_COMMAND_FAMILIES: tuple[str, ...] = tuple(
    name for name, fam in CATALOG.items() if fam.source is Source.EXPORTER and "cmd" in fam.labels
)
# The per-command latency families: the costliest (a summary of 5 series, a histogram of ~10-20 buckets per command)
LATENCY_FAMILIES: tuple[str, ...] = ("redis_commands_latencies_usec", "redis_latency_percentiles_usec")
OTHER = "other"  # the cmd label of the commands summed together
# Never dropped: without them RedisDown and the exporter's own alerts cannot fire.
REQUIRED_FAMILIES = frozenset({"redis_up", "redis_exporter_last_scrape_error"})
# Commands Redis books while they wait (BLPOP, XREAD, WAIT, PSYNC, ...): the latency SLO leaves them out by name,
# so an aggregate never hides them among the others; they keep their own series.
BLOCKING = BLOCKING_COMMANDS
# What /scrape and /metrics serve; /probe's families (group "probe") are the health checks' own answer, not reduced.
DROPPABLE = (
    frozenset(
        name
        for name, fam in CATALOG.items()
        if fam.source in (Source.EXPORTER, Source.EXPORTER_SELF) and fam.group != "probe"
    )
    - REQUIRED_FAMILIES
)


class SeriesReduction(Strict):
    """What the exporter leaves out or sums together; the default (nothing) serves every family per command."""

    drop_families: list[str] = Field(
        default_factory=list,
        description="exporter families not served at all, e.g. redis_commands_latencies_usec; the generator refuses "
        "a family a generated rule reads",
    )
    command_allowlist: list[str] | None = Field(
        None,
        description="commands that keep their own series in command_families (INFO commandstats names: get, "
        "client|setname); None: every command does",
    )
    other_commands: Literal["aggregate", "drop"] = Field(
        "aggregate",
        description=f'the commands not in the allowlist: summed into cmd="{OTHER}" (histogram buckets merged, '
        "percentiles read off the merged histogram), or left out; blocking commands (BLPOP, XREAD, WAIT, PSYNC) keep "
        "their own series when aggregating",
    )
    command_families: list[str] = Field(
        default_factory=lambda: list(LATENCY_FAMILIES),
        description="the per-command families the allowlist limits (a dropped one stays dropped); default: the "
        f"latency histogram and percentiles; any of {', '.join(PER_COMMAND_FAMILIES)}",
    )

    @field_validator("drop_families")
    @classmethod
    def _droppable(cls, value: list[str]) -> list[str]:
        for name in value:
            if name in REQUIRED_FAMILIES:
                raise ValueError(f"{name} cannot be dropped: RedisDown and the exporter's alerts read it")
            if name not in DROPPABLE:
                raise ValueError(f"{name!r} is not a family the exporter serves (see docs/metrics.md)")
        return sorted(set(value))

    @field_validator("command_families")
    @classmethod
    def _per_command(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in PER_COMMAND_FAMILIES:
                raise ValueError(f"{name!r} is not a per-command family; one of {', '.join(PER_COMMAND_FAMILIES)}")
        return sorted(set(value))

    @field_validator("command_allowlist")
    @classmethod
    def _command_names(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        names = sorted({name.strip().lower() for name in value if name.strip()})
        if OTHER in names:
            raise ValueError(f"{OTHER!r} is the label of the aggregated commands, not a command")
        return names

    @property
    def is_default(self) -> bool:
        return not self.drop_families and self.command_allowlist is None


HOT_COMMANDS = ("get", "set", "mget", "hget", "hgetall", "hset", "incrby", "expire")
# The reductions docs/capacity.md prices and bench/series_per_node.py measures: name → (what it does, the option).
REDUCTIONS: dict[str, tuple[str, SeriesReduction]] = {
    "default": ("every family, per command", SeriesReduction()),
    "drop-histogram": (
        "drop_families: [redis_commands_latencies_usec]",
        SeriesReduction(drop_families=["redis_commands_latencies_usec"]),
    ),
    "drop-latency": ("drop_families: both latency families", SeriesReduction(drop_families=list(LATENCY_FAMILIES))),
    "latency-allowlist": (
        f"command_allowlist: {len(HOT_COMMANDS)} hot commands ({', '.join(HOT_COMMANDS)}), the rest aggregated",
        SeriesReduction(command_allowlist=list(HOT_COMMANDS)),
    ),
    "latency-aggregate": (
        f'command_allowlist: [], all latency into cmd="{OTHER}"',
        SeriesReduction(command_allowlist=[]),
    ),
    "all-aggregate": (
        "command_allowlist: [] over all 6 per-command families",
        SeriesReduction(command_allowlist=[], command_families=list(PER_COMMAND_FAMILIES)),
    ),
}
