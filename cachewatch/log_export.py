"""Logs over OTLP/HTTP (protobuf) from the exporter, the alert lifecycle service and applications, with the
trace_id/span_id of the span they were logged in, sampled and capped so that no load turns into a log flood.

Configured with the standard OpenTelemetry variables: ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` (the full URL, e.g.
``http://collector:4318/v1/logs``), or ``OTEL_LOGS_EXPORTER=otlp`` with ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/logs``
is appended); ``OTEL_EXPORTER_OTLP[_LOGS]_HEADERS``, ``_TIMEOUT`` (ms), ``_COMPRESSION`` (gzip), ``_CERTIFICATE``;
``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``. ``OTEL_LOGS_EXPORTER=none`` turns it off. The CLIs'
``--otlp-logs-endpoint`` flag wins over the environment. Unset, nothing is exported and nothing is imported.

What is exported (at a million requests a second, a line per request would be ~26 TB a day; README "Logs over
OTLP" says how much this leaves):
- DEBUG never; INFO sampled (``CACHEWATCH_LOG_EXPORT_INFO_SAMPLE``, default 0.1), by trace id inside a span so a
  trace keeps all its lines or none, at random outside; WARNING and above always;
- then at most ``CACHEWATCH_LOG_EXPORT_MAX_PER_SECOND`` lines a second per process (default 100); the next line
  exported carries ``cachewatch.suppressed``, how many the cap dropped.

Exporting never blocks the caller: a record becomes a small tuple in a bounded queue (2048); a worker thread sends
batches (512, or every second) and counts what it could not send. Bodies and string attributes are scrubbed of
secrets like every JSON line (cachewatch.logs.redact); header values (tokens) are registered as secrets.
"""

from __future__ import annotations

import atexit
import collections
import gzip
import logging
import os
import random
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from cachewatch.logs import LogRateLimiter, current_trace_ids, extra_fields, redact, register_secret

log = logging.getLogger("cachewatch.log_export")  # never exported itself: a failing export must not feed itself

DEFAULT_INFO_SAMPLE = 0.1
DEFAULT_MAX_PER_SECOND = 100
DEFAULT_TIMEOUT = 10.0
# logging level → OTLP SeverityNumber (logs data model: DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21)
SEVERITY = {logging.DEBUG: 5, logging.INFO: 9, logging.WARNING: 13, logging.ERROR: 17, logging.CRITICAL: 21}
RETRYABLE = frozenset({429, 502, 503, 504})
SUPPRESSED = "cachewatch.suppressed"


SECRET_HEADER = re.compile(r"auth|token|key|secret|passw|cookie|signature", re.IGNORECASE)


class LogExportError(ValueError):
    """A log export setting that cannot work (e.g. a gRPC protocol asked for logs)."""


@dataclass(frozen=True)
class ExportConfig:
    endpoint: str
    service_name: str
    resource: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    compression: str = "none"
    certificate: str | None = None
    info_sample: float = DEFAULT_INFO_SAMPLE
    max_per_second: int = DEFAULT_MAX_PER_SECOND
    max_queue_size: int = 2048
    max_batch_size: int = 512
    schedule_delay: float = 1.0


