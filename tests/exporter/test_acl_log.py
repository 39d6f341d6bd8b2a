"""AclLogTracker: ACL LOG snapshots → denial counters that never count an entry twice, with bounded labels."""

from __future__ import annotations

import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry

from cachewatch.exporter.acl_log import AclLogTracker
from cachewatch.exporter.exposition import MetricSet
from cachewatch.local_redis import RedisServer, start_redis

Label = tuple[str, str, str]
SERIES = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')
PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def entry(user: str = "mallory", count: int = 1, *, reason: str = "auth", context: str = "toplevel",
          obj: str = "AUTH", age: float | None = 5.0, eid: int | None = None) -> dict[str, object]:
    """One ACL LOG entry as hiredis hands it over (RESP2): count an int, everything else a string."""
    out: dict[str, object] = {"count": count, "reason": reason, "context": context, "object": obj,
                              "username": user, "client-info": f"id=7 addr=10.0.0.9:5000 user={user}"}
    if age is not None:
        out["age-seconds"] = str(age)
    if eid is not None:
        out |= {"entry-id": eid, "timestamp-created": 1_000 + eid, "timestamp-last-updated": 9_000}
    return out


def older(log: list[dict[str, object]], seconds: float) -> list[dict[str, object]]:
    """The same entries, untouched for ``seconds`` more."""
    return [{**e, "age-seconds": str(float(e["age-seconds"]) + seconds)} for e in log]


def metrics(tracker: AclLogTracker) -> tuple[dict[Label, float], float | None]:
    """Render through the real exposition code and read back (denials by label set, log entries gauge)."""
    out = MetricSet()
    tracker.add_metrics(out)
    denials: dict[Label, float] = {}
    gauge = None
    for line in out.render().splitlines():
        if line.startswith("#"):
            continue
        name, label_text, value = SERIES.match(line).groups()
        pairs = dict(PAIR.findall(label_text or ""))
        if name == "redis_acl_denials_total":
            denials[(pairs["reason"], pairs["context"], pairs["user"])] = float(value)
        else:
            assert name == "redis_acl_log_entries" and not pairs
            gauge = float(value)
    return denials, gauge


def denials(tracker: AclLogTracker) -> dict[Label, float]:
    return metrics(tracker)[0]


def auth(user: str) -> Label:
    return ("auth", "toplevel", user)


# --- unit tests on synthetic snapshots ------------------------------------------------------------------


def test_baseline_counts_nothing_but_emits_zeros() -> None:
    t = AclLogTracker()
    assert t.observe([entry("mallory", 7), entry("app", 2, reason="key", obj="k:1")], complete=False)
    assert metrics(t) == ({auth("mallory"): 0, ("key", "toplevel", "app"): 0}, 2)


def test_before_any_observation_nothing_is_emitted() -> None:
    assert metrics(AclLogTracker()) == ({}, None)


def test_fresh_entries_add_their_count() -> None:
    t = AclLogTracker()
    t.observe([entry("mallory", 7, age=100)], complete=True)
    assert t.observe([entry("eve", 3, age=1), entry("bob", 1, age=2), entry("mallory", 7, age=110)],
                     complete=False, elapsed=10)
    assert metrics(t) == ({auth("mallory"): 0, auth("eve"): 3, auth("bob"): 1}, 3)


def test_updated_entry_adds_the_difference() -> None:
    t = AclLogTracker()
    t.observe([entry("mallory", 3, age=10), entry("eve", 1, age=20)], complete=False)
    t.observe([entry("mallory", 5, age=0.5), entry("eve", 1, age=30)], complete=False, elapsed=10)
    assert denials(t) == {auth("mallory"): 2, auth("eve"): 0}


