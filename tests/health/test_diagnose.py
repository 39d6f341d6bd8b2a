"""``cachewatch diagnose``: a healthy node has no warning; each injected fault shows up in its section with its id;
refused commands make their section unknown; drift across a spec's cluster; the --json shape and exit codes.
Real redis-servers throughout; the latency window is short (0.2 s) to keep the tests quick."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from cachewatch.health.diagnose.collect import Options
from cachewatch.health.diagnose.model import NodeReport, Section
from cachewatch.health.diagnose.run import diagnose
from cachewatch.health.diagnose.security import allowed, dangerous_commands
from cachewatch.health.targets import Credentials, Target
from cachewatch.local_redis import RedisServer
from cachewatch.spec import Cluster, FleetSpec, Node, Region, Team
from tests.health.probe import PASSWORD, closed_port

Servers = Callable[..., RedisServer]
HEALTHY_ARGS = ("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru", "--latency-monitor-threshold", "100")
QUICK = Options(timeout=5.0, latency_seconds=0.2)
SECTIONS = ["performance", "memory", "network", "replication", "persistence", "configuration", "security"]


def run(*servers: RedisServer, user: str | None = None, password: str | None = PASSWORD) -> list[NodeReport]:
    targets = [Target(host="127.0.0.1", port=s.port) for s in servers]
    return asyncio.run(diagnose(targets, Credentials(username=user, password=password), QUICK))


def section(node: NodeReport, name: str) -> Section:
    return next(s for s in node.sections if s.name == name)


def severities(section: Section) -> dict[str, str]:
    return {f.id: f.severity for f in section.findings}


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    return subprocess.run([sys.executable, "-m", "cachewatch", "diagnose", *args, "--latency-window", "200ms"],
                          capture_output=True, text=True, env={**clean, **env}, timeout=60)


def test_a_healthy_node_has_no_warning_and_exits_0(servers: Servers) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    (node,) = run(server)
    assert node.state == "healthy"
    assert [s.name for s in node.sections] == SECTIONS
    assert not [f.id for s in node.sections for f in s.findings if f.severity in ("warning", "critical")]
    done = cli(server.url, REDIS_PASSWORD=PASSWORD)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "== performance: ok" in done.stdout and "latency (client-side PING" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr


def test_the_json_report_has_every_section_and_finding_fields(servers: Servers) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    done = cli(server.url, "--json", REDIS_PASSWORD=PASSWORD)
    (node,) = json.loads(done.stdout)["nodes"]
    assert (node["address"], node["state"], node["role"]) == (server.addr, "healthy", "master")
    assert [s["name"] for s in node["sections"]] == SECTIONS
    performance = node["sections"][0]
    assert performance["facts"]["latency"]["samples"] > 0 and performance["facts"]["latency"]["buckets"]
    findings = [f for s in node["sections"] for f in s["findings"]]
    assert findings and all(set(f) == {"id", "severity", "title", "seen", "why", "fix", "value"} for f in findings)


def test_a_slow_command_is_in_the_performance_section_by_name_only(servers: Servers) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD)
    server.cli("DEBUG", "SLEEP", "0.25")
    (node,) = run(server)
    performance = section(node, "performance")
    assert severities(performance)["perf.slow_commands"] == "warning"
    offenders = next(f for f in performance.findings if f.id == "diag.perf.slow_offenders")
    assert offenders.seen.startswith("debug|sleep: 1×") and "0.25" not in offenders.seen  # never an argument
    assert node.state == "degraded"


def test_open_access_nopass_and_dangerous_commands_are_security_findings(servers: Servers) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD,
                     acl_users={"open": "on nopass ~* +@all", "app": "on >app-pw ~* +@read +flushall"})
    server.cli("CONFIG", "SET", "protected-mode", "no")
    (node,) = run(server)
    security = section(node, "security")
    found = severities(security)
    assert found["sec.nopass_user"] == "critical" and "sec.open_access" in found
    assert found["diag.sec.dangerous_commands"] == "warning"
    dangerous = next(f for f in security.findings if f.id == "diag.sec.dangerous_commands")
    assert "open: flushall" in dangerous.seen and "app: flushall, keys (2 of" in dangerous.seen
    assert node.state == "unhealthy"


def test_acl_rules_are_applied_in_order() -> None:
    cats = frozenset({"keyspace", "write", "slow", "dangerous"})
    assert allowed(["+@all", "-flushall"], "flushall", cats) is False
    assert allowed(["-@all", "+@write"], "flushall", cats) is True  # +@write includes FLUSHALL
    assert allowed(["+@all", "-@dangerous", "+config|get"], "config|set", frozenset({"admin", "dangerous"})) is False
    assert dangerous_commands(["user mon on #abc ~* (~x* +flushall) -@all +info"]) == {"mon": []}


def test_save_on_a_cache_is_a_persistence_finding(servers: Servers) -> None:
    server = servers(*HEALTHY_ARGS, "--save", "3600 1", password=PASSWORD)
    (node,) = run(server)
    assert severities(section(node, "persistence"))["pers.cache_persistence_on"] == "info"


def test_refused_commands_make_their_sections_unknown_not_a_crash(servers: Servers) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD,
                     acl_users={"app": "on >app-pw ~* +@all -memory -acl -slowlog"})
    (node,) = run(server, user="app", password="app-pw")
    assert section(node, "memory").status == "unknown" and "MEMORY STATS" in section(node, "memory").unknown
    assert section(node, "security").status == "unknown" and "ACL LIST" in section(node, "security").unknown
    assert section(node, "performance").status == "unknown"
    assert section(node, "network").status != "unknown"
    assert node.state == "healthy"


def test_a_cluster_node_with_another_policy_drifts(servers: Servers, tmp_path: Path) -> None:
    nodes = [servers(*HEALTHY_ARGS, password=PASSWORD) for _ in range(3)]
    nodes[2].cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
    team = Team(name="cache", channels={"mail": {"kind": "email", "to": ["a@example.com"]}},
                escalation={"critical": ["mail"]})
    spec = FleetSpec(regions=[Region(name="lab", clusters=[
        Cluster(name="sessions", team="cache", nodes=[Node(address=n.addr) for n in nodes])])], teams=[team])
    path = tmp_path / "fleet.json"
    path.write_text(spec.model_dump_json())
    done = cli(str(path), "--json", REDIS_PASSWORD=PASSWORD)
    assert done.returncode == 1, done.stdout + done.stderr
    drift = {n["address"]: [f for s in n["sections"] for f in s["findings"] if f["id"] == "diag.cfg.drift"]
             for n in json.loads(done.stdout)["nodes"]}
    assert not drift[nodes[0].addr] and not drift[nodes[1].addr]
    (finding,) = drift[nodes[2].addr]
    assert "maxmemory-policy 'allkeys-lfu' where 2 of 3 nodes have 'allkeys-lru'" in finding["seen"]


def test_exit_codes_follow_the_worst_node(servers: Servers) -> None:
    degraded = servers("--maxmemory", "64mb", "--latency-monitor-threshold", "100", password=PASSWORD)  # noeviction
    assert cli(degraded.url, REDIS_PASSWORD=PASSWORD).returncode == 1
    gone = cli(f"redis://127.0.0.1:{closed_port()}")
    assert gone.returncode == 2 and "UNHEALTHY" in gone.stdout and "net.connect" in gone.stdout
    assert cli("redis://127.0.0.1:1", "--timeout", "0").returncode == 4
    assert cli(str(Path("/nonexistent/fleet.py"))).returncode == 4


def test_long_doctor_text_is_cut_after_a_whole_sentence() -> None:
    from cachewatch.health.diagnose.memory import sentences

    text = "First sentence here. Second one is longer than the limit allows."
    assert sentences(text, 30) == "First sentence here. …"
    assert sentences(text, 200) == text
    assert sentences("no full stop in this long text at all", 21) == "no full stop in this …"
