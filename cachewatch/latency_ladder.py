"""The bucket bounds Redis' LATENCY HISTOGRAM reports, as they reach Prometheus in ``le``.

Redis records command latencies in nanoseconds in an HDR histogram (2 significant digits) and reports buckets of
powers of two from 1024 ns, each as its highest equivalent value in whole microseconds: 1, 2, 4, 8, 16, 33, 66, 132,
264, 528, 1056, 2113, … µs, not 32, 64, 128. A rule that matches ``le`` by value must use these spellings.

Redis reports only a command's non-empty range: a command whose slowest call took 20 µs has no ``le="66"``. Its
cumulative count at every larger bound is its total, so per command the histogram is complete, but a ``sum by
(le)`` across commands (or nodes) is not: at ``le="2113"`` it holds only the commands that reached it. Quantiles are
therefore taken per command (``histogram_quantile`` of ``sum by (le, cmd, …)``), and a count of calls at or below a
bound takes, per command, the largest bound present at or below it.
"""

from __future__ import annotations

RUNGS = 21  # 1 µs … 1.07 s: Redis tracks up to 1 s and counts slower calls in the last bucket


def _reported(k: int) -> int:
    """The k-th bucket as Redis reports it: the highest value equivalent to 2^(k+10) ns at 2 significant digits
    (the bucket's width is 2^(k+3) ns), in whole µs; the last one is capped at the histogram's top, 2^30 - 1 ns
    (measured on Redis 7.0: DEBUG SLEEP 0.012 → 16908, 0.3 → 541065, 0.6 and 1.5 → 1073741)."""
    return min(2 ** (k + 10) + 2 ** (k + 3) - 1, 2**30 - 1) // 1000


BUCKETS_USEC: tuple[int, ...] = tuple(_reported(k) for k in range(RUNGS))


def at_or_below(usec: float) -> int:
    """The largest reported bucket ≤ ``usec`` (a call counted in it surely took at most ``usec``)."""
    below = [b for b in BUCKETS_USEC if b <= usec]
    if not below:
        raise ValueError(f"no LATENCY HISTOGRAM bucket at or below {usec} µs (the first is 1 µs)")
    return below[-1]


def above(usec: float) -> int:
    """The smallest reported bucket > ``usec``."""
    return next(b for b in BUCKETS_USEC if b > usec)


def up_to(top: int) -> tuple[int, ...]:
    """Every reported bucket ≤ ``top``."""
    return tuple(b for b in BUCKETS_USEC if b <= top)
