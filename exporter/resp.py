"""A minimal RESP2 client for the scrape path: pre-encoded pipelines, bounded replies.

redis-py is the right client for applications; the exporter needs less and stricter:
one persistent connection per target, a whole pipeline written in one syscall from
cached bytes, a hard cap on reply size (a hostile or huge INFO must not eat memory),
and errors sorted into a small set of reasons for ``redis_exporter_last_scrape_error``.
Parsing is hiredis' C reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Sequence

import hiredis

Command = tuple[str | bytes, ...]
READ_CHUNK = 1 << 16


class ScrapeError(Exception):
    """A failure with a bounded, label-safe ``reason``; ``detail`` is for logs only (already redacted)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def encode_command(args: Command) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def encode_pipeline(commands: Sequence[Command]) -> bytes:
    return b"".join(encode_command(c) for c in commands)


# Error reply prefix → bounded reason; anything else is "reply_error".
_REPLY_ERROR_REASONS = {
    "NOAUTH": "auth_required",
    "WRONGPASS": "auth_failed",
    "NOPERM": "no_permission",
    "LOADING": "loading",
    "BUSY": "busy",
    "MASTERDOWN": "master_down",
}


def reply_error_reason(error: Exception) -> str:
    prefix = str(error).split(" ", 1)[0]
    return _REPLY_ERROR_REASONS.get(prefix, "reply_error")


# Exception type → reason, most specific first (isinstance order matters).
_EXCEPTION_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (ScrapeError, ""),
    (TimeoutError, "timeout"),
    (ConnectionRefusedError, "connection_refused"),
    (socket.gaierror, "dns_error"),
    (ssl.SSLError, "tls_error"),
    (ssl.CertificateError, "tls_error"),
    (hiredis.ProtocolError, "protocol_error"),
    (asyncio.IncompleteReadError, "connection_closed"),
    (ConnectionResetError, "connection_closed"),
    (BrokenPipeError, "connection_closed"),
    (OSError, "connection_error"),
)


def classify(exc: BaseException) -> str:
    for kind, reason in _EXCEPTION_REASONS:
        if isinstance(exc, kind):
            return exc.reason if isinstance(exc, ScrapeError) else reason
    return "internal_error"


class Connection:
    """One RESP connection. Not safe for concurrent use: the caller serialises pipelines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_reply_bytes: int) -> None:
        self._reader = reader
        self._writer = writer
        self._max_reply_bytes = max_reply_bytes
        self._parser = hiredis.Reader(encoding="utf-8", errors="replace")
        self.closed = False

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        username: str | None = None,
        password: str | None = None,
        client_name: str | None = "cachewatch",
        db: int = 0,
        max_reply_bytes: int = 8 << 20,
    ) -> Connection:
        """Connect, then AUTH / CLIENT SETNAME / SELECT in one round trip."""
        reader, writer = await asyncio.open_connection(
            host, port, ssl=ssl_context, server_hostname=(server_hostname or host) if ssl_context else None,
            limit=READ_CHUNK,
        )
        conn = cls(reader, writer, max_reply_bytes)
        try:
            setup: list[Command] = []
            if password is not None:
                setup.append(("AUTH", username, password) if username else ("AUTH", password))
            if client_name:
                setup.append(("CLIENT", "SETNAME", client_name))
            if db:
                setup.append(("SELECT", str(db)))
            if setup:
                replies = await conn.pipeline(encode_pipeline(setup), len(setup))
                if password is not None and isinstance(replies[0], Exception):
                    raise ScrapeError("auth_failed", reply_error_reason(replies[0]))
                if db and isinstance(replies[-1], Exception):
                    raise ScrapeError("select_failed")
        except BaseException:
            conn.close()
            raise
        return conn

    @property
    def usable(self) -> bool:
        """False once we closed it or the server hung up (idle client timeout, restart)."""
        return not (self.closed or self._reader.at_eof() or self._writer.is_closing())

    async def pipeline(self, payload: bytes, count: int) -> list:
        """Send pre-encoded commands, return ``count`` replies (error replies as exception objects)."""
        if self.closed:
            raise ScrapeError("connection_closed")
        try:
            self._writer.write(payload)
            replies: list = []
            received = 0
            parser = self._parser
            while len(replies) < count:
                reply = parser.gets()
                if reply is False:
                    chunk = await self._reader.read(READ_CHUNK)
                    if not chunk:
                        raise ScrapeError("connection_closed", "server closed the connection")
                    received += len(chunk)
                    if received > self._max_reply_bytes:
                        raise ScrapeError("reply_too_large", f"more than {self._max_reply_bytes} bytes")
                    parser.feed(chunk)
                    continue
                replies.append(reply)
            return replies
        except BaseException:
            # Any failure (or cancellation by the deadline) leaves the stream mid-reply: drop it.
            self.close()
            raise

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self._writer.close()

