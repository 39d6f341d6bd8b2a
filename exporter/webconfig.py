"""The exporter's ``--web.config.file``: Prometheus exporter-toolkit YAML, as node_exporter reads it.

Supported: ``tls_server_config`` (``cert_file`` + ``key_file``, relative to the config file's directory as in
exporter-toolkit; ``client_auth_type``; ``client_ca_file``; ``min_version``, default TLS12; ``max_version``),
``basic_auth_users`` (user -> bcrypt hash) and ``http_server_config.headers``. ``cipher_suites``,
``prefer_server_cipher_suites``, ``curve_preferences`` and ``http2`` are accepted but ignored: they name Go
identifiers, and OpenSSL's TLS 1.2+ defaults only offer forward-secret AEAD suites anyway. Everything whose
absence would weaken security is an explicit error: unknown keys, inline ``cert``/``key``/``client_ca``,
``client_allowed_sans``, ``rate_limit``, and client-auth types that accept an unverified client certificate.
"""

from __future__ import annotations

import base64
import hmac
import os
import re
import secrets
import ssl
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import bcrypt
import yaml

CLIENT_AUTH: dict[str, ssl.VerifyMode] = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_UNSUPPORTED_VALUES = dict.fromkeys(
    ("RequestClientCert", "RequireAnyClientCert"),
    "accepts client certificates without verifying them, which Python's ssl module cannot do")
TLS_VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Section -> (keys used, keys accepted but ignored); "" is the top level.
SECTIONS: dict[str, tuple[str, str]] = {
    "": ("tls_server_config http_server_config basic_auth_users", ""),
    "tls_server_config": ("cert_file key_file client_auth_type client_ca_file min_version max_version",
                          "cipher_suites prefer_server_cipher_suites curve_preferences"),
    "http_server_config": ("headers", "http2"),
}
INLINE = ("cert", "key", "client_ca")
UNSUPPORTED: dict[str, str] = {  # exporter-toolkit keys that must not be silently ignored
    "rate_limit": "put a reverse proxy in front of the exporter",
    **{f"tls_server_config.{k}": f"inline PEM is not supported; use {k}_file" for k in INLINE},
    "tls_server_config.client_allowed_sans": "issue client certificates from a dedicated CA instead",
}
# Headers owned by the exporter's HTTP server; overriding them would break auth or message framing.
RESERVED_HEADERS = frozenset({"authorization", "www-authenticate", "content-type", "content-length",
                              "content-encoding", "transfer-encoding", "connection", "date", "server"})
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CACHE_SIZE = 256
_BCRYPT_MAX_PASSWORD = 72  # bcrypt ignores the rest; Go and htpasswd truncate, bcrypt>=5 raises instead


class WebConfigError(ValueError):
    """Invalid web config; the message names file, field and what is allowed, never a secret."""


def _show(value: object) -> str:
    """Echo a config value in an error, redacting anything that could be a hash or another secret."""
    text = str(value)
    return "<redacted>" if "$2" in text or len(text) > 48 else text


def _err(src: Path, where: str, msg: str) -> WebConfigError:
    return WebConfigError(f"{src}: {where}: {msg}")


def _section(src: Path, value: Any, where: str) -> dict[Any, Any]:
    """The mapping at ``where`` (empty when absent), with its keys checked against SECTIONS."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _err(src, where or "top level", f"must be a mapping, not {type(value).__name__}")
    if where in SECTIONS:
        allowed = sorted(" ".join(SECTIONS[where]).split())
        for key in value:
            name = f"{where}.{_show(key)}".lstrip(".")
            if name in UNSUPPORTED:
                raise _err(src, name, f"not supported by cachewatch; {UNSUPPORTED[name]}")
            if key not in allowed:
                raise _err(src, name, f"unknown key; allowed: {', '.join(allowed)}")
    return value


def _choice(src: Path, where: str, value: Any, table: dict[str, Any]) -> Any:
    """Look ``value`` up in an enum table; the error lists what is supported."""
    if isinstance(value, str) and value in table:
        return table[value]
    why = (isinstance(value, str) and _UNSUPPORTED_VALUES.get(value)) or f"unknown value '{_show(value)}'"
    raise _err(src, where, f"{why}; supported: {', '.join(table)}")


def _readable(src: Path, where: str, value: Any) -> Path:
    """Resolve a file name against the config's directory (as exporter-toolkit does) and check it opens."""
    path = src.parent / str(value)
    try:
        path.open("rb").close()
    except OSError as exc:
        raise _err(src, where, f"cannot read {path}: {exc.strerror}") from None
    return path


