"""The service's HTTP surfaces without a browser: the webhook and the JSON API honour the contract of issue 11, every
bad input is a 4xx with a reason and stores nothing, identities (tokens, proxy header, console sessions) decide
who may act, and no token ever reaches a log line. A real SQLite store in tmp_path; no Alertmanager except a
closed port (ack must answer 502 and change nothing); acks are ack_mode notify."""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from cachewatch.alert_lifecycle.api import MAX_BODY, EpisodeOut, create_app
from cachewatch.alert_lifecycle.auth import SESSION_COOKIE, load_users
from cachewatch.alert_lifecycle.model import ZERO_TIME
from cachewatch.alert_lifecycle.service import Service, ServiceError
from cachewatch.alert_lifecycle.store.schema import metadata
from cachewatch.local_redis import free_port
from cachewatch.spec import AlertLifecycle, Cluster, Escalation, FleetSpec, Node, Region, Team, WebhookChannel

with warnings.catch_warnings():  # starlette asks for httpx2, which is not packaged here; httpx works the same
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

TOKENS = {"alice": "alice-tok-3f9c1e7a", "carol": "carol-tok-88a0d2b4", "root": "root-tok-51b7e4c9",
          "mallory": "mallory-tok-0c4e9a11"}  # mallory is in the users file but in no team of the spec
WEBHOOK_TOKEN = "hook-tok-6d2f0b93e1"
SQL = "x'); DROP TABLE episodes; --"


# --- the fleet, the users, the service -----------------------------------------------------------------------
def fleet(ack_mode: str = "notify") -> FleetSpec:
    """Team cache (alice) owns cluster live, team payments (carol) owns cluster billing; root is an admin."""
    def team(name: str, member: str) -> Team:
        escalation = Escalation(critical=["hook"], ack_mode_critical=ack_mode, ack_mode_warning=ack_mode)
        return Team(name=name, channels={"hook": WebhookChannel(url="http://127.0.0.1:9/")}, escalation=escalation,
                    members=[member])

    clusters = [Cluster(name="live", team="cache", nodes=[Node(address="127.0.0.1:7001")]),
                Cluster(name="billing", team="payments", nodes=[Node(address="127.0.0.1:7002")])]
    return FleetSpec(name="lab", regions=[Region(name="lab", clusters=clusters)],
                     teams=[team("cache", "alice"), team("payments", "carol")],
                     alert_lifecycle=AlertLifecycle(admins=["root"]))


def write_users(path: Path, tokens: dict[str, str] = TOKENS) -> Path:
    lines = [f"  {user}: {bcrypt.hashpw(token.encode(), bcrypt.gensalt(rounds=4)).decode()}"
             for user, token in tokens.items()]
    path.write_text("users:\n" + "\n".join(lines) + "\n")
    return path


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    return write_users(tmp_path / "users.yml")


@contextlib.contextmanager
def running(service: Service) -> Iterator[TestClient]:
    try:
        with TestClient(create_app(service)) as client:
            yield client
    finally:
        service.close()


@pytest.fixture
def service(tmp_path: Path, users_file: Path) -> Service:
    return Service.build(fleet(), database=str(tmp_path / "alerts.db"), users_file=users_file, reconcile=False)


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with running(service) as client:
        yield client


# --- payloads and looks into the store -----------------------------------------------------------------------
def alert(fingerprint: str = "f00d01", name: str = "CacheDown", status: str = "firing",
          starts: str = "2026-05-01T10:00:00Z", ends: str = ZERO_TIME, team: str = "cache",
          cluster: str = "live", severity: str = "critical", **extra: str) -> dict:
    labels = {"alertname": name, "team": team, "cluster": cluster, "severity": severity, **extra}
    return {"status": status, "labels": labels, "annotations": {"summary": f"{name} on {cluster}"},
            "startsAt": starts, "endsAt": ends, "generatorURL": "http://prometheus/graph", "fingerprint": fingerprint}


