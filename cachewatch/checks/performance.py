"""Performance checks: slow commands seen recently, latency spikes Redis recorded, a busy event loop."""

from __future__ import annotations

from functools import partial

from cachewatch.checks.measures import BLOCKING_COMMANDS, server_time
from cachewatch.checks.model import AlertAs, Category, Check, FromMetrics, Severity, Snapshot, Thresholds, Tier

PERFORMANCE, CHEAP = Category.PERFORMANCE, Tier.CHEAP
WARNING, CRITICAL = Severity.WARNING, Severity.CRITICAL
RECENT_SECONDS = 60  # what "now" means for slow-log entries and latency spikes


def _slow_commands(snap: Snapshot, prev: Snapshot | None) -> float | None:
    """The longest command in the slow log within the last minute (seconds); 0 when there is none."""
    since = server_time(snap) - RECENT_SECONDS
    durations = [usec / 1e6 for _, when, usec, name in snap.slowlog
                 if when >= since and name.lower() not in BLOCKING_COMMANDS]
    return max(durations, default=0.0)


def _latency_spikes(snap: Snapshot, prev: Snapshot | None) -> float | None:
    """The largest latency spike Redis recorded within the last minute (seconds), any event."""
    since = server_time(snap) - RECENT_SECONDS
    return max((latest / 1000 for _, when, latest, _ in snap.latency_latest if when >= since), default=0.0)


def _eventloop_busy(snap: Snapshot, prev: Snapshot | None) -> float | None:
    duration, cycles = snap.number("instantaneous_eventloop_duration_usec"), snap.number(
        "instantaneous_eventloop_cycles_per_sec")
    return None if duration is None or cycles is None else duration * cycles / 1e6


PANEL, LATENCY = "cachewatch-health/performance", "cachewatch-node/latency"
row = partial(Check, category=PERFORMANCE, tier=CHEAP, panel=PANEL)  # the fields every row here shares

CHECKS: tuple[Check, ...] = (
    row(id="perf.slow_commands", unit="seconds", thresholds=Thresholds(warning=0.05, critical=0.5),
        measure=_slow_commands, needs=frozenset({"slowlog"}), title="A command blocked Redis recently",
        trigger="the longest non-blocking command in SLOWLOG within the last minute ≥ 50 ms / ≥ 500 ms",
        why="Redis runs one command at a time: every client waited that long.",
        fix="SLOWLOG GET: replace KEYS with SCAN, split big keys, avoid O(N) commands on big collections."),
    row(id="perf.latency_spikes", unit="seconds", thresholds=Thresholds(warning=0.1, critical=1.0),
        measure=_latency_spikes, needs=frozenset({"latency"}), title="Redis recorded a latency spike",
        trigger="LATENCY LATEST: a spike within the last minute ≥ 100 ms / ≥ 1 s (needs latency-monitor-threshold)",
        why="A fork, a slow disk or an expensive command stalled the event loop.",
        fix="LATENCY DOCTOR names the cause per event (fork: smaller dataset or better host; aof: disk).",
        # the spike's time grows with the clock in the fire case (recent), and stays at 0 in the quiet one (old)
        metrics=FromMetrics(
            expr="max without (event_name) (redis_latency_spike_duration_seconds{node} and "
                 f"(time() - redis_latency_spike_last{{node}}) < {RECENT_SECONDS})", panel=LATENCY,
            fire={'redis_latency_spike_duration_seconds{event_name="command"}': 5,
                  'redis_latency_spike_last{event_name="command"}': "0+60"}, fire_value=5,
            quiet={'redis_latency_spike_duration_seconds{event_name="command"}': 5,
                   'redis_latency_spike_last{event_name="command"}': "0+0"},
            # The condition holds RECENT_SECONDS after each spike, so any ``for`` below that pages one spike:
            # at the critical level a one-second stall timed out every client of the node, which no normal cache
            # behaviour does. One period covers a failed scrape; within the minute (docs/alert-latency.md).
            alerts={WARNING: AlertAs(name="RedisLatencySpikes"),
                    CRITICAL: AlertAs(name="RedisLatencySpikesCritical", for_=1)})),
    row(id="perf.eventloop_busy", unit="ratio", thresholds=Thresholds(warning=0.8, critical=0.95),
        measure=_eventloop_busy, title="The event loop is saturated",
        trigger="instantaneous_eventloop_duration_usec × cycles per second ≥ 0.8 / ≥ 0.95 of a core (Redis 7.2+)",
        why="The main thread has no idle time left: latency grows with every extra request.",
        fix="Spread keys over more shards, enable io-threads, or remove expensive commands.",
        metrics=FromMetrics(expr="redis_instantaneous_eventloop_duration_usec{node} * "
                                 "redis_instantaneous_eventloop_cycles_per_sec{node} / 1e6", panel=LATENCY,
                            fire={"redis_instantaneous_eventloop_duration_usec": 1000,
                                  "redis_instantaneous_eventloop_cycles_per_sec": 1000}, fire_value=1,
                            quiet={"redis_instantaneous_eventloop_duration_usec": 10,
                                   "redis_instantaneous_eventloop_cycles_per_sec": 1000},
                            # Redis averages these over ~1.6 s: a burst reads as saturation for a moment. Two
                            # periods (three samples over 20 s) is a saturated event loop, paged within the minute.
                            alerts={WARNING: AlertAs(name="RedisEventloopBusy"),
                                    CRITICAL: AlertAs(name="RedisEventloopBusyCritical", for_=2)})),
)
