"""CacheAlertingSystem: the brief's four methods over the store, with the spec's thresholds and members."""

from __future__ import annotations

import pytest

from cachewatch.alert_lifecycle.actions import Forbidden, Invalid
from cachewatch.alert_lifecycle.facade import CacheAlertingSystem
from cachewatch.alert_lifecycle.intake import Intake
from cachewatch.alert_lifecycle.model import Observation, Source
from cachewatch.spec import FleetSpec

T0 = 1_800_000_000.0


def spec(memory_warning: float = 0.85) -> FleetSpec:
    return FleetSpec.model_validate({
        "regions": [{"name": "eu", "clusters": [{"name": "sessions", "team": "platform",
                                                 "nodes": [{"address": "10.0.0.1:6379"}]}]}],
        "teams": [{"name": "platform", "members": ["alice"],
                   "channels": {"hook": {"kind": "webhook", "url": "http://127.0.0.1:9/"}},
                   "escalation": {"critical": ["hook"], "ack_mode_critical": "notify"}}],
        "thresholds": {"memory_warning_ratio": memory_warning},
    })


@pytest.mark.parametrize("used, expected", [(50, []), (90, [("RedisMemoryHigh", "warning")]),
                                            (97, [("RedisMemoryHighCritical", "critical")])])
def test_evaluate_alert_conditions_uses_the_spec_thresholds(tmp_path, used: int, expected: list) -> None:
    with CacheAlertingSystem(spec(), database=str(tmp_path / "a.db"), alertmanager_urls=[]) as system:
        fired = system.evaluate_alert_conditions({"used_memory": used, "maxmemory": 100, "maxmemory_policy":
                                                  "noeviction", "role": "master"}, cluster="sessions")
    assert [(a["alertname"], a["severity"]) for a in fired if a["check"] == "mem.usage"] == expected


def test_a_lower_spec_threshold_fires_earlier(tmp_path) -> None:
    with CacheAlertingSystem(spec(memory_warning=0.5), database=str(tmp_path / "a.db"),
                             alertmanager_urls=[]) as system:
        fired = system.evaluate_alert_conditions({"used_memory": 60, "maxmemory": 100,
                                                  "maxmemory_policy": "noeviction"}, cluster="sessions")
    assert ("RedisMemoryHigh", "warning") in [(a["alertname"], a["severity"]) for a in fired]


def test_acknowledge_and_resolve_by_a_member_with_notes(tmp_path) -> None:
    with CacheAlertingSystem(spec(), database=str(tmp_path / "a.db"), alertmanager_urls=[]) as system:
        labels = {"alertname": "RedisDown", "team": "platform", "cluster": "sessions", "severity": "critical"}
        Intake(system.store).ingest([Observation("fp1", labels, {}, T0, "firing", T0 + 30, Source.WEBHOOK,
                                                 notified=True)])
        with pytest.raises(Forbidden, match="mallory is not a member of team platform"):
            system.acknowledge_alert("fp1", "mallory")
        assert system.acknowledge_alert("fp1", "alice")["state"] == "acked"
        with pytest.raises(Invalid, match="classification 'bogus' is not one of"):
            system.resolve_alert("fp1", "alice", "restarted", classification="bogus")
        closed = system.resolve_alert("fp1", "alice", "replaced the disk")
        assert (closed["state"], closed["classification"], closed["close_notes"], closed["closed_by"]) == (
            "closed", "actionable", "replaced the disk", "alice")
        [episode] = system.history()
        assert episode["closed_while_firing"] is True
