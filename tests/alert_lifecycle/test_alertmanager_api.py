"""The Alertmanager API client against a real two-member Alertmanager 0.25 cluster gossiping on loopback: silences
go to one member and reach the other, alerts are posted to and read from every member, a member that is down is
reported as such, and errors name the problem but never a credential."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest

from cachewatch.alert_lifecycle.alertmanager_api import AlertmanagerAPI, AlertmanagerError, from_rfc3339
from cachewatch.local_redis import free_port
from tests.support.alertmanager_process import AlertmanagerCluster

pytestmark = pytest.mark.e2e

PASSWORD = "am-pw-5e1f0c"
TOKEN = "bearer-tok-77d2a9"


def run(scenario: Callable[[], Awaitable[object]]) -> object:
    return asyncio.run(scenario())


async def until(condition: Callable[[], Awaitable[object]], timeout: float = 10.0) -> object:
    """The first truthy value of ``condition()``, polled; gossip is eventually consistent."""
    deadline = time.monotonic() + timeout
    while not (value := await condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
    return value


async def silence_on(url: str, silence_id: str) -> dict | None:
    async with AlertmanagerAPI([url]) as member:
        return next((s for s in await member.silences() if s["id"] == silence_id), None)


def an_alert(alertname: str, **labels: str) -> dict:
    return {"labels": {"alertname": alertname, "team": "cache", **labels},
            "annotations": {"summary": f"{alertname} fires"}, "startsAt": time.time() - 60}


def named(reading_alerts: list[dict], alertname: str) -> list[dict]:
    return [alert for alert in reading_alerts if alert["labels"]["alertname"] == alertname]


def test_a_silence_created_through_one_member_is_seen_through_the_other(cluster: AlertmanagerCluster) -> None:
    first, second = cluster.urls

    async def scenario() -> dict:
        now = time.time()
        async with AlertmanagerAPI([first]) as am:
            silence_id = await am.create_silence({"alertname": "RedisDown", "cluster": "sessions"}, now, now + 1800,
                                                 created_by="alice", comment="ACK! cachewatch episode=e1 by alice")
        return await until(lambda: silence_on(second, silence_id))

    seen = run(scenario)
    assert seen["status"]["state"] == "active"
    assert seen["createdBy"] == "alice" and seen["comment"].startswith("ACK!")
    assert sorted((m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in seen["matchers"]) == [
        ("alertname", "RedisDown", False, True), ("cluster", "sessions", False, True)]


def test_updating_only_the_end_keeps_the_silence_id_through_either_member(cluster: AlertmanagerCluster) -> None:
    started = time.time() - 5  # in the past: Alertmanager stores its own "now" as the start instead

    async def scenario() -> tuple[str, str, str, dict]:
        matchers = {"alertname": "MemoryHigh", "cluster": "carts"}
        async with AlertmanagerAPI(cluster.urls) as am:
            created = await am.create_silence(matchers, started, started + 600, "bob", "ACK! lease")
            await asyncio.sleep(1.1)  # a second later, so a start taken from the clock would no longer match
            renewed = await am.create_silence(matchers, started, started + 1200, "bob", "ACK! lease", created)
        async with AlertmanagerAPI(cluster.urls[::-1]) as other_first:
            await until(lambda: silence_on(cluster.urls[1], created))
            again = await other_first.create_silence(matchers, started, started + 1800, "bob", "ACK! lease", created)

        async def renewed_on_first() -> dict | None:  # the last update came through the other member
            seen = await silence_on(cluster.urls[0], created)
            return seen if seen and abs(from_rfc3339(seen["endsAt"]) - (started + 1800)) < 0.01 else None

        return created, renewed, again, await until(renewed_on_first)

    created, renewed, again, stored = run(scenario)
    assert renewed == created and again == created
    assert stored["status"]["state"] == "active"
    assert from_rfc3339(stored["startsAt"]) > started  # moved to the creation time, yet the id was kept


def test_expiring_a_silence_twice_or_an_unknown_one_is_fine(cluster: AlertmanagerCluster) -> None:
    async def scenario() -> list[dict | None]:
        now = time.time()
        async with AlertmanagerAPI(cluster.urls) as am:
            silence_id = await am.create_silence({"alertname": "Evictions"}, now, now + 600, "carol", "ACK!")
            await am.expire_silence(silence_id)
            await am.expire_silence(silence_id)
            await am.expire_silence(str(uuid.uuid4()))

        async def expired_everywhere() -> list[dict | None] | None:
            seen = [await silence_on(url, silence_id) for url in cluster.urls]
            return seen if all(s and s["status"]["state"] == "expired" for s in seen) else None

        return await until(expired_everywhere)

    assert len(run(scenario)) == 2


def test_posted_alerts_reach_every_member_and_are_read_back_once(cluster: AlertmanagerCluster) -> None:
    async def scenario() -> tuple[list[list[dict]], list[dict], list[str], dict]:
        async with AlertmanagerAPI(cluster.urls) as am:
            await am.post_alerts([an_alert("HitRatioLow", cluster="sessions")])
            per_member = []
            for url in cluster.urls:
                async with AlertmanagerAPI([url]) as member:
                    per_member.append(named((await member.alerts()).alerts, "HitRatioLow"))
            reading = await am.alerts()
        return per_member, named(reading.alerts, "HitRatioLow"), reading.answered, reading.failed

    per_member, merged, answered, failed = run(scenario)
    assert [len(alerts) for alerts in per_member] == [1, 1]
    assert per_member[0][0]["fingerprint"] == per_member[1][0]["fingerprint"]
    assert len(merged) == 1 and merged[0]["labels"]["cluster"] == "sessions"
    assert answered == cluster.urls and failed == {}


def test_a_stopped_member_is_reported_and_the_others_alerts_and_silences_still_come(
        own_cluster: AlertmanagerCluster) -> None:
    up, down = own_cluster.urls

    async def before() -> str:
        now = time.time()
        async with AlertmanagerAPI(own_cluster.urls) as am:
            await am.post_alerts([an_alert("ReplicationLag", cluster="carts")])
            silence_id = await am.create_silence({"alertname": "ReplicationLag"}, now, now + 600, "dave", "ACK!")
        await until(lambda: silence_on(down, silence_id))
        return silence_id

    async def while_down() -> tuple:
        async with AlertmanagerAPI([down, up], timeout=2.0) as am:
            reading = await am.alerts()
            await am.post_alerts([an_alert("ReplicationLag", cluster="orders")])  # one member accepting is enough
            silences = await am.silences()  # fails over to the member that is up
        return reading, silences

    silence_id = run(before)
    own_cluster.stop(1)
    reading, silences = run(while_down)
    assert reading.answered == [up]
    assert list(reading.failed) == [down] and "ConnectError" in reading.failed[down]
    assert [a["labels"]["cluster"] for a in named(reading.alerts, "ReplicationLag")] == ["carts"]
    assert silence_id in [s["id"] for s in silences]

    own_cluster.restart(1)  # same ports and storage: the silence survives, the in-memory alerts do not

    async def after() -> tuple:
        async with AlertmanagerAPI(own_cluster.urls) as am:
            return await am.alerts(), await silence_on(down, silence_id)

    reading, silence = run(after)
    assert reading.answered == own_cluster.urls and reading.failed == {}
    assert sorted(a["labels"]["cluster"] for a in named(reading.alerts, "ReplicationLag")) == ["carts", "orders"]
    assert silence is not None and silence["status"]["state"] == "active"


def test_an_unreachable_cluster_raises_a_clear_error_without_any_secret() -> None:
    urls = [f"http://monitor:{PASSWORD}@127.0.0.1:{free_port()}" for _ in range(2)]

    async def failures() -> list[AlertmanagerError]:
        errors = []
        async with (httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as client,
                    AlertmanagerAPI(urls, timeout=1.0, client=client) as am):
            now = time.time()
            calls = (am.alerts, am.silences, lambda: am.post_alerts([an_alert("X")]),
                     lambda: am.expire_silence(str(uuid.uuid4())),
                     lambda: am.create_silence({"alertname": "X"}, now, now + 60, "eve", "ACK!"))
            for call in calls:
                with pytest.raises(AlertmanagerError) as caught:
                    await call()
                errors.append(caught.value)
        return errors

    errors = run(failures)
    assert [e.operation for e in errors] == ["reading alerts", "reading silences", "posting alerts",
                                             "expiring silence", "creating silence"]
    for error in errors:
        message = str(error)
        assert "every member failed" in message and "127.0.0.1" in message and "ConnectError" in message
        assert PASSWORD not in message and "monitor:" not in message and TOKEN not in message


def test_a_request_alertmanager_refuses_is_not_retried_and_its_reason_is_quoted(cluster: AlertmanagerCluster) -> None:
    async def refused() -> AlertmanagerError:
        now = time.time()
        async with AlertmanagerAPI(cluster.urls) as am:
            with pytest.raises(AlertmanagerError) as caught:
                await am.create_silence({"alertname": "X"}, now + 60, now, "frank", "ends before it starts")
        return caught.value

    error = run(refused)
    assert error.operation == "creating silence"
    assert "HTTP 400" in error.reason and "start time must be before end time" in error.reason
