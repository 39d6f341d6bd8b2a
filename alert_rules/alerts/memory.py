"""memory.yml: evictions against reads. Memory against maxmemory and the host, the eviction rate, fragmentation,
swapping and caches that never evict are health checks (cachewatch/checks/memory.py): their alerts are in
checks-memory.yml."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.promql import num, rate, ratio

EVICTED, HITS, MISSES = "redis_evicted_keys_total", "redis_keyspace_hits_total", "redis_keyspace_misses_total"


def rows(c: Ctx) -> list[Row]:
    return [eviction_ratio_high(c)]


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
