"""KeySampler against real redis-server instances, plus pure tests of key-name redaction."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from cachewatch.exporter.credentials import Credentials
from cachewatch.exporter.exposition import MetricSet
from cachewatch.exporter.key_sampler import SCAN_COUNT, KeySampler, raw_key_name, redact_key_name
from cachewatch.exporter.options import KeySampling
from cachewatch.exporter.targets import Target
from cachewatch.local_redis import MONITOR_ACL, RedisServer, free_port, start_redis

NO_CREDS = Credentials()
_SERIES = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def target(port: int) -> Target:
    return Target(scheme="redis", host="127.0.0.1", port=port)


def sampler(server: RedisServer, creds: Credentials = NO_CREDS, **settings: object) -> KeySampler:
    return KeySampler(target(server.port), creds, KeySampling(enabled=True, **settings))


def series(s: KeySampler, now: float | None = None) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Render add_metrics and parse it back: family → [(labels, value)] in exposition order."""
    out = MetricSet()
    s.add_metrics(out, time.time() if now is None else now)
    parsed: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in out.render().splitlines():
        if not line.startswith("#"):
            name, label_text, value = _SERIES.match(line).groups()  # type: ignore[union-attr]
            parsed.setdefault(name, []).append((dict(_LABEL.findall(label_text or "")), float(value)))
    return parsed


def value(parsed: dict, name: str) -> float:
    [(_, number)] = parsed[name]
    return number


@pytest.fixture(scope="module")
def seeded() -> Iterator[RedisServer]:
    """Keys of various sizes and types in db0 and db3."""
    server = start_redis()
    db0, db3 = redis.Redis(port=server.port), redis.Redis(port=server.port, db=3)
    db0.set("blob:big", "x" * 100_000)
    db0.hset("hash:big", mapping={f"field{i}": "v" * 20 for i in range(1000)})
    db0.rpush("list:mid", *[f"item{i}" for i in range(200)])
    db0.sadd("set:small", "a", "b", "c")
    db0.mset({f"user:{i}:name": "n" * (10 + i) for i in range(50)})
    db0.set("session:9f8e7d6c5b4a3f21", "s" * 3000)
    db3.set("other:blob", "y" * 20_000)
    db3.zadd("other:zset", {f"m{i}": i for i in range(50)})
    yield server
    server.stop()


SEEDED_KEYS = 4 + 50 + 1 + 2  # db0: 4 big/typed, 50 users, 1 session; db3: 2


def test_big_keys_top_n_types_dbs_and_freshness(seeded: RedisServer) -> None:
    s = sampler(seeded, top_n=5)
    before = time.time()
    asyncio.run(s.run_once())
    assert s.last_error is None
    parsed = series(s, now=time.time())
    big = parsed["redis_key_sample_memory_usage_bytes"]
    sizes = [v for _, v in big]
    assert len(big) == 5 and sizes == sorted(sizes, reverse=True)
    assert (big[0][0]["key"], big[0][0]["type"], big[0][0]["db"]) == ("blob:big", "string", "db0")
    assert big[0][1] >= 100_000
    by_key = {labels["key"]: labels for labels, _ in big}
    assert by_key["hash:big"]["type"] == "hash"
    assert by_key["other:blob"] == {"db": "db3", "key": "other:blob", "type": "string"}
    assert by_key["session:*"]["type"] == "string"  # the hex id is redacted
    assert "redis_key_sample_frequency" not in parsed  # noeviction: no LFU, no frequency series
    assert value(parsed, "redis_key_sample_keys_scanned") == SEEDED_KEYS
    assert before <= value(parsed, "redis_key_sample_last_run_timestamp_seconds") <= time.time()
    duration = value(parsed, "redis_key_sample_duration_seconds")
    assert 0 < duration < 5
    millis = value(parsed, "redis_last_key_groups_scrape_duration_milliseconds")
    assert millis == pytest.approx(duration * 1e3)
    assert s.snapshot is not None and s.snapshot.complete
    finished = s.snapshot.finished
    assert value(series(s, now=finished + 1), "redis_key_sample_age_seconds") == pytest.approx(1)
    assert value(series(s, now=finished + 61), "redis_key_sample_age_seconds") == pytest.approx(61)


