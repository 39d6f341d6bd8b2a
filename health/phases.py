"""The phases of one probe, timed on the prober's monotonic clock, and the failure that stops one.

A probe walks connect → tls → auth → ping → its module (checks, heartbeat). Each phase records its duration
even when it fails or the deadline cancels it, so a failed probe still says how far it got and how long the
failing phase took; the phase that was running when it stopped is the one that failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Iterator

import hiredis

from cachewatch.logs import redact

CONNECT, TLS, AUTH, PING = "connect", "tls", "auth", "ping"
CHECKS, HEARTBEAT = "checks", "heartbeat"  # the modules' own phases


class ProbeFailure(Exception):
    """A phase got an answer that ends the probe (a refused AUTH, a PING that is not PONG); ``reason`` is safe
    to log (no secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PhaseClock:
    """Durations of the phases entered so far, in order; ``current`` is the last one entered."""

    def __init__(self) -> None:
        self.durations: dict[str, float] = {}
        self.current = ""

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.current = name
        start = time.monotonic()
        try:
            yield
        finally:  # also on failure and on cancellation by the deadline: the failed phase is reported too
            self.durations[name] = time.monotonic() - start


# Exception type → what to say about it, most specific first (isinstance order matters).
REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (TimeoutError, "no answer before the deadline"),
    (ConnectionRefusedError, "connection refused"),
    (socket.gaierror, "host name not resolved"),
    (ssl.SSLCertVerificationError, "TLS certificate not trusted"),
    (ssl.SSLError, "TLS handshake failed"),
    (hiredis.ProtocolError, "not a Redis protocol reply"),
    (asyncio.IncompleteReadError, "connection closed by the server"),
    (ConnectionResetError, "connection reset by the server"),
    (EOFError, "connection closed by the server"),
)


def failure_reason(exc: BaseException, timeout: float) -> str:
    """A short, secret-free reason for whatever stopped the probe."""
    if isinstance(exc, ProbeFailure):
        return redact(exc.reason)
    for kind, reason in REASONS:
        if isinstance(exc, kind):
            return f"{reason} ({timeout:g}s)" if kind is TimeoutError else reason
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return redact(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__)
