"""Memory checks. For a cache under an ``allkeys-*`` policy, memory near maxmemory is normal: eviction is the
signal, so ``mem.usage`` only applies where a full memory refuses writes."""

from __future__ import annotations

from functools import partial

from cachewatch.checks.measures import error_growth, flag, rate, ratio
from cachewatch.checks.model import Category, Check, FromMetrics, Snapshot, Thresholds, Tier
from cachewatch.redis_text import parse_pairs

MEMORY, CHEAP = Category.MEMORY, Tier.CHEAP


def _usage(snap: Snapshot, prev: Snapshot | None) -> float | None:
    policy = snap.info.get("maxmemory_policy", "")
    refuses_writes = policy == "noeviction" or (policy.startswith("volatile-") and _expiring_share(snap) < 0.1)
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
    return snap.number("mem_fragmentation_ratio") if wasted > 100 << 20 else None


def _swapping(snap: Snapshot, prev: Snapshot | None) -> float | None:
    used, frag = snap.number("used_memory", 0) or 0, snap.number("mem_fragmentation_ratio")
    return None if frag is None or used < 100 << 20 else flag(frag < 0.9)


def _eviction_cannot_keep_up(snap: Snapshot, prev: Snapshot | None) -> float | None:
    return flag((snap.number("current_eviction_exceeded_time", 0) or 0) > 0)


PANEL = "cachewatch-health/memory"
row = partial(Check, category=MEMORY, tier=CHEAP, panel=PANEL)  # the fields every row here shares

CHECKS: tuple[Check, ...] = (
    row(id="mem.maxmemory_unset", unit="bool", thresholds=Thresholds(critical=1),
        measure=lambda s, p: flag(s.number("maxmemory") == 0), kinds=("cache",), title="A cache has no maxmemory",
        trigger="maxmemory is 0 on a cache", why="It grows until the host runs out of memory and the kernel kills it.",
        fix="CONFIG SET maxmemory <bytes> (and in redis.conf): leave room for forks, buffers and the OS."),
    row(id="mem.maxmemory_vs_host", unit="ratio", thresholds=Thresholds(warning=0.75, critical=1.0),
        measure=lambda s, p: ratio(s, "maxmemory", "total_system_memory"),
        title="maxmemory is too close to the host's memory",
        trigger="maxmemory / total_system_memory ≥ 0.75 (warning), ≥ 1 (critical)",
        why="A fork (BGSAVE, full resync) copies pages on write; above the host's memory the OOM killer ends it.",
        fix="Lower maxmemory to at most 75% of the host's memory, or move the node to a bigger host.",
        metrics=FromMetrics(expr="redis_memory_max_bytes{node} / (redis_total_system_memory_bytes{node} > 0)",
                            fire={"redis_memory_max_bytes": 2e9, "redis_total_system_memory_bytes": 1e9},
                            fire_value=2.0, panel="cachewatch-node/memory",
                            quiet={"redis_memory_max_bytes": 5e8, "redis_total_system_memory_bytes": 1e9})),
    row(id="mem.usage", unit="ratio", thresholds=Thresholds(warning=0.8, critical=0.9), measure=_usage,
        title="Memory is close to maxmemory under a policy that refuses writes",
        trigger="used_memory / maxmemory ≥ 0.8 / 0.9, only under noeviction, or volatile-* with < 10% of keys "
                "expiring (allkeys-* caches evict: see mem.eviction_cannot_keep_up)",
        why="When it is full, every write fails with OOM.",
        fix="Use allkeys-lru or allkeys-lfu for a cache; otherwise raise maxmemory or add shards."),
    row(id="mem.eviction_cannot_keep_up", unit="bool", thresholds=Thresholds(critical=1),
        measure=_eviction_cannot_keep_up, title="Eviction cannot keep up with writes",
        trigger="current_eviction_exceeded_time > 0",
        why="Redis is over maxmemory right now and spends command time evicting: latency rises.",
        fix="Raise maxmemory or add shards; find the write burst (commandstats) and big keys."),
    row(id="mem.eviction_rate", unit="per second", thresholds=Thresholds(warning=100 / 300, critical=100),
        measure=lambda s, p: rate(s, p, "evicted_keys"), title="Many keys are evicted",
        trigger="evicted keys per second between two checks ≥ 0.33 (100 per 5 min) / ≥ 100",
        why="Keys leave before they are read again: the hit ratio falls and the origin takes the load.",
        fix="Grow maxmemory or shards, shorten TTLs of cold keys, or cache less."),
    row(id="mem.oom_rejects", unit="count", thresholds=Thresholds(critical=1),
        measure=lambda s, p: error_growth(s, p, "OOM"), title="Writes are refused with OOM",
        trigger="OOM error replies grew between two checks", why="The application's writes fail.",
        fix="See mem.usage: change the policy or add memory."),
    row(id="mem.fragmentation", unit="ratio", thresholds=Thresholds(warning=1.5, critical=2.0), measure=_fragmentation,
        title="Memory is fragmented", trigger="mem_fragmentation_ratio ≥ 1.5 / 2.0 with more than 100 MB wasted",
        why="RSS is well above the data: the host runs out of memory before maxmemory is reached.",
        fix="CONFIG SET activedefrag yes; or restart a replica first and fail over."),
    row(id="mem.swapping", unit="bool", thresholds=Thresholds(critical=1), measure=_swapping,
        title="Redis memory is being swapped", trigger="mem_fragmentation_ratio < 0.9 with more than 100 MB used",
        why="Pages of the dataset live on disk: every access to them stalls the event loop.",
        fix="Free host memory or lower maxmemory; disable swap for Redis hosts."),
)
