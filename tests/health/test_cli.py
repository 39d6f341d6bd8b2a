"""``cachewatch health`` as scripts run it (a subprocess): exit codes, JSON, specs, --watch, --interval, usage."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cachewatch.local_redis import RedisServer
from cachewatch.spec import Cluster, FleetSpec, Node, Region, Team
from tests.health.command import EX_USAGE, HEALTHY_ARGS, environment, health
from tests.health.probe import PASSWORD, closed_port
from tests.support.fake_servers import BlackHole

Servers = Callable[..., RedisServer]


def test_a_healthy_node_exits_0_and_never_shows_the_password(servers: Servers) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    done = health("--target", server.url, "--json")
    assert done.returncode == 0, done.stderr
    (node,) = json.loads(done.stdout)
    assert (node["address"], node["state"]) == (server.addr, "healthy")
    assert PASSWORD not in done.stdout + done.stderr
    table = health("--target", server.url)
    assert table.returncode == 0 and "1 node: 1 healthy" in table.stdout


def test_a_degraded_node_exits_1_with_the_password_from_a_file(servers: Servers, tmp_path: Path) -> None:
    server = servers("--maxmemory", "64mb", "--latency-monitor-threshold", "100", password=PASSWORD)  # noeviction
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    done = health("--target", server.url, "--redis-password-file", str(secret), env=environment())
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cfg.eviction_policy" in done.stdout and "degraded" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr


def test_an_unreachable_node_exits_2_within_the_deadline() -> None:
    with BlackHole() as hole:
        start = time.monotonic()
        done = health("--target", f"redis://127.0.0.1:{hole.port}", "--target", f"redis://127.0.0.1:{closed_port()}",
                      "--timeout", "500ms", "--json")
        elapsed = time.monotonic() - start
    assert done.returncode == 2, done.stderr
    phases = {node["reason"].split(":")[0] for node in json.loads(done.stdout)}
    assert phases == {"timeout", "connect"}
    assert elapsed < 3  # interpreter start-up plus one 0.5 s deadline: the nodes are checked concurrently


def test_a_node_that_refuses_info_exits_3(servers: Servers) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD, acl_users={"pinger": "on >pinger-pw-5e1d -@all +ping"})
    done = health("--target", server.url, env=environment(REDIS_USER="pinger", REDIS_PASSWORD="pinger-pw-5e1d"))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "unknown" in done.stdout


def test_the_worst_node_decides(servers: Servers) -> None:
    healthy = servers(*HEALTHY_ARGS, password=PASSWORD)
    done = health("--target", healthy.url, "--target", f"redis://127.0.0.1:{closed_port()}")
    assert done.returncode == 2 and "1 unhealthy, 1 healthy" in done.stdout


def test_a_spec_checks_every_node_with_its_cluster(servers: Servers, tmp_path: Path) -> None:
    cache, store = servers(*HEALTHY_ARGS, password=PASSWORD), servers(*HEALTHY_ARGS, password=PASSWORD)
    team = Team(name="cache", channels={"mail": {"kind": "email", "to": ["a@example.com"]}},
                escalation={"critical": ["mail"]})
    spec = FleetSpec(regions=[Region(name="lab", clusters=[
        Cluster(name="sessions", team="cache", nodes=[Node(address=cache.addr)]),
        Cluster(name="ledger", team="cache", kind="store", nodes=[Node(address=store.addr)])])], teams=[team])
    path = tmp_path / "fleet.json"
    path.write_text(spec.model_dump_json())
    done = health(str(path), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    nodes = {n["address"]: n for n in json.loads(done.stdout)}
    assert (nodes[cache.addr]["cluster"], nodes[cache.addr]["kind"]) == ("sessions", "cache")
    assert (nodes[store.addr]["cluster"], nodes[store.addr]["kind"]) == ("ledger", "store")


def test_interval_takes_two_samples_so_rate_checks_decide(servers: Servers) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    rates = ("mem.eviction_rate", "net.rejected_connections", "repl.full_sync", "mem.oom_rejects")
    for flags, expected in (((), "skip"), (("--interval", "200ms"), "pass")):
        (node,) = json.loads(health("--target", server.url, "--json", *flags).stdout)
        assert {c["id"]: c["status"] for c in node["checks"] if c["id"] in rates} == dict.fromkeys(rates, expected)


def test_watch_repeats_until_interrupted_and_rates_work_from_the_second_cycle(servers: Servers) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    proc = subprocess.Popen([sys.executable, "-m", "cachewatch", "health", "--target", server.url, "--json",
                             "--watch", "300ms"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environment(REDIS_PASSWORD=PASSWORD))
    try:
        cycles = [json.loads(proc.stdout.readline()) for _ in range(2)]  # type: ignore[union-attr]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()
        proc.communicate()
    rate = [{c["id"]: c["status"] for c in cycle[0]["checks"]}["mem.eviction_rate"] for cycle in cycles]
    assert rate == ["skip", "pass"]


@pytest.mark.parametrize(("args", "message"), [
    ((), "nothing to check"),
    (("--target", "redis://u:hunter2-secret@127.0.0.1:6379"), "no password in the URL"),
    (("--target", "http://127.0.0.1:6379"), "not a redis://"),
    (("--target", "redis://127.0.0.1:6379", "--timeout", "soon"), "--timeout"),
    (("--target", "redis://127.0.0.1:6379", "--watch", "0"), "--watch: must be more than 0"),
    (("--target",), "expected one argument"),
])
def test_usage_errors_exit_4(args: tuple[str, ...], message: str) -> None:
    done = health(*args)
    assert done.returncode == EX_USAGE and message in done.stderr, done.stderr
    assert "hunter2-secret" not in done.stderr


def test_a_bad_spec_prints_its_problems_and_exits_4(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("regions: []\nteams: []\n")
    done = health(str(path))
    assert done.returncode == EX_USAGE
    assert len(done.stderr.strip().splitlines()) >= 2 and "regions" in done.stderr


def test_help_documents_the_exit_codes() -> None:
    done = health("--help")
    assert done.returncode == 0
    for line in ("0  every node healthy", "1  degraded", "2  unhealthy", "3  unknown", "4  usage", "--interval"):
        assert line in done.stdout
