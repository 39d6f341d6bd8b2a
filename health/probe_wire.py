"""One RESP connection for a probe, opened phase by phase so that each phase is timed on its own.

redis-py opens TCP, TLS and AUTH in one call; a probe must tell them apart (a slow TLS handshake and a slow
AUTH are different problems), so it speaks RESP2 over asyncio streams itself: TCP connect, then STARTTLS-style
``start_tls`` on the open socket, then AUTH, each inside its own phase. Replies are parsed by hiredis' C reader
and capped in size. The heartbeat opens its replica connections the same way, with the same credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field

import hiredis

from cachewatch.health.phases import AUTH, CONNECT, TLS, PhaseClock, ProbeFailure
from cachewatch.tls_client import client_context

READ_CHUNK = 1 << 16
MAX_REPLY_BYTES = 8 << 20  # an INFO or ACL LIST larger than this is not a reply a probe should hold


@dataclass(frozen=True)
class TlsOptions:
    """How to verify the server and who we are (the exporter's TLS settings, as plain values)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False

    def context(self) -> ssl.SSLContext:
        """Built once per set of files (and rebuilt when a file changes: rotated certificates are picked up)."""
        stamps = tuple(_mtime(path) for path in (self.ca_file, self.cert_file, self.key_file))
        return _context(self, stamps)


def _mtime(path: str | None) -> float:
    try:
        return os.stat(path).st_mtime if path else 0.0
    except OSError:
        return -1.0  # missing file: loading it below raises, and that is the probe's tls failure


@functools.lru_cache(maxsize=64)
def _context(tls: TlsOptions, stamps: tuple[float, ...]) -> ssl.SSLContext:
    return client_context(tls.ca_file, tls.cert_file, tls.key_file, tls.insecure_skip_verify)


@dataclass(frozen=True)
class Endpoint:
    """Where a probe connects and how it logs in. ``tls`` None: plain TCP."""

    host: str
    port: int
    tls: TlsOptions | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def at(self, host: str, port: int) -> Endpoint:
        """The same credentials and TLS settings for another node (a replica of this primary)."""
        return Endpoint(host, port, self.tls, self.username, self.password)


def encode(args: Sequence[str]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class Wire:
    """One connection; replies are str, int, list, None, or the hiredis.ReplyError of an error reply."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._parser = hiredis.Reader(encoding="utf-8", errors="replace")

    async def pipeline(self, commands: Sequence[Sequence[str]]) -> list[object]:
        """All commands in one write, their replies in order."""
        self.writer.write(b"".join(encode(c) for c in commands))
        replies: list[object] = []
        received = 0
        while len(replies) < len(commands):
            reply = self._parser.gets()
            if reply is not False:
                replies.append(reply)
                continue
            chunk = await self.reader.read(READ_CHUNK)
            if not chunk:
                raise EOFError("server closed the connection")
            received += len(chunk)
            if received > MAX_REPLY_BYTES:
                raise ProbeFailure(f"reply larger than {MAX_REPLY_BYTES} bytes")
            self._parser.feed(chunk)
        return replies

    async def call(self, *args: str) -> object:
        return (await self.pipeline((args,)))[0]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


async def dial(endpoint: Endpoint, clock: PhaseClock | None = None) -> Wire:
    """TCP connect, TLS handshake, AUTH, each timed as its own phase on ``clock``. The caller bounds the time
    (asyncio.timeout); a failure closes the socket and propagates."""
    clock = clock or PhaseClock()
    with clock.phase(CONNECT):
        reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port, limit=READ_CHUNK)
    wire = Wire(reader, writer)
    try:
        if endpoint.tls is not None:
            with clock.phase(TLS):
                name = endpoint.tls.server_name or endpoint.host
                await writer.start_tls(endpoint.tls.context(), server_hostname=name)
        if endpoint.password is not None:
            with clock.phase(AUTH):
                login = (endpoint.username, endpoint.password) if endpoint.username else (endpoint.password,)
                reply = await wire.call("AUTH", *login)
                if isinstance(reply, Exception):
                    raise ProbeFailure(f"AUTH refused: {str(reply).split(' ', 1)[0]}")
    except BaseException:
        wire.close()
        raise
    return wire
