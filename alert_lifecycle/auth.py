"""Who is acting: per-user tokens from a bcrypt users file, a trusted reverse-proxy header, or a console session.

- **Users file** (like the exporter's web config ``basic_auth_users``)::

      users:
        alice: $2b$12$...   # bcrypt of alice's token, never the token itself

  API clients send HTTP Basic ``user:token``. bcrypt is slow on purpose, so a verified token is remembered in
  memory by its sha256 and bcrypt runs once per token, not once per request. Tokens longer than 72 bytes
  cannot be verified by bcrypt and are refused.
- **Proxy header** (karma's way, ``--proxy-user-header X-Forwarded-User``): the header's value is trusted as the
  user name. Use it only behind a reverse proxy that authenticates users and always sets (and overwrites) that
  header: anyone who can reach the service directly can send it.
- **Console sessions**: a login form (user + token) issues a cookie signed with HMAC-SHA256, HttpOnly,
  SameSite=Strict; the secret is random per process (sessions end when it restarts) unless a secret file is
  given (needed when several replicas sit behind one address). Each session has a form token that every
  console form carries (CSRF). Logout revokes the session.

A user must also be known to the spec (a team member or an admin) to act: anyone else is 401. Whether they may
act on a given alert (its team) is the Lifecycle's business (403). Tokens, the session secret and the webhook
token never reach a log line or an error text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import bcrypt
import yaml

from cachewatch.logs import register_secret
from cachewatch.spec import SecretRef

BCRYPT = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")
USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@\-]{0,127}$")  # the spec's UserName
BCRYPT_MAX = 72  # bytes bcrypt reads; longer secrets are refused, not silently cut
SESSION_COOKIE = "cachewatch_session"
SESSION_TTL = 12 * 3600.0
MIN_SECRET = 32  # bytes of a session secret file
HASH_HINT = ("store bcrypt hashes of tokens, never the token itself, e.g. "
             "python -c 'import bcrypt,getpass; print(bcrypt.hashpw(getpass.getpass().encode(), "
             "bcrypt.gensalt()).decode())'")


class AuthError(Exception):
    """Missing, malformed or wrong identity: HTTP 401. The reason names no secret."""

    status = 401

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class UsersFileError(ValueError):
    """The users file cannot be used; the message names the entry, never its value."""


# --- files ---------------------------------------------------------------------------------------------------
def load_users(path: Path) -> dict[str, bytes]:
    """The users file → {user: bcrypt hash}. Refuses anything but bcrypt hashes, naming the user."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UsersFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UsersFileError(f"{path}: not valid YAML{where}") from None
    if not isinstance(data, dict) or set(data) != {"users"} or not isinstance(data["users"], dict):
        raise UsersFileError(f"{path}: expected exactly one key, users: {{name: bcrypt hash of the token}}")
    users: dict[str, bytes] = {}
    for i, (name, value) in enumerate(data["users"].items()):
        if not isinstance(name, str) or not USER.match(name):
            raise UsersFileError(f"{path}: users entry {i + 1}: a user name is letters, digits and ._@- "
                                 "(as in the spec's team members)")
        if not isinstance(value, str) or not BCRYPT.match(value):
            raise UsersFileError(f"{path}: users.{name}: not a bcrypt hash; {HASH_HINT}")
        users[name] = value.encode()
    return users


def read_secret_file(path: Path, what: str) -> str:
    """A secret kept in a file (trailing newline stripped), registered so no log line can carry it."""
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise UsersFileError(f"{what} {path}: cannot read: {exc.strerror}") from None
    if not value:
        raise UsersFileError(f"{what} {path}: the file is empty")
    register_secret(value)
    return value


def read_secret_ref(ref: SecretRef, what: str, environ: Mapping[str, str] = os.environ) -> str:
    """The spec's SecretRef (an environment variable or a file) → its value, registered for scrubbing."""
    if ref.file is not None:
        return read_secret_file(Path(ref.file), what)
    value = environ.get(ref.env or "", "").strip()
    if not value:
        raise UsersFileError(f"{what}: environment variable {ref.env} is not set")
    register_secret(value)
    return value


@cache
def _dummy_hash() -> bytes:
    """A real hash to check against when the user is unknown, so a wrong user costs as long as a wrong token."""
    return bcrypt.hashpw(b"cachewatch-no-such-user", bcrypt.gensalt(rounds=10))


# --- tokens --------------------------------------------------------------------------------------------------
class Tokens:
    """bcrypt-verified user tokens, each verified once per process (remembered by sha256, never in clear)."""

    def __init__(self, hashes: dict[str, bytes]):
        self._hashes = dict(hashes)
        self._verified: set[bytes] = set()
        self._lock = threading.Lock()

    @property
    def users(self) -> frozenset[str]:
        return frozenset(self._hashes)

    def check(self, user: str, token: str) -> bool:
        secret = token.encode()
        key = hashlib.sha256(user.encode() + b"\0" + secret).digest()
        with self._lock:
            if key in self._verified:
                return True
        stored = self._hashes.get(user)
        if len(secret) > BCRYPT_MAX or not secret:
            return False
        ok = bcrypt.checkpw(secret, stored or _dummy_hash()) and stored is not None
        if ok:
            with self._lock:
                self._verified.add(key)
        return ok


