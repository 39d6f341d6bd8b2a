"""Memory checks. For a cache under an ``allkeys-*`` policy, memory near maxmemory is normal: eviction is the
signal, so ``mem.usage`` only applies where a full memory refuses writes."""

from __future__ import annotations

from functools import partial

from cachewatch.checks.measures import error_growth, flag, rate, ratio
from cachewatch.checks.model import AlertAs, Category, Check, FromMetrics, Severity, Snapshot, Thresholds, Tier
from cachewatch.redis_text import parse_pairs

MEMORY, CHEAP = Category.MEMORY, Tier.CHEAP
WARNING, CRITICAL = Severity.WARNING, Severity.CRITICAL
FRAGMENTATION_MIN_BYTES = 100 << 20  # the spec's thresholds.fragmentation_min_bytes default (rules read the spec's)
SWAP_RATIO, SWAP_MIN_BYTES = 0.9, 100 << 20  # RSS below 90% of the data, on more than 100 MB of data
VOLATILE_MIN_EXPIRING = 0.1  # under volatile-*, fewer keys than this with a TTL leaves nothing to evict
# The policies under which a full memory refuses writes, in PromQL (the same condition as _usage).
REFUSES_WRITES = ('redis_instance_info{node:maxmemory_policy="noeviction"} or on (instance) '
                  '(redis_instance_info{node:maxmemory_policy=~"volatile-.*"} and on (instance) '
                  f'sum by (instance) (redis_db_keys_expiring{{node}}) < {VOLATILE_MIN_EXPIRING} * '
                  'sum by (instance) (redis_db_keys{node}))')


def _usage(snap: Snapshot, prev: Snapshot | None) -> float | None:
    policy = snap.info.get("maxmemory_policy", "")
    refuses_writes = policy == "noeviction" or (policy.startswith("volatile-")
                                                and _expiring_share(snap) < VOLATILE_MIN_EXPIRING)
    return ratio(snap, "used_memory", "maxmemory") if refuses_writes else None


def _expiring_share(snap: Snapshot) -> float:
    keys = expires = 0
    for name, value in snap.info.items():
        if name.startswith("db") and name[2:].isdigit():
            fields = parse_pairs(value)
            keys += int(fields.get("keys", 0))
            expires += int(fields.get("expires", 0))
    return expires / keys if keys else 1.0


def _fragmentation(snap: Snapshot, prev: Snapshot | None) -> float | None:
    wasted = snap.number("mem_fragmentation_bytes", 0) or 0
    return snap.number("mem_fragmentation_ratio") if wasted > FRAGMENTATION_MIN_BYTES else None


def _swapping(snap: Snapshot, prev: Snapshot | None) -> float | None:
    used, frag = snap.number("used_memory", 0) or 0, snap.number("mem_fragmentation_ratio")
    return None if frag is None or used < SWAP_MIN_BYTES else flag(frag < SWAP_RATIO)


def _eviction_cannot_keep_up(snap: Snapshot, prev: Snapshot | None) -> float | None:
    return flag((snap.number("current_eviction_exceeded_time", 0) or 0) > 0)


PANEL = "cachewatch-health/memory"
row = partial(Check, category=MEMORY, tier=CHEAP, panel=PANEL)  # the fields every row here shares

