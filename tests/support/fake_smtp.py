"""A small SMTP server on a free 127.0.0.1 port, enough to receive Alertmanager's mail as a relay would: EHLO,
STARTTLS (with a certificate from ``cachewatch.local_redis.make_tls_files``), AUTH PLAIN and LOGIN against a
fixed user table, MAIL/RCPT/DATA. It records every delivered message and every login attempt, so a test can
assert that the mail came over TLS, that the password was accepted, or exactly which password was offered.

No Python SMTP server ships with 3.11 (smtpd is deprecated, aiosmtpd is not installed), and what a notifier needs
is a few dozen lines of the protocol."""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Self

TIMEOUT = 10.0  # a client that stops talking is dropped; the server then joins its thread


@dataclass(frozen=True)
class Login:
    mechanism: str
    username: str
    password: str
    accepted: bool
    tls: bool


@dataclass(frozen=True)
class Mail:
    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage
    tls: bool
    user: str | None  # who logged in, None without AUTH

    @property
    def text(self) -> str:
        """The text/plain part (Alertmanager sends text and HTML alternatives)."""
        part = self.message.get_body(preferencelist=("plain", "html"))
        return part.get_content() if part is not None else ""


class _Session(socketserver.StreamRequestHandler):
    server: _Server

    def setup(self) -> None:
        self.request.settimeout(TIMEOUT)
        super().setup()
        self.tls = False
        self.user: str | None = None

    def finish(self) -> None:
        super().finish()
        if self.tls:
            self.request.close()  # the TLS socket took over the connection's descriptor

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def read(self) -> str | None:
        line = self.rfile.readline(1 << 16)
        return line.decode(errors="replace").rstrip("\r\n") if line else None

    def handle(self) -> None:
        smtp = self.server.owner
        self.reply("220 fake-smtp.cachewatch.test ESMTP ready")
        sender, recipients = "", []
        while (line := self.read()) is not None:
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                extensions = [] if verb == "HELO" else smtp.extensions(self.tls)
                lines = ["fake-smtp.cachewatch.test", *extensions]
                for i, text in enumerate(lines):
                    self.reply(f"250{'-' if i < len(lines) - 1 else ' '}{text}")
            elif verb == "STARTTLS" and smtp.context is not None and not self.tls:
                self.reply("220 go ahead")
                self.request = smtp.context.wrap_socket(self.request, server_side=True)
                self.rfile, self.wfile = self.request.makefile("rb"), self.request.makefile("wb")
                self.tls = True
            elif verb == "AUTH":
                self.auth(arg)
            elif verb == "MAIL":
                if smtp.users and self.user is None:
                    self.reply("530 5.7.0 authentication required")
                    continue
                sender, recipients = _address(arg), []
                self.reply("250 ok")
            elif verb == "RCPT":
                recipients.append(_address(arg))
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                message = self.data()
                if message is None:
                    return
                smtp.record(Mail(sender, tuple(recipients), message, self.tls, self.user))
                self.reply("250 ok: queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 5.5.2 command not implemented")

    def auth(self, arg: str) -> None:
        mechanism, _, initial = arg.partition(" ")
        mechanism = mechanism.upper()
        try:
            if mechanism == "PLAIN":
                if not initial:
                    self.reply("334 ")
                    initial = self.read() or ""
                _, username, password = _b64(initial).split("\0", 2)
            elif mechanism == "LOGIN":
                self.reply("334 " + base64.b64encode(b"Username:").decode())
                username = _b64(self.read() or "")
                self.reply("334 " + base64.b64encode(b"Password:").decode())
                password = _b64(self.read() or "")
            else:
                self.reply("504 5.5.4 unrecognized authentication type")
                return
        except (ValueError, binascii.Error):
            self.reply("501 5.5.2 cannot decode the response")
            return
        accepted = self.server.owner.users.get(username) == password
        self.server.owner.record_login(Login(mechanism, username, password, accepted, self.tls))
        if accepted:
            self.user = username
            self.reply("235 2.7.0 authentication successful")
        else:
            self.reply("535 5.7.8 authentication credentials invalid")

    def data(self) -> EmailMessage | None:
        lines = []
        while (line := self.rfile.readline(1 << 20)) not in (b".\r\n", b".\n"):
            if not line:
                return None
            lines.append(line[1:] if line.startswith(b"..") else line)
        return email.message_from_bytes(b"".join(lines), policy=email.policy.default)  # type: ignore[return-value]


def _address(arg: str) -> str:
    """``FROM:<a@b>`` or ``TO:<a@b> SIZE=…`` → ``a@b``."""
    _, _, rest = arg.partition(":")
    return rest.strip().split(" ")[0].strip("<>")


def _b64(text: str) -> str:
    return base64.b64decode(text.strip(), validate=True).decode()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = False  # session threads are joined by server_close()
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, owner: FakeSmtp) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Session)

    def handle_error(self, request: object, client_address: object) -> None:
        """A session that broke (a rejected certificate, a client gone quiet) is recorded, not printed."""
        self.owner.errors.append(repr(sys.exc_info()[1]))


class FakeSmtp:
    """``with FakeSmtp(cert, key, users={"alerts": "pw"}) as smtp:`` — STARTTLS when a certificate is given, AUTH
    required when ``users`` is not empty; ``mechanisms`` is the AUTH line's order (Alertmanager uses the first it
    knows)."""

    def __init__(self, cert: Path | None = None, key: Path | None = None, users: dict[str, str] | None = None,
                 mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN")) -> None:
        self.users = dict(users or {})
        self.mechanisms = mechanisms
        self.context: ssl.SSLContext | None = None
        if cert is not None:
            self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.context.load_cert_chain(cert, key)
        self.mails: list[Mail] = []
        self.logins: list[Login] = []
        self.errors: list[str] = []
        self._cond = threading.Condition()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-smtp:{self.port}")

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def extensions(self, tls: bool) -> list[str]:
        """STARTTLS until the session is encrypted; AUTH always (a relay may allow plaintext AUTH on loopback)."""
        out = ["8BITMIME", "PIPELINING"]
        if self.context is not None and not tls:
            out.append("STARTTLS")
        if self.users:
            out.append("AUTH " + " ".join(self.mechanisms))
        return out

    def record(self, mail: Mail) -> None:
        with self._cond:
            self.mails.append(mail)
            self._cond.notify_all()

    def record_login(self, login: Login) -> None:
        with self._cond:
            self.logins.append(login)
            self._cond.notify_all()

    def wait_for(self, done: Callable[[FakeSmtp], bool], timeout: float, what: str) -> None:
        """Return once ``done(self)`` holds; AssertionError naming ``what`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not done(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    subjects = [m.message["Subject"] for m in self.mails]
                    raise AssertionError(f"{what}: not within {timeout:.0f}s; mails {subjects}, "
                                         f"logins {[(x.username, x.accepted) for x in self.logins]}")
                self._cond.wait(left)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
