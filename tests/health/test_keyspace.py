"""``--keyspace``: key patterns, estimates within 5% of the truth, budgets that end the run early (partial), the
replica preference, refused commands, and the encoding findings; all on real redis-servers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import redis

from cachewatch.health.diagnose.keyspace import section
from cachewatch.health.key_patterns import OTHER, PatternCap, pattern_of
from cachewatch.health.keyspace import Budget, KeyspaceReport, analyse
from cachewatch.health.targets import Credentials, Target
from cachewatch.local_redis import RedisServer, start_replica
from tests.support.keyspace_data import PATTERNS, load_keyspace

Servers = Callable[..., RedisServer]
# The truth: every key's MEMORY USAGE (same SAMPLES as the analysis), summed by the name's first segment.
TRUTH = """
local cursor, sums, counts = '0', {}, {}
repeat
  local reply = redis.call('SCAN', cursor, 'COUNT', 1000)
  cursor = reply[1]
  for _, key in ipairs(reply[2]) do
    local prefix = string.match(key, '^[^:]+')
    sums[prefix] = (sums[prefix] or 0) + redis.call('MEMORY', 'USAGE', key, 'SAMPLES', 5)
    counts[prefix] = (counts[prefix] or 0) + 1
  end
until cursor == '0'
local out = {}
for prefix, total in pairs(sums) do
  table.insert(out, prefix); table.insert(out, total); table.insert(out, counts[prefix])
