"""The reconciler against a real two-member Alertmanager 0.25 cluster: it records every alert once without any
webhook, catches resolves nobody sent (silenced alerts, alerts that stopped being re-sent) without faking one
when a member is down or restarted, keeps ack silences leased and expires them on resolve, and escalates an
unacked critical exactly once.

Alertmanager runs on real time. Where the service would wait minutes (the absent grace, lease renewals, ack_max)
its clock is real time plus an offset the test moves forward.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cachewatch.alert_lifecycle import escalation
from cachewatch.alert_lifecycle.actions import Lifecycle
from cachewatch.alert_lifecycle.alertmanager_api import AlertmanagerAPI, from_rfc3339
from cachewatch.alert_lifecycle.intake import Intake
from cachewatch.alert_lifecycle.model import ESCALATION_ALERTNAME, format_time
from cachewatch.alert_lifecycle.payload import parse_webhook
from cachewatch.alert_lifecycle.policy import Policy, TeamPolicy
from cachewatch.alert_lifecycle.reconciler import Reconciler
from cachewatch.alert_lifecycle.store import repository as repo
from cachewatch.alert_lifecycle.store.engine import Store, open_store
from cachewatch.local_redis import free_port
from tests.support.alertmanager_process import AlertmanagerCluster

pytestmark = pytest.mark.e2e

GRACE = 30.0  # absent_grace of these tests; the clock jumps over it
LEASE, ACK_MAX = 60.0, 300.0
RESEND_ENDS = 240.0  # Prometheus posts endsAt = now + 4 × resend delay


class Clock:
    """Real time plus an offset that only moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def a_policy(team: str, ack_timeout: float | None = None) -> Policy:
    severities = ("critical", "warning", "info")
    return Policy(teams={team: TeamPolicy(members=frozenset({"alice"}),
                                          ack_modes={"critical": "silence", "warning": "silence", "info": "notify"},
                                          ack_timeouts={s: ack_timeout if s == "critical" else None
                                                        for s in severities},
                                          escalates=ack_timeout is not None)},
                  admins=frozenset(), ack_lease=LEASE, ack_max=ACK_MAX, reconcile_interval=5.0)


@dataclass
class Stack:
    store: Store
    intake: Intake
    lifecycle: Lifecycle
    reconciler: Reconciler
    am: AlertmanagerAPI
    clock: Clock

    def episodes(self, alertname: str) -> list[dict]:
        with self.store.read() as conn:
            found = repo.list_episodes(conn, repo.EpisodeFilter(alertname=alertname))
        return sorted(found, key=lambda ep: ep["labels"].get("instance", ""))

    def episode(self, episode_id: str) -> dict:
        with self.store.read() as conn:
            return repo.episode(conn, episode_id)

    def kinds(self, episode_id: str) -> list[str]:
        with self.store.read() as conn:
            return [event["kind"] for event in repo.events_of(conn, episode_id)]

    def events(self, episode_id: str, kind: str) -> list[dict]:
        with self.store.read() as conn:
            return [event for event in repo.events_of(conn, episode_id) if event["kind"] == kind]


@contextlib.asynccontextmanager
async def a_stack(tmp: Path, urls: list[str], policy: Policy, clock: Clock | None = None) -> AsyncIterator[Stack]:
    clock = clock or Clock()
    store = open_store(str(tmp / f"alerts-{uuid.uuid4().hex[:6]}.db"))
    try:
        async with AlertmanagerAPI(urls) as am:
            intake = Intake(store)
            lifecycle = Lifecycle(store, policy, am, clock=clock)
            reconciler = Reconciler(store, intake, lifecycle, policy, am, clock=clock, absent_grace=GRACE)
            yield Stack(store, intake, lifecycle, reconciler, am, clock)
    finally:
        store.close()


def prometheus_alert(labels: dict[str, str], starts_at: float, ends_at: float) -> dict:
    return {"labels": labels, "startsAt": starts_at, "endsAt": ends_at,
            "annotations": {"summary": f"{labels['alertname']} on {labels.get('instance', '?')}",
                            "runbook_url": "https://runbooks.example/redis-down"}}


