"""Two service replicas on one PostgreSQL and one Alertmanager cluster, their passes run at the same moment over and
over: every alert is one episode, every ack one silence renewed once per due time, every escalation posted once.

Each replica is a full stack (its own store connection pool, intake, actions, reconciler and Alertmanager client);
store work runs in worker threads, so the two really race on the database. The replicas share a manual clock that
the test moves in steps, so the due times are exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cachewatch.alert_lifecycle.actions import Lifecycle
from cachewatch.alert_lifecycle.alertmanager_api import AlertmanagerAPI
from cachewatch.alert_lifecycle.intake import Intake
from cachewatch.alert_lifecycle.model import ESCALATION_ALERTNAME, Observation, Source
from cachewatch.alert_lifecycle.policy import Policy, TeamPolicy
from cachewatch.alert_lifecycle.reconciler import Reconciler
from cachewatch.alert_lifecycle.store import repository as repo
from cachewatch.alert_lifecycle.store.engine import Store, open_store
from tests.support.alertmanager_process import AlertmanagerCluster, running_alertmanager_cluster

pytestmark = pytest.mark.e2e

CONFIG = "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n"
TEAM, ALERTNAME = "cache", "RedisReplicaTest"
LEASE, ACK_TIMEOUT, STEP, ROUNDS = 60.0, 30.0, 7.0, 16
# With a 60 s lease renewed when under 30 s are left, 7 s steps renew at +35 (until 95), +70 (until 130) and
# +105 (until 165) after the ack; no step lands on a boundary.
RENEWALS = 3
POLICY = Policy(teams={TEAM: TeamPolicy(members=frozenset({"alice"}),
                                        ack_modes={"critical": "silence", "warning": "silence", "info": "notify"},
                                        ack_timeouts={"critical": ACK_TIMEOUT, "warning": None, "info": None},
                                        escalates=True)},
                admins=frozenset(), ack_lease=LEASE, ack_max=12 * 3600.0, reconcile_interval=5.0)


class ManualClock:
    """Starts at the real time and moves only when told: two replicas read the same instant."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Replica:
    store: Store
    intake: Intake
    lifecycle: Lifecycle
    reconciler: Reconciler


@contextlib.asynccontextmanager
async def a_replica(database: str, urls: list[str], clock: ManualClock) -> AsyncIterator[Replica]:
    store = open_store(database)
    try:
        async with AlertmanagerAPI(urls) as am:
            intake = Intake(store)
            lifecycle = Lifecycle(store, POLICY, am, clock=clock)
            yield Replica(store, intake, lifecycle, Reconciler(store, intake, lifecycle, POLICY, am, clock=clock))
    finally:
        store.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[AlertmanagerCluster]:
    (tmp_path / "alertmanager.yml").write_text(CONFIG)
    with running_alertmanager_cluster(tmp_path / "alertmanager.yml", tmp_path, size=2) as running:
        yield running


def episodes(store: Store, alertname: str = ALERTNAME) -> list[dict]:
    with store.read() as conn:
        return repo.list_episodes(conn, repo.EpisodeFilter(alertname=alertname))


def event_counts(store: Store, episode_id: str) -> Counter[str]:
    with store.read() as conn:
        return Counter(event["kind"] for event in repo.events_of(conn, episode_id))


async def together(first: Replica, second: Replica) -> list[dict]:
    return list(await asyncio.gather(first.reconciler.run_once(), second.reconciler.run_once()))


def test_two_replicas_record_renew_and_escalate_each_thing_once(cluster: AlertmanagerCluster,
                                                                 postgres_url: str) -> None:
    clock = ManualClock()

    async def scenario() -> None:
        async with (a_replica(postgres_url, cluster.urls, clock) as one,
                    a_replica(postgres_url, cluster.urls, clock) as two,
                    AlertmanagerAPI(cluster.urls) as prometheus):
            now = time.time()
            await prometheus.post_alerts([
                {"labels": {"alertname": ALERTNAME, "team": TEAM, "severity": "critical", "instance": f"n{i}:6379"},
                 "annotations": {"summary": f"replica test {i}"}, "startsAt": now, "endsAt": now + 3600}
                for i in range(6)])
            for _ in range(3):
                await together(one, two)
            recorded = sorted(episodes(one.store), key=lambda ep: ep["labels"]["instance"])
            assert len(recorded) == 6
            assert all(event_counts(one.store, ep["id"])["fired"] == 1 for ep in recorded)

            acked, unacked = recorded[:3], recorded[3:]
            for ep in acked:
                await one.lifecycle.ack(ep["id"], "alice", "mine")
            passes = []
            for _ in range(ROUNDS):
                clock.advance(STEP)
                passes += await together(one, two)

            for ep in acked:
                counts = event_counts(one.store, ep["id"])
                assert (counts["ack_extended"], counts["escalated"]) == (RENEWALS, 0), ep["id"]
                assert two.lifecycle.find(ep["id"])["ack_silence_ends_at"] == clock.now - ROUNDS * STEP + 165
            assert sum(p.get("acks_extended", 0) for p in passes) == RENEWALS * len(acked)
            silences = await prometheus.silences()
            for ep in acked:
                [own] = [s for s in silences if ep["id"] in s["comment"]]  # one silence per ack, renewed in place
                assert (own["status"]["state"], own["id"]) == ("active", one.lifecycle.find(ep["id"])["ack_silence_id"])

            for ep in unacked:
                assert event_counts(one.store, ep["id"])["escalated"] == 1, ep["id"]
            assert sum(p.get("escalated", 0) for p in passes) == len(unacked)
            posted = [a for a in (await prometheus.alerts()).alerts if a["labels"]["alertname"] == ESCALATION_ALERTNAME]
            assert sorted(a["labels"]["episode"] for a in posted) == sorted(ep["id"] for ep in unacked)

    asyncio.run(scenario())


def test_the_same_alert_ingested_by_both_replicas_at_once_is_one_episode(postgres_url: str) -> None:
    first, second = open_store(postgres_url), open_store(postgres_url)
    try:
        intakes = Intake(first), Intake(second)

        async def race(i: int) -> None:
            seen = Observation(fingerprint=f"f{i:04d}", labels={"alertname": ALERTNAME, "instance": f"n{i}"},
                               annotations={}, starts_at=1_800_000_000.0 + i, status="firing",
                               seen_at=1_800_000_030.0 + i, source=Source.WEBHOOK, notified=True)
            await asyncio.gather(*(asyncio.to_thread(intake.ingest, [seen]) for intake in intakes))

        async def scenario() -> None:
            for i in range(20):
                await race(i)

        asyncio.run(scenario())
        recorded = episodes(first)
        assert len(recorded) == 20
        assert all(event_counts(first, ep["id"])["fired"] == 1 for ep in recorded)
    finally:
        first.close()
        second.close()
