"""Targets from URLs and specs, and credentials from flags and environment, the exporter's way."""

from __future__ import annotations

from pathlib import Path

import pytest

from cachewatch.checks import CHECKS, Thresholds
from cachewatch.health.targets import Target, TargetError, parse_target, read_credentials, targets_from_spec
from cachewatch.logs import redact
from cachewatch.spec import CheckLevels, Cluster, FleetSpec, Node, Region, Team
from cachewatch.spec import Thresholds as SpecThresholds


@pytest.mark.parametrize(("url", "expected"), [
    ("redis://10.0.0.1:7000", Target(host="10.0.0.1", port=7000)),
    ("redis://cache.example", Target(host="cache.example", port=6379)),
    ("rediss://monitor@10.0.0.1:6380/3", Target(host="10.0.0.1", port=6380, tls=True, username="monitor")),
    ("redis://[::1]:7000", Target(host="::1", port=7000)),
])
def test_urls(url: str, expected: Target) -> None:
    assert parse_target(url) == expected


def test_addresses_are_host_port_without_userinfo() -> None:
    assert parse_target("rediss://monitor@10.0.0.1:6380").address == "10.0.0.1:6380"
    assert parse_target("redis://[::1]:7000").address == "[::1]:7000"


@pytest.mark.parametrize(("url", "message"), [
    ("http://10.0.0.1:6379", "not a redis://"),
    ("10.0.0.1:6379", "not a redis://"),
    ("redis://10.0.0.1:99999", "out of range"),
    ("redis://user:hunter2-secret@10.0.0.1:6379", "no password in the URL"),
])
def test_bad_urls_are_refused_without_echoing_a_password(url: str, message: str) -> None:
    with pytest.raises(TargetError, match=message) as caught:
        parse_target(url)
    assert "hunter2-secret" not in str(caught.value)


def test_every_node_of_a_spec_with_its_clusters_kind_tls_and_overrides() -> None:
    team = Team(name="cache", channels={"mail": {"kind": "email", "to": ["a@example.com"]}},
                escalation={"critical": ["mail"]})
    clusters = [
        Cluster(name="sessions", team="cache", nodes=[Node(address="10.0.0.1:6379"),
                                                      Node(address="10.0.0.2:6379", role="replica")],
                checks={"net.maxclients": CheckLevels(warning=0.5)}),
        Cluster(name="ledger", team="cache", kind="store", tls=True, nodes=[Node(address="10.0.1.1:6380")]),
    ]
    spec = FleetSpec(regions=[Region(name="eu", clusters=clusters)], teams=[team],
                     checks={"mem.usage": CheckLevels(critical=0.95)})
    targets = targets_from_spec(spec)
    assert [(t.address, t.cluster, t.kind, t.tls) for t in targets] == [
        ("10.0.0.1:6379", "sessions", "cache", False), ("10.0.0.2:6379", "sessions", "cache", False),
        ("10.0.1.1:6380", "ledger", "store", True)]
    assert targets[0].overrides["net.maxclients"].given() == {"warning": 0.5, "critical": 0.95}
    assert targets[0].overrides["mem.usage"].given() == {"warning": 0.85, "critical": 0.95}
    assert "net.maxclients" not in targets[2].overrides or \
        targets[2].overrides["net.maxclients"].given() == {"warning": 0.8, "critical": 0.95}


def test_the_spec_alert_thresholds_set_the_live_checks_levels_as_they_set_the_alerts() -> None:
    team = Team(name="cache", channels={"mail": {"kind": "email", "to": ["a@example.com"]}},
                escalation={"critical": ["mail"]})
    cluster = Cluster(name="sessions", team="cache", nodes=[Node(address="10.0.0.1:6379")],
                      thresholds={"connections_warning_ratio": 0.6},
                      checks={"net.maxclients": CheckLevels(critical=0.9)})
    spec = FleetSpec(regions=[Region(name="eu", clusters=[cluster])], teams=[team],
                     thresholds={"replication_lag_seconds": 12})
    (target,) = targets_from_spec(spec)
    assert target.overrides["net.maxclients"].given() == {"warning": 0.6, "critical": 0.9}  # checks: wins
    assert CHECKS["net.maxclients"].levels(spec.thresholds_for(cluster), {"critical": 0.9}) == \
        Thresholds(warning=0.6, critical=0.9)  # what the generated alerts use
    assert target.overrides["repl.ack_lag"].given() == {"critical": 12}


def test_the_removed_replication_lag_bytes_threshold_says_what_replaced_it() -> None:
    with pytest.raises(ValueError, match=r"repl\.lag_bytes"):
        SpecThresholds(replication_lag_bytes=1)


def test_credentials_flags_win_over_the_environment(tmp_path: Path) -> None:
    env = {"REDIS_USER": "env-user", "REDIS_PASSWORD": "env-password-77"}
    from_env = read_credentials(None, None, env)
    assert (from_env.username, from_env.password) == ("env-user", "env-password-77")
    secret = tmp_path / "pw"
    secret.write_text("file-password-88\n")
    creds = read_credentials("flag-user", str(secret), env)
    assert (creds.username, creds.password) == ("flag-user", "file-password-88")
    assert "file-password-88" not in repr(creds)
    assert redact("AUTH failed for file-password-88") == "AUTH failed for <redacted>"  # registered for scrubbing
    assert read_credentials(None, None, {}) == read_credentials(None, None, {"REDIS_PASSWORD": ""})


def test_an_unreadable_password_file_is_a_target_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="cannot read"):
        read_credentials(None, str(tmp_path / "missing"), {})
