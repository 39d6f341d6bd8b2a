"""The console in Debian's chromium, headless, driven by Playwright: the real service (uvicorn, SQLite, the
reconciler) against a real Alertmanager. A person logs in, acks an episode (a real ACK! silence by that person),
resolves it with notes and a classification (the silence expires), finds it in the history, and reads the
analytics page; a second acked alert resolves by webhook and its silence expires at once.

Screenshots of every step are test artifacts: with CACHEWATCH_SCREENSHOTS=<dir> (e.g. tests/artifacts/console)
they are kept there, otherwise they go to tmp_path and vanish with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import uvicorn

from cachewatch.alert_lifecycle.api import create_app
from cachewatch.alert_lifecycle.model import ZERO_TIME
from cachewatch.alert_lifecycle.service import Service
from cachewatch.local_redis import free_port
from cachewatch.spec import AlertLifecycle, Cluster, Escalation, FleetSpec, Node, Region, Team, WebhookChannel
from tests.support.alertmanager_process import running_alertmanager

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "alice-console-tok-4b8e21"
NOTES = "Primary ran out of memory after a key explosion; raised maxmemory and evicted the job's keys."
AM_CONFIG = "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n"
ALERTS = [  # (fingerprint, alertname, team, cluster, severity, summary)
    ("c0ffee01", "CacheNodeDown", "cache", "live", "critical", "redis 10.0.3.7:6379 is not answering"),
    ("c0ffee02", "ReplicationLagHigh", "cache", "live", "warning", "replica lags 42 MB behind its primary"),
    ("c0ffee03", "EvictionsHigh", "cache", "patching", "warning", "1,200 evictions/s for 10 minutes"),
    ("c0ffee04", "HitRatioLow", "payments", "billing", "info", "hit ratio 71 % (target 90 %)"),
]


def fleet() -> FleetSpec:
    """alice is in team cache (ack_mode silence for critical, the default); team payments is someone else's."""
    def team(name: str, members: list[str]) -> Team:
        return Team(name=name, channels={"pager": WebhookChannel(url="http://127.0.0.1:9/")},
                    escalation=Escalation(critical=["pager"]), members=members)

    clusters = [Cluster(name=name, team=owner, nodes=[Node(address=f"127.0.0.1:{7001 + i}")])
                for i, (name, owner) in enumerate((("live", "cache"), ("patching", "cache"), ("billing", "payments")))]
    return FleetSpec(name="lab", regions=[Region(name="eu-west", clusters=clusters)],
                     teams=[team("cache", ["alice"]), team("payments", ["carol"])],
                     alert_lifecycle=AlertLifecycle())


def webhook(alerts: list[tuple[str, ...]], started: float, ended: float | None = None) -> dict:
    """A history-route post of ``alerts`` (rows of ALERTS, each started 10 minutes after the one before it)."""
    def at(epoch: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))

    def one(row: tuple[str, ...]) -> dict:
        fingerprint, name, team, cluster, severity, summary = row
        return {"status": "firing" if ended is None else "resolved", "fingerprint": fingerprint,
                "startsAt": at(started - 600 * (ALERTS.index(row) + 1)),
                "endsAt": ZERO_TIME if ended is None else at(ended),
                "labels": {"alertname": name, "team": team, "cluster": cluster, "severity": severity,
                           "region": "eu-west"},
                "annotations": {"summary": summary, "runbook_url": f"https://runbooks.example/{name}",
                                "dashboard_url": f"https://grafana.example/d/cachewatch?var-cluster={cluster}"},
                "generatorURL": "http://prometheus:9090/graph"}

    return {"version": "4", "status": "firing" if ended is None else "resolved", "receiver": "cachewatch-history",
            "groupKey": "{}:{}", "truncatedAlerts": 0, "externalURL": "http://alertmanager:9093",
            "alerts": [one(row) for row in alerts]}


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app on a real uvicorn in a thread; stopped (lifespan and all) on exit."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def silences(am: str) -> list[dict]:
    with urllib.request.urlopen(f"{am}/api/v2/silences", timeout=5) as answer:
        return json.loads(answer.read())


def silence_states(am: str, timeout: float = 0.0, until: Any = None) -> dict[str, str]:
    """alertname → the state of its silence, polled for up to ``timeout`` seconds until ``until(states)``."""
    deadline = time.monotonic() + timeout
    while True:
        states = {next(m["value"] for m in s["matchers"] if m["name"] == "alertname"): s["status"]["state"]
                  for s in silences(am)}
        if until is None or until(states) or time.monotonic() > deadline:
            return states
        time.sleep(0.1)


