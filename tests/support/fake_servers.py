"""Fake servers for fault and export tests, each on a free 127.0.0.1 port, each a context manager that joins
every thread it started on exit, so a test leaves no sockets or threads behind.

Misbehaving TCP servers (``.port`` bound at construction, ``.connections`` accepted so far; one thread accepts,
one thread serves each connection):

- BlackHole: accepts and reads, never answers (a hung Redis, a hung Jaeger: clients wait for their timeout).
- GarbageSpeaker: answers any input with an invalid RESP type byte plus random bytes.
- RespServer: parses commands (hiredis) and answers each one; subclass or pass ``answer``.
- EndlessInfoServer: INFO declares a ~2 GB bulk string and streams filler (optionally slowly).
- BigInfoServer: INFO answers a real, complete bulk string of ``size`` bytes (default 50 MB).
- ConnectionCounter: counts connections and hangs up at once (proves a target was not contacted).

OTLP receivers that record the spans that arrive (no Jaeger runs here, see ARCHITECTURE.md; Jaeger ingests plain
OTLP, so receiving the exporter's own requests and decoding them with opentelemetry-proto proves what a real
collector would store):

- OtlpHttpReceiver: POST /v1/traces like Jaeger's port 4318.
- OtlpGrpcReceiver: TraceService/Export like Jaeger's port 4317.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import grpc
import hiredis
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

POLL_SECONDS = 0.1  # how quickly blocked server threads notice close()
INVALID_TYPE_BYTE = b"@"  # neither a RESP2 nor a RESP3 type byte
PROTOBUF = "application/x-protobuf"
TRACES_PATH = "/v1/traces"
Answer = Callable[[list[bytes]], bytes]


class Server:
    """Context-manager plumbing shared by every fake server: ``with`` starts it and stops it."""

    port: int

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def endpoint(self) -> str:
        """The base URL, as OTEL_EXPORTER_OTLP_ENDPOINT or ``otlp_endpoint=`` take it."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


# --- misbehaving TCP servers -----------------------------------------------------------------------------------------
class FakeServer(Server):
    """Threaded TCP server; subclasses implement ``serve(conn)`` using ``recv`` and ``send_all``."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self._listener.settimeout(POLL_SECONDS)
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()  # running
        self._started: list[threading.Thread] = []  # every connection thread, for stop() to join
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True,
                                          name=f"{type(self).__name__}:{self.port}")

    def start(self) -> None:
        self._acceptor.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._acceptor.is_alive():
            self._acceptor.join(timeout=5)
        self._listener.close()
        with self._lock:
            conns, started = list(self._open), list(self._started)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 5
        for thread in started:  # every one, also those already on their way out: joined means gone
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """``stop()``, for tests that hold a server without ``with``."""
        self.stop()

    @property
    def active_threads(self) -> int:
        with self._lock:
            return len(self._threads) + self._acceptor.is_alive()

    # --- machinery ------------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(POLL_SECONDS)
            thread = threading.Thread(target=self._run, args=(conn,), daemon=True,
                                      name=f"{type(self).__name__}:{self.port}:conn")
            with self._lock:
                self.connections += 1
                self._open.add(conn)
                self._threads.add(thread)
                self._started.append(thread)
            thread.start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.serve(conn)
        except OSError:
            pass  # the peer went away (reset, broken pipe): what fault tests provoke
        finally:
            with self._lock:
                self._open.discard(conn)
                self._threads.discard(threading.current_thread())
            conn.close()

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def recv(self, conn: socket.socket, size: int = 1 << 16) -> bytes | None:
        """The next data from the peer, or None once the peer closed or the server is stopping."""
        while not self._stopping.is_set():
            try:
                data = conn.recv(size)
            except TimeoutError:
                continue
            return data or None
        return None

    def send_all(self, conn: socket.socket, data: bytes) -> bool:
        """Send everything (blocking while the peer does not read); False when the server is stopping."""
        view = memoryview(data)
        while view:
            if self._stopping.is_set():
                return False
            try:
                sent = conn.send(view)
            except TimeoutError:
                continue
            view = view[sent:]
        return True

    def sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; False when it stopped."""
        return not self._stopping.wait(seconds)


class BlackHole(FakeServer):
    """Accepts, reads everything, never answers: every scrape of it, every span export to it, ends by timeout."""

    def serve(self, conn: socket.socket) -> None:
        while self.recv(conn) is not None:
            pass


class ConnectionCounter(FakeServer):
    """Counts connections (``.connections``) and hangs up on each one immediately."""

    def serve(self, conn: socket.socket) -> None:
        return


