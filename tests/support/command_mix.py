"""A cache application's command mix on a real primary + replica, and series counted per family from exposition
text: what bench/series_per_node.py measures and what the capacity and family-filter tests check against.

The mix is a session/cache service: strings with TTLs (values from 16 B to 64 KB, so the latency histograms
spread over several buckets), counters, hashes, lists, sets, sorted sets and pub/sub on the primary; the reads of
the same data on the replica. 29 commands on the primary, 10 on the replica (plus the replicated writes, which a
replica books too, and each client's HELLO / CLIENT SETINFO).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import redis

from cachewatch.exporter.exposition import MetricSet
from cachewatch.local_redis import RedisServer, start_redis, start_replica

ROUNDS = 300
WORKLOAD = "29 commands of a session/cache service on the primary, 10 reads on the replica"
SIZES = (16, 256, 4096, 65536)


def primary_round(client: redis.Redis, i: int) -> None:
    """One request's worth of the application's writes and reads."""
    key, value = f"user:{i % 500}", "x" * SIZES[i % len(SIZES)]
    pipe = client.pipeline(transaction=False)
    pipe.set(key, value, ex=3600)
    pipe.execute_command("SETEX", f"token:{i % 200}", 900, "t")  # redis-py deprecates setex(); apps still send it
    pipe.execute()
    client.get(key)
    client.mget([f"user:{(i + k) % 500}" for k in range(10)])
    if i % 10 == 0:
        client.mset({f"flag:{i % 50}": "1", f"flag:{(i + 1) % 50}": "0"})
    client.exists(key)
    client.expire(key, 7200)
    client.ttl(key)
    client.incr("hits")
    client.incrby(f"quota:{i % 20}", 3)
    client.hset(f"session:{i % 100}", mapping={"user": str(i), "seen": str(i * 7)})
    client.hget(f"session:{i % 100}", "user")
    client.hgetall(f"session:{i % 100}")
    client.hmget(f"session:{i % 100}", ["user", "seen"])
    client.hincrby(f"session:{i % 100}", "views", 1)
    client.lpush(f"events:{i % 10}", f"e{i}")
    client.lrange(f"events:{i % 10}", 0, 49)
    client.llen(f"events:{i % 10}")
    if i % 5 == 0:
        client.rpop(f"events:{i % 10}")
    client.sadd(f"tags:{i % 30}", f"t{i % 7}")
    client.smembers(f"tags:{i % 30}")
    client.sismember(f"tags:{i % 30}", "t1")
    client.zadd("leaderboard", {f"player:{i % 300}": i})
    client.zincrby("leaderboard", 1, f"player:{i % 300}")
    client.zrevrange("leaderboard", 0, 9, withscores=True)
    client.zrangebyscore("leaderboard", i - 50, i)
    if i % 20 == 0:
        client.delete(f"token:{(i + 100) % 200}")
        client.unlink(f"user:{(i + 250) % 500}")
        client.publish("invalidate", key)
        client.ping()


def replica_round(client: redis.Redis, i: int) -> None:
    """The reads an application sends to replicas."""
    key = f"user:{i % 500}"
    client.get(key)
    client.mget([f"user:{(i + k) % 500}" for k in range(10)])
    client.exists(key)
    client.ttl(key)
    client.hgetall(f"session:{i % 100}")
    client.hget(f"session:{i % 100}", "user")
    client.lrange(f"events:{i % 10}", 0, 49)
    client.smembers(f"tags:{i % 30}")
    client.zrevrange("leaderboard", 0, 9)
    client.zrangebyscore("leaderboard", i - 50, i)


def run_mix(primary: RedisServer, replica: RedisServer, rounds: int = ROUNDS) -> None:
    """The application's traffic: the primary's mix, then the replica's reads once the writes reached it."""
    with contextlib.closing(redis.Redis(host="127.0.0.1", port=primary.port)) as client:
        for i in range(rounds):
            primary_round(client, i)
    caught_up(primary, replica)
    with contextlib.closing(redis.Redis(host="127.0.0.1", port=replica.port)) as client:
        for i in range(rounds):
            replica_round(client, i)


def caught_up(primary: RedisServer, replica: RedisServer, timeout: float = 10.0) -> None:
    """Wait until the replica applied every write (by offset, through redis-cli: WAIT would book a command the
    application does not send, and a client of ours would add its HELLO)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        want = re.search(r"master_repl_offset:(\d+)", primary.cli("INFO", "replication"))
        have = re.search(r"slave_repl_offset:(\d+)", replica.cli("INFO", "replication"))
        if want and have and int(have[1]) >= int(want[1]):
            return
        time.sleep(0.05)
    raise RuntimeError("the replica did not catch up with the primary")


@dataclass
class Pair:
    primary: RedisServer
    replica: RedisServer

    def by_role(self) -> dict[str, RedisServer]:
        return {"primary": self.primary, "replica": self.replica}


@contextlib.contextmanager
def mixed_pair(rounds: int = ROUNDS) -> Iterator[Pair]:
    """A fresh primary + replica (redis-server from apt) that ran the mix; stopped and removed on exit."""
    primary = start_redis()
    try:
        replica = start_replica(primary)
        try:
            run_mix(primary, replica, rounds)
            yield Pair(primary, replica)
        finally:
            replica.stop()
    finally:
        primary.stop()


def family_of(series: str, types: dict[str, str]) -> str:
    """The family a series line belongs to (``x_bucket`` of histogram ``x`` → ``x``)."""
    for suffix in ("_bucket", "_sum", "_count"):
        base = series[: -len(suffix)]
        if series.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base
    return series


def series_per_family(text: str) -> Counter[str]:
    """Series per family in Prometheus text exposition (each sample line is one series)."""
    types: dict[str, str] = {}
    out: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            out[family_of(line.split("{", 1)[0].split(" ", 1)[0], types)] += 1
    return out


def commands_seen(text: str) -> set[str]:
    """The cmd label values of a scrape: the commands the node's per-command families cover."""
    return {
        line.split('cmd="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if not line.startswith("#") and 'cmd="' in line
    }


def metric_set(text: str) -> MetricSet:
    """Our exposition text back into a MetricSet (every family of ours is in the catalog)."""
    types: dict[str, str] = {}
    out = MetricSet()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            out.add_lines(family_of(line.split("{", 1)[0].split(" ", 1)[0], types), [line + "\n"])
    return out