def payload(*alerts: dict, receiver: str = "cachewatch-history", group: str = "{}:{}") -> dict:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {"version": "4", "groupKey": group, "truncatedAlerts": 0, "status": status, "receiver": receiver,
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093",
            "alerts": list(alerts)}


def basic(user: str, token: str | None = None) -> dict[str, str]:
    raw = f"{user}:{TOKENS[user] if token is None else token}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def rows(service: Service) -> dict[str, int]:
    with service.store.read() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in metadata.sorted_tables}


def snapshot(service: Service) -> tuple[dict[str, int], list[dict]]:
    """Row counts and every episode row: what 'nothing stored, nothing changed' compares."""
    with service.store.read() as conn:
        episodes = [dict(r) for r in conn.execute(sa.select(metadata.tables["episodes"])).mappings()]
    return rows(service), episodes


def fire(client: TestClient, *alerts: dict) -> str:
    """Post a webhook, return the id of the first alert's newest episode."""
    answer = client.post("/webhook", json=payload(*(alerts or (alert(),))))
    assert answer.status_code == 200, answer.text
    fingerprint = (alerts or (alert(),))[0]["fingerprint"]
    return client.get("/api/v1/episodes", params={"fingerprint": fingerprint}).json()[0]["id"]


# --- the contract --------------------------------------------------------------------------------------------
def test_webhook_alerts_become_episodes_listed_as_the_contract_says(client: TestClient) -> None:
    assert client.post("/webhook", json=payload(alert(), alert("beef02", "ReplicaLag", severity="warning"),
                                                alert("cafe03", "Evictions", team="payments",
                                                      cluster="billing"))).status_code == 200

    listed = client.get("/api/v1/episodes")
    assert listed.status_code == 200 and listed.headers["x-total-count"] == "3"
    down = next(e for e in listed.json() if e["alertname"] == "CacheDown")
    assert {k: down[k] for k in ("fingerprint", "state", "team", "cluster", "severity", "starts_at", "ends_at",
                                 "resolution_inferred", "acked_by", "classification", "reopened_from")} == {
        "fingerprint": "f00d01", "state": "firing", "team": "cache", "cluster": "live", "severity": "critical",
        "starts_at": "2026-05-01T10:00:00.000Z", "ends_at": None, "resolution_inferred": False, "acked_by": None,
        "classification": None, "reopened_from": None}
    assert down["labels"] == alert()["labels"] and down["annotations"] == {"summary": "CacheDown on live"}
    assert down["notifications"] == 1 and re.fullmatch(r"[0-9a-f]{16}", down["id"])
    assert set(down) == set(EpisodeOut.model_fields) and EpisodeOut.model_validate(down)  # what OpenAPI says

    def names(**query: str) -> set[str]:
        answer = client.get("/api/v1/episodes", params=query)
        assert answer.status_code == 200, answer.text
        return {e["alertname"] for e in answer.json()}

    assert names(team="payments") == {"Evictions"}
    assert names(cluster="live", severity="warning") == {"ReplicaLag"}
    assert names(alertname="CacheDown", state="firing") == {"CacheDown"}
    assert names(state="closed") == set() and names(state="open") == {"CacheDown", "ReplicaLag", "Evictions"}
    assert names(open="true", team="cache") == {"CacheDown", "ReplicaLag"}
    assert names(since="2026-05-01T10:00:00Z", until="2026-05-01T10:00:01Z") == {"CacheDown", "ReplicaLag",
                                                                                 "Evictions"}
    assert names(until="2026-05-01") == set()
    assert len(client.get("/api/v1/episodes", params={"limit": 2}).json()) == 2
    assert len(client.get("/api/v1/episodes", params={"limit": 2, "offset": 2}).json()) == 1

    shown = client.get(f"/api/v1/episodes/{down['id']}").json()
    assert [e["kind"] for e in shown["events"]] == ["fired", "notified"]
    assert shown["events"][0]["at"] == "2026-05-01T10:00:00.000Z"
    assert client.get("/api/v1/episodes/f00d01").json()["id"] == down["id"]  # a fingerprint names its newest

    resolved = alert(status="resolved", ends="2026-05-01T10:07:30Z")
    assert client.post("/webhook", json=payload(resolved)).status_code == 200
    after = client.get(f"/api/v1/episodes/{down['id']}").json()
    assert (after["state"], after["ends_at"]) == ("resolved", "2026-05-01T10:07:30.000Z")