class GarbageSpeaker(FakeServer):
    """Answers every chunk it receives with ``payload``; by default an invalid type byte and random bytes."""

    def __init__(self, payload: bytes | None = None, random_bytes: int = 256) -> None:
        super().__init__()
        self.payload = payload
        self.random_bytes = random_bytes

    def serve(self, conn: socket.socket) -> None:
        while self.recv(conn) is not None:
            garbage = self.payload if self.payload is not None else INVALID_TYPE_BYTE + os.urandom(self.random_bytes)
            if not self.send_all(conn, garbage):
                return


def ok_to_everything(command: list[bytes]) -> bytes:
    return b"+PONG\r\n" if command[:1] == [b"PING"] else b"+OK\r\n"


class RespServer(FakeServer):
    """Parses RESP commands and answers each with ``answer(command)``; ``respond`` may stream instead."""

    def __init__(self, answer: Answer = ok_to_everything) -> None:
        super().__init__()
        self.answer = answer
        self.commands: list[list[bytes]] = []

    def serve(self, conn: socket.socket) -> None:
        reader = hiredis.Reader()
        while (data := self.recv(conn)) is not None:
            reader.feed(data)
            while (command := reader.gets()) is not False:
                with self._lock:
                    self.commands.append(command)
                if not self.respond(conn, command):
                    return

    def respond(self, conn: socket.socket, command: list[bytes]) -> bool:
        return self.send_all(conn, self.answer(command))


