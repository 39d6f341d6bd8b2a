"""The active probe (health/probe.py) against real redis-servers: phases, modules, and every failure as
``redis_probe_success 0`` with the phase it stopped in, within the deadline. Faults are injected, not faked."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from cachewatch.health.hashslot import key_slot, owned_ranges, tag_for
from cachewatch.health.heartbeat import heartbeat_key
from cachewatch.health.probe import ProbeOutcome, probe
from cachewatch.health.probe_checks import SnapshotMemory
from cachewatch.health.probe_wire import Endpoint, dial
from cachewatch.local_redis import RedisServer, TlsFiles, free_port, start_replica
from tests.health.probe import PASSWORD, closed_port
from tests.support.fake_servers import BlackHole, GarbageSpeaker

Servers = Callable[..., RedisServer]
HEALTHY_ARGS = ("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru", "--latency-monitor-threshold", "100")
CLUSTER_ARGS = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")


def run(port: int, **kwargs: object) -> ProbeOutcome:
    kwargs.setdefault("timeout", 2.0)
    return asyncio.run(probe("127.0.0.1", port, **kwargs))  # type: ignore[arg-type]


def series(outcome: ProbeOutcome) -> dict[str, float]:
    """``family{a="1",b="2"}`` → value, as the exporter renders it."""
    out = {}
    for family, labels, value in outcome.samples:
        text = ",".join(f'{k}="{v}"' for k, v in labels.items())
        out[f"{family}{{{text}}}" if text else family] = value
    return out


def phases(outcome: ProbeOutcome) -> list[str]:
    return [labels["phase"] for family, labels, _ in outcome.samples if family == "redis_probe_duration_seconds"]


def reached(outcome: ProbeOutcome, value: float = 1.0) -> dict[str, str]:
    """check → severity of every check status series with that value."""
    return {labels["check"]: labels["severity"] for family, labels, v in outcome.samples
            if family == "redis_health_check_status" and v == value}


def state(outcome: ProbeOutcome) -> str:
    return next(labels["state"] for family, labels, v in outcome.samples if family == "redis_health_state" and v)


# --- phases and failures -----------------------------------------------------------------------------------
def test_a_healthy_node_passes_every_phase_and_is_healthy(servers: Servers) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    outcome = run(server.port, password=PASSWORD)
    assert outcome.success and series(outcome)["redis_probe_success"] == 1
    assert phases(outcome) == ["connect", "auth", "ping", "checks"]
    assert state(outcome) == "healthy"
    assert reached(outcome) == {}  # no check reached any level
    # a decided check publishes one series per level it has, 0 when not reached
    nopass = 'redis_health_check_status{check="sec.nopass_user",category="security",severity="critical"}'
    assert series(outcome)[nopass] == 0


def test_a_tls_node_has_a_tls_phase(redis_tls: RedisServer, tls_files: TlsFiles) -> None:
    outcome = run(redis_tls.tls_port, tls=True, ca_file=str(tls_files.ca_cert))
    assert outcome.success, outcome.reason
    assert phases(outcome) == ["connect", "tls", "ping", "checks"]


def test_an_untrusted_certificate_fails_in_the_tls_phase(redis_tls: RedisServer) -> None:
    outcome = run(redis_tls.tls_port, tls=True)  # the system CAs do not know the test CA
    assert not outcome.success
    assert (outcome.failed_phase, phases(outcome)) == ("tls", ["connect", "tls"])
    assert "certificate" in outcome.reason


def test_a_wrong_password_fails_in_the_auth_phase(servers: Servers) -> None:
    server = servers(password=PASSWORD)
    outcome = run(server.port, password="not-the-password")
    assert series(outcome)["redis_probe_success"] == 0
    assert (outcome.failed_phase, phases(outcome)) == ("auth", ["connect", "auth"])
    assert "WRONGPASS" in outcome.reason and "not-the-password" not in outcome.reason
    assert state(outcome) == "unhealthy" and reached(outcome) == {}


def test_no_password_where_one_is_required_fails_at_ping(servers: Servers) -> None:
    outcome = run(servers(password=PASSWORD).port)
    assert (outcome.success, outcome.failed_phase) == (False, "ping")
    assert "NOAUTH" in outcome.reason


def test_a_dead_port_fails_in_the_connect_phase() -> None:
    outcome = run(closed_port())
    assert series(outcome)["redis_probe_success"] == 0
    assert (outcome.failed_phase, phases(outcome)) == ("connect", ["connect"])
    assert outcome.reason == "connection refused"


@pytest.mark.parametrize("module", ["health", "replication"])
def test_a_black_hole_fails_within_the_deadline(module: str) -> None:
    with BlackHole() as hole:
        start = time.monotonic()
        outcome = run(hole.port, module=module, timeout=0.5)
        elapsed = time.monotonic() - start
    assert series(outcome)["redis_probe_success"] == 0
    assert (outcome.failed_phase, phases(outcome)) == ("ping", ["connect", "ping"])
    assert "deadline" in outcome.reason
    assert elapsed < 0.5 + 0.4  # the deadline holds (the margin is for a loaded machine)


def test_a_server_speaking_garbage_fails_without_raising() -> None:
    with GarbageSpeaker() as speaker:
        outcome = run(speaker.port)
    assert (outcome.success, outcome.failed_phase) == (False, "ping")


# --- modules health and config -----------------------------------------------------------------------------
def test_config_module_reports_only_configuration_and_security_checks(servers: Servers) -> None:
    server = servers()  # the default user needs no password and local_redis sets protected-mode no
    outcome = run(server.port, module="config")
    assert phases(outcome) == ["connect", "ping", "checks"]
    categories = {labels["category"] for family, labels, _ in outcome.samples if family == "redis_health_check_status"}
    assert categories == {"configuration", "security"}
    assert reached(outcome)["sec.nopass_user"] == "critical" and state(outcome) == "unhealthy"


def test_a_resolved_check_reads_zero_on_the_next_probe(servers: Servers) -> None:
    server = servers(*HEALTHY_ARGS, "--save", "3600 1", password=PASSWORD)
    before = run(server.port, password=PASSWORD)
    server.cli("CONFIG", "SET", "save", "")
    after = run(server.port, password=PASSWORD)
    persistence = 'redis_health_check_status{check="pers.cache_persistence_on",category="persistence",severity="info"}'
    assert (series(before)[persistence], series(after)[persistence]) == (1, 0)


def test_rate_checks_use_the_previous_probe_of_the_same_node(servers: Servers) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    memory = SnapshotMemory(min_gap=0.0)
    first = run(server.port, password=PASSWORD, memory=memory)
    second = run(server.port, password=PASSWORD, memory=memory)
    rate = 'redis_health_check_status{check="mem.eviction_rate",category="memory",severity="warning"}'
    assert rate not in series(first)  # skip without a previous sample: no series
    assert series(second)[rate] == 0


def test_a_store_kind_skips_the_cache_only_checks(servers: Servers) -> None:
    server = servers(*HEALTHY_ARGS, "--save", "3600 1", password=PASSWORD)
    outcome = run(server.port, password=PASSWORD, kind="store")
    assert "pers.cache_persistence_on" not in reached(outcome, 0.0) | reached(outcome)


# --- module replication: the heartbeat ---------------------------------------------------------------------
def test_heartbeat_measures_a_delay_per_replica(servers: Servers) -> None:
    primary = servers(password=PASSWORD)
    replicas = [start_replica(primary) for _ in range(2)]
    try:
        outcome = run(primary.port, password=PASSWORD, module="replication", timeout=5.0)  # slack for a busy host
    finally:
        for replica in replicas:
            replica.stop()
    values = series(outcome)
    assert outcome.success and phases(outcome)[-1] == "heartbeat"
    for replica in replicas:
        assert values[f'redis_replication_probe_success{{replica="{replica.addr}"}}'] == 1
        assert 0 < values[f'redis_replication_probe_delay_seconds{{replica="{replica.addr}"}}'] < 2
    assert primary.cli("KEYS", "cachewatch:heartbeat:*").strip() == ""  # the key is gone after the probe


def test_heartbeat_on_a_replica_or_a_lone_primary_has_nothing_to_measure(servers: Servers) -> None:
    primary = servers()
    lone = run(primary.port, module="replication")
    replica = start_replica(primary)
    try:
        on_replica = run(replica.port, module="replication")
    finally:
        replica.stop()
    for outcome in (lone, on_replica):
        assert outcome.success
        assert [f for f, _, _ in outcome.samples if f.startswith("redis_replication_")] == []


def stall(server: RedisServer, seconds: float) -> threading.Thread:
    """DEBUG SLEEP on ``server`` from a background thread: the server really stops for that long."""
    thread = threading.Thread(target=server.cli, args=("DEBUG", "SLEEP", str(seconds)), daemon=True)
    thread.start()
    time.sleep(0.1)  # the command is being served
    return thread


@pytest.fixture
def primary_and_replica(servers: Servers) -> Iterator[tuple[RedisServer, RedisServer]]:
    primary = servers(password=PASSWORD)
    replica = start_replica(primary)
    yield primary, replica
    replica.stop()


def test_a_stalled_replica_shows_the_stall_as_delay(primary_and_replica: tuple[RedisServer, RedisServer]) -> None:
    primary, replica = primary_and_replica
    sleeper = stall(replica, 1.5)
    outcome = run(primary.port, password=PASSWORD, module="replication", timeout=3.0)
    sleeper.join()
    delay = series(outcome)[f'redis_replication_probe_delay_seconds{{replica="{replica.addr}"}}']
    assert series(outcome)[f'redis_replication_probe_success{{replica="{replica.addr}"}}'] == 1
    assert delay >= 1.5 - 0.5  # the stall, less the time it ran before the write (0.1 s, plus a loaded machine)


def test_a_replica_that_misses_the_deadline_reports_the_time_waited(
        primary_and_replica: tuple[RedisServer, RedisServer]) -> None:
    primary, replica = primary_and_replica
    sleeper = stall(replica, 1.3)
    start = time.monotonic()
    outcome = run(primary.port, password=PASSWORD, module="replication", timeout=1.0)
    elapsed = time.monotonic() - start
    sleeper.join()
    values = series(outcome)
    assert outcome.success and elapsed < 1.0 + 0.4
    assert values[f'redis_replication_probe_success{{replica="{replica.addr}"}}'] == 0
    assert values[f'redis_replication_probe_delay_seconds{{replica="{replica.addr}"}}'] >= 0.5


def test_a_replica_the_prober_cannot_reach_reports_success_0_and_no_delay(servers: Servers) -> None:
    primary = servers()
    unreachable = closed_port()
    replica = servers("--replicaof", "127.0.0.1", str(primary.port), "--replica-announce-port", str(unreachable))
    wait_for(lambda: "state=online" in primary.cli("INFO", "replication"), "the replica to be online")
    outcome = run(primary.port, module="replication")
    values = series(outcome)
    assert outcome.success and replica.port != unreachable
    assert values[f'redis_replication_probe_success{{replica="127.0.0.1:{unreachable}"}}'] == 0
    assert f'redis_replication_probe_delay_seconds{{replica="127.0.0.1:{unreachable}"}}' not in values


def test_a_heartbeat_the_acl_refuses_fails_the_probe_in_its_phase(servers: Servers) -> None:
    primary = servers(acl_users={"reader": "on >reader-pw-81c2 ~* -@all +ping +info +get"})
    replica = start_replica(primary)
    try:
        outcome = run(primary.port, username="reader", password="reader-pw-81c2", module="replication")
    finally:
        replica.stop()
    assert (outcome.success, outcome.failed_phase) == (False, "heartbeat")
    assert "SET refused" in outcome.reason and "NOPERM" in outcome.reason


# --- cluster mode: the key must hash to a slot the primary owns --------------------------------------------
def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def cluster_node(servers: Servers) -> RedisServer:
    return servers(*CLUSTER_ARGS, "--cluster-port", str(free_port()))


@pytest.fixture
def small_cluster(servers: Servers) -> tuple[RedisServer, RedisServer, RedisServer]:
    """Two primaries splitting the slots unevenly (a: 0-999, b: 1000-16383) and a replica of ``a``."""
    a, b, r = (cluster_node(servers) for _ in range(3))
    a.cli("CLUSTER", "ADDSLOTSRANGE", "0", "999")
    b.cli("CLUSTER", "ADDSLOTSRANGE", "1000", "16383")
    for other in (b, r):
        bus = other.cli("CONFIG", "GET", "cluster-port").split()[1]
        a.cli("CLUSTER", "MEET", "127.0.0.1", str(other.port), bus)
    a_id = a.cli("CLUSTER", "MYID").strip()
    wait_for(lambda: a_id in r.cli("CLUSTER", "NODES"), "the replica to learn the primary")
    r.cli("CLUSTER", "REPLICATE", a_id)
    wait_for(lambda: all("cluster_state:ok" in n.cli("CLUSTER", "INFO") for n in (a, b, r)), "cluster_state:ok")
    wait_for(lambda: "master_link_status:up" in r.cli("INFO", "replication"), "the replica's link")
    return a, b, r


async def raw(port: int, *command: str) -> object:
    """One command's reply as the probe reads it (no client-side reshaping of CLUSTER SLOTS)."""
    wire = await dial(Endpoint("127.0.0.1", port))
    try:
        return await wire.call(*command)
    finally:
        wire.close()


