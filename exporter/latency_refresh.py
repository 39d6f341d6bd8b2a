"""Which commands' ``LATENCY HISTOGRAM`` a scrape fetches, so the latency data stays fresh at a fraction of its cost.

``LATENCY HISTOGRAM`` (every command) and INFO's latencystats cost Redis more than the rest of a scrape, and
the peer pays for latencystats on every scrape. Both are cumulative per command, so a command that did not run
since its last fetch has nothing new to fetch. The plan here, per target connection:

- the first scrape of a connection (a new or restarted server) and the first after a ``CONFIG RESETSTAT``
  fetch every command's histogram;
- after that, INFO commandstats (sent on every scrape anyway) says which commands ran since their data was
  fetched, and only those are fetched again, by name (``LATENCY HISTOGRAM get set ...``). Scrapes less than
  half a period apart spread them over the scrapes of a period, each fetched before its served data is
  older than ``period``. Further apart, each is fetched at the scrape that follows its calls or at the next
  one, so that every scrape fetches about half of the commands that run, in its own pipeline (what INFO
  showed last time) -- a second round trip only to even out the halves after a full fetch or a change of
  traffic;
- a command that only this exporter's connection ran since its fetch (our own INFO, SLOWLOG, ...: the calls
  INFO counts equal the calls we sent) is refreshed one per scrape, once its data is a period old (one every
  second scrape when scrapes are more than half a period apart);
- the percentiles (``redis_latency_percentiles_usec``) are read off the same histogram, so INFO latencystats
  (which has no per-command form) is not needed.

Pure: the caller passes the clock and the replies. Freshness, as served at a scrape at time ``now``, for calls
by others: every call up to ``now - period`` at scrape intervals up to half the period, and up to ``now -
interval`` (one scrape back) at longer intervals, which is still within the period up to an interval of one
period. Calls by this exporter alone: up to ``now - period`` minus one scrape per such command (two at the
longer intervals).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cachewatch.exporter import replies
from cachewatch.exporter.exposition import format_value, labels

FULL: tuple[str, ...] = ()  # a batch meaning "every command": LATENCY HISTOGRAM without arguments
QUANTILES = (("50", 0.5), ("99", 0.99), ("99.9", 0.999))
HISTOGRAM = "redis_commands_latencies_usec"
PERCENTILES = "redis_latency_percentiles_usec"


@dataclass(slots=True)
class CommandLatency:
    """One command's served latency data and what it was fetched from."""

    clean_at: float  # latest time the served data was known to include every call (fetch, or an INFO that agreed)
    fetched_calls: int = -1  # calls the histogram reply counted (-1: never fetched)
    fetched_foreign: int = 0  # of those, calls not made by this exporter's connection
    # Rendered series, each as one text (several lines): a scrape adds one string per command, not one per line.
    histogram: str = ""  # redis_commands_latencies_usec
    quantiles: str = ""  # redis_latency_percentiles_usec{quantile=...}
    foreign_dirty: bool = False  # INFO counted calls by others since the fetch
    own_dirty: bool = False  # INFO counted calls since the fetch, all of them ours


