"""The fault and what follows: kill the replica, wait for its page at the receiver and its episode in the lifecycle
service, ack it as the demo user (a leased Alertmanager silence), print the episode's timeline, then heal the
replica and watch the alert and the episode resolve.

The replica, not the primary: a dead replica pages with one clear alert (RedisDown, critical, on its instance:
the fastest route), while the application keeps working on the primary, so nothing else clutters the story."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from base64 import b64encode

from cachewatch.local_redis import RedisServer, start_redis
from cachewatch.pipeline.demo.processes import DemoError, wait_until
from cachewatch.pipeline.demo.receiver import Received
from cachewatch.pipeline.demo.report import clock, fetch, say, timeline
from cachewatch.pipeline.demo.spec import USER
from cachewatch.pipeline.demo.stack import REDIS_ARGS, Stack

ALERT_TIMEOUT = 90.0
RESOLVE_TIMEOUT = 60.0
ACK_COMMENT = "the demo killed this replica on purpose; it heals it next"


def api(stack: Stack, path: str, **params: object) -> object:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    return json.loads(fetch(f"{stack.url('lifecycle')}/api/v1{path}{query}"))


def ack(stack: Stack, episode_id: str) -> dict:
    """POST /api/v1/episodes/<id>/ack as the demo user (HTTP Basic user:token, as the CLI sends it)."""
    credentials = b64encode(f"{USER}:{stack.token()}".encode()).decode()
    request = urllib.request.Request(f"{stack.url('lifecycle')}/api/v1/episodes/{episode_id}/ack",
                                     data=json.dumps({"comment": ACK_COMMENT}).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Basic {credentials}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def run_fault(stack: Stack) -> None:
    replica = stack.replica
    killed_at, pid = time.monotonic(), replica.proc.pid
    replica.kill()
    say(f"fault: killed replica {replica.addr} (redis-server pid {pid}); the primary and demo-app carry on")

    def on_replica(alert: Received) -> bool:
        return alert.status == "firing" and alert.labels.get("instance") == replica.addr and alert.at >= killed_at

    alert = stack.receiver.wait_for(on_replica, ALERT_TIMEOUT)
    if alert is None:
        raise DemoError(f"no alert about {replica.addr} reached the receiver within {ALERT_TIMEOUT:.0f} s")
    say(f"alert {alert.name} ({alert.labels.get('severity')}) reached the receiver after "
        f"{alert.at - killed_at:.0f} s")

    def episode() -> dict | None:
        found = api(stack, "/episodes", alertname=alert.name, open="true")
        return next((e for e in found if e["labels"].get("instance") == replica.addr), None)

    found = wait_until(episode, 30, f"an episode of {alert.name} in the lifecycle service")
    console = f"{stack.url('lifecycle')}/episodes/{found['id']}"
    say(f"episode {found['id']} in the console ({found['state']}, {found['notifications']} notification(s)): "
        f"{console}")
    acked = ack(stack, found["id"])
    silence = json.loads(fetch(f"{stack.url('alertmanager')}/api/v2/silence/{acked['ack_silence_id']}"))
    say(f"episode {found['id']} acked by {acked['acked_by']}; silence {silence['id']} "
        f"({silence['status']['state']} until {clock(silence['endsAt'])}) in Alertmanager: {silence['comment']!r}")
    say("the episode's timeline:")
    timeline(acked["events"])
    heal(stack, alert, found["id"], len(acked["events"]))


def heal(stack: Stack, alert: Received, episode_id: str, shown: int) -> None:
    """Restart the replica on its port; then the alert resolves in Prometheus, and the episode with it (the acked
    alert is silenced, so its resolve reaches the service through its reconciler, not a webhook)."""
    old = stack.replica
    began = time.monotonic()
    new = stack.processes.adopt(start_redis(*REDIS_ARGS, "--replicaof", "127.0.0.1", str(stack.primary.port),
                                            "--masterauth", stack.password, password=stack.password, port=old.port))
    old.stop()  # its process is gone already; this removes its directory
    stack.replica = new
    wait_until(lambda: in_sync(stack.primary, new), 30, f"the replica {new.addr} back in sync")
    say(f"healed: replica {new.addr} restarted and in sync after {time.monotonic() - began:.0f} s")

    def resolved_in_prometheus() -> bool:
        alerts = json.loads(fetch(f"{stack.url('prometheus')}/api/v1/alerts"))["data"]["alerts"]
        return not any(a["labels"].get("alertname") == alert.name and a["labels"].get("instance") == new.addr
                       for a in alerts)

    wait_until(resolved_in_prometheus, RESOLVE_TIMEOUT, f"{alert.name} resolved in Prometheus")
    say(f"{alert.name} resolved in Prometheus after {time.monotonic() - began:.0f} s")
    episode = wait_until(lambda: (e := api(stack, f"/episodes/{episode_id}"))["state"] != "acked" and e,
                         RESOLVE_TIMEOUT, f"episode {episode_id} resolved")
    say(f"episode {episode_id} {episode['state']} after {time.monotonic() - began:.0f} s; the rest of its timeline:")
    timeline(episode["events"][shown:])


def in_sync(primary: RedisServer, replica: RedisServer) -> bool:
    """The replica's link is up and the primary lists it online (after its first ACK)."""
    try:
        return ("master_link_status:up" in replica.cli("INFO", "replication")
                and f"port={replica.port},state=online" in primary.cli("INFO", "replication"))
    except RuntimeError:  # redis-cli failed: still starting or loading
        return False
