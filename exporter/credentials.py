"""Where a target's credentials come from, and nothing else.

Sources, in order: an ``auth_module`` named in the scrape request (a profile from
the config file, like blackbox_exporter modules), redis_exporter's JSON password
file, and, for the ``--redis-addr`` target only, the credentials given with it.
Passwords are read from files or environment variables, registered for log
scrubbing, and never rendered by ``repr``.
"""

from __future__ import annotations

import json
import os
import ssl
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cachewatch.exporter.targets import Target, TargetError, parse_target
from cachewatch.logs import redact, register_secret
from cachewatch.tls_client import client_context


class CredentialError(ValueError):
    """A credential source that cannot be loaded; the message never contains a secret."""


@dataclass(frozen=True)
class TlsClient:
    """TLS settings for connecting to Redis (rediss://)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise CredentialError("TLS client certificate and key must be given together")

    @cached_property
    def context(self) -> ssl.SSLContext:
        return client_context(self.ca_file, self.cert_file, self.key_file, self.insecure_skip_verify)


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsClient | None = None


NO_CREDENTIALS = Credentials()


def read_secret_file(path: str, what: str) -> str:
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise CredentialError(f"{what}: cannot read {path}: {exc.strerror}") from None
    register_secret(value)
    return value


def read_secret_env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise CredentialError(f"{what}: environment variable {name} is not set")
    register_secret(value)
    return value


def _identity(target: Target) -> tuple[str, str, int, str]:
    """What credentials are keyed by. The scheme is part of it: a password meant for rediss:// must never
    be sent in clear text to a redis:// target of the same host and port."""
    return (target.scheme, target.host.lower(), target.port, target.username)


@dataclass(frozen=True)
class PasswordFile:
    """redis_exporter's JSON password file: ``{"redis://[user@]host:port": "password", ...}``."""

    path: str
    passwords: dict[tuple[str, str, int, str], str] = field(repr=False)

    @classmethod
    def load(cls, path: str) -> PasswordFile:
        try:
            raw = json.loads(Path(path).read_text())
        except OSError as exc:
            raise CredentialError(f"password file {path}: cannot read: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise CredentialError(f"password file {path}: not valid JSON (line {exc.lineno})") from None
        if not isinstance(raw, dict):
            raise CredentialError(f"password file {path}: must be a JSON object of target URL → password")
        passwords = {}
        for key, value in raw.items():
            if not isinstance(value, str):
                raise CredentialError(f"password file {path}: the value for {key!r} must be a string")
            try:
                target, _ = parse_target(key)
            except TargetError as exc:
                raise CredentialError(f"password file {path}: bad key {redact(key)!r}: {exc}") from None
            register_secret(value)
            passwords[_identity(target)] = value
        return cls(path=path, passwords=passwords)

    def lookup(self, target: Target) -> str | None:
        return self.passwords.get(_identity(target))


@dataclass
class CredentialStore:
    """Resolves the credentials for a target; reloadable as a whole."""

    main_target: Target | None = None
    main_credentials: Credentials = NO_CREDENTIALS
    password_file: PasswordFile | None = None
    auth_modules: dict[str, Credentials] = field(default_factory=dict)
    default_tls: TlsClient | None = None

    def for_target(self, target: Target, auth_module: str | None = None) -> Credentials:
        """Credentials for a /scrape target; raises CredentialError for an unknown module."""
        if auth_module:
            try:
                return self.auth_modules[auth_module]
            except KeyError:
                known = ", ".join(sorted(self.auth_modules)) or "none configured"
                raise CredentialError(f"unknown auth_module {auth_module!r} (known: {known})") from None
        if self.main_target is not None and _identity(target) == _identity(self.main_target):
            return self.main_credentials
        password = self.password_file.lookup(target) if self.password_file else None
        return Credentials(username=target.username or None, password=password, tls=self.default_tls)