@dataclass(frozen=True)
class TlsServerConfig:
    """Validated ``tls_server_config``; paths are absolute so a reload from another cwd still works."""

    source: Path
    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3

    @classmethod
    def parse(cls, src: Path, raw: Any) -> TlsServerConfig | None:
        sec, at = _section(src, raw, "tls_server_config"), "tls_server_config."
        if not sec:
            return None
        for key in ("cert_file", "key_file"):
            if not sec.get(key):
                raise _err(src, at + key, "required; cert_file and key_file go together")
        auth = sec.get("client_auth_type") or "NoClientCert"
        if _choice(src, at + "client_auth_type", auth, CLIENT_AUTH) == ssl.CERT_NONE:
            if sec.get("client_ca_file"):
                raise _err(src, at + "client_ca_file", "set, but NoClientCert verifies no client certificate")
        elif not sec.get("client_ca_file"):
            raise _err(src, at + "client_ca_file", f"required with client_auth_type {auth}")
        files = {k: _readable(src, at + k, sec[k]) for k in ("cert_file", "key_file", "client_ca_file")
                 if sec.get(k)}
        lo, hi = (_choice(src, at + k, sec.get(k) or default, TLS_VERSIONS)
                  for k, default in (("min_version", "TLS12"), ("max_version", "TLS13")))
        if lo > hi:
            raise _err(src, at + "min_version", "must not be greater than max_version")
        tls = cls(src, files["cert_file"], files["key_file"], auth, files.get("client_ca_file"), lo, hi)
        tls.context()  # certificates must load now, not at the first scrape
        return tls

    def context(self) -> ssl.SSLContext:
        """A fresh server context that reads the files again, so rotated certificates are picked up."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version, ctx.maximum_version = self.min_version, self.max_version

        def no_password() -> bytes:  # without a callback OpenSSL would prompt on the terminal and hang
            raise _err(self.source, "tls_server_config.key_file", "encrypted private keys are not supported")

        try:
            ctx.load_cert_chain(self.cert_file, self.key_file, password=no_password)
        except OSError as exc:  # ssl.SSLError is an OSError
            raise _err(self.source, "tls_server_config.cert_file/key_file", f"cannot load: {exc}") from None
        if self.client_ca_file is not None:
            try:
                ctx.load_verify_locations(cafile=self.client_ca_file)
            except OSError as exc:
                raise _err(self.source, "tls_server_config.client_ca_file", f"cannot load: {exc}") from None
        ctx.verify_mode = CLIENT_AUTH[self.client_auth_type]
        return ctx


def _parse_users(src: Path, raw: Any) -> dict[str, bytes]:
    users: dict[str, bytes] = {}
    for user, hashed in _section(src, raw, "basic_auth_users").items():
        where = f"basic_auth_users.{_show(user)}"
        if not isinstance(user, str) or not user or ":" in user:
            raise _err(src, where, "user names must be non-empty strings without ':'")
        if not isinstance(hashed, str) or not _BCRYPT_HASH.fullmatch(hashed):
            raise _err(src, where, "not a bcrypt hash; expected $2a$, $2b$ or $2y$ with cost 04-31 "
                                   "(e.g. from: htpasswd -nBC 10 '' | tr -d ':\\n')")
        users[user] = hashed.encode("ascii")
    return users


def _parse_headers(src: Path, raw: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    http = _section(src, raw, "http_server_config")
    for name, value in _section(src, http.get("headers"), "http_server_config.headers").items():
        where = f"http_server_config.headers.{_show(name)}"
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise _err(src, where, "not a valid HTTP header name")
        if name.lower() in RESERVED_HEADERS:
            raise _err(src, where, f"reserved for the exporter: {', '.join(sorted(RESERVED_HEADERS))}")
        if value in (None, ""):
            continue  # exporter-toolkit: "Unset if blank"
        if not isinstance(value, str) or _CONTROL.search(value):
            raise _err(src, where, "value must be a string without control characters (quote it in YAML)")
        headers[name] = value
    return headers


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
            raw = yaml.safe_load(src.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", "not UTF-8")
            raise WebConfigError(f"{src}: cannot read web config: {reason}") from None
        except yaml.YAMLError as exc:  # str(exc) quotes the offending line, which may hold a hash
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
            raise WebConfigError(f"{src}: invalid YAML at {where}: {getattr(exc, 'problem', None)}") from None
        top = _section(src, raw, "")
        return cls(tls=TlsServerConfig.parse(src, top.get("tls_server_config")),
                   users=_parse_users(src, top.get("basic_auth_users")),
                   headers=_parse_headers(src, top.get("http_server_config")))

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