def test_replays_ha_copies_and_repeats_make_one_episode(client: TestClient, service: Service) -> None:
    body = payload(alert())
    for _ in range(3):  # the same post again (a retry), then the HA peer's copy of it
        assert client.post("/webhook", json=body).status_code == 200
    assert client.post("/webhook", json=payload(alert(), receiver="cachewatch-history", group="peer")).json()[
        "results"] == {"duplicate": 1}

    [episode] = client.get("/api/v1/episodes").json()
    assert episode["notifications"] == 1
    assert rows(service)["episodes"] == 1


def test_actions_follow_the_episode_through_its_timeline(client: TestClient) -> None:
    episode = fire(client)
    acked = client.post(f"/api/v1/episodes/{episode}/ack", json={"comment": "looking"}, headers=basic("alice"))
    assert acked.status_code == 200, acked.text
    assert (acked.json()["state"], acked.json()["acked_by"]) == ("acked", "alice")
    assert client.post(f"/api/v1/episodes/{episode}/ack", headers=basic("alice")).status_code == 200  # idempotent

    noted = client.post(f"/api/v1/episodes/{episode}/notes", json={"text": "failover done"}, headers=basic("alice"))
    assert noted.status_code == 201
    assert client.post(f"/api/v1/episodes/{episode}/unack", headers=basic("alice")).json()["state"] == "firing"
    closed = client.post(f"/api/v1/episodes/{episode}/resolve", headers=basic("alice"),
                         json={"notes": "primary OOM; raised maxmemory", "classification": "actionable"})
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["state"], body["classification"], body["closed_by"]) == ("closed", "actionable", "alice")
    assert body["close_notes"] == "primary OOM; raised maxmemory" and body["closed_while_firing"] is True
    assert [e["kind"] for e in body["events"]] == ["fired", "notified", "acked", "note", "unacked", "closed",
                                                   "classified"]
    assert [e["actor"] for e in body["events"][2:]] == ["alice"] * 5
    assert body["events"][2]["detail"]["comment"] == "looking"
    assert body["events"][3]["detail"] == {"text": "failover done"}

    report = client.get("/api/v1/analytics", params={"from": "2026-05-01", "to": "2026-05-02", "team": "cache"})
    assert report.status_code == 200, report.text
    figures = report.json()
    assert figures["episodes"] == 1 and figures["false_positive_rate"] == 0.0
    assert {"mtta_seconds", "mttr_seconds", "noisiest", "flapping", "trend"} <= set(figures)
    assert figures["noisiest"][0]["alertname"] == "CacheDown"
    assert (figures["from"], figures["to"]) == ("2026-05-01T00:00:00.000Z", "2026-05-02T00:00:00.000Z")
    assert client.get("/api/v1/analytics", params={"team": "payments", "from": "2026-05-01",
                                                   "to": "2026-05-02"}).json()["episodes"] == 0


# --- bad input: a 4xx with a reason, nothing stored ----------------------------------------------------------
Call = Callable[[TestClient, str], httpx.Response]