def _info_filler(size: int) -> bytes:
    """``size`` bytes of well-formed INFO lines."""
    line = b"cw_padding:" + b"x" * 53 + b"\r\n"  # 66 bytes
    return (line * (size // len(line) + 1))[:size]


class EndlessInfoServer(RespServer):
    """INFO declares ``declared`` bytes (default 2,000,000,000) and streams filler towards it.

    ``rate`` (bytes/s) throttles the stream; None sends as fast as the client reads.
    Other commands get +OK.
    """

    CHUNK = 1 << 16

    def __init__(self, declared: int = 2_000_000_000, rate: float | None = None) -> None:
        super().__init__()
        self.declared = declared
        self.rate = rate
        self.bytes_sent = 0

    def respond(self, conn: socket.socket, command: list[bytes]) -> bool:
        if command[:1] != [b"INFO"]:
            return super().respond(conn, command)
        return self._stream_bulk(conn)

    def _stream_bulk(self, conn: socket.socket) -> bool:
        if not self.send_all(conn, b"$%d\r\n" % self.declared):
            return False
        chunk = _info_filler(self.CHUNK)
        start = time.monotonic()
        sent = 0
        while sent < self.declared:
            if self.rate is not None:
                ahead = sent / self.rate - (time.monotonic() - start)
                if ahead > 0 and not self.sleep(ahead):
                    return False
            piece = chunk[: self.declared - sent]
            if not self.send_all(conn, piece):
                return False
            sent += len(piece)
            self.bytes_sent += len(piece)
        return self.send_all(conn, b"\r\n")


class BigInfoServer(EndlessInfoServer):
    """INFO answers a real, complete bulk string of ``size`` bytes of INFO lines (default 50 MB)."""

    def __init__(self, size: int = 50 * 1024 * 1024) -> None:
        super().__init__(declared=size, rate=None)


# --- OTLP receivers ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReceivedSpan:
    """One span as a trace backend would index it, with plain Python values."""

    service_name: str
    name: str
    kind: str  # CLIENT, INTERNAL, SERVER, ...
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str  # "" for a root span
    attributes: dict[str, Any]
    status_code: str  # UNSET, OK, ERROR
    resource: dict[str, Any]
    scope: str
    start_ns: int
    end_ns: int

    @property
    def duration(self) -> float:
        """Seconds, as the backend would show it."""
        return (self.end_ns - self.start_ns) / 1e9


def any_value(value: common_pb2.AnyValue) -> Any:
    """An OTLP AnyValue as the Python value the SDK was given."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which)


def key_values(items: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in items}


def flatten(request: trace_service_pb2.ExportTraceServiceRequest) -> list[ReceivedSpan]:
    """Every span of an export request, each with its resource's service.name."""
    spans = []
    for resource_spans in request.resource_spans:
        resource = key_values(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(ReceivedSpan(
                    service_name=str(resource.get("service.name", "")),
                    name=span.name,
                    kind=trace_pb2.Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(),
                    attributes=key_values(span.attributes),
                    status_code=trace_pb2.Status.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_"),
                    resource=resource,
                    scope=scope_spans.scope.name,
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                ))
    return spans


@dataclass
class SpanLog:
    """What a receiver got, safe to read while exports keep arriving."""

    received: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0  # export requests that reached the handler, accepted or not
    rejected: int = 0  # requests answered with an error on purpose
    errors: list[str] = field(default_factory=list)  # malformed requests: the exporter's fault, tests fail on them
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, spans: list[ReceivedSpan]) -> None:
        with self._cond:
            self.received.extend(spans)
            self._cond.notify_all()

    def count_request(self, rejected: bool) -> None:
        with self._cond:
            self.requests += 1
            self.rejected += int(rejected)
            self._cond.notify_all()

    def error(self, text: str) -> None:
        with self._cond:
            self.errors.append(text)
            self._cond.notify_all()

    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._cond:
            return list(self.received)

    def named(self, name: str) -> list[ReceivedSpan]:
        return [s for s in self.spans if s.name == name]

    def wait_for(self, n: int, timeout: float = 10.0) -> list[ReceivedSpan]:
        """At least ``n`` spans, waiting up to ``timeout`` seconds (a hang guard: the caller flushes first)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= n, timeout):
                raise AssertionError(f"expected {n} spans within {timeout}s, got {len(self.received)}: "
                                     f"{[s.name for s in self.received]}; errors {self.errors}")
            return list(self.received)

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> int:
        """At least ``n`` export requests (accepted or rejected), waiting up to ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.requests >= n, timeout):
                raise AssertionError(f"expected {n} export requests within {timeout}s, got {self.requests}")
            return self.requests


# --- OTLP/HTTP -------------------------------------------------------------------------------------------------------
class _ThreadingServer(http.server.ThreadingHTTPServer):
    # Non-daemon request threads, joined by server_close(): nothing outlives the receiver.
    daemon_threads = False
    block_on_close = True


class OtlpHttpReceiver(Server, SpanLog):
    """POST /v1/traces (application/x-protobuf, optionally gzip/deflate) like Jaeger's port 4318.

    ``status`` other than 200 answers every export with that code (503: a collector that is overloaded or
    restarting), to exercise the exporter's failure path."""

    def __init__(self, status: int = 200) -> None:
        SpanLog.__init__(self)
        self.status = status
        self.headers: list[dict[str, str]] = []
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "receiver not started"
        return self._server.server_address[1]

    def start(self) -> None:
        self._server = _ThreadingServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="otlp-http-receiver")
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join()
        self._server = self._thread = None

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # HTTP/1.0: one request per connection, so request threads end with their response.
            protocol_version = "HTTP/1.0"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path != TRACES_PATH:
                    receiver.error(f"POST to {self.path}")
                    self._reply(404)
                    return
                if self.headers.get("Content-Type") != PROTOBUF:
                    receiver.error(f"Content-Type {self.headers.get('Content-Type')}")
                    self._reply(415)
                    return
                if receiver.status != 200:
                    receiver.count_request(rejected=True)
                    self._reply(receiver.status)
                    return
                try:
                    request = trace_service_pb2.ExportTraceServiceRequest.FromString(
                        _decompress(body, self.headers.get("Content-Encoding", "")))
                except Exception as exc:
                    receiver.error(f"undecodable body: {exc!r}")
                    self._reply(400)
                    return
                receiver.add(flatten(request))
                receiver.count_request(rejected=False)
                self._reply(200, trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

            def _reply(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("Content-Type", PROTOBUF)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # pytest output stays readable

        return Handler


def _decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


# --- OTLP/gRPC -------------------------------------------------------------------------------------------------------
class OtlpGrpcReceiver(Server, SpanLog):
    """opentelemetry.proto.collector.trace.v1.TraceService/Export, like Jaeger's port 4317.

    ``code`` other than OK aborts every export with that status (UNAVAILABLE: a collector going away)."""

    def __init__(self, code: grpc.StatusCode = grpc.StatusCode.OK) -> None:
        SpanLog.__init__(self)
        self.code = code
        self.port = 0
        self._server: grpc.Server | None = None
        self._pool: futures.ThreadPoolExecutor | None = None

    def start(self) -> None:
        receiver = self

        class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: trace_service_pb2.ExportTraceServiceRequest,  # the generated servicer method name
                       context: grpc.ServicerContext) -> trace_service_pb2.ExportTraceServiceResponse:
                if receiver.code is not grpc.StatusCode.OK:
                    receiver.count_request(rejected=True)
                    context.abort(receiver.code, "receiver told to fail")
                receiver.add(flatten(request))
                receiver.count_request(rejected=False)
                return trace_service_pb2.ExportTraceServiceResponse()

        self._pool = futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="otlp-grpc-receiver")
        self._server = grpc.server(self._pool)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop(grace=None).wait()
        assert self._pool is not None
        self._pool.shutdown(wait=True)
        self._server = self._pool = None