@pytest.mark.parametrize("with_ages", [True, False])
def test_unchanged_log_adds_nothing_over_many_observations(with_ages: bool) -> None:
    log = [entry(f"u{i}", 1 + i % 3, age=5.0 + 70 * i if with_ages else None) for i in range(40)]
    t = AclLogTracker(max_users=100)
    assert not t.observe(log[:16], complete=False)  # a baseline needs the whole log
    assert t.observe(log, complete=True)
    for step in range(1, 30):
        if with_ages:
            log = older(log, 15)
        assert t.observe(log[:16], complete=False, elapsed=15.0 if with_ages and step % 2 else None)
    assert set(denials(t).values()) == {0} and metrics(t)[1] == 40


@pytest.mark.parametrize("with_ages", [True, False])
def test_reset_counts_the_new_log_fully(with_ages: bool) -> None:
    age = (lambda a: a) if with_ages else (lambda a: None)
    t = AclLogTracker()
    t.observe([entry("mallory", 3, age=age(4)), entry("eve", 1, age=age(50)), entry("bob", 2, age=age(70))],
              complete=False)
    t.observe([entry("mallory", 1, age=age(2))], complete=False, elapsed=10)  # ACL LOG RESET, then 1 denial
    assert metrics(t) == ({auth("mallory"): 1, auth("eve"): 0, auth("bob"): 0}, 1)
    t.observe([], complete=False, elapsed=10)  # RESET again
    t.observe([entry("eve", 2, age=age(1))], complete=False, elapsed=10)
    assert metrics(t) == ({auth("mallory"): 1, auth("eve"): 2, auth("bob"): 0}, 1)


def test_reset_with_identical_looking_entry_is_caught_by_age() -> None:
    t = AclLogTracker()
    t.observe([entry("mallory", 1, age=30), entry("eve", 1, age=40)], complete=False)
    t.observe([entry("mallory", 1, age=3)], complete=False, elapsed=10)
    assert denials(t)[auth("mallory")] == 1


def test_ages_tell_a_slow_brute_force_apart() -> None:
    """One failure every 2 minutes: 20 identical entries; only the ages show that a new one arrived."""
    t = AclLogTracker()
    old = [entry("mallory", 1, age=5 + 120 * i) for i in range(20)]
    t.observe(old, complete=True)
    log = [entry("mallory", 1, age=1), *older(old, 10)]
    assert t.observe(log[:16], complete=False, elapsed=10)
    assert denials(t) == {auth("mallory"): 1}


def test_the_young_twin_is_the_one_bumped() -> None:
    t = AclLogTracker()
    t.observe([entry("mallory", 1, age=5), entry("mallory", 1, age=100)], complete=True)
    t.observe([entry("mallory", 3, age=1), entry("mallory", 1, age=110)], complete=True, elapsed=10)
    assert denials(t) == {auth("mallory"): 2}


def test_trimming_at_max_len() -> None:
    t = AclLogTracker()
    log = [entry(f"u{i}", 1, age=100 + 10 * i) for i in range(5)]
    t.observe(log, complete=False, max_len=5)
    trimmed = [entry("new1", 2, age=1), entry("new0", 1, age=3), *older(log[:3], 10)]
    assert t.observe(trimmed, complete=False, max_len=5, elapsed=10)
    assert t.observe(trimmed, complete=False, max_len=5, elapsed=0)
    counts, gauge = metrics(t)
    assert (counts[auth("new1")], counts[auth("new0")], sum(counts.values()), gauge) == (2, 1, 3, 5)


def test_prefix_all_changed_asks_for_the_whole_log_then_counts_exactly() -> None:
    old = [entry(f"old{i}", 2, reason="key", obj=f"k{i}", age=200 + i) for i in range(30)]
    t = AclLogTracker(max_users=100)
    t.observe(old, complete=True)
    aged = older(old, 15)
    log = [entry(f"spray{i}", 1 + i % 4, age=0.5 + i / 10) for i in range(20)] + aged
    before = metrics(t)
    assert not t.observe(log[:16], complete=False, elapsed=15)
    assert metrics(t) == before  # False changed nothing
    assert t.observe(log, complete=True, elapsed=15)
    counts, gauge = metrics(t)
    assert sum(counts.values()) == sum(1 + i % 4 for i in range(20)) and gauge == 50
    assert t.observe(log[:16], complete=False, elapsed=0)  # nothing new: the prefix suffices again
    assert sum(denials(t).values()) == sum(1 + i % 4 for i in range(20))


