"""Structured JSON logs with secrets scrubbed, shared by every cachewatch part.

Each line: ``ts``, ``level``, ``msg``, ``logger`` plus any ``extra`` fields, and
``trace_id``/``span_id`` of the current OpenTelemetry span when the line is logged inside one
(or when a caller puts them there). Every secret the process
loads is registered here, and every rendered line is scrubbed of registered
secrets and of URL userinfo, so a careless log call cannot leak a password.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any

_SECRETS: set[str] = set()
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<pw>[^@/\s]*)@")
# Not extra fields: the record's own attributes, and uvicorn's ``color_message`` (the same text with ANSI codes).
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime",
                                                                                        "color_message"}
REDACTED = "<redacted>"


def iso_time(seconds: float) -> str:
    """Unix seconds → UTC with milliseconds, ``2026-11-28T09:07:41.786Z``: every timestamp we print or log."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1000):03d}Z"


def register_secret(value: str | bytes | None) -> None:
    """Remember a secret so that it is scrubbed from every log line and error text."""
    if not value:
        return
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if len(text) >= 3:  # scrubbing 1-2 character strings would shred unrelated text
        _SECRETS.add(text)


def register_secrets(values: Iterable[str | bytes | None]) -> None:
    for value in values:
        register_secret(value)


def redact(text: str) -> str:
    """Remove URL passwords and every registered secret from ``text``."""
    if "@" in text:
        text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def current_trace_ids() -> dict[str, str]:
    """``trace_id``/``span_id`` of the current span (W3C hex), or nothing outside a span."""
    try:
        from opentelemetry import trace
    except ImportError:  # the exporter alone does not need OpenTelemetry
        return {}
    context = trace.get_current_span().get_span_context()
    return trace_ids(context) if context.is_valid else {}


def trace_ids(context: Any) -> dict[str, str]:
    """``trace_id``/``span_id`` of a span context in W3C hex: the form logs and exemplars carry."""
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a log call added with ``extra={...}`` (not the record's own attributes)."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRS and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields from ``logger.info(msg, extra={...})`` are kept."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": iso_time(record.created),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
            "logger": record.name,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if "trace_id" not in entry:
            entry.update(current_trace_ids())
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


def setup_logging(level: str = "info", stream=None) -> None:
    """Route the root logger to JSON lines on stderr, and to OTLP when configured (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    from cachewatch.log_export import install  # imported here: it imports this module

    try:
        install()  # and over OTLP when configured (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, --otlp-logs-endpoint)
    except ValueError as exc:  # a bad export setting costs the export, not the service
        logging.getLogger("cachewatch.log_export").error("logs are not exported over OTLP", extra={"error": str(exc)})


class LogRateLimiter:
    """At most ``burst`` lines per key in each ``interval`` seconds; the next admitted line of a key says how many
    of its lines were dropped. A Redis outage at a million operations a second, or a dead scrape target every
    15 s, must not become as many log lines. Keys (an event kind, a failure reason) must be few: one state each.
    """

    def __init__(self, interval: float = 1.0, burst: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.burst = burst
        self._clock = clock
        self._state: dict[Hashable, list] = {}  # key → [window start, lines admitted in it, lines dropped since]
        self._lock = threading.Lock()

    def admit(self, key: Hashable = "") -> int | None:
        """None when the line must be dropped, else how many lines of this key were dropped since the last one."""
        now = self._clock()
        with self._lock:
            state = self._state.get(key)
            if state is None or now - state[0] >= self.interval:
                dropped = state[2] if state is not None else 0
                self._state[key] = [now, 1, 0]
                return dropped
            if state[1] < self.burst:
                state[1] += 1
                dropped, state[2] = state[2], 0
                return dropped
            state[2] += 1
            return None