def labels_of(alertname: str, team: str, instance: str, severity: str = "critical") -> dict[str, str]:
    return {"alertname": alertname, "team": team, "cluster": "sessions", "severity": severity, "instance": instance}


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def silence(am: AlertmanagerAPI, silence_id: str) -> dict:
    [found] = [s for s in await am.silences() if s["id"] == silence_id]
    return found


# --- intake without webhooks ---------------------------------------------------------------------------------
def test_every_alert_is_one_episode_and_a_silenced_alert_that_resolves_is_resolved(
        cluster: AlertmanagerCluster, tmp_path: Path) -> None:
    name, team = unique("CacheDown"), unique("t")

    async def scenario() -> None:
        async with a_stack(tmp_path, cluster.urls, a_policy(team)) as s:
            now = time.time()
            alerts = [prometheus_alert(labels_of(name, team, f"10.0.0.{i}:6379"), now - 60, now + RESEND_ENDS)
                      for i in range(3)]
            await s.am.post_alerts(alerts)  # as Prometheus does: to every member
            await s.reconciler.run_once()
            await s.reconciler.run_once()
            await s.am.post_alerts(alerts)  # a resend
            await s.reconciler.run_once()
            episodes = s.episodes(name)
            assert [ep["state"] for ep in episodes] == ["firing"] * 3
            assert all(s.kinds(ep["id"]).count("fired") == 1 for ep in episodes)

            silenced = alerts[0]
            await s.am.create_silence(silenced["labels"], now, now + 600, "bob", "maintenance")
            await s.reconciler.run_once()
            await s.am.post_alerts([{**silenced, "endsAt": time.time() - 1}])  # resolved; muted: no webhook
            await s.reconciler.run_once()
            gone = s.episode(episodes[0]["id"])
            assert (gone["state"], gone["missing_since"] is not None) == ("firing", True)
            s.clock.advance(GRACE / 2)
            await s.reconciler.run_once()
            assert s.episode(gone["id"])["state"] == "firing"  # within the grace: maybe a restart

            s.clock.advance(GRACE)
            counts = await s.reconciler.run_once()
            resolved = s.episode(gone["id"])
            assert counts["resolved_lost"] == 1
            assert (resolved["state"], resolved["resolution_inferred"]) == ("resolved", False)
            assert resolved["ends_at"] == gone["missing_since"]  # an upper bound, said so in the event
            [event] = s.events(gone["id"], "resolved")
            assert (event["detail"]["ended_after"], event["detail"]["exact_end"]) == (gone["last_seen_at"],
                                                                                       "unknown")
            assert [ep["state"] for ep in s.episodes(name)[1:]] == ["firing", "firing"]
            assert len(s.episodes(name)) == 3

    asyncio.run(scenario())


def test_an_alert_that_is_no_longer_sent_times_out_and_its_resolve_is_inferred(
        cluster: AlertmanagerCluster, tmp_path: Path) -> None:
    name, team = unique("CacheFlap"), unique("t")

    async def scenario() -> None:
        async with a_stack(tmp_path, cluster.urls, a_policy(team)) as s:
            now = time.time()
            await s.am.post_alerts([prometheus_alert(labels_of(name, team, "a:6379"), now - 30, now + 1.5)])
            await s.reconciler.run_once()
            [ep] = s.episodes(name)
            assert ep["timeout_at"] == pytest.approx(now + 1.5, abs=0.002)
            await asyncio.sleep(max(0.0, ep["timeout_at"] - time.time()) + 0.3)  # Alertmanager times it out
            await s.reconciler.run_once()
            s.clock.advance(GRACE + 1)
            await s.reconciler.run_once()
            ep = s.episode(ep["id"])
            assert (ep["state"], ep["resolution_inferred"]) == ("resolved", True)
            assert ep["ends_at"] == ep["timeout_at"]  # when Alertmanager timed it out
            [event] = s.events(ep["id"], "resolved")
            assert event["detail"]["inferred"] is True and "timeout" in event["detail"]["why"]

    asyncio.run(scenario())


