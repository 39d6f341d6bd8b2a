"""Series reduction at the source: drop whole families, or keep per-command series only for an allowlist.

Applied to a scrape's finished ``MetricSet`` just before it is rendered, so the scrape path itself is unchanged
and the default (no reduction) costs nothing. Commands outside the allowlist are summed into ``cmd="other"``:
counters and summary sums/counts add up, histogram buckets are merged (Redis sends only non-empty buckets, so a
command's cumulative count at a bound it did not send is its count at the bound below), and the percentiles of
``other`` are read off the merged histogram as for any command. Sums over commands (a node's call rate, its
latency histogram, the latency SLO) stay exact. Blocking commands keep their own series: the latency SLO leaves
them out by name.

``count`` predicts, from a ``Shape`` (what one scrape served, per family and per command), how many series the
same scrape serves under any ``SeriesReduction``: docs/capacity.md uses it on the table measured by
bench/series_per_node.py, and a test checks it against ``apply`` on real scrapes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from cachewatch.exporter.exposition import MetricSet, format_value
from cachewatch.exporter.latency_refresh import HISTOGRAM, PERCENTILES, render_histogram, render_quantiles
from cachewatch.spec.series import BLOCKING, OTHER, PER_COMMAND_FAMILIES, SeriesReduction

QUANTILE_SERIES = 3  # p50, p99, p99.9 (latency_refresh.QUANTILES)
CMD = '{cmd="'


@dataclass(frozen=True, slots=True)
class CommandLine:
    """One per-command series line, taken apart: ``name{cmd="get",rest} value``."""

    name: str  # with its _bucket/_sum/_count suffix
    cmd: str
    rest: str  # the labels after cmd, with their leading comma, or ""
    value: float


def split(line: str) -> CommandLine | None:
    """A line our renderer wrote for a per-command family; None for anything else (it is kept as it is)."""
    brace = line.find(CMD)
    if brace < 0:
        return None
    start = brace + len(CMD)
    end = line.find('"', start)
    close = line.rfind("}")
    try:
        value = float(line[close + 1 :])
    except ValueError:
        return None
    return CommandLine(line[:brace], line[start:end], line[end + 1 : close], value)


def le_of(rest: str) -> float:
    """The bound of a ``,le="8"`` label rest (``+Inf`` → infinity)."""
    return float(rest.partition('le="')[2].rstrip('"').replace("+Inf", "inf"))


def merge_buckets(histograms: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """Cumulative buckets of several commands → the cumulative buckets of their sum, at every bound any sent."""
    bounds = sorted({le for buckets in histograms for le, _ in buckets})
    merged = []
    for bound in bounds:
        total = 0.0
        for buckets in histograms:
            below = [count for le, count in buckets if le <= bound]
            total += below[-1] if below else 0.0
        merged.append((bound, total))
    return merged


class FamilyFilter:
    """One ``SeriesReduction`` applied to MetricSets; build it once, apply it to every scrape."""

    def __init__(self, options: SeriesReduction) -> None:
        self.drop = frozenset(options.drop_families)
        self.allow = None if options.command_allowlist is None else frozenset(options.command_allowlist)
        self.aggregate = options.other_commands == "aggregate"
        self.limited = frozenset(options.command_families) - self.drop if self.allow is not None else frozenset()

    def keeps(self, cmd: str) -> bool:
        """Whether a command keeps its own series in the limited families."""
        return self.allow is None or cmd in self.allow or (self.aggregate and cmd in BLOCKING)

    def apply(self, metrics: MetricSet) -> MetricSet:
        out = MetricSet()
        others = self._other_histograms(metrics) if self.limited else {}
        for name in metrics.names():
            if name in self.drop:
                continue
            lines = metrics.lines(name)
            if name in self.limited:
                lines = self._limit(name, lines, others)
            out.add_lines(name, lines)
        return out

    def render(self, metrics: MetricSet) -> str:
        return self.apply(metrics).render()

    # --- per-command families -----------------------------------------------------------------------------
    def _other_histograms(self, metrics: MetricSet) -> dict[str, list[tuple[float, float]]]:
        """The finite buckets of each command that is not kept: what ``other``'s histogram and percentiles merge."""
        out: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for line in metrics.lines(HISTOGRAM):
            parts = split(line)
            if parts is not None and parts.name.endswith("_bucket") and not self.keeps(parts.cmd):
                le = le_of(parts.rest)
                if le != float("inf"):
                    out[parts.cmd].append((le, parts.value))
        return out

    def _limit(self, name: str, lines: list[str], histograms: dict[str, list[tuple[float, float]]]) -> list[str]:
        kept: list[str] = []
        sums: dict[tuple[str, str], float] = {}  # (series name, rest of the labels) → sum over the other commands
        for line in lines:
            parts = split(line)
            if parts is None or self.keeps(parts.cmd):
                kept.append(line)
            elif self.aggregate:
                key = (parts.name, parts.rest)
                sums[key] = sums.get(key, 0.0) + parts.value
        if not sums:
            return kept
        return kept + AGGREGATES.get(name, _summed)(name, sums, merge_buckets(list(histograms.values())))


