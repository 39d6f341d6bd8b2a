"""In-test OTLP receivers (HTTP and gRPC) that record what arrives, and a black hole that never answers.

No Jaeger runs here (ARCHITECTURE.md); Jaeger ingests plain OTLP, so receiving the exporter's own requests and
decoding them with opentelemetry-proto proves what a real collector would store. Every server binds
127.0.0.1 on a free port, runs as a context manager and joins all of its threads on exit, so tests can assert
that nothing is left running behind them.
"""

from __future__ import annotations

import gzip
import http.server
import selectors
import socket
import threading
import zlib
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

PROTOBUF = "application/x-protobuf"
TRACES_PATH = "/v1/traces"


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


class _Server:
    """Context-manager plumbing shared by the receivers."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


# --- OTLP/HTTP -------------------------------------------------------------------------------------------------------
class _ThreadingServer(http.server.ThreadingHTTPServer):
    # Non-daemon request threads, joined by server_close(): nothing outlives the receiver.
    daemon_threads = False
    block_on_close = True


class OtlpHttpReceiver(_Server, SpanLog):
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

    @property
    def endpoint(self) -> str:
        """The base URL, as OTEL_EXPORTER_OTLP_ENDPOINT or ``otlp_endpoint=`` take it."""
        return f"http://127.0.0.1:{self.port}"

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
class OtlpGrpcReceiver(_Server, SpanLog):
    """opentelemetry.proto.collector.trace.v1.TraceService/Export, like Jaeger's port 4317.

    ``code`` other than OK aborts every export with that status (UNAVAILABLE: a collector going away)."""

    def __init__(self, code: grpc.StatusCode = grpc.StatusCode.OK) -> None:
        SpanLog.__init__(self)
        self.code = code
        self.port = 0
        self._server: grpc.Server | None = None
        self._pool: futures.ThreadPoolExecutor | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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


# --- a hung backend --------------------------------------------------------------------------------------------------
class BlackHole(_Server):
    """Accepts TCP connections, reads and discards what arrives, never answers: a hung Jaeger. Exporters
    connect fine and then wait for a reply until their own timeout."""

    def __init__(self) -> None:
        self.port = 0
        self.connections = 0
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="otlp-black-hole")
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None

    def _serve(self) -> None:
        assert self._listener is not None
        held: list[socket.socket] = []
        with selectors.DefaultSelector() as sel:
            sel.register(self._listener, selectors.EVENT_READ)
            try:
                while not self._stop.is_set():
                    for key, _ in sel.select(timeout=0.05):
                        sock = key.fileobj
                        assert isinstance(sock, socket.socket)
                        if sock is self._listener:
                            for conn in _accept_all(sock):
                                self.connections += 1
                                held.append(conn)
                                sel.register(conn, selectors.EVENT_READ)
                        elif not _drain(sock):
                            sel.unregister(sock)
                            sock.close()
                            held.remove(sock)
            finally:
                for conn in held:
                    conn.close()
                self._listener.close()


def _accept_all(listener: socket.socket) -> Iterator[socket.socket]:
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        yield conn


def _drain(conn: socket.socket) -> bool:
    """Read what is there and forget it; False once the peer has hung up."""
    try:
        return bool(conn.recv(65536))
    except BlockingIOError:
        return True
    except OSError:
        return False
