"""The exporter's ``--web.config.file`` at run time: the TLS server context and cached bcrypt basic auth.

What the file may hold, and how a mistake in it is reported, is in ``webconfig_schema``.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
import ssl
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import bcrypt

from cachewatch.exporter.webconfig_schema import TlsServerConfig, WebConfigError, parse
from cachewatch.spec.types import read_yaml

__all__ = ["TlsServerConfig", "WebConfig", "WebConfigError"]

_CACHE_SIZE = 256
_BCRYPT_MAX_PASSWORD = 72  # bcrypt ignores the rest; Go and htpasswd truncate, bcrypt>=5 raises instead


def _parse_basic(authorization: object) -> tuple[str, bytes] | None:
    """(user, password) from an ``Authorization: Basic`` value, or None when it is malformed."""
    if not isinstance(authorization, str):
        return None
    scheme, _, token = authorization.strip().partition(" ")
    try:
        user, colon, password = base64.b64decode(token.strip(), validate=True).partition(b":")
        return (user.decode("utf-8"), password) if colon and scheme.lower() == "basic" else None
    except ValueError:  # binascii.Error, non-ASCII input and UnicodeDecodeError are all ValueErrors
        return None


@dataclass
class WebConfig:
    """A validated web config; build a new one on reload (the auth cache lives with the instance)."""

    tls: TlsServerConfig | None
    users: dict[str, bytes] = field(repr=False)
    headers: dict[str, str]
    # Per-instance auth state, not configuration: kept out of __init__, repr and ==.
    _key: bytes = field(default_factory=secrets.token_bytes, init=False, repr=False, compare=False)
    _cache: OrderedDict = field(default_factory=OrderedDict, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    WWW_AUTHENTICATE: ClassVar[str] = 'Basic realm="cachewatch"'

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WebConfig:
        """Parse and validate; referenced files must be readable and the certificates must load."""
        src = Path(path).absolute()
        try:
            raw = read_yaml(src)
        except ValueError as exc:
            raise WebConfigError(str(exc)) from None
        parsed = parse(raw, src)
        if parsed.tls_server_config is not None:
            parsed.tls_server_config.context()  # certificates must load now, not at the first scrape
        return cls(tls=parsed.tls_server_config,
                   users={user: hashed.encode("ascii") for user, hashed in parsed.basic_auth_users.items()},
                   headers={k: v for k, v in parsed.http_server_config.headers.items() if v})

    @classmethod
    def empty(cls) -> WebConfig:
        """Plain HTTP without authentication: the exporter's behaviour without --web.config.file."""
        return cls(tls=None, users={}, headers={})

    @property
    def auth_required(self) -> bool:
        return bool(self.users)

    def ssl_context(self) -> ssl.SSLContext | None:
        """A new server-side context per call, so a reload picks up rotated certificate files."""
        return self.tls.context() if self.tls else None

    def check_basic_auth(self, authorization: str | None) -> bool:
        """Check an Authorization value; bcrypt runs once per (user, password), then the LRU answers."""
        if not self.users:
            return True
        creds = _parse_basic(authorization)
        if creds is None:
            return False
        user, password = creds
        key = (user, hmac.digest(self._key, password, "sha256"))  # keyed digest: no password in memory
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        # Unknown users are checked against a real hash too, so timing does not reveal valid user names.
        hashed = self.users.get(user) or next(iter(self.users.values()))
        try:
            ok = bcrypt.checkpw(password[:_BCRYPT_MAX_PASSWORD], hashed) and user in self.users
        except ValueError:
            ok = False
        with self._lock:
            self._cache[key] = ok
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return ok