def basic_credentials(header: str) -> tuple[str, str]:
    """``Basic base64(user:token)`` → (user, token); AuthError for anything else."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise AuthError("only HTTP Basic authentication (user:token) is accepted")
    try:
        user, sep, token = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthError("malformed HTTP Basic credentials") from None
    if not sep or not user:
        raise AuthError("malformed HTTP Basic credentials")
    return user, token


# --- sessions ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Identity:
    """A user and what keys their console form token: the session id, or the way they were identified."""

    user: str
    key: str
    via: str  # basic | proxy | session


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Authenticator:
    """Identifies requests. ``known`` are the spec's users (team members and admins); only they may act."""

    known: frozenset[str]
    tokens: Tokens | None = None
    proxy_header: str | None = None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    session_ttl: float = SESSION_TTL
    clock: Callable[[], float] = time.time
    _revoked: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(cls, known: frozenset[str], users_file: Path | None = None, proxy_header: str | None = None,
              secret_file: Path | None = None) -> Authenticator:
        tokens = Tokens(load_users(users_file)) if users_file is not None else None
        secret = secrets.token_bytes(32)
        if secret_file is not None:
            text = read_secret_file(secret_file, "session secret file")
            if len(text.encode()) < MIN_SECRET:
                raise UsersFileError(f"session secret file {secret_file}: use at least {MIN_SECRET} random bytes")
            secret = text.encode()
        header = proxy_header.strip() if proxy_header else None
        return cls(known=known, tokens=tokens, proxy_header=header or None, secret=secret)

    @property
    def can_log_in(self) -> bool:
        return self.tokens is not None

    def describe(self) -> str:
        """How users are identified, for the start-up log line (names no secret)."""
        ways = []
        if self.tokens is not None:
            ways.append(f"tokens of {len(self.tokens.users)} users")
        if self.proxy_header:
            ways.append(f"proxy header {self.proxy_header}")
        return " and ".join(ways) or "nobody (read-only)"

    def identify(self, headers: Mapping[str, str], cookies: Mapping[str, str] | None = None) -> Identity | None:
        """The identity a request carries. The API (no ``cookies``): Basic credentials, else the proxy header.
        The console (``cookies`` given): the proxy header, else a session; it never runs bcrypt per request.
        None when the request carries none; AuthError when what it carries is wrong."""
        header = headers.get("authorization") if cookies is None else None
        if header:
            user, token = basic_credentials(header)
            if self.tokens is None:
                raise AuthError("this service takes no tokens (it was started without --users)")
            if not self.tokens.check(user, token):
                raise AuthError("unknown user or wrong token")
            return Identity(self._known(user), f"basic|{user}", "basic")
        if self.proxy_header and (user := headers.get(self.proxy_header, "").strip()):
            return Identity(self._known(user), f"proxy|{user}", "proxy")
        if cookies is not None and (cookie := cookies.get(SESSION_COOKIE)):
            return self.session(cookie)
        return None

    def require(self, headers: Mapping[str, str], cookies: Mapping[str, str] | None = None) -> Identity:
        identity = self.identify(headers, cookies)
        if identity is None:
            ways = [w for w, on in (("HTTP Basic user:token", self.tokens is not None),
                                    (f"the {self.proxy_header} header", bool(self.proxy_header))) if on]
            raise AuthError("acting needs an identity: " + (" or ".join(ways) if ways else
                                                             "this service was started without --users or "
                                                             "--proxy-user-header, so it is read-only"))
        return identity

    def _known(self, user: str) -> str:
        if user not in self.known:
            raise AuthError(f"user {user[:64]!r} is neither a team member nor an admin in the spec")
        return user

    # --- console sessions --------------------------------------------------------------------------------
    def login(self, user: str, token: str) -> str:
        """Check a console login; returns the session cookie's value."""
        if self.tokens is None:
            raise AuthError("logging in needs a users file (--users); this service identifies users by "
                            f"{self.proxy_header or 'nothing'}")
        if not USER.match(user) or not self.tokens.check(user, token):
            raise AuthError("unknown user or wrong token")
        self._known(user)
        body = _b64(json.dumps({"u": user, "s": secrets.token_urlsafe(16),
                                "e": int(self.clock() + self.session_ttl)}).encode())
        return f"{body}.{self._sign(body.encode())}"

    def session(self, cookie: str) -> Identity | None:
        """The identity a session cookie proves; None when it is forged, expired, revoked or its user is gone."""
        body, _, signature = cookie.partition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(body.encode()).encode()):
            return None
        try:
            data = json.loads(_unb64(body))
            user, sid, expires = str(data["u"]), str(data["s"]), float(data["e"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        now = self.clock()
        if expires < now or sid in self._revoked or user not in self.known:
            return None
        if self.tokens is not None and user not in self.tokens.users:
            return None
        return Identity(user, f"session|{sid}", "session")

    def logout(self, identity: Identity) -> None:
        if identity.via == "session":
            now = self.clock()
            self._revoked = {sid: at for sid, at in self._revoked.items() if at > now - self.session_ttl}
            self._revoked[identity.key.removeprefix("session|")] = now

    def form_token(self, identity: Identity) -> str:
        return self._sign(b"form\0" + identity.key.encode())

    def check_form_token(self, identity: Identity, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.form_token(identity).encode())

    def _sign(self, data: bytes) -> str:
        return _b64(hmac.new(self.secret, data, hashlib.sha256).digest())


# --- webhook -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WebhookGuard:
    """Alertmanager's optional bearer token (``http_config.authorization.credentials_file``)."""

    token: str | None = None

    def check(self, header: str | None) -> None:
        if self.token is None:
            return
        scheme, _, given = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise AuthError("the webhook needs Authorization: Bearer <token>")
        if not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise AuthError("wrong webhook token")
