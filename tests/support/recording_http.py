"""An HTTP endpoint on a free 127.0.0.1 port that records every POST: a stand-in for a Slack incoming webhook, the
PagerDuty Events API v2 and a plain Alertmanager webhook receiver, each answering as the real service does (Slack
``200 ok``, PagerDuty ``202`` with a JSON status), so Alertmanager's notifiers take their success path."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

# What each service answers to an accepted request: (status, content type, body).
Reply = tuple[int, str, bytes]
SLACK_REPLY: Reply = (200, "text/plain", b"ok")
PAGERDUTY_REPLY: Reply = (202, "application/json",
                          b'{"status":"success","message":"Event processed","dedup_key":"recorded"}')
WEBHOOK_REPLY: Reply = (200, "text/plain", b"")


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: Any  # the decoded JSON document


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # request threads are joined by server_close(): nothing outlives the endpoint
    block_on_close = True


class RecordingEndpoint:
    """``with RecordingEndpoint(PAGERDUTY_REPLY) as pd:`` → ``pd.url("/v2/enqueue")``, ``pd.wait_for(...)``."""

    def __init__(self, reply: Reply = WEBHOOK_REPLY) -> None:
        self.reply = reply
        self.requests: list[Request] = []
        self._cond = threading.Condition()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"recording-http:{self.port}")

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, done: Callable[[list[Request]], bool], timeout: float, what: str) -> list[Request]:
        """The requests so far once ``done(requests)`` holds; AssertionError naming ``what`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not done(list(self.requests)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{what}: not within {timeout:.0f}s; got {len(self.requests)} requests: "
                                         f"{[r.body for r in self.requests]}")
                self._cond.wait(left)
            return list(self.requests)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _record(self, request: Request) -> None:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: request threads end with their response

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                endpoint._record(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, content_type, text = endpoint.reply
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
