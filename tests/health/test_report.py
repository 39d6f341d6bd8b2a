"""The table and the JSON: what is not passing, worst first, units readable, nothing secret."""

from __future__ import annotations

import json

from cachewatch.health.evaluate import CheckResult, NodeHealth, unreachable
from cachewatch.health.report import format_value, table, to_json

SICK = NodeHealth(address="10.0.0.1:6379", cluster="sessions", state="unhealthy", timestamp=1_700_000_000.25, checks=(
    CheckResult(id="cfg.eviction_policy", category="configuration", status="warning", value=1.0, threshold=1,
                unit="bool", title="A cache does not evict", fix="CONFIG SET maxmemory-policy allkeys-lru"),
    CheckResult(id="mem.usage", category="memory", status="critical", value=0.93, threshold=0.9, unit="ratio",
                title="Memory is close to maxmemory", fix="raise maxmemory"),
    CheckResult(id="net.maxclients", category="network", status="pass", value=0.01, unit="ratio", title="t"),
    CheckResult(id="sec.nopass_user", category="security", status="unknown", unit="count", title="A user needs no "
                "password", reason="ACL refused by the server"),
    CheckResult(id="mem.eviction_rate", category="memory", status="skip", unit="per second", title="t"),
))
WELL = NodeHealth(address="10.0.0.2:6379", state="healthy", timestamp=1_700_000_000.0, checks=(
    CheckResult(id="net.maxclients", category="network", status="pass", value=0.01, unit="ratio", title="t"),))


def test_the_table_lists_what_is_not_passing_worst_first() -> None:
    lines = table([SICK, WELL]).splitlines()
    assert lines[0].split() == ["NODE", "CLUSTER", "STATE", "CHECK", "STATUS", "VALUE", "TITLE"]
    assert lines[1].split()[:6] == ["10.0.0.1:6379", "sessions", "unhealthy", "mem.usage", "critical", "0.93"]
    assert lines[2].split()[:3] == ["cfg.eviction_policy", "warning", "yes"]
    assert "sec.nopass_user" in lines[3] and "(ACL refused by the server)" in lines[3]
    assert lines[4].split() == ["10.0.0.2:6379", "-", "healthy"]
    assert lines[5] == "2 nodes: 1 unhealthy, 1 healthy"
    assert "net.maxclients" not in "\n".join(lines) and "mem.eviction_rate" not in "\n".join(lines)


def test_values_read_in_their_unit() -> None:
    def value(unit: str, number: float | None) -> str:
        return format_value(CheckResult(id="x.y", category="memory", status="warning", value=number, unit=unit))

    assert [value("seconds", 0.2), value("seconds", 1.5), value("per second", 123.4), value("bool", 1.0),
            value("count", 3.0), value("ratio", 0.956), value("bytes", 2048.0), value("ratio", None)] == [
        "200 ms", "1.5 s", "123/s", "yes", "3", "0.96", "2.05e+03 bytes", "-"]


def test_json_is_a_list_of_nodes_with_every_check() -> None:
    nodes = json.loads(to_json([SICK, unreachable("10.0.0.3:6379", "auth", "invalid username-password pair",
                                                  timestamp=1_700_000_000.0)]))
    sick, dead = nodes
    assert set(sick) == {"address", "cluster", "kind", "state", "reason", "timestamp", "checks"}
    assert (sick["address"], sick["cluster"], sick["state"]) == ("10.0.0.1:6379", "sessions", "unhealthy")
    assert sick["timestamp"] == "2023-11-14T22:13:20.250Z"
    assert len(sick["checks"]) == 5
    usage = next(c for c in sick["checks"] if c["id"] == "mem.usage")
    assert usage == {"id": "mem.usage", "category": "memory", "status": "critical", "value": 0.93, "unit": "ratio",
                     "threshold": 0.9, "title": "Memory is close to maxmemory", "fix": "raise maxmemory",
                     "reason": None}
    assert dead["state"] == "unhealthy" and dead["reason"] == "auth: invalid username-password pair"
    assert [c["id"] for c in dead["checks"]] == ["net.connect"]


def test_watch_json_is_one_line_per_cycle_and_never_infinity() -> None:
    infinite = NodeHealth(address="a:1", state="unhealthy", timestamp=0.0, checks=(
        CheckResult(id="x.y", category="memory", status="critical", value=float("inf"), threshold=1.0),))
    line = to_json([infinite], compact=True)
    assert "\n" not in line and json.loads(line)[0]["checks"][0]["value"] is None