class LatencyPlanner:
    """Plans and stores the per-command latency data of one connection (a new connection starts a new one)."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.commands: dict[str, CommandLatency] = {}
        self.full_needed = True
        self._calls: dict[str, int] = {}
        self._info_at: float | None = None
        self._last_scrape: float | None = None
        self._interval = period
        self._credit = 0.0
        self._first_foreign = 0  # commands others ran that this scrape's first batch fetches
        self._scrapes = 0
        self.fetched_commands = 0  # commands fetched by name (for the exporter's own metrics and tests)
        self.full_fetches = 0

    # --- planning -------------------------------------------------------------------------------------
    def _halves(self) -> bool:
        """Scrapes more than half a period apart: each command that ran is fetched at one scrape or the next."""
        return 2 * self._interval > self.period

    def first_batch(self, now: float) -> tuple[str, ...] | None:
        """What to fetch in this scrape's pipeline, before its INFO: FULL, some names, or None."""
        if self._last_scrape is not None:
            self._interval = max(now - self._last_scrape, 1e-3)
        self._last_scrape = now
        self._first_foreign = 0
        if self.full_needed:
            return FULL
        dirty = sorted((e.clean_at, cmd) for cmd, e in self.commands.items() if e.foreign_dirty)
        if self._halves():
            # Ran before the last INFO and not fetched since: served as it was one interval ago, no older.
            batch = [cmd for _, cmd in dirty]
            self._credit = 0.0
        else:
            if not dirty:
                self._credit = 0.0
            self._credit = min(self._credit + len(dirty) * self._interval / self.period, float(len(dirty)))
            share = int(self._credit)
            batch = [cmd for i, (clean_at, cmd) in enumerate(dirty) if i < share or clean_at + self.period <= now]
            self._credit -= min(share, len(batch))
        self._first_foreign = len(batch)
        self._scrapes += 1
        if not self._halves() or self._scrapes % 2:  # far apart: our own commands at every second scrape
            batch += self._own_pick(now)
        return tuple(batch) or None

    def _own_pick(self, now: float) -> list[str]:
        """The command only we ran whose data is the oldest, once a period old: one per scrape at most."""
        own = min(((e.clean_at, cmd) for cmd, e in self.commands.items()
                   if e.own_dirty and now - e.clean_at >= self.period), default=None)
        return [own[1]] if own is not None else []

    def second_batch(self, now: float) -> tuple[str, ...] | None:
        """After this scrape's INFO: what to fetch now, in a second round trip (FULL, names, None). Scrapes less
        than half a period apart: what would otherwise be served older than the period. Further apart: enough
        of what ran since its fetch that each scrape fetches about half the commands that run (the rest go in
        the next scrape's pipeline) -- after a full fetch, or when traffic changes, not in a steady state."""
        if self.full_needed:
            return FULL
        if self._halves():
            dirty = sorted((e.clean_at, cmd) for cmd, e in self.commands.items() if e.foreign_dirty)
            share = max(0, -(-(len(dirty) - self._first_foreign) // 2))
            return tuple(cmd for _, cmd in dirty[:share]) or None
        batch = [cmd for cmd, e in self.commands.items() if e.foreign_dirty and now - e.clean_at > self.period]
        return tuple(batch) or None

    # --- what Redis said ------------------------------------------------------------------------------
    def observe(self, calls: Mapping[str, int], own: Mapping[str, int], now: float) -> None:
        """Take INFO commandstats' calls (``own``: calls this connection had completed before that INFO)."""
        previous = self._calls
        if any(calls.get(cmd, -1) < n for cmd, n in previous.items()):
            self.reset()  # CONFIG RESETSTAT: counts went down or vanished; cached histograms are void
        since = self._info_at if self._info_at is not None else now
        self._calls, self._info_at = dict(calls), now
        if self.full_needed:
            return  # this scrape fetches every command next; nothing to compare with
        commands = self.commands
        for cmd, n in calls.items():
            entry = commands.get(cmd)
            if entry is None:  # never fetched: it ran after the previous INFO (or before we connected)
                entry = commands[cmd] = CommandLatency(clean_at=since)
            if n == entry.fetched_calls:
                entry.clean_at, entry.foreign_dirty, entry.own_dirty = now, False, False
            elif n - own.get(cmd, 0) != entry.fetched_foreign or entry.fetched_calls < 0:
                entry.foreign_dirty, entry.own_dirty = True, False
            else:
                entry.foreign_dirty, entry.own_dirty = False, True
        for cmd in [cmd for cmd in commands if cmd not in calls]:
            del commands[cmd]

    def store(self, reply: object, batch: tuple[str, ...], own: Mapping[str, int], now: float,
              stats: Mapping[str, tuple[int, int]]) -> None:
        """Take a LATENCY HISTOGRAM reply for ``batch`` (``own``: calls this connection completed before it;
        ``stats``: (calls, usec) per command from the INFO of the same scrape)."""
        if batch == FULL:
            self.full_needed = False
            self.full_fetches += 1
        else:
            self.fetched_commands += len(batch)
        parsed = replies.latency_histogram(reply)
        commands = self.commands
        for cmd, (calls, buckets) in parsed.items():
            entry = commands.get(cmd)
            if entry is None:
                entry = commands[cmd] = CommandLatency(clean_at=now)
            n = int(calls)
            entry.clean_at, entry.fetched_calls, entry.fetched_foreign = now, n, n - own.get(cmd, 0)
            entry.foreign_dirty = entry.own_dirty = False
            entry.histogram = "".join(render_histogram(cmd, calls, buckets, stats.get(cmd, (0, 0))[1]))
            entry.quantiles = "".join(render_quantiles(cmd, buckets))
        # Asked for but absent: no histogram for it (latency-tracking off, or never executed). Nothing to serve
        # until its calls change again.
        for cmd in batch if batch != FULL else ():
            if cmd not in parsed and cmd in commands:
                entry = commands[cmd]
                n = stats.get(cmd, (0, 0))[0]
                entry.clean_at, entry.fetched_calls, entry.fetched_foreign = now, n, n - own.get(cmd, 0)
                entry.foreign_dirty = entry.own_dirty = False
                entry.histogram = entry.quantiles = ""

    def reset(self) -> None:
        self.commands.clear()
        self._calls = {}
        self.full_needed = True


@functools.lru_cache(maxsize=4096)
def _series_names(cmd: str) -> tuple[str, str, str, tuple[str, ...]]:
    """One command's series up to its value (bucket up to ``le="``, sum, count, each quantile), rendered once:
    a refresh then formats only numbers."""
    lbl = labels(("cmd", cmd))
    quantiles = tuple(f"{PERCENTILES}{labels(('cmd', cmd), ('quantile', label))} " for label, _ in QUANTILES)
    return (f'{HISTOGRAM}_bucket{lbl[:-1]},le="', f"{HISTOGRAM}_sum{lbl} ", f"{HISTOGRAM}_count{lbl} ", quantiles)


def render_histogram(cmd: str, calls: float, buckets: Iterable[tuple[float, float]], usec: float) -> tuple[str, ...]:
    """The series of one command's histogram: cumulative buckets, +Inf, sum (INFO usec), count (calls)."""
    prefix, sum_name, count_name, _ = _series_names(cmd)
    lines = [f'{prefix}{_le(le)}"}} {format_value(count)}\n' for le, count in buckets]
    lines.append(f'{prefix}+Inf"}} {format_value(calls)}\n')
    lines.append(f"{sum_name}{format_value(usec)}\n")
    lines.append(f"{count_name}{format_value(calls)}\n")
    return tuple(lines)


def quantile_values(buckets: list[tuple[float, float]]) -> list[tuple[str, float]]:
    """p50/p99/p99.9 in µs from LATENCY HISTOGRAM's cumulative power-of-two buckets, interpolating linearly inside
    the bucket that holds the rank (as Prometheus' histogram_quantile does): within a factor of two by design,
    typically much closer."""
    if not buckets or buckets[-1][1] <= 0:
        return []
    total = buckets[-1][1]
    out = []
    for label, q in QUANTILES:
        rank = q * total
        prev_le, prev_count = 0.0, 0.0
        for le, count in buckets:
            if count >= rank:
                lower = max(prev_le, le / 2 if le > 1 else 0.0)
                share = (rank - prev_count) / (count - prev_count) if count > prev_count else 1.0
                out.append((label, round(lower + (le - lower) * share, 3)))
                break
            prev_le, prev_count = le, count
    return out


def render_quantiles(cmd: str, buckets: list[tuple[float, float]]) -> tuple[str, ...]:
    names = _series_names(cmd)[3]
    return tuple(f"{names[i]}{format_value(value)}\n" for i, (_, value) in enumerate(quantile_values(buckets)))


def _le(value: float) -> str:
    if type(value) is int:
        return str(value)
    return str(int(value)) if value.is_integer() else repr(value)
