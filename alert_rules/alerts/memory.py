"""memory.yml: memory near maxmemory, evictions, fragmentation, and caches configured never to evict."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import OTHER_INSTANCE, Ctx, Row
from cachewatch.promql import num, rate, ratio
from cachewatch.rulefmt import Severity

USED, MAX = "redis_memory_used_bytes", "redis_memory_max_bytes"
EVICTED, HITS, MISSES = "redis_evicted_keys_total", "redis_keyspace_hits_total", "redis_keyspace_misses_total"
FRAGMENTATION, RSS = "redis_mem_fragmentation_ratio", "redis_memory_used_rss_bytes"
NOEVICTION = 'maxmemory_policy="noeviction"'


def rows(c: Ctx) -> list[Row]:
    eps, frag, frag_min = c.t.evictions_per_second, c.t.fragmentation_ratio, c.t.fragmentation_min_bytes
    return [
        memory_high(c, name="RedisMemoryHigh", level=c.t.memory_warning_ratio, for_="10m", severity="warning"),
        memory_high(c, name="RedisMemoryHighCritical", level=c.t.memory_critical_ratio, for_="5m",
                    severity="critical"),
        Row(name="RedisEvictionsHigh", severity="warning", scope="node", for_="10m", panel="cachewatch-node/evictions",
            expr=f"{rate(c.m(EVICTED), '5m')} > {num(eps)}", summary="Redis evicts many keys",
            description='{{ $labels.instance }} evicts {{ $value | printf "%.0f" }} keys/s.',
            runbook_text="The working set does not fit: grow maxmemory or shards, or shorten TTLs.",
            test=c.rate_case(EVICTED, eps, quiet="0+60x20")),
        eviction_ratio_high(c),
        Row(name="RedisMemoryFragmentationHigh", severity="warning", scope="node", for_="30m",
            expr=f"{c.m(FRAGMENTATION)} > {num(frag)} and {c.m(RSS)} > {frag_min}",
            summary="Redis memory is fragmented", panel="cachewatch-node/fragmentation",
            description='{{ $labels.instance }} has a fragmentation ratio of {{ $value | printf "%.2f" }}.',
            runbook_text="Enable activedefrag, or restart the replica first and fail over.",
            # fragmented but small (below the RSS floor) stays quiet
            test=c.case(fire=[c.series(FRAGMENTATION, f"{num(frag + 0.5)}x40"), c.series(RSS, f"{frag_min * 2}x40")],
                        quiet=[c.series(FRAGMENTATION, f"{num(frag + 0.5)}x40"), c.series(RSS, "1000x40")],
                        value=frag + 0.5, eval_time="40m")),
        Row(name="RedisNoMaxmemory", severity="warning", scope="node", for_="30m", panel="cachewatch-security/config",
            expr=f"{c.m(MAX)} == 0", test=c.gauge_case(MAX, fire="0x40", quiet="1e9x40", eval_time="40m"),
            summary="A Redis cache has no maxmemory",
            description="{{ $labels.instance }} has no maxmemory: it grows until the host runs out of memory.",
            runbook_text="Set maxmemory (CONFIG SET maxmemory, and in redis.conf) to leave room for forks and "
                         "buffers."),
        Row(name="RedisNoEvictionPolicy", severity="warning", scope="node", for_="30m",
            expr=f"{c.m('redis_instance_info', NOEVICTION)} == 1", panel="cachewatch-security/config",
            summary="A Redis cache does not evict",
            description="{{ $labels.instance }} uses maxmemory-policy noeviction: writes fail when memory is full.",
            runbook_text="For a cache, use allkeys-lru or allkeys-lfu.",
            test=c.case(fire=[c.series("redis_instance_info", "1x40", maxmemory_policy="noeviction")],
                        quiet=[c.series("redis_instance_info", "1x40", maxmemory_policy="allkeys-lru")],
                        eval_time="40m", labels={"maxmemory_policy": "noeviction"})),
    ]


def memory_high(c: Ctx, *, name: str, level: float, for_: str, severity: Severity) -> Row:
    fire_used = round(min(0.999, level + (1 - level) / 2) * 1000)  # halfway between the level and full, in ‰
    return Row(
        name=name, severity=severity, scope="node", twin="memory", for_=for_, panel="cachewatch-node/memory",
        expr=f"{ratio(c.m(USED), c.m(MAX))} > {num(level)}",
        summary="Redis memory is close to maxmemory",
        description="{{ $labels.instance }} uses {{ $value | humanizePercentage }} of maxmemory.",
        runbook_text="Evictions or OOM errors follow. Check the biggest keys (key sampling), TTLs, and whether "
                     "maxmemory or the shard count should grow.",
        test=c.case(fire=[c.series(USED, f"{fire_used}x20"), c.series(MAX, "1000x20")],
                    # below the level; and a node without maxmemory (the guarded ratio has no value)
                    quiet=[c.series(USED, f"{round(level * 500)}x20"), c.series(MAX, "1000x20"),
                           c.series(USED, "900x20", instance=OTHER_INSTANCE),
                           c.series(MAX, "0x20", instance=OTHER_INSTANCE)],
                    value=fire_used / 1000),
    )


def eviction_ratio_high(c: Ctx) -> Row:
    eratio = c.t.eviction_ratio
    reads = f"({rate(c.m(HITS), '5m')} + {rate(c.m(MISSES), '5m')})"
    return Row(
        name="RedisEvictionRatioHigh", severity="warning", scope="node", for_="15m", panel="cachewatch-node/evictions",
        expr=f"{ratio(rate(c.m(EVICTED), '5m'), reads)} > {num(eratio)}",
        summary="A large share of Redis reads causes evictions",
        description="{{ $labels.instance }} evicts {{ $value | humanizePercentage }} as many keys as it serves "
                    "reads.",
        runbook_text="Cache churn: keys are evicted before they are read again. Compare with the hit ratio.",
        test=c.case(fire=[c.series(EVICTED, f"0+{num(eratio * 2 * 600)}x40"), c.series(HITS, "0+300x40"),
                          c.series(MISSES, "0+300x40")],
                    quiet=[c.series(EVICTED, "0x40"), c.series(HITS, "0x40"), c.series(MISSES, "0x40")],
                    value=eratio * 2, eval_time="25m"),
    )