end
return out
"""


def load(server: RedisServer, total: int) -> dict[str, int]:
    """60% carts, 30% sessions, 10% products; the count per pattern."""
    client = redis.Redis(port=server.port, password=server.password)
    try:
        return load_keyspace(client, total)
    finally:
        client.close()


def truth(server: RedisServer) -> dict[str, tuple[int, int]]:
    """pattern → (bytes, keys) from a full scan."""
    client = redis.Redis(port=server.port, password=server.password)
    try:
        flat = client.eval(TRUTH, 0)
    finally:
        client.close()
    return {PATTERNS[flat[i].decode()]: (int(flat[i + 1]), int(flat[i + 2])) for i in range(0, len(flat), 3)}


def run(server: RedisServer, budget: Budget, **credentials: str) -> KeyspaceReport:
    target = Target(host="127.0.0.1", port=server.port)
    return asyncio.run(analyse(target, Credentials(**credentials) if credentials else Credentials(
        password=server.password), budget))


def assert_within_5_percent(report: KeyspaceReport, server: RedisServer) -> None:
    real = truth(server)
    rows = {p.pattern: p for p in report.patterns}
    assert set(rows) == set(real)
    for pattern, (size, keys) in real.items():
        assert rows[pattern].keys == pytest.approx(keys, rel=0.05), pattern
        assert rows[pattern].bytes == pytest.approx(size, rel=0.05), pattern


@pytest.mark.parametrize(("key", "pattern"), [
    ("user:123:cart", "user:*:cart"),
    ("session:550e8400-e29b-41d4-a716-446655440000", "session:*"),
    ("product:42", "product:*"),
    ("cache/v2/page.html", "cache/v2/page.html"),
    ("tok_aB3dE5fG7hI9jK1lM", "tok_*"),
    ("obj:deadbeef12:meta", "obj:*:meta"),
    ("session:ecbaddbe-17", "session:*-*"),  # hex without a digit is still an id (1 in 2,500 random ones)
    ("page:Deadbeef", "page:Deadbeef"),  # mixed case: a word
    ("feature-flags", "feature-flags"),
    (b"bin\xff:12", "bin\\xff:*"),
])
def test_identifiers_between_separators_become_a_wildcard(key: str | bytes, pattern: str) -> None:
    assert pattern_of(key) == pattern


def test_distinct_patterns_are_capped() -> None:
    cap = PatternCap(limit=2)
    assert [cap(k) for k in ("a:1", "b:1", "c:1", "a:2")] == ["a:*", "b:*", OTHER, "a:*"]


def test_a_sample_of_100k_keys_estimates_each_pattern_within_5_percent(servers: Servers) -> None:
    server = servers()
    expected = load(server, 100_000)
    report = run(server, Budget(keys=20_000, seconds=300))  # the key budget decides, even on a busy machine
    assert (report.partial, report.stopped_by, report.sampled) == (True, "key budget", 20_000)
    assert report.keys_total == 100_000
    assert {p.pattern: round(p.keys, -3) for p in report.patterns}.keys() == expected.keys()
    assert_within_5_percent(report, server)
    ttl = dict(report.ttl)
    assert ttl["no TTL"] == pytest.approx(70_000, rel=0.05)  # carts and products
    assert ttl["1 min – 1 h"] + ttl["1 h – 4 h"] == pytest.approx(30_000, rel=0.05)  # the sessions


def test_a_million_keys_are_estimated_within_5_percent_inside_the_budgets(servers: Servers) -> None:
    server = servers()
    load(server, 1_000_000)
    budget = Budget()
    report = run(server, budget)
    assert report.keys_total == 1_000_000
    # the key budget ends it, or on a busy machine the time budget first: either way partial, never over budget
    assert report.partial and report.stopped_by in ("key budget", "time budget")
    assert 0 < report.sampled <= budget.keys
    assert_within_5_percent(report, server)


def test_a_complete_scan_is_not_partial_and_exact(servers: Servers) -> None:
    server = servers()
    load(server, 5_000)
    report = run(server, Budget())
    assert (report.partial, report.stopped_by, report.sampled) == (False, "end of keyspace", 5_000)
    assert {p.pattern: (p.bytes, p.keys) for p in report.patterns} == truth(server)


def test_the_time_budget_ends_the_run_with_a_partial_flag(servers: Servers) -> None:
    server = servers()
    load(server, 50_000)
    report = run(server, Budget(seconds=0.01, scan_count=100))
    assert report.partial and report.stopped_by == "time budget"
    assert 0 < report.sampled < 50_000


def test_a_primary_is_sampled_on_its_replica(servers: Servers) -> None:
    primary = servers()
    replica = start_replica(primary)
    try:
        load(primary, 2_000)
        deadline = time.monotonic() + 30  # WAIT gives up after its timeout on a busy machine; the keys must be there
        while int(replica.cli("DBSIZE")) < 2_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        report = run(primary, Budget())
        assert report.via_replica and report.node == replica.addr and report.sampled == 2_000
    finally:
        replica.stop()


def test_a_refused_memory_usage_makes_the_section_unknown(servers: Servers) -> None:
    server = servers(acl_users={"app": "on >app-pw ~* +@all -memory"})
    load(server, 100)
    report = run(server, Budget(), username="app", password="app-pw")
    assert report.refused.startswith("MEMORY USAGE") and report.sampled == 0
    assert section(report, "allkeys-lru").status == "unknown"


def test_wasteful_encodings_and_big_values_are_findings(servers: Servers) -> None:
    server = servers("--hash-max-listpack-entries", "4")
    client = redis.Redis(port=server.port)
    try:
        for i in range(50):
            client.hset(f"profile:{i}", mapping={f"f{j}": j for j in range(10)})
        client.set("blob:1", b"x" * 200_000)
        client.set("counter:1", "ab")
        client.append("counter:1", "c")  # APPEND makes a raw string
    finally:
        client.close()
    report = run(server, Budget())
    ids = {f.id: f for f in section(report, "volatile-lru").findings}
    assert {"diag.mem.encoding_hash", "diag.mem.big_string", "diag.mem.raw_small_strings",
            "diag.mem.no_ttl"} <= set(ids)
    assert "hash-max-listpack-entries" in ids["diag.mem.encoding_hash"].fix
    assert ids["diag.mem.no_ttl"].severity == "warning"  # volatile-* evicts only keys with a TTL
    assert report.biggest[0].key == "blob:1"