def _pairs(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` with URL-encoded values (the OTel spec's format for headers and resource attributes)."""
    out = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            out[unquote(key.strip())] = unquote(value.strip())
    return out


def _env(env: Mapping[str, str], name: str) -> str:
    """The logs-specific variable, else the generic one: OTEL_EXPORTER_OTLP_LOGS_X, then OTEL_EXPORTER_OTLP_X."""
    return env.get(f"OTEL_EXPORTER_OTLP_LOGS_{name}") or env.get(f"OTEL_EXPORTER_OTLP_{name}") or ""


def config_from_env(
    env: Mapping[str, str] | None = None, *, service_name: str = "cachewatch", endpoint: str | None = None
) -> ExportConfig | None:
    """The export settings, or None when logs are not to be exported."""
    env = os.environ if env is None else env
    if not endpoint:
        if env.get("OTEL_LOGS_EXPORTER", "").strip().lower() == "none":
            return None
        endpoint = env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") or ""
        base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or ""
        if not endpoint and base and env.get("OTEL_LOGS_EXPORTER", "").strip().lower() == "otlp":
            endpoint = base.rstrip("/") + "/v1/logs"
    if not endpoint:
        return None
    protocol = env.get("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf")
    if protocol != "http/protobuf":
        raise LogExportError(
            f"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL={protocol}: cachewatch sends logs over "
            "http/protobuf only (the Collector's otlp receiver takes it on 4318)"
        )
    headers = _pairs(_env(env, "HEADERS"))
    for name, value in headers.items():  # credentials only: a tenant id like "cache" would shred every log line
        if SECRET_HEADER.search(name):
            register_secret(value)
    resource = _pairs(env.get("OTEL_RESOURCE_ATTRIBUTES", ""))
    resource["service.name"] = env.get("OTEL_SERVICE_NAME") or resource.get("service.name") or service_name
    timeout = _env(env, "TIMEOUT")
    compression = _env(env, "COMPRESSION").lower() or "none"
    if compression not in ("gzip", "none"):
        raise LogExportError(f"OTEL_EXPORTER_OTLP_LOGS_COMPRESSION={compression}: gzip or none")
    try:
        return ExportConfig(
            endpoint=endpoint,
            service_name=resource["service.name"],
            resource=resource,
            headers=headers,
            timeout=float(timeout) / 1000 if timeout else DEFAULT_TIMEOUT,
            compression=compression,
            certificate=_env(env, "CERTIFICATE") or None,
            info_sample=min(1.0, max(0.0, float(env.get("CACHEWATCH_LOG_EXPORT_INFO_SAMPLE", DEFAULT_INFO_SAMPLE)))),
            max_per_second=max(1, int(env.get("CACHEWATCH_LOG_EXPORT_MAX_PER_SECOND", DEFAULT_MAX_PER_SECOND))),
        )
    except ValueError as exc:
        raise LogExportError(f"log export setting: {exc}") from None


# --- what is exported ------------------------------------------------------------------------------------------
class Admission:
    """DEBUG never, INFO sampled (by trace id inside a span), WARNING+ always; then a per-process cap per second."""

    def __init__(
        self,
        info_sample: float,
        max_per_second: int,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.info_sample = info_sample
        self.cap = LogRateLimiter(interval=1.0, burst=max_per_second, clock=clock)
        self.rng = rng

    def sampled(self, record: logging.LogRecord, trace_id: str) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        if record.levelno < logging.INFO or self.info_sample <= 0:
            return False
        if trace_id:  # the trace id's low 64 bits, as the Collector's probabilistic sampler hashes: all or none
            return int(trace_id[-16:], 16) < self.info_sample * 2**64
        return self.rng() < self.info_sample

    def admit(self, record: logging.LogRecord, trace_id: str) -> tuple[str, int]:
        """("", lines the cap dropped since the last one it let through) or (why it is not exported, 0)."""
        if not self.sampled(record, trace_id):
            return "sampled_out", 0
        suppressed = self.cap.admit()
        return ("rate_limited", 0) if suppressed is None else ("", suppressed)


@dataclass(frozen=True, slots=True)
class Entry:
    """A log record as queued: everything taken on the caller's thread (the span is only current there)."""

    time_ns: int
    levelno: int
    levelname: str
    logger: str
    body: str
    attributes: tuple[tuple[str, Any], ...]
    trace_id: str
    span_id: str


def entry_of(record: logging.LogRecord, ids: dict[str, str], suppressed: int) -> Entry:
    attributes = [(key, value) for key, value in extra_fields(record).items() if key not in ("trace_id", "span_id")]
    if record.exc_info and record.exc_info[0] is not None:
        attributes += [
            ("exception.type", record.exc_info[0].__name__),
            ("exception.message", redact(str(record.exc_info[1]))),
            ("exception.stacktrace", redact(logging.Formatter().formatException(record.exc_info))),
        ]
    if suppressed:
        attributes.append((SUPPRESSED, suppressed))
    return Entry(
        int(record.created * 1e9),
        record.levelno,
        record.levelname,
        record.name,
        redact(record.getMessage()),
        tuple(attributes),
        ids.get("trace_id", ""),
        ids.get("span_id", ""),
    )


# --- the wire format -------------------------------------------------------------------------------------------
def _value(value: Any) -> Any:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=redact(value if isinstance(value, str) else str(value)))


def encode(entries: list[Entry], resource: Mapping[str, str]) -> bytes:
    """An ExportLogsServiceRequest: one resource, one scope per logger name."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

    by_logger: dict[str, list[Any]] = {}
    observed = time.time_ns()
    for e in entries:
        by_logger.setdefault(e.logger, []).append(
            LogRecord(
                time_unix_nano=e.time_ns,
                observed_time_unix_nano=observed,
                severity_number=SEVERITY.get(e.levelno, 9 if e.levelno < logging.WARNING else 17),
                severity_text=e.levelname,
                body=AnyValue(string_value=e.body),
                attributes=[KeyValue(key=k, value=_value(v)) for k, v in e.attributes],
                trace_id=bytes.fromhex(e.trace_id) if e.trace_id else b"",
                span_id=bytes.fromhex(e.span_id) if e.span_id else b"",
                flags=1 if e.trace_id else 0,
            )
        )
    request = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(
                    attributes=[KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in resource.items()]
                ),
                scope_logs=[
                    ScopeLogs(scope=InstrumentationScope(name=name), log_records=records)
                    for name, records in by_logger.items()
                ],
            )
        ]
    )
    return request.SerializeToString()


# --- the handler -----------------------------------------------------------------------------------------------
class OtlpLogHandler(logging.Handler):
    """A logging handler that exports over OTLP/HTTP without blocking its callers (one worker thread)."""

    def __init__(self, config: ExportConfig, admission: Admission | None = None) -> None:
        super().__init__(logging.DEBUG)
        self.config = config
        self.admission = admission or Admission(config.info_sample, config.max_per_second)
        self.stats: collections.Counter[str] = collections.Counter()  # sent, and dropped by reason
        self._queue: collections.deque[Entry] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._failures = LogRateLimiter(interval=60.0, burst=1)
        self._ssl = ssl.create_default_context(cafile=config.certificate) if config.certificate else None
        self._worker = threading.Thread(target=self._run, name="cachewatch-log-export", daemon=True)
        self._worker.start()

    # --- the caller's side ---------------------------------------------------------------------------------
    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(log.name):
            return
        try:
            # the ids a caller put in extra (cachewatch.tracing does), else the current span's
            ids = (
                {"trace_id": record.trace_id, "span_id": getattr(record, "span_id", "")}
                if getattr(record, "trace_id", "")
                else current_trace_ids()
            )
            reason, suppressed = self.admission.admit(record, ids.get("trace_id", ""))
            if reason:
                self._count(reason)
                return
            entry = entry_of(record, ids, suppressed)
            with self._lock:
                if self._stopped.is_set():
                    self.stats["shutdown"] += 1
                    return
                if len(self._queue) >= self.config.max_queue_size:
                    self.stats["queue_full"] += 1
                    return
                self._queue.append(entry)
                if len(self._queue) >= self.config.max_batch_size:
                    self._wake.set()
        except Exception:  # a log call must never fail the caller
            self.handleError(record)

    def _count(self, reason: str, n: int = 1) -> None:
        with self._lock:  # callers' threads and the worker count concurrently
            self.stats[reason] += n

    def flush(self, timeout: float | None = None) -> bool:
        """Send what is queued (the worker keeps sending too); True when the queue emptied in time."""
        deadline = time.monotonic() + (self.config.timeout if timeout is None else timeout)
        while self._queue and time.monotonic() < deadline:
            self._send_batch(deadline)
        return not self._queue

    def close(self) -> None:
        """Stop accepting, send what is queued within the timeout, count the rest as dropped (``shutdown``)."""
        if not self._stopped.is_set():
            deadline = time.monotonic() + self.config.timeout  # the whole shutdown, however the receiver behaves
            self._stopped.set()
            self._wake.set()
            self._worker.join(self.config.timeout)
            self.flush(timeout=max(0.0, deadline - time.monotonic()))
            with self._lock:
                self.stats["shutdown"] += len(self._queue)
                self._queue.clear()
        super().close()

    @property
    def queued(self) -> int:
        return len(self._queue)

    # --- the worker --------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self.config.schedule_delay)
            self._wake.clear()
            while self._queue and not self._stopped.is_set():
                if not self._send_batch(time.monotonic() + self.config.timeout):
                    self._stopped.wait(self.config.schedule_delay)  # the receiver fails: back off a round
                    break

    def _take(self) -> list[Entry]:
        with self._lock:
            return [self._queue.popleft() for _ in range(min(len(self._queue), self.config.max_batch_size))]

    def _send_batch(self, deadline: float) -> bool:
        batch = self._take()
        if not batch:
            return True
        try:
            body = encode(batch, self.config.resource)
            ok = self._post(body, deadline)
        except Exception as exc:  # encoding or transport: the batch is lost, counted, and said once a minute
            ok, reason = False, type(exc).__name__
        else:
            reason = "rejected"
        if ok:
            self._count("sent", len(batch))
            return True
        self._count("export_failed", len(batch))
        suppressed = self._failures.admit()
        if suppressed is not None:
            log.warning(
                "log export failed; records dropped",
                extra={
                    "endpoint": redact(self.config.endpoint),
                    "reason": reason,
                    "dropped": len(batch),
                    "failed_before": suppressed,
                },
            )
        return False

    def _post(self, body: bytes, deadline: float) -> bool:
        headers = {**self.config.headers, "Content-Type": "application/x-protobuf"}
        if self.config.compression == "gzip":
            body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
        delay = 0.5
        while True:
            request = urllib.request.Request(self.config.endpoint, data=body, headers=headers, method="POST")
            left = max(0.1, min(self.config.timeout, deadline - time.monotonic()))
            try:
                with urllib.request.urlopen(request, timeout=left, context=self._ssl) as response:
                    return 200 <= response.status < 300
            except urllib.error.HTTPError as exc:  # 429 and 5xx overloads are retried, with back-off, until deadline
                if exc.code not in RETRYABLE or time.monotonic() + delay >= deadline or self._stopped.is_set():
                    return False
            self._stopped.wait(delay)
            delay *= 2


# --- installing it -------------------------------------------------------------------------------------------------
_defaults: dict[str, str | None] = {"endpoint": None, "service_name": None}
_installed: OtlpLogHandler | None = None


def configure(*, endpoint: str | None = None, service_name: str | None = None) -> None:
    """What a CLI knows before logging is set up: its ``--otlp-logs-endpoint`` flag and its service name."""
    if endpoint is not None:
        _defaults["endpoint"] = endpoint
    if service_name is not None:
        _defaults["service_name"] = service_name


def install(
    service_name: str | None = None,
    *,
    endpoint: str | None = None,
    logger: logging.Logger | None = None,
    env: Mapping[str, str] | None = None,
) -> OtlpLogHandler | None:
    """Attach the OTLP handler to ``logger`` (default: the root logger) when export is configured; None otherwise.

    Applications call it once after their own logging set-up, e.g. ``install("checkout")``; cachewatch's services
    get it from ``setup_logging``. Calling it again re-attaches the same handler (one worker per process)."""
    global _installed
    config = config_from_env(
        env,
        service_name=service_name or _defaults["service_name"] or "cachewatch",
        endpoint=endpoint or _defaults["endpoint"],
    )
    target = logger or logging.getLogger()
    if config is None:
        return None
    if _installed is None or _installed.config != config:
        if _installed is not None:
            _installed.close()
        _installed = OtlpLogHandler(config)
        atexit.register(_installed.close)
    if _installed not in target.handlers:
        target.addHandler(_installed)
    return _installed
