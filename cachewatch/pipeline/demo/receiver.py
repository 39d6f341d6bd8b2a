"""The demo's notification receiver: a webhook endpoint that Alertmanager posts to (the team's only channel in
the demo spec), printing each notification as it arrives, as a pager or a chat channel would show it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cachewatch.pipeline.demo.report import say

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Received:
    """One alert of one notification, and when (monotonic) it arrived."""

    at: float
    status: str
    labels: dict[str, str]
    summary: str

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "?")


class Receiver:
    """``POST <path>``: Alertmanager's webhook JSON; every alert in it is printed and kept."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.alerts: list[Received] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                ok = self.path == path and 0 < length <= MAX_BODY
                if ok:
                    receiver._take(json.loads(self.rfile.read(length)))
                self.send_response(200 if ok else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="demo-receiver", daemon=True)
        self._thread.start()

    def _take(self, payload: dict) -> None:
        now = time.monotonic()
        for alert in payload.get("alerts", []):
            item = Received(now, alert.get("status", "?"), alert.get("labels", {}),
                            alert.get("annotations", {}).get("summary", ""))
            instance = item.labels.get("instance", item.labels.get("cluster", ""))
            say(f"receiver got: [{item.status}] {item.name} ({item.labels.get('severity', '?')}) {instance}: "
                f"{item.summary}", indent=True)
            with self._changed:
                self.alerts.append(item)
                self._changed.notify_all()

    def wait_for(self, match: Callable[[Received], bool], timeout: float) -> Received | None:
        """The first alert received (ever) that ``match``es, waiting up to ``timeout`` seconds for it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((a for a in self.alerts if match(a)), None)
                left = deadline - time.monotonic()
                if found or left <= 0:
                    return found
                self._changed.wait(left)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
