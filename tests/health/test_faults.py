"""Every fault injected into a real redis-server, never faked: each gives its check id at its severity.

Each test starts its own servers (the session's shared ones stay undisturbed) and stops them afterwards.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from cachewatch.health.evaluate import NodeHealth
from cachewatch.health.snapshot import NodeUnreachable
from cachewatch.local_redis import RedisServer, start_replica
from tests.health.probe import PASSWORD, Probe, closed_port, result
from tests.support.fake_servers import BlackHole, GarbageSpeaker

Servers = Callable[..., RedisServer]
Probes = Callable[..., Probe]
Hold = Callable[[int, int], list[socket.socket]]
HEALTHY_ARGS = ("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru", "--latency-monitor-threshold", "100")


def statuses(health: NodeHealth, *wanted: str) -> dict[str, str]:
    return {c.id: c.status for c in health.checks if c.status in wanted}


def fill(server: RedisServer, *, keys: int, size: int) -> int:
    """Write ``keys`` values of ``size`` bytes; the number of writes refused with OOM."""
    client = redis.Redis(port=server.port, password=server.password)
    refused, value = 0, b"x" * size
    try:
        for start in range(0, keys, 500):
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(start + 500, keys)):
                pipe.set(f"fill:{i}", value)
            refused += sum(isinstance(r, redis.exceptions.ResponseError) for r in pipe.execute(raise_on_error=False))
    finally:
        client.close()
    return refused


@pytest.fixture
def held_connections() -> Iterator[Hold]:
    """``hold(port, n)``: n idle client connections (each answered a PING, so Redis counts it); closed after."""
    held: list[socket.socket] = []

    def hold(port: int, count: int) -> list[socket.socket]:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=2)
            held.append(sock)
            sock.sendall(f"AUTH {PASSWORD}\r\nPING\r\n".encode())
            reply = b""
            while reply.count(b"\r\n") < 2:
                chunk = sock.recv(256)
                if not chunk:
                    break
                reply += chunk
        return held[-count:]

    yield hold
    for sock in held:
        sock.close()


def test_a_healthy_cache_is_healthy_with_no_warning(servers: Servers, probe: Probes) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    p = probe(server)
    first, second = p.health(), p.health()
    for health in (first, second):
        assert health.state == "healthy", health.not_passing
        assert statuses(health, "warning", "critical", "unknown") == {}
    assert result(second, "mem.eviction_rate").status == "pass"  # the second sample feeds the rate checks
    assert result(first, "mem.eviction_rate").status == "skip"


def test_memory_full_under_noeviction(servers: Servers, probe: Probes) -> None:
    server = servers("--maxmemory", "8mb", "--maxmemory-policy", "noeviction", password=PASSWORD)
    assert fill(server, keys=2000, size=10_000) > 0  # writes were refused: memory is full
    p = probe(server)
    full = p.health()
    assert result(full, "mem.usage").status == "critical" and result(full, "mem.usage").value >= 0.9
    assert result(full, "cfg.eviction_policy").status == "warning"
    assert full.state == "unhealthy"
    assert fill(server, keys=10, size=10_000) == 10
    assert result(p.health(), "mem.oom_rejects").status == "critical"  # 10 more OOM replies since the last sample


def test_an_eviction_storm_under_allkeys_lru(servers: Servers, probe: Probes) -> None:
    server = servers("--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru", password=PASSWORD)
    p = probe(server)
    before = p.health()
    assert result(before, "mem.usage").status == "skip"  # a full allkeys-* cache is normal: eviction is the signal
    fill(server, keys=20_000, size=1000)
    storm = p.health()
    rate = result(storm, "mem.eviction_rate")
    assert rate.status == "critical" and rate.value >= 100, rate
    assert result(storm, "mem.usage").status == "skip" and result(storm, "cfg.eviction_policy").status == "pass"


def test_the_replica_link_goes_down_when_the_primary_dies(servers: Servers, probe: Probes) -> None:
    primary = servers(password=PASSWORD)
    replica = start_replica(primary)
    try:
        p = probe(replica)
        assert result(p.health(), "repl.link_down").status == "pass"
        primary.kill()
        deadline = time.monotonic() + 10
        while (link := result(p.health(), "repl.link_down")).status != "critical" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert link.status == "critical"
    finally:
        replica.stop()


def test_a_slow_command_shows_in_the_slow_log_and_the_latency_monitor(servers: Servers, probe: Probes) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    server.cli("DEBUG", "SLEEP", "0.2")
    health = probe(server).health()
    slow = result(health, "perf.slow_commands")
    assert slow.status == "warning" and 0.19 <= slow.value < 0.5, slow
    spike = result(health, "perf.latency_spikes")
    assert spike.status == "warning" and spike.value >= 0.19, spike
    assert health.state == "degraded"


def test_protected_mode_off_with_a_nopass_user(servers: Servers, probe: Probes) -> None:
    server = servers("--protected-mode", "yes")  # no requirepass: the default user is on with nopass
    p = probe(server)
    before = p.health()
    assert result(before, "sec.open_access").status == "pass"  # protected mode still guards it
    assert result(before, "sec.nopass_user").status == "critical"
    server.cli("CONFIG", "SET", "protected-mode", "no")
    after = p.health()
    assert result(after, "sec.open_access").status == "warning"  # bound to loopback only: a warning, not critical
    assert result(after, "sec.nopass_user").status == "critical"


def test_save_enabled_on_a_cache_is_reported_as_info(servers: Servers, probe: Probes) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    server.cli("CONFIG", "SET", "save", "3600 1")
    cache = probe(server).health()
    assert result(cache, "pers.cache_persistence_on").status == "info"
    assert cache.state == "healthy"  # info is for the report, not the state
    store = probe(server, kind="store").health()
    assert result(store, "pers.cache_persistence_on").status == "skip"  # a store should persist


def test_maxclients_nearly_exhausted(servers: Servers, probe: Probes, held_connections: Hold) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    server.cli("CONFIG", "SET", "maxclients", "10")
    p = probe(server)
    held_connections(server.port, 8)
    nearly = p.health()  # 8 held + the probe = 9 of 10
    assert result(nearly, "net.maxclients").status == "warning" and result(nearly, "net.maxclients").value == 0.9
    held_connections(server.port, 1)
    full = p.health()
    assert result(full, "net.maxclients").status == "critical"
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as extra:
        assert b"max number of clients" in extra.recv(256)
    assert result(p.health(), "net.rejected_connections").status == "critical"


def test_maxmemory_above_the_hosts_memory(servers: Servers, probe: Probes) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    p = probe(server)
    host = int(p.snapshot().info["total_system_memory"])
    server.cli("CONFIG", "SET", "maxmemory", str(2 * host))
    over = result(p.health(), "mem.maxmemory_vs_host")
    assert over.status == "critical" and over.value == pytest.approx(2.0)


def test_commands_refused_by_acl_make_their_checks_unknown(servers: Servers, probe: Probes) -> None:
    watcher = "on >watcher-pw-2b9c ~* -@all +info +slowlog|get +latency|latest +cluster|info"  # no CONFIG, no ACL
    server = servers(*HEALTHY_ARGS, password=PASSWORD, acl_users={"watcher": watcher})
    p = probe(server, user="watcher", password="watcher-pw-2b9c")
    snap = p.snapshot()
    assert snap.refused == {"config", "acl"}
    health = p.health()
    unknown = statuses(health, "unknown")
    assert set(unknown) == {"pers.cache_persistence_on", "cfg.latency_monitor_off", "cfg.slowlog_off",
                            "cfg.tcp_keepalive_off", "sec.open_access", "sec.nopass_user",
                            "sec.debug_command_enabled"}
    assert "CONFIG refused" in result(health, "cfg.slowlog_off").reason
    assert health.state == "healthy"  # refused is not failed; the checks INFO feeds still decide


def test_info_refused_leaves_the_node_unknown(servers: Servers, probe: Probes) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD, acl_users={"pinger": "on >pinger-pw-5e1d -@all +ping"})
    health = probe(server, user="pinger", password="pinger-pw-5e1d").health()
    assert health.state == "unknown"
    assert {c.status for c in health.checks} <= {"unknown", "skip"}


@pytest.mark.parametrize("timeout", [0.5, 1.5])
def test_a_black_hole_is_unreachable_within_the_deadline(probe: Probes, timeout: float) -> None:
    with BlackHole() as hole:
        p = probe(hole.port, timeout=timeout)
        start = time.monotonic()
        with pytest.raises(NodeUnreachable) as caught:
            p.snapshot()
        elapsed = time.monotonic() - start
    assert caught.value.phase == "timeout" and f"{timeout:g}s" in caught.value.reason
    assert timeout <= elapsed < timeout + 0.5


def test_a_closed_port_is_unreachable_at_once(probe: Probes) -> None:
    start = time.monotonic()
    with pytest.raises(NodeUnreachable) as caught:
        probe(closed_port()).snapshot()
    assert caught.value.phase == "connect" and time.monotonic() - start < 1


def test_a_server_speaking_garbage_fails_in_the_reply_phase(probe: Probes) -> None:
    with GarbageSpeaker() as garbage, pytest.raises(NodeUnreachable) as caught:
        probe(garbage.port).snapshot()
    assert caught.value.phase == "reply"


def test_a_wrong_password_fails_in_the_auth_phase_and_is_not_shown(servers: Servers, probe: Probes) -> None:
    server = servers(password=PASSWORD)
    with pytest.raises(NodeUnreachable) as caught:
        probe(server, password="not-the-password-91ab").snapshot()
    assert caught.value.phase == "auth"
    assert "not-the-password" not in str(caught.value) and PASSWORD not in str(caught.value)
    with pytest.raises(NodeUnreachable) as caught:
        probe(server, password="").snapshot()  # no password at all: NOAUTH
    assert caught.value.phase == "auth"


def test_a_node_recovers_on_the_same_client_after_a_timeout(servers: Servers, probe: Probes) -> None:
    """A deadline cut a reply in half; the next cycle must not read its leftovers."""
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    p = probe(server, timeout=0.3)
    client = redis.Redis(port=server.port, password=PASSWORD)
    try:
        client.execute_command("CLIENT", "PAUSE", "600", "ALL")
        with pytest.raises(NodeUnreachable):
            p.snapshot()
        time.sleep(0.4)
    finally:
        client.close()
    assert p.health().state == "healthy"


def test_a_restarted_node_is_no_false_alarm_on_the_kept_connection(servers: Servers, probe: Probes) -> None:
    """--watch keeps one connection per node; the server having closed it since (a restart) is not an outage."""
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    p = probe(server)
    assert p.health().state == "healthy"
    server.kill()
    restarted = servers(*HEALTHY_ARGS, password=PASSWORD, port=server.port)
    assert p.health().state == "healthy"
    restarted.kill()
    with pytest.raises(NodeUnreachable) as caught:
        p.snapshot()
    assert caught.value.phase == "connect"