CHECKS: tuple[Check, ...] = (
    row(id="mem.maxmemory_unset", unit="bool", thresholds=Thresholds(critical=1),
        measure=lambda s, p: flag(s.number("maxmemory") == 0), kinds=("cache",), title="A cache has no maxmemory",
        trigger="maxmemory is 0 on a cache", why="It grows until the host runs out of memory and the kernel kills it.",
        fix="CONFIG SET maxmemory <bytes> (and in redis.conf): leave room for forks, buffers and the OS.",
        metrics=FromMetrics(expr="redis_memory_max_bytes{node} == bool 0", panel="cachewatch-security/config",
                            fire={"redis_memory_max_bytes": 0}, fire_value=1, quiet={"redis_memory_max_bytes": 1e9},
                            description="{{ $labels.instance }} has no maxmemory: it grows until the host runs out "
                                        "of memory.",
                            alerts={CRITICAL: AlertAs(name="RedisNoMaxmemory", severity=WARNING, for_="30m")})),
    row(id="mem.maxmemory_vs_host", unit="ratio", thresholds=Thresholds(warning=0.75, critical=1.0),
        measure=lambda s, p: ratio(s, "maxmemory", "total_system_memory"),
        title="maxmemory is too close to the host's memory",
        trigger="maxmemory / total_system_memory ≥ 0.75 (warning), ≥ 1 (critical)",
        why="A fork (BGSAVE, full resync) copies pages on write; above the host's memory the OOM killer ends it.",
        fix="Lower maxmemory to at most 75% of the host's memory, or move the node to a bigger host.",
        metrics=FromMetrics(expr="redis_memory_max_bytes{node} / (redis_total_system_memory_bytes{node} > 0)",
                            fire={"redis_memory_max_bytes": 2e9, "redis_total_system_memory_bytes": 1e9},
                            fire_value=2.0, panel="cachewatch-node/memory",
                            quiet={"redis_memory_max_bytes": 5e8, "redis_total_system_memory_bytes": 1e9},
                            # configuration does not flap: one period (two samples) is enough for the critical
                            alerts={WARNING: AlertAs(name="RedisMaxmemoryVsHost"),
                                    CRITICAL: AlertAs(name="RedisMaxmemoryVsHostCritical", for_=1)})),
    row(id="mem.usage", unit="ratio", thresholds=Thresholds(warning=0.85, critical=0.95), measure=_usage,
        title="Memory is close to maxmemory under a policy that refuses writes",
        trigger="used_memory / maxmemory ≥ 0.85 / 0.95 (spec: thresholds.memory_warning_ratio / "
                "memory_critical_ratio), only under noeviction, or volatile-* with < 10% of keys expiring "
                "(allkeys-* caches evict: see mem.eviction_cannot_keep_up)",
        why="When it is full, every write fails with OOM.",
        fix="Use allkeys-lru or allkeys-lfu for a cache; otherwise raise maxmemory or add shards.",
        metrics=FromMetrics(
            expr=f"redis_memory_used_bytes{{node}} / (redis_memory_max_bytes{{node}} > 0) and on (instance) "
                 f"({REFUSES_WRITES})", panel="cachewatch-node/memory",
            # full under noeviction fires; a full allkeys-lru cache is normal and stays quiet
            fire={"redis_memory_used_bytes": 1000, "redis_memory_max_bytes": 1000,
                  'redis_instance_info{maxmemory_policy="noeviction"}': 1}, fire_value=1,
            quiet={"redis_memory_used_bytes": 1000, "redis_memory_max_bytes": 1000,
                   'redis_instance_info{maxmemory_policy="allkeys-lru"}': 1},
            description="{{ $labels.instance }} uses {{ $value | humanizePercentage }} of maxmemory, under a policy "
                        "that refuses writes when it is full.",
            alerts={WARNING: AlertAs(name="RedisMemoryHigh", for_="10m", threshold="memory_warning_ratio"),
                    # one period (two samples): memory under a refusing policy grows, it does not blink; at 95%
                    # the next burst of writes fails, so this pages within the minute (docs/alert-latency.md)
                    CRITICAL: AlertAs(name="RedisMemoryHighCritical", for_=1, threshold="memory_critical_ratio")})),
    row(id="mem.eviction_cannot_keep_up", unit="bool", thresholds=Thresholds(critical=1),
        measure=_eviction_cannot_keep_up, title="Eviction cannot keep up with writes",
        trigger="current_eviction_exceeded_time > 0",
        why="Redis is over maxmemory right now and spends command time evicting: latency rises.",
        fix="Raise maxmemory or add shards; find the write burst (commandstats) and big keys.",
        metrics=FromMetrics(expr="redis_current_eviction_exceeded_time_ms{node} > bool 0",
                            panel="cachewatch-node/evictions", fire={"redis_current_eviction_exceeded_time_ms": 250},
                            fire_value=1, quiet={"redis_current_eviction_exceeded_time_ms": 0},
                            # two periods (three samples 10 s apart, all over maxmemory): normal eviction brings
                            # memory back under the limit within one command; staying over for 20 s is the storm
                            alerts={CRITICAL: AlertAs(name="RedisEvictionCannotKeepUp", for_=2)})),
    row(id="mem.eviction_rate", unit="per second", thresholds=Thresholds(warning=100 / 300, critical=100),
        measure=lambda s, p: rate(s, p, "evicted_keys"), title="Many keys are evicted",
        trigger="evicted keys per second between two checks ≥ 0.33 (100 per 5 min) / ≥ 100 (spec: "
                "thresholds.evictions_per_second; only this level is alerted on, as a warning)",
        why="Keys leave before they are read again: the hit ratio falls and the origin takes the load.",
        fix="Grow maxmemory or shards, shorten TTLs of cold keys, or cache less.",
        metrics=FromMetrics(expr="rate(redis_evicted_keys_total{node}[5m])", panel="cachewatch-node/evictions",
                            fire={"redis_evicted_keys_total": "0+600000"}, fire_value=10000,
                            quiet={"redis_evicted_keys_total": "0+60"},
                            description='{{ $labels.instance }} evicts {{ $value | printf "%.0f" }} keys/s.',
                            alerts={CRITICAL: AlertAs(name="RedisEvictionsHigh", severity=WARNING, for_="10m",
                                                      threshold="evictions_per_second")})),
    row(id="mem.oom_rejects", unit="count", thresholds=Thresholds(critical=1),
        measure=lambda s, p: error_growth(s, p, "OOM"), title="Writes are refused with OOM",
        trigger="OOM error replies grew between two checks", why="The application's writes fail.",
        fix="See mem.usage: change the policy or add memory.",
        metrics=FromMetrics(expr='increase(redis_errors_total{node:err="OOM"}[5m])', panel="cachewatch-node/errors",
                            fire={'redis_errors_total{err="OOM"}': "0+1"}, fire_value=5, labels={"err": "OOM"},
                            quiet={'redis_errors_total{err="OOM"}': "3+0"},
                            description='{{ $labels.instance }} refused {{ $value | printf "%.0f" }} writes with OOM '
                                        "in 5 minutes.",
                            # one period: the increase needs two samples of the OOM counter (which appears with the
                            # first OOM), then two evaluations agree; counter resets (restarts) are handled by
                            # increase. Within the minute, both samples counted (docs/alert-latency.md).
                            alerts={CRITICAL: AlertAs(name="RedisOomRejects", for_=1)})),
    row(id="mem.fragmentation", unit="ratio", thresholds=Thresholds(warning=1.5, critical=2.0), measure=_fragmentation,
        title="Memory is fragmented",
        trigger="mem_fragmentation_ratio ≥ 1.5 (spec: thresholds.fragmentation_ratio) / 2.0 with more than 100 MB "
                "wasted (spec: thresholds.fragmentation_min_bytes; only the warning is alerted on)",
        why="RSS is well above the data: the host runs out of memory before maxmemory is reached.",
        fix="CONFIG SET activedefrag yes; or restart a replica first and fail over.",
        metrics=FromMetrics(
            expr="redis_mem_fragmentation_ratio{node} and on (instance) "
                 "redis_mem_fragmentation_bytes{node} > {fragmentation_min_bytes}",
            panel="cachewatch-node/fragmentation",
            # fragmented but small (little wasted) stays quiet
            fire={"redis_mem_fragmentation_ratio": 10, "redis_mem_fragmentation_bytes": 1e12}, fire_value=10,
            quiet={"redis_mem_fragmentation_ratio": 10, "redis_mem_fragmentation_bytes": 1000},
            description='{{ $labels.instance }} has a fragmentation ratio of {{ $value | printf "%.2f" }}.',
            alerts={WARNING: AlertAs(name="RedisMemoryFragmentationHigh", for_="30m",
                                     threshold="fragmentation_ratio")})),
    row(id="mem.swapping", unit="bool", thresholds=Thresholds(critical=1), measure=_swapping,
        title="Redis memory is being swapped", trigger="mem_fragmentation_ratio < 0.9 with more than 100 MB used",
        why="Pages of the dataset live on disk: every access to them stalls the event loop.",
        fix="Free host memory or lower maxmemory; disable swap for Redis hosts.",
        metrics=FromMetrics(expr=f"(redis_mem_fragmentation_ratio{{node}} < bool {SWAP_RATIO}) and on (instance) "
                                 f"redis_memory_used_bytes{{node}} > {SWAP_MIN_BYTES}", panel="cachewatch-node/memory",
                            fire={"redis_mem_fragmentation_ratio": 0.5, "redis_memory_used_bytes": 1e9}, fire_value=1,
                            quiet={"redis_mem_fragmentation_ratio": 1.1, "redis_memory_used_bytes": 1e9},
                            # two periods: RSS is sampled by Redis itself and lags a big allocation for a moment
                            alerts={CRITICAL: AlertAs(name="RedisSwapping", for_=2)})),
)
