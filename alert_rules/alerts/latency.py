"""latency.yml: p95 and p99 command latency per node, from Redis' LATENCY HISTOGRAM."""

from __future__ import annotations

from cachewatch import latency_ladder as ladder
from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.promql import num, rate

BUCKET, COUNT = "redis_commands_latencies_usec_bucket", "redis_commands_latencies_usec_count"
NODE = "job, instance, region, cluster, shard, role, team"


def rows(c: Ctx) -> list[Row]:
    return [latency_high(c, name="RedisLatencyP95High", quantile=0.95, limit=c.t.latency_p95_seconds),
            latency_high(c, name="RedisLatencyP99High", quantile=0.99, limit=c.t.latency_p99_seconds)]


def latency_high(c: Ctx, *, name: str, quantile: float, limit: float) -> Row:
    """Per command, then the node's slowest: Redis reports each command's buckets only up to its slowest call, so
    a sum over commands by ``le`` is no histogram (cachewatch/latency_ladder.py); a replica's few slow PSYNCs then
    read as a p95 of milliseconds. Commands called less than once a second are left out (INFO, a rare KEYS)."""
    buckets = f"sum by (le, cmd, {NODE}) ({rate(c.m(BUCKET), '5m')})"
    calls = f"sum by (cmd, {NODE}) ({rate(c.m(COUNT), '5m')})"
    p, usec = num(quantile * 100), limit * 1e6
    slow, slower = ladder.above(usec), ladder.above(ladder.above(usec))

    def command(cmd: str, per_minute: int, *bounds: tuple[int, int]) -> list:
        """A command's series at ``per_minute`` calls: (bucket, calls counted up to it per minute) pairs."""
        return [*(c.series(BUCKET, f"0+{n}x30", cmd=cmd, le=str(le)) for le, n in bounds),
                c.series(BUCKET, f"0+{per_minute}x30", cmd=cmd, le="+Inf"),
                c.series(COUNT, f"0+{per_minute}x30", cmd=cmd)]

    return Row(
        name=name, severity="warning", scope="node", for_="10m", panel="cachewatch-node/latency",
        expr=f"max by ({NODE}) (histogram_quantile({num(quantile)}, {buckets}) / 1e6 > {num(limit)} "
             f"and {calls} > 1)",
        summary=f"Redis p{p} command latency is high",
        description=f"p{p} latency of {{{{ $labels.instance }}}}'s slowest busy command is above "
                    f"{num(limit * 1000)} ms.",
        runbook_text="Find the slow commands (redis_commands_duration_seconds_total by cmd, SLOWLOG GET) and big "
                     "keys; check CPU saturation and forks (latest_fork_seconds).",
        # fire: every GET lands two buckets above the limit. quiet: a replica's traffic, fast SETs and DELs, and one
        # PSYNC a minute at 2 ms+ (a sum over commands by le put its p95 at the PSYNC's bucket).
        test=c.case(fire=command("get", 600, (slow, 0), (slower, 600)),
                    quiet=[*command("set", 450, (16, 450)), *command("del", 850, (16, 300), (132, 850)),
                           *command("psync", 1, (ladder.above(slower), 1))],
                    eval_time="25m"),
    )