def screenshots(tmp_path: Path) -> Path:
    wanted = os.environ.get("CACHEWATCH_SCREENSHOTS")
    folder = Path(wanted) if wanted else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_log_in_ack_resolve_find_in_history_and_read_analytics(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium")
    from playwright.sync_api import expect, sync_playwright

    shots = screenshots(tmp_path)
    users = tmp_path / "users.yml"
    users.write_text(f"users:\n  alice: {bcrypt.hashpw(TOKEN.encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
    (tmp_path / "am").mkdir()
    (tmp_path / "am" / "alertmanager.yml").write_text(AM_CONFIG)

    with running_alertmanager(tmp_path / "am" / "alertmanager.yml", tmp_path / "am") as am:
        service = Service.build(fleet(), database=str(tmp_path / "alerts.db"), alertmanagers=[am],
                                users_file=users)
        with contextlib.closing(service), serving(create_app(service)) as base, sync_playwright() as playwright:
            started = time.time()
            assert httpx.post(f"{base}/webhook", json=webhook(ALERTS, started)).status_code == 200
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                page = browser.new_page(viewport={"width": 1360, "height": 900})

                def shot(name: str) -> None:
                    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

                # Anonymous: the open episodes, grouped by team and severity, no forms.
                page.goto(base + "/")
                expect(page.locator("h1")).to_contain_text("Open episodes")
                expect(page.locator("section.group h2").first).to_contain_text("cache")
                row = page.locator("tr", has_text="CacheNodeDown")
                expect(row).to_contain_text("redis 10.0.3.7:6379 is not answering")
                expect(row.locator("button.ack")).to_have_count(0)
                shot("01-open-anonymous")

                # Log in with the token; back on the list, with Ack and Resolve forms on alice's team only.
                page.get_by_role("link", name="Log in").click()
                page.get_by_label("User", exact=True).fill("alice")
                page.get_by_label("Token", exact=True).fill(TOKEN)
                page.get_by_role("button", name="Log in").click()
                expect(page.get_by_test_id("user")).to_have_text("alice")
                expect(page.locator("tr", has_text="HitRatioLow").locator("button.ack")).to_have_count(0)
                shot("02-open-logged-in")

                # Ack from the list: the episode is acked by alice, and Alertmanager holds her ACK! silence.
                row.locator("button.ack").click()
                expect(page.get_by_role("status")).to_have_text("Acknowledged.")
                expect(page.locator("tr", has_text="CacheNodeDown")).to_contain_text("by alice")
                [silence] = [s for s in silences(am) if s["status"]["state"] == "active"]
                assert silence["createdBy"] == "alice" and silence["comment"].startswith("ACK! cachewatch episode=")
                assert {m["name"]: m["value"] for m in silence["matchers"]} == {
                    "alertname": "CacheNodeDown", "team": "cache", "cluster": "live", "severity": "critical",
                    "region": "eu-west"}
                shot("03-acked")

                # The episode page: timeline, runbook and dashboard links; resolve with notes + classification.
                page.locator("tr", has_text="CacheNodeDown").get_by_role("link", name="CacheNodeDown").click()
                expect(page.get_by_role("link", name="Runbook")).to_have_attribute(
                    "href", "https://runbooks.example/CacheNodeDown")
                expect(page.get_by_role("link", name="Dashboard panel")).to_have_attribute(
                    "href", "https://grafana.example/d/cachewatch?var-cluster=live")
                expect(page.locator("ol.timeline")).to_contain_text("acked by alice")
                resolve = page.locator("form.resolve")
                resolve.get_by_label("Notes").fill(NOTES)
                resolve.get_by_label("Classification").select_option("actionable")
                shot("04-episode-before-resolve")
                resolve.get_by_role("button", name="Resolve").click()
                expect(page.get_by_role("status")).to_have_text("Closed.")
                expect(page.locator("h1 .state")).to_have_text("closed")
                expect(page.locator("dd.notes")).to_have_text(NOTES)
                expect(page.locator("dd.classification")).to_have_text("actionable")
                expect(page.locator("ol.timeline")).to_contain_text("closed by alice")
                assert silence_states(am) == {"CacheNodeDown": "expired"}
                shot("05-episode-closed")

                # History: filter for closed episodes of that alert.
                page.get_by_role("link", name="History").click()
                page.get_by_label("Alert", exact=True).fill("CacheNodeDown")
                page.get_by_label("State").select_option("closed")
                page.get_by_role("button", name="Filter").click()
                found = page.locator("table.history tbody tr")
                expect(found).to_have_count(1)
                expect(found).to_contain_text("actionable")
                expect(found).to_contain_text("alice")
                shot("06-history")

                # Analytics: four episodes, one acked and closed as actionable: no false positives.
                page.get_by_role("link", name="Analytics").click()
                expect(page.get_by_test_id("episodes")).to_have_text("4")
                expect(page.get_by_test_id("fp")).to_have_text("0.0%")
                expect(page.locator("svg.chart")).to_have_count(4)
                expect(page.locator("table.noisiest")).to_contain_text("CacheNodeDown")
                shot("07-analytics")

                # An acked alert that resolves: the webhook's resolve expires its ACK! silence at once, so a
                # recurrence pages; the episode waits, resolved, for someone to close it.
                page.get_by_role("link", name="Open").click()
                page.locator("tr", has_text="ReplicationLagHigh").locator("button.ack").click()
                expect(page.locator("tr", has_text="ReplicationLagHigh")).to_contain_text("by alice")
                assert silence_states(am)["ReplicationLagHigh"] == "active"
                resolved = webhook([ALERTS[1]], started, ended=time.time())
                assert httpx.post(f"{base}/webhook", json=resolved).status_code == 200
                assert silence_states(am, 10, lambda s: s["ReplicationLagHigh"] == "expired") == {
                    "CacheNodeDown": "expired", "ReplicationLagHigh": "expired"}
                page.reload()
                expect(page.locator("tr", has_text="ReplicationLagHigh").locator(".state")).to_have_text("resolved")
                shot("08-open-after-resolve")

                page.get_by_role("button", name="Log out").click()
                expect(page.get_by_role("status")).to_have_text("Logged out.")
                expect(page.get_by_role("link", name="Log in")).to_be_visible()
            finally:
                browser.close()
    expected = {"01-open-anonymous", "02-open-logged-in", "03-acked", "04-episode-before-resolve",
                "05-episode-closed", "06-history", "07-analytics", "08-open-after-resolve"}
    assert {f"{name}.png" for name in expected} <= {p.name for p in shots.iterdir()}
