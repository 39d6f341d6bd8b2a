"""Every channel kind delivers, firing and then resolved, from a real Alertmanager (Debian's 0.25) running the config
generated from the spec: email through a relay that requires STARTTLS (a private CA, a certificate for another
name than the address) and a login, a Slack webhook, PagerDuty's Events API v2 at a custom ``url`` (an EU
account, a proxy), and a plain webhook.

The secret files are written the way operators write them: the Slack URL and the PagerDuty key with a trailing
newline (``echo … > file``), which Alertmanager trims; the SMTP password with ``printf %s``. A second mail
channel whose password file ends in a newline shows why `cachewatch generate` warns about one: 0.25 offers the
newline as part of the password, the relay refuses the login, and that mail never arrives."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from cachewatch.local_redis import make_tls_files
from cachewatch.spec import (
    AlertLifecycle,
    EmailChannel,
    EmailTLS,
    Escalation,
    Intervals,
    PagerDutyChannel,
    SecretRef,
    SlackChannel,
    Team,
    WebhookChannel,
)
from tests.support.alertmanager_process import running_alertmanager
from tests.support.fake_smtp import FakeSmtp
from tests.support.recording_http import PAGERDUTY_REPLY, SLACK_REPLY, RecordingEndpoint, Request
from tests.support.specs import generate, tiny_spec

SMTP_USER, SMTP_PASSWORD = "alerts", "smtp-e2e-pw-41c9"
ROUTING_KEY = "R0UT1NGKEY0000000000000000000001"
SLACK_PATH = "/services/T000/B000/channel-ops-alerts"
RELAY_NAME = "smtp.cachewatch.test"  # the certificate's name; the relay is reached as 127.0.0.1
TO, TO_NEWLINE = "oncall@example.com", "never@example.com"
TIMEOUT = 30.0
LABELS = {"alertname": "RedisDown", "severity": "critical", "team": "ops", "region": "lab", "cluster": "live",
          "instance": "127.0.0.1:7001", "scope": "node"}
ANNOTATIONS = {"summary": "Redis node is down", "description": "127.0.0.1:7001 does not answer",
               "runbook_url": "https://runbooks.example.com/RedisDown", "dashboard_url": "https://grafana.example.com/d/x"}


def post_alert(base: str, *, resolved: bool) -> None:
    alert: dict = {"labels": LABELS, "annotations": ANNOTATIONS}
    if resolved:
        alert["endsAt"] = datetime.now(UTC).isoformat()
    request = urllib.request.Request(base + "/api/v2/alerts", data=json.dumps([alert]).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()


def statuses(requests: list[Request], status_of: str) -> list[str]:
    return [request.body[status_of] for request in requests]


def pagerduty_actions(requests: list[Request]) -> list[str]:
    return [request.body["event_action"] for request in requests]


def mail_subjects(smtp: FakeSmtp) -> list[str]:
    return [str(mail.message["Subject"]) for mail in smtp.mails]


def test_email_slack_pagerduty_and_webhook_each_get_firing_then_resolved(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "tls", server_name=RELAY_NAME)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    with (FakeSmtp(tls.server_cert, tls.server_key, users={SMTP_USER: SMTP_PASSWORD}) as smtp,
          RecordingEndpoint(SLACK_REPLY) as slack, RecordingEndpoint(PAGERDUTY_REPLY) as pagerduty,
          RecordingEndpoint() as hook):
        (secrets / "smtp").write_text(SMTP_PASSWORD)  # printf %s "$secret" > smtp
        (secrets / "smtp-newline").write_text(SMTP_PASSWORD + "\n")  # echo "$secret" > smtp-newline
        (secrets / "slack-ops-alerts").write_text(slack.url(SLACK_PATH) + "\n")
        (secrets / "pd-ops").write_text(ROUTING_KEY + "\n")
        relay = {"to": [TO], "sender": "alertmanager@example.com", "smarthost": f"127.0.0.1:{smtp.port}",
                 "auth_username": SMTP_USER, "require_tls": True,
                 "tls": EmailTLS(ca_file=str(tls.ca_cert), server_name=RELAY_NAME)}
        channels = {
            "mail": EmailChannel(**relay, auth_password=SecretRef(file=str(secrets / "smtp"))),
            "mail-newline": EmailChannel(**(relay | {"to": [TO_NEWLINE]}),
                                         auth_password=SecretRef(file=str(secrets / "smtp-newline"))),
            "chat": SlackChannel(channel="#ops-alerts", api_url=SecretRef(file=str(secrets / "slack-ops-alerts"))),
            "pager": PagerDutyChannel(routing_key=SecretRef(file=str(secrets / "pd-ops")),
                                      url=pagerduty.url("/v2/enqueue")),
            "hook": WebhookChannel(url=hook.url("/alertmanager")),
        }
        team = Team(name="ops", channels=channels, escalation=Escalation(critical=list(channels)))
        spec = tiny_spec(team, intervals=Intervals(group_wait=1, group_interval=1),
                         alert_lifecycle=AlertLifecycle(enabled=False))
        generate(spec, tmp_path / "out")
        with running_alertmanager(tmp_path / "out" / "alertmanager" / "alertmanager.yml", tmp_path) as base:
            post_alert(base, resolved=False)
            smtp.wait_for(lambda s: len(s.mails) >= 1, TIMEOUT, "firing mail")
            slack.wait_for(lambda r: len(r) >= 1, TIMEOUT, "firing Slack message")
            pagerduty.wait_for(lambda r: len(r) >= 1, TIMEOUT, "PagerDuty trigger")
            hook.wait_for(lambda r: len(r) >= 1, TIMEOUT, "firing webhook")
            post_alert(base, resolved=True)
            smtp.wait_for(lambda s: any("[RESOLVED]" in subject for subject in mail_subjects(s)), TIMEOUT,
                          "resolved mail")
            slack.wait_for(lambda r: any(req.body["attachments"][0]["title"].startswith("[RESOLVED]") for req in r),
                           TIMEOUT, "resolved Slack message")
            pagerduty.wait_for(lambda r: "resolve" in pagerduty_actions(r), TIMEOUT, "PagerDuty resolve")
            hook.wait_for(lambda r: "resolved" in statuses(r, "status"), TIMEOUT, "resolved webhook")
            smtp.wait_for(lambda s: any(not login.accepted for login in s.logins), TIMEOUT,
                          "the login with the newline-terminated password")

    # email: over STARTTLS, checked against the private CA under the certificate's name, logged in.
    firing, resolved = smtp.mails[0], smtp.mails[-1]
    assert mail_subjects(smtp)[0].startswith("[FIRING:1] RedisDown") and "[RESOLVED]" in mail_subjects(smtp)[-1]
    for mail in (firing, resolved):
        assert mail.recipients == (TO,) and mail.sender == "alertmanager@example.com"
        assert mail.tls and mail.user == SMTP_USER
        assert "Redis node is down" in mail.text
    good = [login for login in smtp.logins if login.password == SMTP_PASSWORD]
    assert good and all(login.accepted and login.tls for login in good)
    # Alertmanager 0.25 kept the newline in the password: the relay refused it and that channel got no mail.
    refused = [login for login in smtp.logins if not login.accepted]
    assert refused and all(login.password == SMTP_PASSWORD + "\n" for login in refused)
    assert all(mail.recipients == (TO,) for mail in smtp.mails)

    # Slack: the URL file's trailing newline was trimmed, the channel and the title are ours.
    messages = slack.requests
    assert {request.path for request in messages} == {SLACK_PATH}
    assert {request.body["channel"] for request in messages} == {"#ops-alerts"}
    titles = [request.body["attachments"][0]["title"] for request in messages]
    assert titles[0] == "[FIRING:1] RedisDown lab/live" and titles[-1] == "[RESOLVED] RedisDown lab/live"
    assert "*Redis node is down* (critical)" in messages[0].body["attachments"][0]["text"]

    # PagerDuty: at the spec's url, the key read from its file without the newline, one incident opened and closed.
    events = pagerduty.requests
    assert {request.path for request in events} == {"/v2/enqueue"}
    assert {request.body["routing_key"] for request in events} == {ROUTING_KEY}
    assert pagerduty_actions(events)[0] == "trigger" and pagerduty_actions(events)[-1] == "resolve"
    assert len({request.body["dedup_key"] for request in events}) == 1
    trigger = events[0].body["payload"]
    assert trigger["severity"] == "critical"
    assert trigger["summary"] == "RedisDown lab/live: Redis node is down"

    # webhook: Alertmanager's own JSON, firing then resolved, for the team's critical receiver.
    bodies = [request.body for request in hook.requests]
    assert statuses(hook.requests, "status")[0] == "firing" and statuses(hook.requests, "status")[-1] == "resolved"
    assert {body["receiver"] for body in bodies} == {"ops-critical"}
    assert bodies[-1]["alerts"][0]["labels"]["instance"] == "127.0.0.1:7001"