def test_redacted_keys_aggregate_and_raw_names_do_not(seeded: RedisServer) -> None:
    redacted, raw = sampler(seeded, top_n=100), sampler(seeded, top_n=100, raw_key_names=True)
    asyncio.run(redacted.run_once())
    asyncio.run(raw.run_once())
    assert redacted.snapshot is not None and raw.snapshot is not None
    users = [b for b in redacted.snapshot.big if b.key == "user:*:name"]
    assert len(users) == 1 and users[0].count == 50
    assert users[0].bytes == max(b.bytes for b in raw.snapshot.big if b.key.startswith("user:"))
    assert sum(b.key.startswith("user:") for b in raw.snapshot.big) == 50
    assert {b.key for b in raw.snapshot.big} >= {"user:7:name", "session:9f8e7d6c5b4a3f21"}


def test_lfu_hottest_key() -> None:
    server = start_redis("--maxmemory-policy", "allkeys-lfu", "--lfu-log-factor", "0")
    try:
        client = redis.Redis(port=server.port)
        client.mset({f"cold:{name}": "v" for name in "abcdefgh"} | {"hot:key": "v"})
        pipe = client.pipeline(transaction=False)
        for _ in range(300):
            pipe.get("hot:key")
        pipe.execute()
        s = sampler(server, top_n=3)
        asyncio.run(s.run_once())
        freq = series(s)["redis_key_sample_frequency"]
        assert freq[0][0] == {"db": "db0", "key": "hot:key"}
        assert freq[0][1] > freq[1][1]
        assert len(freq) == 3  # top_n, not every key
    finally:
        server.stop()


