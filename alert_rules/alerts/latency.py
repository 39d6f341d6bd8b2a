"""latency.yml: p95 and p99 command latency per node, from Redis' LATENCY HISTOGRAM."""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.promql import num, rate

BUCKET, COUNT = "redis_commands_latencies_usec_bucket", "redis_commands_latencies_usec_count"
BY = "le, job, instance, region, cluster, shard, role, team"


def rows(c: Ctx) -> list[Row]:
    return [latency_high(c, name="RedisLatencyP95High", quantile=0.95, limit=c.t.latency_p95_seconds),
            latency_high(c, name="RedisLatencyP99High", quantile=0.99, limit=c.t.latency_p99_seconds)]


def bucket_above(usec: float) -> float:
    """The smallest power-of-two LATENCY HISTOGRAM bucket above ``usec`` (buckets are 1, 2, 4, … µs)."""
    bucket = 1.0
    while bucket <= usec:
        bucket *= 2
    return bucket


def latency_high(c: Ctx, *, name: str, quantile: float, limit: float) -> Row:
    buckets = f"sum by ({BY}) ({rate(c.m(BUCKET), '5m')})"
    calls = f"sum by ({BY.removeprefix('le, ')}) ({rate(c.m(COUNT), '5m')})"
    p, slow_le = num(quantile * 100), bucket_above(limit * 1e6)
    return Row(
        name=name, severity="warning", scope="node", for_="10m", panel="cachewatch-node/latency",
        expr=f"histogram_quantile({num(quantile)}, {buckets}) / 1e6 > {num(limit)} and on (instance) {calls} > 1",
        summary=f"Redis p{p} command latency is high",
        description=f"p{p} latency of {{{{ $labels.instance }}}} is above {num(limit * 1000)} ms.",
        runbook_text="Find the slow commands (redis_commands_duration_seconds_total by cmd, SLOWLOG GET) and big "
                     "keys; check CPU saturation and forks (latest_fork_seconds).",
        # every call lands in the bucket above the limit; quiet: every call within 1µs
        test=c.case(fire=[c.series(BUCKET, "0+0x30", cmd="get", le=num(slow_le / 2)),
                          c.series(BUCKET, "0+600x30", cmd="get", le=num(slow_le * 2)),
                          c.series(BUCKET, "0+600x30", cmd="get", le="+Inf"),
                          c.series(COUNT, "0+600x30", cmd="get")],
                    quiet=[c.series(BUCKET, "0+600x30", cmd="get", le="1"),
                           c.series(BUCKET, "0+600x30", cmd="get", le="+Inf"),
                           c.series(COUNT, "0+600x30", cmd="get")],
                    eval_time="25m"),
    )
