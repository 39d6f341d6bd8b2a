"""A small HTTP/1.1 server for the exporter: GET only, keep-alive, hard timeouts and limits.

Why not a framework: the exporter serves a handful of GET routes, and what matters is
what frameworks leave open or slow — a header read timeout (slowloris), a bound on
header size and on concurrent connections, a write timeout, and microseconds per
request. TLS comes from the web-config's SSLContext.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("cachewatch.exporter.http")

MAX_HEADER_BYTES = 16 * 1024
_SINGLE_HEADERS = frozenset({"content-length", "transfer-encoding", "host"})
_REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 413: "Payload Too Large",
            431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
            503: "Service Unavailable"}


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes | str = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class ServerLimits:
    header_timeout: float = 10.0  # time to receive a complete request head
    idle_timeout: float = 60.0  # keep-alive: time to wait for the next request
    write_timeout: float = 30.0
    max_connections: int = 512
    gzip_min_bytes: int = 1024


def parse_head(head: bytes) -> Request | None:
    """Request line + headers → Request, or None when malformed."""
    try:
        text = head.decode("latin-1")
        request_line, *header_lines = text.split("\r\n")
        method, target, version = request_line.split(" ")
    except ValueError:
        return None
    if not version.startswith("HTTP/1.") or not target.startswith("/"):
        return None
    headers: dict[str, str] = {}
    for line in header_lines:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            return None
        key = name.lower()
        if key in _SINGLE_HEADERS and key in headers:  # conflicting framing: a request-smuggling vector
            return None
        headers[key] = value.strip()
    path, query = _split_cached(target) if len(target) <= CACHED_TARGET_CHARS else _split_target(target)
    return Request(method=method, path=path, query=query, headers=headers)


# Prometheus asks for the same URLs (one per scrape target) over and over: their parsed form is kept (handlers
# only read a request's query), for URLs short enough that the cache stays small whatever clients send.
CACHED_TARGET_CHARS = 256


def _split_target(target: str) -> tuple[str, dict[str, list[str]]]:
    url = urlsplit(target)
    return unquote(url.path), parse_qs(url.query)


_split_cached = functools.lru_cache(maxsize=4096)(_split_target)


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # level 1: scrape bodies are repetitive; speed wins
    return compressor.compress(data) + compressor.flush()


class HttpServer:
    def __init__(self, handler: Handler, limits: ServerLimits | None = None,
                 extra_headers: dict[str, str] | None = None) -> None:
        self.handler = handler
        self.limits = limits or ServerLimits()
        self.extra_headers = extra_headers or {}
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> asyncio.Server:
        self._server = await asyncio.start_server(
            self._serve, host or None, port, ssl=ssl_context, limit=MAX_HEADER_BYTES,
            ssl_handshake_timeout=self.limits.header_timeout if ssl_context else None, reuse_address=True,
        )
        return self._server

    @property
    def sockets(self):
        return self._server.sockets if self._server else []

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if len(self._connections) >= self.limits.max_connections:
            await self._reply(writer, Response(503, "too many connections\n"), keep_alive=False)
            writer.close()
            return
        self._connections.add(task)
        try:
            idle = self.limits.header_timeout  # a new connection must start its request promptly
            while True:
                try:
                    # Waiting for a request may take the idle timeout; once it starts, its head must
                    # arrive within the header timeout (slowloris on a kept-alive connection too).
                    # asyncio.timeout, not wait_for: no task per read on the scrape path; one per request.
                    async with asyncio.timeout(idle) as deadline:
                        first = await reader.readexactly(1)
                        deadline.reschedule(loop.time() + self.limits.header_timeout)
                        head = first + await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
                    return
                except asyncio.LimitOverrunError:
                    await self._reply(writer, Response(431, "request head too large\n"), keep_alive=False)
                    return
                request = parse_head(head[:-4])
                if request is None:
                    await self._reply(writer, Response(400, "malformed request\n"), keep_alive=False)
                    return
                if request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers:
                    await self._reply(writer, Response(413, "request bodies are not accepted\n"), keep_alive=False)
                    return
                keep_alive = request.headers.get("connection", "").lower() != "close"
                try:
                    response = await self.handler(request)
                except Exception:  # a handler bug answers 500; the server keeps serving
                    log.exception("request handler failed", extra={"path": request.path})
                    response = Response(500, "internal error\n")
                gzip_ok = "gzip" in request.headers.get("accept-encoding", "")
                if not await self._reply(writer, response, keep_alive, gzip_ok, head_only=request.method == "HEAD"):
                    return
                if not keep_alive:
                    return
                idle = self.limits.idle_timeout
        finally:
            self._connections.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _reply(self, writer: asyncio.StreamWriter, response: Response, keep_alive: bool,
                     gzip_ok: bool = False, head_only: bool = False) -> bool:
        body = response.body.encode() if isinstance(response.body, str) else response.body
        headers = {"Content-Type": response.content_type, **self.extra_headers, **response.headers}
        if gzip_ok and len(body) >= self.limits.gzip_min_bytes:
            body = _gzip(body)
            headers["Content-Encoding"] = "gzip"
        headers["Content-Length"] = str(len(body))
        headers["Connection"] = "keep-alive" if keep_alive else "close"
        head = f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Unknown')}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        try:
            writer.write(head.encode("latin-1") + (b"" if head_only else body))
            if writer.transport.get_write_buffer_size():  # the socket took less than all: wait, bounded
                async with asyncio.timeout(self.limits.write_timeout):
                    await writer.drain()
        except (ConnectionError, TimeoutError):
            return False
        return True
