"""Misbehaving TCP servers for fault tests, each on a free 127.0.0.1 port.

Every server is a context manager with ``.port`` (bound at construction) and ``.connections``
(how many connections it accepted). One thread accepts, one thread serves each connection;
leaving the ``with`` block stops the acceptor, shuts every open connection down and joins
every thread, so a test leaves no sockets or threads behind.

- BlackHole: accepts and reads, never answers.
- GarbageSpeaker: answers any input with an invalid RESP type byte plus random bytes.
- RespServer: parses commands (hiredis) and answers each one; subclass or pass ``answer``.
- EndlessInfoServer: INFO declares a ~2 GB bulk string and streams filler (optionally slowly).
- BigInfoServer: INFO answers a real, complete bulk string of ``size`` bytes (default 50 MB).
- ConnectionCounter: counts connections and hangs up at once (proves a target was not contacted).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Self

import hiredis

POLL_SECONDS = 0.1  # how quickly blocked server threads notice close()
INVALID_TYPE_BYTE = b"@"  # neither a RESP2 nor a RESP3 type byte
Answer = Callable[[list[bytes]], bytes]


class FakeServer:
    """Threaded TCP server; subclasses implement ``serve(conn)`` using ``recv`` and ``send_all``."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self._listener.settimeout(POLL_SECONDS)
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True,
                                          name=f"{type(self).__name__}:{self.port}")

    def __enter__(self) -> Self:
        self._acceptor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._stopping.set()
        if self._acceptor.is_alive():
            self._acceptor.join(timeout=5)
        self._listener.close()
        with self._lock:
            conns, threads = list(self._open), list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)

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
    """Accepts, reads everything, never answers: every scrape of it must end by timeout."""

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