class RecordingSampler(KeySampler):
    """Records the keys each batch probes, and can slow batches down to exercise the time budget."""

    def __init__(self, *args: object, delay: float = 0.0, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.seen: set[str] = set()
        self.delay = delay

    async def _probe(self, conn, run, db, keys) -> None:  # type: ignore[no-untyped-def]
        self.seen.update(keys)
        await asyncio.sleep(self.delay)
        await super()._probe(conn, run, db, keys)


@pytest.fixture(scope="module")
def many_keys() -> Iterator[RedisServer]:
    server = start_redis()
    client = redis.Redis(port=server.port)
    for start in range(0, 5000, 1000):
        client.mset({f"k:{i}": i for i in range(start, start + 1000)})
    yield server
    server.stop()


def test_key_budget_and_cursor_continues(many_keys: RedisServer) -> None:
    settings = KeySampling(enabled=True, max_keys=500, time_budget=30)
    s = RecordingSampler(target(many_keys.port), NO_CREDS, settings)
    asyncio.run(s.run_once())
    first, s.seen = s.seen, set()
    assert s.snapshot is not None and not s.snapshot.complete
    assert s.snapshot.keys_scanned == len(first) and 500 <= len(first) <= 500 + SCAN_COUNT
    asyncio.run(s.run_once())
    second = s.seen
    assert len(second) <= 500 + SCAN_COUNT
    assert len(second - first) >= 400  # the cursor moved on instead of re-sampling the start
    assert value(series(s), "redis_key_sample_keys_scanned") == len(second)


def test_time_budget_stops_a_run(many_keys: RedisServer) -> None:
    settings = KeySampling(enabled=True, max_keys=100_000, time_budget=0.2)
    s = RecordingSampler(target(many_keys.port), NO_CREDS, settings, delay=0.05)
    asyncio.run(s.run_once())
    assert s.snapshot is not None and not s.snapshot.complete
    assert 0 < s.snapshot.keys_scanned < 5000
    assert s.snapshot.duration < 0.2 + 0.05 + 1.0  # at most one batch past the budget


@pytest.mark.parametrize(("name", "expected"), [
    ("user:12345:profile", "user:*:profile"),
    ("session:9f8e7d6c5b4a3f21", "session:*"),
    ("cache:550e8400-e29b-41d4-a716-446655440000:v2", "cache:*:v*"),
    ("ORDER:DEADBEEFCAFE", "ORDER:*"),
    ("plain:key", "plain:key"),
    ("face:bad", "face:bad"),  # short hex-looking words stay
    ("tab\there\x00nul\x7f", "tabherenul"),
    ("x" * 300, "x" * 100),
])
def test_redact_key_name(name: str, expected: str) -> None:
    assert redact_key_name(name) == expected


def test_raw_key_name_only_cleans() -> None:
    assert raw_key_name("user:12345:\nprofile") == "user:12345:profile"
    assert raw_key_name("9" * 500) == "9" * 100


@given(st.text(max_size=400) | st.text(alphabet="0123456789abcdefABCDEF-:\x00\n ", max_size=400))
def test_redaction_is_bounded_printable_and_id_free(name: str) -> None:
    out = redact_key_name(name)
    assert len(out) <= 100 and out.isprintable()
    assert not re.search(r"\d{3}", out)
    assert redact_key_name(name) == out  # pure
    raw = raw_key_name(name)
    assert len(raw) <= 100 and raw.isprintable()


def test_least_privilege_acl_user() -> None:
    server = start_redis(acl_users={"monitor": MONITOR_ACL})
    try:
        redis.Redis(port=server.port).set("blob", "z" * 5000)
        s = sampler(server, Credentials(username="monitor", password="monitor-secret-pw"))
        asyncio.run(s.run_once())
        assert s.last_error is None
        [(labels, number)] = series(s)["redis_key_sample_memory_usage_bytes"]
        assert labels["key"] == "blob" and number >= 5000
    finally:
        server.stop()


def test_refused_probe_is_dropped_and_reported() -> None:
    rule = MONITOR_ACL.replace(" +memory|usage", "")
    server = start_redis(acl_users={"monitor": rule})
    try:
        redis.Redis(port=server.port).mset({f"k{i}": "v" for i in range(10)})
        s = sampler(server, Credentials(username="monitor", password="monitor-secret-pw"))
        asyncio.run(s.run_once())
        assert s.last_error == "no_permission"
        parsed = series(s)
        assert value(parsed, "redis_key_sample_keys_scanned") == 10
        assert "redis_key_sample_memory_usage_bytes" not in parsed
    finally:
        server.stop()


def test_dead_target_sets_last_error_and_never_logs_the_password(caplog: pytest.LogCaptureFixture) -> None:
    s = KeySampler(target(free_port()), Credentials(password="hunter2-secret"), KeySampling(enabled=True))
    with caplog.at_level(logging.WARNING, logger="cachewatch.exporter.key_sampler"):
        asyncio.run(s.run_once())
    assert s.last_error == "connection_refused"
    assert caplog.records and "hunter2-secret" not in caplog.text
    assert series(s) == {"redis_last_key_groups_scrape_duration_milliseconds": [({}, 0.0)]}


def test_failed_run_keeps_previous_snapshot() -> None:
    server = start_redis()
    try:
        redis.Redis(port=server.port).set("k", "v")
        s = sampler(server)
        asyncio.run(s.run_once())
        assert s.snapshot is not None
        finished = s.snapshot.finished
        server.kill()
        asyncio.run(s.run_once())
        assert s.last_error is not None
        parsed = series(s, now=finished + 30)
        assert value(parsed, "redis_key_sample_last_run_timestamp_seconds") == pytest.approx(finished)
        assert value(parsed, "redis_key_sample_age_seconds") == pytest.approx(30)
    finally:
        server.stop()


def test_start_without_loop_does_not_raise(seeded: RedisServer) -> None:
    s = sampler(seeded)
    s.start()  # logged, not raised
    assert s._task is None


def test_background_runs_repeatedly_and_stops_cleanly(seeded: RedisServer) -> None:
    async def scenario() -> tuple[KeySampler, list[float], set[asyncio.Task]]:
        s = sampler(seeded, interval=0.05)
        s.start()
        s.start()  # idempotent
        finishes: list[float] = []
        for _ in range(200):
            if s.snapshot is not None and s.snapshot.finished not in finishes:
                finishes.append(s.snapshot.finished)
            if len(finishes) >= 3:
                break
            await asyncio.sleep(0.01)
        await s.stop()
        await s.stop()  # idempotent
        return s, finishes, asyncio.all_tasks() - {asyncio.current_task()}

    s, finishes, leftover = asyncio.run(scenario())
    assert len(finishes) >= 3 and s.last_error is None
    assert not leftover and s._task is None and s._conn is None