def test_a_member_down_proves_nothing_and_restarted_members_fake_no_resolve(
        own_cluster: AlertmanagerCluster, tmp_path: Path) -> None:
    name, team = unique("CacheRestart"), unique("t")

    async def scenario() -> None:
        async with a_stack(tmp_path, own_cluster.urls, a_policy(team)) as s:
            now = time.time()
            ended, kept = (prometheus_alert(labels_of(name, team, instance), now - 60, now + RESEND_ENDS)
                           for instance in ("ended:6379", "kept:6379"))
            await s.am.post_alerts([ended, kept])
            await s.reconciler.run_once()
            first_ended, first_kept = s.episodes(name)

            own_cluster.stop(1)
            await s.am.post_alerts([{**ended, "endsAt": time.time() - 1}])  # only member 0 hears the resolve
            counts = await s.reconciler.run_once()
            assert counts["members_failed"] == 1
            assert s.episode(first_ended["id"])["missing_since"] is None  # member 1 might still have it

            own_cluster.start(1)
            own_cluster.wait_ready()
            own_cluster.restart(0)  # both members have now forgotten every alert (they keep only silences)
            await s.reconciler.run_once()
            assert all(s.episode(ep["id"])["missing_since"] is not None for ep in (first_ended, first_kept))
            s.clock.advance(GRACE * 2 / 3)
            await s.reconciler.run_once()
            assert [ep["state"] for ep in s.episodes(name)] == ["firing", "firing"]

            await s.am.post_alerts([kept])  # Prometheus re-sends what still fires, within its resend delay
            await s.reconciler.run_once()
            assert s.episode(first_kept["id"])["missing_since"] is None
            s.clock.advance(GRACE * 2 / 3)  # the resolved one has now been absent for longer than the grace
            await s.reconciler.run_once()
            ended_now, kept_now = s.episodes(name)
            assert (ended_now["state"], ended_now["resolution_inferred"]) == ("resolved", False)
            assert (kept_now["id"], kept_now["state"], kept_now["ends_at"]) == (first_kept["id"], "firing", None)
            assert len(s.episodes(name)) == 2

    asyncio.run(scenario())