def test_cluster_heartbeat_uses_a_slot_the_primary_owns(small_cluster) -> None:
    a, b, r = small_cluster
    outcome = run(a.port, module="replication")
    assert outcome.success, outcome.reason
    assert series(outcome)[f'redis_replication_probe_success{{replica="{r.addr}"}}'] == 1
    ranges = owned_ranges(asyncio.run(raw(a.port, "CLUSTER", "SLOTS")), a.cli("CLUSTER", "MYID").strip())
    assert ranges == ((0, 999),)
    key = heartbeat_key(tag_for(ranges), "token")
    server_slot = int(a.cli("CLUSTER", "KEYSLOT", key))
    assert server_slot == key_slot(key) and 0 <= server_slot <= 999
    assert run(b.port, module="replication").success  # a primary without replicas: nothing to measure


def test_key_slot_matches_the_server(servers: Servers) -> None:
    node = cluster_node(servers)
    for key in ("foo", "{user1000}.following", "a{}b", "{}{x}", "x{y}{z}", "ünïcode{é}", "cachewatch:heartbeat:{7}:t"):
        assert key_slot(key) == int(node.cli("CLUSTER", "KEYSLOT", key)), key


def test_a_single_slot_gets_a_tag_of_its_own() -> None:
    for slot in (0, 1, 8191, 16383):
        assert key_slot(heartbeat_key(tag_for(((slot, slot),)), "t")) == slot
    assert tag_for(()) is None