def _summed(name: str, sums: dict[tuple[str, str], float], merged: list[tuple[float, float]]) -> list[str]:
    """Counters: one ``other`` series per label set, the sum of the others'."""
    return [f'{series}{CMD}{OTHER}"{rest}}} {format_value(value)}\n' for (series, rest), value in sums.items()]


def _histogram(name: str, sums: dict[tuple[str, str], float], merged: list[tuple[float, float]]) -> list[str]:
    calls = sums.get((f"{name}_count", ""), 0.0)
    return list(render_histogram(OTHER, calls, merged, sums.get((f"{name}_sum", ""), 0.0)))


def _percentiles(name: str, sums: dict[tuple[str, str], float], merged: list[tuple[float, float]]) -> list[str]:
    """Quantiles cannot be summed: read them off the merged histogram (none without one); sum and count add up."""
    tail = [
        f'{name}{suffix}{CMD}{OTHER}"}} {format_value(sums[(name + suffix, "")])}\n'
        for suffix in ("_sum", "_count")
        if (name + suffix, "") in sums
    ]
    return [*render_quantiles(OTHER, merged), *tail]


AGGREGATES: dict[str, Callable[[str, dict[tuple[str, str], float], list[tuple[float, float]]], list[str]]] = {
    HISTOGRAM: _histogram,
    PERCENTILES: _percentiles,
}


def renderer(options: SeriesReduction) -> Callable[[MetricSet], str]:
    """What turns a scrape into exposition text: ``MetricSet.render`` itself when nothing is reduced."""
    if options.is_default:
        return MetricSet.render
    return FamilyFilter(options).render


# --- predicting the count from a measured shape ---------------------------------------------------------------
@dataclass
class Shape:
    """What one scrape served: series per family, the per-command families' series per command, and each
    command's finite histogram bounds. ``count`` needs no more than this to predict any reduction."""

    families: dict[str, int] = field(default_factory=dict)
    commands: dict[str, dict[str, int]] = field(default_factory=dict)
    buckets: dict[str, list[float]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.families.values())

    def rows(self) -> dict:
        """Plain data, each command's series as one row in ``PER_COMMAND_FAMILIES`` order (a table file stays short)."""
        return {
            "families": self.families,
            "columns": list(PER_COMMAND_FAMILIES),
            "buckets": {
                cmd: [int(le) if le.is_integer() else le for le in bounds] for cmd, bounds in self.buckets.items()
            },
            "commands": {
                cmd: [per.get(name, 0) for name in PER_COMMAND_FAMILIES] for cmd, per in self.commands.items()
            },
        }

    @classmethod
    def from_rows(cls, data: dict) -> Shape:
        commands = {
            cmd: {name: n for name, n in zip(data["columns"], row, strict=True) if n}
            for cmd, row in data["commands"].items()
        }
        buckets = {cmd: [float(le) for le in bounds] for cmd, bounds in data["buckets"].items()}
        return cls(dict(data["families"]), commands, buckets)


def shape_of(metrics: MetricSet) -> Shape:
    shape = Shape()
    for name in metrics.names():
        lines = metrics.lines(name)
        if not lines:
            continue
        shape.families[name] = len(lines)
        if name not in PER_COMMAND_FAMILIES:
            continue
        for line in lines:
            parts = split(line)
            if parts is None:
                continue
            per = shape.commands.setdefault(parts.cmd, {})
            per[name] = per.get(name, 0) + 1
            if name == HISTOGRAM and parts.name.endswith("_bucket") and 'le="+Inf"' not in parts.rest:
                shape.buckets.setdefault(parts.cmd, []).append(le_of(parts.rest))
    return shape


def count(shape: Shape, options: SeriesReduction) -> int:
    """Series one scrape of ``shape`` serves under ``options`` (what ``FamilyFilter.apply`` leaves)."""
    flt = FamilyFilter(options)
    total = sum(n for name, n in shape.families.items() if name not in flt.drop)
    others = [cmd for cmd in shape.commands if not flt.keeps(cmd)]
    for name in flt.limited:
        having = [cmd for cmd in others if shape.commands[cmd].get(name)]
        total -= sum(shape.commands[cmd][name] for cmd in having)
        if not (flt.aggregate and having):
            continue
        bounds = {le for cmd in others for le in shape.buckets.get(cmd, ())}
        if name == HISTOGRAM:
            total += len(bounds) + 3  # the merged buckets, +Inf, _sum, _count
        elif name == PERCENTILES:
            total += (QUANTILE_SERIES if bounds else 0) + 2
        else:
            total += 1
    return total