def test_bump_past_the_prefix_is_resolved_by_the_whole_log() -> None:
    t = AclLogTracker(max_users=100)
    old = [entry(f"o{i}", 1, age=5 + i) for i in range(20)]  # o8 is young and among the first 10
    t.observe(old, complete=True)
    aged = older(old, 10)
    fresh = [entry(f"n{i}", 1, age=1) for i in range(11)] + [entry("o8", 2, age=1.5)]
    log = fresh + aged  # o8 got a fresh entry (it had left the first 10), the old o8 is still there
    assert not t.observe(log[:16], complete=False, elapsed=10)  # o8 bumped or not: the prefix cannot tell
    assert t.observe(log, complete=True, elapsed=10)
    assert denials(t)[auth("o8")] == 2 and sum(denials(t).values()) == 13


def test_entry_id_mode_is_exact_even_for_twins() -> None:
    t = AclLogTracker()
    t.observe([entry("mallory", 2, eid=5, age=None), entry("mallory", 1, eid=4, age=None)], complete=False)
    t.observe([entry("mallory", 1, eid=6, age=None), entry("mallory", 4, eid=5, age=None),
               entry("mallory", 1, eid=4, age=None)], complete=False)
    assert denials(t) == {auth("mallory"): 3}
    log = [entry(f"s{i}", 1, eid=100 + i) for i in range(20)]
    assert not t.observe(log[:16], complete=False)
    assert t.observe(log, complete=True) and sum(denials(t).values()) == 23
    t.observe([entry("mallory", 1, eid=0)], complete=False)  # server restart: ids start again
    assert sum(denials(t).values()) == 24


def test_user_cap_first_come() -> None:
    t = AclLogTracker(max_users=2)
    t.observe([entry("b", 1, age=1)], complete=False)
    t.observe([entry(u, 1, age=1) for u in ("e", "d", "c", "a")] + [entry("b", 1, age=11)],
              complete=False, elapsed=10)  # oldest first: "b" (baseline), then "a"; the rest is "other"
    assert denials(t) == {auth("b"): 0, auth("a"): 1, auth("other"): 3}
    later = [entry("f", 1, age=1), *[entry(u, 1, age=2) for u in ("e", "d", "c", "a")], entry("b", 1, age=12)]
    t.observe(later, complete=False, elapsed=1)
    assert denials(t) == {auth("b"): 0, auth("a"): 1, auth("other"): 4}


def test_label_hygiene() -> None:
    t = AclLogTracker()
    t.observe([], complete=False)
    weird = "\x1b[31m" + "x" * 500 + "\n"
    t.observe([entry(weird, 2, reason="weird", context="script", obj="secret-object", age=2),
               entry("", 1, reason="channel", context="lua", obj="news")], complete=False, elapsed=5)
    assert denials(t) == {("other", "other", "[31m" + "x" * 60): 2, ("channel", "lua", ""): 1}
    out = MetricSet()
    t.add_metrics(out)
    assert "secret-object" not in out.render() and "news" not in out.render() and "addr=" not in out.render()