def chunks(size: int) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked), so only counting the bytes can catch it."""
    for _ in range(size // 65536 + 1):
        yield b" " * 65536


BAD: dict[str, tuple[Call, int, str]] = {
    "webhook malformed JSON": (lambda c, e: c.post("/webhook", content=b'{"version": "4", "alerts": [',
                                                   headers={"Content-Type": "application/json"}), 400, "JSON"),
    "webhook wrong version": (lambda c, e: c.post("/webhook", json=payload(alert()) | {"version": "3"}), 400,
                              "version"),
    "webhook alert without startsAt": (lambda c, e: c.post("/webhook", json=payload(
        {k: v for k, v in alert("0bad01").items() if k != "startsAt"})), 400, "startsAt"),
    "webhook labels not strings": (lambda c, e: c.post("/webhook", json=payload(alert("0bad02") | {
        "labels": {"alertname": 7}})), 400, "labels"),
    "webhook over 1 MiB": (lambda c, e: c.post("/webhook", content=b" " * (MAX_BODY + 1)), 413, "body over"),
    "webhook over 1 MiB, chunked": (lambda c, e: c.post("/webhook", content=chunks(MAX_BODY)), 413, "body over"),
    "webhook not JSON at all": (lambda c, e: c.post("/webhook", content=b"\x00\xff"), 400, "JSON"),
    "resolve unknown classification": (lambda c, e: c.post(f"/api/v1/episodes/{e}/resolve", headers=basic("alice"),
                                                           json={"notes": "n", "classification": "meh"}), 422,
                                       "classification"),
    "resolve notes not a string": (lambda c, e: c.post(f"/api/v1/episodes/{e}/resolve", headers=basic("alice"),
                                                       json={"notes": 5, "classification": "actionable"}), 422,
                                   "notes"),
    "resolve without notes": (lambda c, e: c.post(f"/api/v1/episodes/{e}/resolve", headers=basic("alice"),
                                                  json={"notes": "", "classification": "actionable"}), 422, "notes"),
    "resolve malformed JSON": (lambda c, e: c.post(f"/api/v1/episodes/{e}/resolve", headers=basic("alice") | {
        "Content-Type": "application/json"}, content=b'{"notes": "x",'), 400, "malformed JSON"),
    "resolve without a body": (lambda c, e: c.post(f"/api/v1/episodes/{e}/resolve", headers=basic("alice")), 422,
                               "body"),
    "resolve with an unknown field": (lambda c, e: c.post(f"/api/v1/episodes/{e}/resolve", headers=basic("alice"),
                                                          json={"notes": "x", "classification": "duplicate",
                                                                "note": "typo"}), 422, "note"),
    "resolve over 1 MiB": (lambda c, e: c.post(f"/api/v1/episodes/{e}/resolve", headers=basic("alice"),
                                               json={"notes": "x" * MAX_BODY, "classification": "expected"}), 413,
                           "body over"),
    "note too long": (lambda c, e: c.post(f"/api/v1/episodes/{e}/notes", headers=basic("alice"),
                                          json={"text": "x" * 10_001}), 422, "text"),
    "ack comment not a string": (lambda c, e: c.post(f"/api/v1/episodes/{e}/ack", headers=basic("alice"),
                                                     json={"comment": ["x"]}), 422, "comment"),
    "ack without identity": (lambda c, e: c.post(f"/api/v1/episodes/{e}/ack"), 401, "identity"),
    "ack with a forged token": (lambda c, e: c.post(f"/api/v1/episodes/{e}/ack", headers=basic("alice", "guess")),
                                401, "wrong token"),
    "ack as an unknown user": (lambda c, e: c.post(f"/api/v1/episodes/{e}/ack", headers={
        "Authorization": "Basic " + base64.b64encode(b"eve:alice-tok-3f9c1e7a").decode()}), 401, "wrong token"),
    "ack with malformed Basic": (lambda c, e: c.post(f"/api/v1/episodes/{e}/ack",
                                                     headers={"Authorization": "Basic !!!"}), 401, "malformed"),
    "ack with a bearer token": (lambda c, e: c.post(f"/api/v1/episodes/{e}/ack",
                                                    headers={"Authorization": "Bearer x"}), 401, "Basic"),
    "ack as a user the spec does not know": (lambda c, e: c.post(f"/api/v1/episodes/{e}/ack",
                                                                 headers=basic("mallory")), 401, "spec"),
    "ack from another site's page": (lambda c, e: c.post(f"/api/v1/episodes/{e}/ack", headers=basic("alice") | {
        "Sec-Fetch-Site": "cross-site"}), 403, "another site"),
    "ack another team's alert": (lambda c, e: c.post(f"/api/v1/episodes/{e}/ack", headers=basic("carol")), 403,
                                 "not a member of team cache"),
    "ack an unknown episode": (lambda c, e: c.post("/api/v1/episodes/0123456789abcdef/ack", headers=basic("alice")),
                               404, "no episode"),
    "unack an episode nobody acked": (lambda c, e: c.post(f"/api/v1/episodes/{e}/unack", headers=basic("alice")),
                                      409, "not acked"),
    "show an unknown episode": (lambda c, e: c.get("/api/v1/episodes/nope"), 404, "no episode"),
    "list with an unknown state": (lambda c, e: c.get("/api/v1/episodes?state=burning"), 422, "state"),
    "list with a bad time": (lambda c, e: c.get("/api/v1/episodes?since=yesterday-ish"), 422, "since"),
    "list with a limit of 0": (lambda c, e: c.get("/api/v1/episodes?limit=0"), 422, "limit"),
    "analytics backwards": (lambda c, e: c.get("/api/v1/analytics?from=2026-05-02&to=2026-05-01"), 422, "before"),
}


@pytest.mark.parametrize("call, status, reason", BAD.values(), ids=BAD.keys())
def test_bad_input_is_refused_with_a_reason_and_stores_nothing(client: TestClient, service: Service, call: Call,
                                                               status: int, reason: str) -> None:
    episode = fire(client)
    before = snapshot(service)

    answer = call(client, episode)

    assert answer.status_code == status, answer.text
    assert reason in answer.json()["error"]
    assert set(answer.json()) == {"error"}
    assert snapshot(service) == before


def test_an_ack_alertmanager_refuses_is_502_and_changes_nothing(tmp_path: Path, users_file: Path) -> None:
    closed_port = f"http://127.0.0.1:{free_port()}"
    service = Service.build(fleet(ack_mode="silence"), database=str(tmp_path / "alerts.db"), users_file=users_file,
                            alertmanagers=[closed_port], reconcile=False)
    with running(service) as client:
        episode = fire(client)
        before = snapshot(service)
        answer = client.post(f"/api/v1/episodes/{episode}/ack", headers=basic("alice"))
        assert answer.status_code == 502, answer.text
        assert "Alertmanager" in answer.json()["error"]
        assert snapshot(service) == before
        assert client.get(f"/api/v1/episodes/{episode}").json()["state"] == "firing"


def test_sql_metacharacters_in_labels_and_notes_are_stored_verbatim(client: TestClient, service: Service) -> None:
    tricky = alert("5a1f00", name=SQL, cluster="live' OR '1'='1", comment="%_\\;-- ok")
    episode = fire(client, tricky)
    notes = "Robert'); DROP TABLE events;-- \" ` \\ % _"
    assert client.post(f"/api/v1/episodes/{episode}/notes", json={"text": notes},
                       headers=basic("alice")).status_code == 201
    closed = client.post(f"/api/v1/episodes/{episode}/resolve", json={"notes": notes, "classification": "expected"},
                         headers=basic("alice"))
    assert closed.status_code == 200, closed.text

    [found] = client.get("/api/v1/episodes", params={"alertname": SQL, "cluster": "live' OR '1'='1"}).json()
    assert found["labels"] == tricky["labels"] and found["close_notes"] == notes
    assert client.get("/api/v1/episodes", params={"cluster": "' OR '1'='1"}).json() == []
    events = client.get(f"/api/v1/episodes/{episode}").json()["events"]
    assert {"text": notes} in [e["detail"] for e in events]
    assert set(rows(service)) == {t.name for t in metadata.sorted_tables}  # every table still there


# --- identities ----------------------------------------------------------------------------------------------
def test_admins_act_on_every_team_members_only_on_their_own(client: TestClient) -> None:
    cache = fire(client)
    payments = fire(client, alert("cafe03", "Evictions", team="payments", cluster="billing"))
    assert client.post(f"/api/v1/episodes/{payments}/ack", headers=basic("carol")).status_code == 200
    assert client.post(f"/api/v1/episodes/{payments}/ack", headers=basic("alice")).status_code == 403
    assert client.post(f"/api/v1/episodes/{cache}/ack", headers=basic("root")).json()["acked_by"] == "root"
    taken = client.post(f"/api/v1/episodes/{payments}/ack", headers=basic("root"))  # an admin takes over
    assert taken.json()["acked_by"] == "root"


def test_proxy_header_names_the_user_when_configured(tmp_path: Path) -> None:
    service = Service.build(fleet(), database=str(tmp_path / "alerts.db"), proxy_user_header="X-Forwarded-User",
                            reconcile=False)
    with running(service) as client:
        episode = fire(client)
        assert client.post(f"/api/v1/episodes/{episode}/ack", headers={"X-Forwarded-User": "carol"}
                           ).status_code == 403
        assert client.post(f"/api/v1/episodes/{episode}/ack", headers={"X-Forwarded-User": "eve"}).status_code == 401
        acked = client.post(f"/api/v1/episodes/{episode}/ack", headers={"X-Forwarded-User": "alice"})
        assert acked.json()["acked_by"] == "alice"
        refused = client.post(f"/api/v1/episodes/{episode}/unack", headers=basic("alice"))
        assert refused.status_code == 401 and "without --users" in refused.json()["error"]


def test_console_behind_a_proxy_acts_as_the_header_says(tmp_path: Path) -> None:
    service = Service.build(fleet(), database=str(tmp_path / "alerts.db"), proxy_user_header="X-Forwarded-User",
                            reconcile=False)
    with running(service) as client:
        episode = fire(client)
        client.headers["X-Forwarded-User"] = "alice"
        assert 'data-testid="user">alice<' in client.get("/").text and "Log out" not in client.get("/").text
        token = form_token(client, episode)
        assert client.post(f"/episodes/{episode}/ack", data={"csrf": token}).status_code == 200
        assert client.get(f"/api/v1/episodes/{episode}").json()["acked_by"] == "alice"
        client.headers["X-Forwarded-User"] = "carol"  # alice's form token is not carol's
        stale = client.post(f"/episodes/{episode}/unack", data={"csrf": token})
        assert stale.status_code == 403 and "form is stale" in stale.json()["error"]


def test_without_users_or_proxy_the_service_is_read_only(tmp_path: Path) -> None:
    service = Service.build(fleet(), database=str(tmp_path / "alerts.db"), reconcile=False)
    with running(service) as client:
        episode = fire(client)
        refused = client.post(f"/api/v1/episodes/{episode}/ack", headers={"X-Forwarded-User": "alice"})
        assert refused.status_code == 401 and "read-only" in refused.json()["error"]
        assert client.get("/api/v1/episodes").status_code == 200


def test_webhook_bearer_token(tmp_path: Path) -> None:
    token_file = tmp_path / "webhook.token"
    token_file.write_text(WEBHOOK_TOKEN + "\n")
    service = Service.build(fleet(), database=str(tmp_path / "alerts.db"), webhook_token_file=token_file,
                            reconcile=False)
    with running(service) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {WEBHOOK_TOKEN}"}):
            refused = client.post("/webhook", json=payload(alert()), headers=headers)
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert rows(service)["episodes"] == 0
        ok = client.post("/webhook", json=payload(alert()), headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
        assert ok.status_code == 200 and rows(service)["episodes"] == 1


USERS_FILES = {
    "a plaintext token": ("users:\n  alice: alice-tok-3f9c1e7a\n", "users.alice: not a bcrypt hash"),
    "not YAML": ("users: [\n", "not valid YAML"),
    "no users key": ("alice: x\n", "expected exactly one key"),
    "a bad user name": ("users:\n  'al ice': x\n", "users entry 1"),
}


@pytest.mark.parametrize("text, reason", USERS_FILES.values(), ids=USERS_FILES.keys())
def test_a_users_file_of_anything_but_bcrypt_hashes_is_refused(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "users.yml"
    path.write_text(text)
    with pytest.raises(ServiceError, match=re.escape(reason)) as refused:
        Service.build(fleet(), database=str(tmp_path / "alerts.db"), users_file=path, reconcile=False)
    assert "alice-tok" not in str(refused.value)
    assert not (tmp_path / "alerts.db").exists()  # refused before the store was opened
    assert set(load_users(write_users(tmp_path / "good.yml"))) == set(TOKENS)


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app on a real uvicorn in a thread (its own access log, as in production)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="debug"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_tokens_never_reach_a_log_line(tmp_path: Path, users_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token_file = tmp_path / "webhook.token"
    token_file.write_text(WEBHOOK_TOKEN)
    service = Service.build(fleet(), database=str(tmp_path / "alerts.db"), users_file=users_file,
                            webhook_token_file=token_file, reconcile=False)
    try:
        with serving(create_app(service)) as base, httpx.Client(base_url=base) as http:
            hook = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
            assert http.post("/webhook", json=payload(alert()), headers=hook).status_code == 200
            episode = http.get("/api/v1/episodes").json()[0]["id"]
            assert http.post(f"/api/v1/episodes/{episode}/ack", headers=basic("alice")).status_code == 200
            assert http.post(f"/api/v1/episodes/{episode}/unack", headers=basic("alice", "wrong-tok-123")
                             ).status_code == 401
            assert http.post(f"/api/v1/episodes/{episode}/ack", headers=basic("carol")).status_code == 403
            assert http.post("/webhook", json=payload(alert()), headers={"Authorization": "Bearer wrong-tok-456"}
                             ).status_code == 401
            assert http.post("/login", data={"user": "alice", "token": TOKENS["alice"]}).status_code == 303
            assert http.post("/login", data={"user": "alice", "token": "wrong-tok-789"}).status_code == 401
    finally:
        service.close()

    logged = caplog.text
    assert "POST /api/v1/episodes/" in logged  # the access log was captured
    secrets = [*TOKENS.values(), WEBHOOK_TOKEN, "wrong-tok-123", "wrong-tok-456", "wrong-tok-789",
               basic("alice")["Authorization"], basic("carol")["Authorization"].split()[1]]
    assert [s for s in secrets if s in logged] == []
    assert "authorization" not in logged.lower()


# --- the service's own routes --------------------------------------------------------------------------------
def test_openapi_describes_the_contract(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/webhook", "/api/v1/episodes", "/api/v1/episodes/{episode_id}", "/api/v1/episodes/{episode_id}/ack",
            "/api/v1/episodes/{episode_id}/unack", "/api/v1/episodes/{episode_id}/resolve",
            "/api/v1/episodes/{episode_id}/notes", "/api/v1/analytics"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    assert schemas["Classification"]["enum"] == ["actionable", "non_actionable", "false_positive", "duplicate",
                                                 "expected"]
    assert {"id", "fingerprint", "alertname", "labels", "state", "starts_at", "ends_at"} <= set(
        schemas["EpisodeOut"]["properties"])
    assert schemas["WebhookPayload"]["properties"]["version"]["const"] == "4"
    assert spec["paths"]["/api/v1/episodes/{episode_id}/ack"]["post"]["security"] == [{"basic": []}]
    assert client.get("/docs").status_code == 404  # Swagger UI would load from a CDN


def test_metrics_and_health(client: TestClient) -> None:
    fire(client)
    assert client.get("/healthz").json() == {"status": "ok"}
    text = client.get("/metrics").text
    assert "cachewatch_alert_episodes_total" in text and 'alertname="CacheDown"' in text


# --- the console without a browser (the browser drives it in test_console_browser.py) ------------------------
def login(client: TestClient, user: str = "alice") -> str:
    answer = client.post("/login", data={"user": user, "token": TOKENS[user], "next": "/history"},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/history"
    return answer.headers["set-cookie"]


def form_token(client: TestClient, episode: str) -> str:
    page = client.get(f"/episodes/{episode}").text
    return re.search(r'name="csrf" value="([^"]+)"', page)[1]


def test_console_login_issues_a_strict_http_only_session(client: TestClient) -> None:
    cookie = login(client)
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert TOKENS["alice"] not in cookie
    assert 'data-testid="user">alice<' in client.get("/").text

    refused = client.post("/login", data={"user": "alice", "token": "nope"})
    assert refused.status_code == 401 and "unknown user or wrong token" in refused.text
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, "eyJ1Ijoicm9vdCJ9.forged")
    assert "Log in" in client.get("/").text and 'data-testid="user"' not in client.get("/").text


def test_console_forms_need_the_session_form_token(client: TestClient, service: Service) -> None:
    episode = fire(client)
    login(client)
    before = snapshot(service)
    for token in ("", "forged"):
        refused = client.post(f"/episodes/{episode}/ack", data={"csrf": token}, headers={"Accept": "text/html"})
        assert refused.status_code == 403 and "reload the page" in refused.text
    assert snapshot(service) == before

    token = form_token(client, episode)
    acked = client.post(f"/episodes/{episode}/ack", data={"csrf": token, "next": "//evil.example/"},
                        follow_redirects=False)
    assert acked.status_code == 303 and acked.headers["location"] == f"/episodes/{episode}?done=acked"
    closed = client.post(f"/episodes/{episode}/resolve", data={"csrf": token, "notes": "n", "classification": "bad"},
                         headers={"Accept": "text/html"})
    assert closed.status_code == 422 and "classification" in closed.text
    assert client.get(f"/api/v1/episodes/{episode}").json()["state"] == "acked"

    logout = client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert logout.status_code == 303
    assert client.post(f"/episodes/{episode}/unack", data={"csrf": token}).status_code == 401


def test_console_escapes_what_alerts_carry(client: TestClient) -> None:
    hostile = alert("0bad99", name="<script>alert(1)</script>", summary="x")
    hostile["annotations"] = {"summary": "<img src=x onerror=alert(2)>", "runbook_url": "javascript:alert(3)",
                              "dashboard_url": "https://grafana.example/d/cache?var-cluster=live&x=\"><b>"}
    episode = fire(client, hostile)
    page = client.get(f"/episodes/{episode}").text
    for raw in ("<script>alert(1)", "<img src=x", 'href="javascript:', '"><b>'):
        assert raw not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="https://grafana.example/d/cache?var-cluster=live&amp;x=&#34;&gt;&lt;b&gt;"' in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in client.get("/").text
    headers = client.get("/").headers
    assert "default-src 'self'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"


def test_console_lists_many_open_episodes_a_page_at_a_time(client: TestClient, service: Service) -> None:
    many = [alert(f"{i:06x}a", f"Alert{i % 7}", starts=f"2026-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
                  team=("cache", "payments")[i % 2], severity=("critical", "warning", "info")[i % 3])
            for i in range(1, 251)]
    assert client.post("/webhook", json=payload(*many)).status_code == 200
    page = client.get("/").text
    assert page.count('<tr id="ep-') == 100 and "page 1 of 3" in page
    assert "Open episodes <span class=\"count\">250</span>" in page
    assert client.get("/", params={"page": 3}).text.count('<tr id="ep-') == 50
    only = client.get("/", params={"team": "payments", "severity": "info"}).text
    assert only.count('<tr id="ep-') == 41 and "page 1 of 1" not in only
    history = client.get("/history", params={"team": "cache", "state": "firing"}).text
    assert history.count('<tr id="ep-') == 50 and "page 1 of 3" in history
    assert client.get("/history", params={"from": "someday"}, headers={"Accept": "text/html"}).status_code == 422