# --- ack silences ----------------------------------------------------------------------------------------------
def test_an_ack_is_a_leased_silence_renewed_in_place_and_expired_on_resolve(
        cluster: AlertmanagerCluster, tmp_path: Path) -> None:
    name, team = unique("CacheAck"), unique("t")

    async def scenario() -> None:
        async with a_stack(tmp_path, cluster.urls, a_policy(team)) as s:
            now = time.time()
            alert = prometheus_alert(labels_of(name, team, "a:6379"), now - 60, now + RESEND_ENDS)
            await s.am.post_alerts([alert])
            await s.reconciler.run_once()
            [ep] = s.episodes(name)

            acked = await s.lifecycle.ack(ep["id"], "alice", "looking into it")
            made = await silence(s.am, acked["ack_silence_id"])
            assert {(m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in made["matchers"]} == {
                (key, value, False, True) for key, value in alert["labels"].items()}
            assert made["createdBy"] == "alice"
            assert made["comment"].startswith("ACK!") and ep["id"] in made["comment"]
            assert made["status"]["state"] == "active"
            assert (await s.reconciler.run_once()).get("acks_extended", 0) == 0  # not due yet

            s.clock.advance(LEASE * 2 / 3)  # less than half a lease left
            counts = await s.reconciler.run_once()
            renewed = s.episode(ep["id"])
            assert counts["acks_extended"] == 1
            assert renewed["ack_silence_id"] == acked["ack_silence_id"]
            assert renewed["ack_silence_ends_at"] == pytest.approx(s.clock() + LEASE, abs=2)
            extended = await silence(s.am, acked["ack_silence_id"])
            assert from_rfc3339(extended["endsAt"]) == pytest.approx(renewed["ack_silence_ends_at"], abs=0.002)
            assert extended["comment"] == made["comment"] and extended["createdBy"] == "alice"
            assert (await s.reconciler.run_once()).get("acks_extended", 0) == 0
            assert len(s.events(ep["id"], "ack_extended")) == 1

            await s.am.post_alerts([{**alert, "endsAt": time.time() - 1}])  # it resolves, muted by the ack
            await s.reconciler.run_once()
            s.clock.advance(GRACE + 1)
            counts = await s.reconciler.run_once()
            assert (counts["resolved_lost"], counts["ack_silences_expired"]) == (1, 1)
            done = s.episode(ep["id"])
            assert (done["state"], done["ack_silence_id"], done["acked_by"]) == ("resolved", None, "alice")
            assert (await silence(s.am, acked["ack_silence_id"]))["status"]["state"] == "expired"

    asyncio.run(scenario())


def test_an_ack_expires_at_ack_max_and_the_alert_pages_again(cluster: AlertmanagerCluster, tmp_path: Path) -> None:
    name, team = unique("CacheMax"), unique("t")

    async def scenario() -> None:
        async with a_stack(tmp_path, cluster.urls, a_policy(team)) as s:
            now = time.time()
            await s.am.post_alerts([prometheus_alert(labels_of(name, team, "a:6379"), now - 60, now + RESEND_ENDS)])
            await s.reconciler.run_once()
            [ep] = s.episodes(name)
            acked = await s.lifecycle.ack(ep["id"], "alice")
            renewals = 0
            while s.clock() < acked["acked_at"] + ACK_MAX - LEASE / 2:  # renewed every half lease up to the cap
                s.clock.advance(LEASE / 4)
                renewals += (await s.reconciler.run_once()).get("acks_extended", 0)
            capped = s.episode(ep["id"])
            assert capped["ack_silence_ends_at"] == acked["acked_at"] + ACK_MAX
            assert renewals == len(s.events(ep["id"], "ack_extended")) >= 3

            s.clock.advance(LEASE)
            counts = await s.reconciler.run_once()
            expired = s.episode(ep["id"])
            assert counts["acks_expired"] == 1
            assert (expired["state"], expired["acked_by"], expired["ack_silence_id"]) == ("firing", None, None)
            assert expired["first_ack_by"] == "alice"  # MTTA keeps the first ack
            assert s.kinds(ep["id"])[-1] == "ack_expired"
            assert (await silence(s.am, acked["ack_silence_id"]))["status"]["state"] == "expired"

    asyncio.run(scenario())


def test_a_resolve_webhook_expires_the_ack_silence_at_once(cluster: AlertmanagerCluster, tmp_path: Path) -> None:
    name, team = unique("CacheHook"), unique("t")

    async def scenario() -> None:
        async with a_stack(tmp_path, cluster.urls, a_policy(team)) as s:
            now = time.time()
            alert = prometheus_alert(labels_of(name, team, "a:6379"), now - 60, now + RESEND_ENDS)
            await s.am.post_alerts([alert])
            await s.reconciler.run_once()
            [ep] = s.episodes(name)
            acked = await s.lifecycle.ack(ep["id"], "alice")
            body = json.dumps({"version": "4", "status": "resolved", "receiver": "cachewatch-history",
                               "groupKey": "{}:{}", "alerts": [
                                   {"status": "resolved", "labels": alert["labels"], "annotations": {},
                                    "startsAt": format_time(ep["starts_at"]),
                                    "endsAt": format_time(time.time()), "fingerprint": ep["fingerprint"]}]})
            observations, record = parse_webhook(body.encode(), time.time())
            s.intake.ingest(observations, record)
            assert await s.reconciler.expire_acks_of_resolved() == {"ack_silences_expired": 1}
            assert (await silence(s.am, acked["ack_silence_id"]))["status"]["state"] == "expired"
            assert await s.reconciler.expire_acks_of_resolved() == {}

    asyncio.run(scenario())


# --- escalation ------------------------------------------------------------------------------------------------
def test_an_unacked_critical_escalates_once_and_an_acked_one_does_not(
        cluster: AlertmanagerCluster, tmp_path: Path) -> None:
    name, team = unique("CacheEsc"), unique("t")

    async def escalations(am: AlertmanagerAPI) -> list[dict]:
        return [a for a in (await am.alerts()).alerts
                if a["labels"]["alertname"] == ESCALATION_ALERTNAME and a["labels"].get("team") == team]

    async def scenario() -> None:
        async with a_stack(tmp_path, cluster.urls, a_policy(team, ack_timeout=1.0)) as s:
            now = time.time()
            await s.am.post_alerts([prometheus_alert(labels_of(name, team, instance), now, now + RESEND_ENDS)
                                    for instance in ("acked:6379", "unacked:6379")])
            await s.reconciler.run_once()
            acked, unacked = s.episodes(name)
            await s.lifecycle.ack(acked["id"], "alice")
            await asyncio.sleep(max(0.0, unacked["starts_at"] + 1.0 - time.time()) + 0.1)

            counts = await s.reconciler.run_once()
            assert counts["escalated"] == 1
            assert s.events(acked["id"], "escalated") == []
            [posted] = await escalations(s.am)
            assert posted["labels"] == {
                "alertname": ESCALATION_ALERTNAME, "escalation": "ack-timeout", "team": team, "severity": "critical",
                "cluster": "sessions", "escalated_alertname": name, "episode": unacked["id"]}
            assert posted["annotations"]["summary"] == f"Not acknowledged for 1s: {name} on unacked:6379"
            assert posted["annotations"]["runbook_url"] == "https://runbooks.example/redis-down"

            counts = await s.reconciler.run_once()
            assert (counts.get("escalated", 0), counts["escalations_reposted"]) == (0, 1)
            assert len(s.events(unacked["id"], "escalated")) == 1
            assert len(await escalations(s.am)) == 1
            assert s.episodes(ESCALATION_ALERTNAME) == []  # our own alert is no episode

            await s.lifecycle.ack(unacked["id"], "alice")
            counts = await s.reconciler.run_once()
            assert counts["escalations_ended"] == 1
            assert s.episode(unacked["id"])["escalation_active"] is False
            await asyncio.sleep(0.05)
            assert await escalations(s.am) == []  # resolved in Alertmanager
            counts = await s.reconciler.run_once()
            assert "escalated" not in counts and "escalations_ended" not in counts
            assert len(s.events(unacked["id"], "escalated")) == 1

    asyncio.run(scenario())


def test_the_escalation_alert_carries_the_contract_labels() -> None:
    episode = {"id": "e1", "alertname": "RedisDown", "team": "cache", "severity": "critical", "cluster": "c1",
               "region": "", "state": "firing", "ends_at": None, "escalated_at": 100.0, "first_notified_at": 40.0,
               "starts_at": 10.0, "annotations": {"summary": "down", "dashboard_url": "https://g/d", "x": "y"}}
    alert = escalation.escalation_alert(episode, ends_at=160.0, timeout=900)
    assert alert["labels"] == {"alertname": "CachewatchAckTimeout", "escalation": "ack-timeout", "team": "cache",
                               "severity": "critical", "cluster": "c1", "escalated_alertname": "RedisDown",
                               "episode": "e1"}  # no empty region
    assert alert["annotations"]["summary"] == "Not acknowledged for 15m: down"
    assert alert["annotations"]["dashboard_url"] == "https://g/d" and "x" not in alert["annotations"]
    assert (alert["startsAt"], alert["endsAt"]) == (100.0, 160.0)
    fresh = {**episode, "escalated_at": None}
    assert escalation.due(fresh, 60, now=100.0)  # counted from the first notification, not the start
    assert not escalation.due(fresh, 61, now=100.0)
    assert not escalation.due({**fresh, "state": "acked"}, 60, now=1000.0)
    assert not escalation.due(episode, 60, now=1000.0)  # escalated already
    assert not escalation.due(fresh, None, now=1000.0)  # no timeout for this team and severity
    assert not escalation.due(fresh, 60, now=1000.0, unacked_since=950.0)  # acked in time; unacked 50 s ago
    assert escalation.due(fresh, 60, now=1000.0, unacked_since=940.0)


def test_run_forever_outlives_an_unreachable_alertmanager_and_stops_when_told(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = "am-secret-4f1d"
    url = f"http://cw:{secret}@127.0.0.1:{free_port()}"  # nothing listens there
    policy = dataclasses.replace(a_policy("t"), reconcile_interval=0.05)

    async def scenario() -> None:
        async with a_stack(tmp_path, [url], policy) as s:
            stop = asyncio.Event()
            loop = asyncio.create_task(s.reconciler.run_forever(stop))
            while sum("no Alertmanager member answered" in r.getMessage() for r in caplog.records) < 3:
                assert not loop.done()
                await asyncio.sleep(0.02)
            stop.set()
            await asyncio.wait_for(loop, 5)

    with caplog.at_level(logging.DEBUG, logger="cachewatch.alert_lifecycle.reconciler"):
        asyncio.run(scenario())
    assert not any(secret in f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