def test_label_sets_and_state_stay_bounded() -> None:
    t = AclLogTracker(max_users=3)
    t.observe([], complete=True)
    reasons = ["auth", "command", "key", "channel", "r?"]
    contexts = ["toplevel", "multi", "lua", "module", "c?"]
    for round_ in range(30):
        log = [entry(f"user{round_}-{i}", 1, reason=reasons[i % 5], context=contexts[i // 5 % 5], obj=f"o{i}",
                     age=0.1) for i in range(200)]
        assert t.observe(log, complete=True, max_len=64, elapsed=100)
    assert len(denials(t)) <= 5 * 5 * (3 + 1)
    assert len(t._log) <= 64  # the reconstructed log never outgrows acllog-max-len


@pytest.mark.parametrize("junk", [
    None, "nope", 42, {"count": 1}, {**entry(), "count": "3"}, {**entry(), "count": True},
    {**entry(), "count": 0}, {**entry(), "username": 5}, {**entry(), "reason": None}, [1, 2, 3],
])
def test_malformed_entries_are_skipped(junk: object) -> None:
    t = AclLogTracker()
    t.observe([entry("eve", 1, age=50)], complete=False)
    assert t.observe([entry("bob", 2, age="soon"), junk, entry("eve", 1, age=60)], complete=False,
                     max_len="x", elapsed=float("nan"))
    assert denials(t) == {auth("eve"): 0, auth("bob"): 2}
    assert t.observe(junk, complete=True)  # not even a list: an empty log


# --- property test against a model of src/acl.c -------------------------------------------------------

KEYS = [("auth", "toplevel", "AUTH", "mallory"), ("auth", "toplevel", "AUTH", "eve"),
        ("key", "toplevel", "app:secret", "app"), ("key", "toplevel", "other:1", "app"),
        ("command", "multi", "flushall", "app"), ("channel", "lua", "news", "svc")]
GAPS_MS = [0, 150, 1_500, 20_000, 59_000, 61_000, 150_000]


class RedisAclLog:
    """ACL LOG as Redis keeps it: bump a young same-key entry among the first 10, else add and trim."""

    def __init__(self, max_len: int, with_ids: bool) -> None:
        self.max_len, self.with_ids = max_len, with_ids
        self.log: list[dict] = []
        self.now = 0  # ms
        self.next_id = 0

    def deny(self, key: tuple[str, str, str, str]) -> None:
        for i, ent in enumerate(self.log[:10]):
            if ent["key"] == key and self.now - ent["updated"] < 60_000:
                ent["count"] += 1
                ent["updated"] = self.now
                self.log.insert(0, self.log.pop(i))
                return
        fresh = {"key": key, "count": 1, "created": self.now, "updated": self.now, "id": self.next_id}
        self.log.insert(0, fresh)
        self.next_id += 1
        del self.log[self.max_len:]

    def fetch(self, n: int) -> list[dict[str, object]]:
        out = []
        for ent in self.log[:n]:
            reason, context, obj, user = ent["key"]
            age = (self.now - ent["updated"]) / 1000
            out.append(entry(user, ent["count"], reason=reason, context=context, obj=obj, age=age,
                             eid=ent["id"] if self.with_ids else None))
        return out


def histories(with_ids: bool) -> st.SearchStrategy:
    @st.composite
    def build(draw: st.DrawFn) -> tuple[int, list]:
        max_len = draw(st.sampled_from([12, 20, 40]))
        denial = st.tuples(st.sampled_from(GAPS_MS), st.integers(0, len(KEYS) - 1))
        # At most max_len - 10 denials between scrapes: more changes than that make a full log ambiguous.
        interval = st.tuples(st.booleans() if with_ids else st.just(False),
                             st.one_of(st.lists(denial, max_size=4),
                                       st.lists(denial, min_size=(max_len - 10) // 2, max_size=max_len - 10)),
                             st.sampled_from([0, 3_000, 30_000]))
        return max_len, draw(st.lists(interval, min_size=2, max_size=10))
    return build()


def run_history(max_len: int, intervals: list, with_ids: bool) -> None:
    model, tracker = RedisAclLog(max_len, with_ids), AclLogTracker()
    expected: Counter[Label] = Counter()
    last = 0
    for n, (reset, denials_, pause) in enumerate(intervals):
        model.now += 2_000  # denials never land on a scrape's millisecond (the age check's tolerance)
        if reset:
            model.log.clear()
        for gap, key in denials_:
            model.now += gap
            model.deny(KEYS[key])
            if n:  # interval 0 happens before the exporter starts: the baseline
                expected[(KEYS[key][0], KEYS[key][1], KEYS[key][3])] += 1
        model.now += 2_000 + pause
        elapsed = (model.now - last) / 1000
        last = model.now
        if not tracker.observe(model.fetch(16), complete=False, max_len=max_len, elapsed=elapsed):
            assert tracker.observe(model.fetch(max_len), complete=True, max_len=max_len, elapsed=elapsed)
        counts, gauge = metrics(tracker)
        assert {k: v for k, v in counts.items() if v} == dict(expected)
        assert gauge == len(model.log)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(with_ids=False))
def test_property_counts_every_denial_once_without_entry_id(history: tuple[int, list]) -> None:
    run_history(*history, with_ids=False)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(with_ids=True))
def test_property_counts_every_denial_once_with_entry_id(history: tuple[int, list]) -> None:
    run_history(*history, with_ids=True)


# --- real redis-server ------------------------------------------------------------------------------

NO_RETRY = {"protocol": 2, "retry": Retry(NoBackoff(), 0)}  # one AUTH per attempt, no HELLO fallback


@pytest.fixture
def server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed")
    srv = start_redis(acl_users={"app": "on >app-pw ~app:* +get"})
    try:
        yield srv
    finally:
        srv.stop()


def fail_auth(port: int, user: str, times: int) -> None:
    for _ in range(times):
        with (
            redis.Redis(port=port, username=user, password="wrong", **NO_RETRY) as client,
            pytest.raises(redis.AuthenticationError),
        ):
            client.ping()


def test_real_redis_counts_each_denial_once(server: RedisServer) -> None:
    admin = redis.Redis(port=server.port, decode_responses=True, **NO_RETRY)
    app = redis.Redis(port=server.port, username="app", password="app-pw", decode_responses=True, **NO_RETRY)
    tracker = AclLogTracker()
    last = time.monotonic()

    def scrape() -> bool:
        """ACL LOG 16, and the whole log if the tracker asks; entries shaped as hiredis gives them."""
        nonlocal last
        now = time.monotonic()
        elapsed, last = now - last, now

        def fetch(n: int) -> list[dict[str, object]]:
            return [{str(k): v if k == "count" else str(v) for k, v in e.items()} for e in admin.acl_log(n)]
        if tracker.observe(fetch(16), complete=False, elapsed=elapsed):
            return True
        assert tracker.observe(fetch(128), complete=True, elapsed=elapsed)
        return False

    def deny(cmd: tuple[str, ...], times: int) -> None:
        for _ in range(times):
            with pytest.raises(redis.exceptions.NoPermissionError):
                app.execute_command(*cmd)

    try:
        fail_auth(server.port, "eve", 2)  # before the exporter starts: never counted
        assert scrape()
        assert denials(tracker) == {auth("eve"): 0}
        fail_auth(server.port, "mallory", 7)
        fail_auth(server.port, "eve", 1)
        deny(("GET", "other:1"), 2)
        deny(("SET", "app:1", "x"), 1)
        assert scrape()
        expected = {auth("eve"): 1, auth("mallory"): 7, ("key", "toplevel", "app"): 2,
                    ("command", "toplevel", "app"): 1}
        assert denials(tracker) == expected
        fail_auth(server.port, "mallory", 3)
        assert scrape()
        expected[auth("mallory")] = 10
        for _ in range(5):
            time.sleep(0.05)
            assert scrape()
            assert denials(tracker) == expected
        for i in range(20):  # password spraying: 20 new entries, more than the 16-entry prefix
            fail_auth(server.port, f"u{i:02}", 1)
        assert not scrape()  # needed the whole log
        expected |= {auth(f"u{i:02}"): 1 for i in range(17)} | {auth("other"): 3}  # 20 user names at most
        assert denials(tracker) == expected and metrics(tracker)[1] == 24
        assert scrape() and denials(tracker) == expected
        admin.execute_command("ACL", "LOG", "RESET")
        fail_auth(server.port, "mallory", 2)
        assert scrape()
        expected[auth("mallory")] = 12
        assert metrics(tracker) == (expected, 1)
    finally:
        admin.close()
        app.close()
