"""The nodes to check, and the credentials to check them with.

Nodes come from a spec (every node of every cluster, with its cluster's kind and check overrides; TLS clusters
over rediss://) or from ``--target`` URLs. Credentials are taken as the exporter takes them: ``--redis-user`` or
``REDIS_USER``, ``--redis-password-file`` or ``REDIS_PASSWORD``; flags win. A cluster whose spec names its own
``credentials`` (user and a secret reference) uses those for its nodes: they are more specific than the command's.
A password is never accepted on the command line, not even inside a URL: command lines are visible to every
user in ``ps``. TLS files (CA, client certificate and key) and skipping verification apply to every rediss://
node, as the exporter's ``--tls-*`` flags do.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cachewatch.checks import CHECKS
from cachewatch.logs import redact, register_secret
from cachewatch.spec import CheckLevels, Cluster, FleetSpec, SecretRef

SCHEMES = {"redis": False, "rediss": True}  # scheme → TLS
DEFAULT_PORT = 6379


class TargetError(ValueError):
    """A target or credential that cannot be used; the message never contains a secret."""


@dataclass(frozen=True)
class Tls:
    """TLS client settings for rediss:// nodes (the exporter's --tls-* flags, same names)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_verify: bool = False

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise TargetError("--tls-client-cert-file and --tls-client-key-file must be given together")


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: Tls = field(default_factory=Tls)


@dataclass(frozen=True)
class Target:
    """One node: where it is, and what its cluster says about it."""

    host: str
    port: int
    tls: bool = False
    cluster: str = ""
    kind: str = "cache"
    overrides: Mapping[str, CheckLevels] = field(default_factory=dict)
    username: str | None = None  # from a URL's ``user@``; --redis-user / REDIS_USER win
    credentials: Credentials | None = None  # the cluster's own (spec ``credentials``): they win over the command's

    @property
    def address(self) -> str:
        """host:port as reports show it (IPv6 in brackets), never with userinfo."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_target(url: str) -> Target:
    """``redis://[user@]host[:port][/db]`` or ``rediss://...`` → a Target (the db does not matter: INFO is
    server-wide)."""
    shown = redact(url)
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise TargetError(f"{shown}: not a redis://host:port or rediss://host:port URL")
    if parts.password is not None:
        raise TargetError(f"{shown}: no password in the URL (command lines are visible in ps); use "
                          "--redis-password-file or REDIS_PASSWORD")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise TargetError(f"{shown}: {exc}") from None
    return Target(host=parts.hostname, port=port, tls=SCHEMES[parts.scheme], username=parts.username or None)


def targets_from_urls(urls: Iterable[str]) -> list[Target]:
    return [parse_target(url) for url in urls]


def targets_from_spec(spec: FleetSpec, environ: Mapping[str, str] | None = None) -> list[Target]:
    """Every node of every cluster, in spec order; a cluster's ``credentials`` are read here (TargetError names
    the field, never the secret)."""
    out = []
    for _, cluster in spec.clusters:
        overrides = cluster_levels(spec, cluster)
        login = cluster_credentials(cluster, os.environ if environ is None else environ)
        for node in cluster.nodes:
            target = parse_target(f"{'rediss' if cluster.tls else 'redis'}://{node.address}")
            out.append(Target(host=target.host, port=target.port, tls=cluster.tls, cluster=cluster.name,
                              kind=cluster.kind, overrides=overrides, credentials=login))
    return out


def cluster_levels(spec: FleetSpec, cluster: Cluster) -> dict[str, CheckLevels]:
    """The check levels the spec sets for ``cluster``, as the alerts get them (``Check.levels``): the
    ``thresholds`` fields a check's levels are bound to (fleet, then the cluster's), then ``checks:`` overrides."""
    thresholds, overrides = spec.thresholds_for(cluster), spec.checks_for(cluster)
    out = {}
    for check in CHECKS.values():
        levels = check.bound_levels(thresholds)
        levels.update(overrides[check.id].given() if check.id in overrides else {})
        if levels:
            out[check.id] = CheckLevels(**levels)
    return out


def read_secret(ref: SecretRef, where: str, environ: Mapping[str, str]) -> str:
    """The secret a reference points at, registered for scrubbing; errors name ``where``, never the value."""
    if ref.env is not None:
        value = environ.get(ref.env)
        if not value:
            raise TargetError(f"{where}: environment variable {ref.env} is not set")
    else:
        try:
            value = Path(ref.file or "").read_text().strip()
        except OSError as exc:
            raise TargetError(f"{where}: cannot read {ref.file}: {exc.strerror}") from None
    register_secret(value)
    return value


def cluster_credentials(cluster: Cluster, environ: Mapping[str, str]) -> Credentials | None:
    """The spec's ``credentials`` of a cluster, with the secret read; None when it sets none."""
    login = cluster.credentials
    if login is None:
        return None
    password = read_secret(login.password, f"cluster {cluster.name}: credentials.password", environ) \
        if login.password else None
    return Credentials(username=login.user, password=password)


def credentials_for(target: Target, command: Credentials) -> Credentials:
    """What to log in to ``target`` with: the cluster's own credentials (with the command's TLS files), else the
    command's."""
    own = target.credentials
    return Credentials(username=own.username, password=own.password, tls=command.tls) if own else command


def read_credentials(user: str | None, password_file: str | None, environ: Mapping[str, str],
                     tls: Tls | None = None) -> Credentials:
    """Flags first, then REDIS_USER / REDIS_PASSWORD; the password is registered for scrubbing."""
    password = environ.get("REDIS_PASSWORD") or None
    if password_file:
        try:
            password = Path(password_file).read_text().strip()
        except OSError as exc:
            raise TargetError(f"--redis-password-file: cannot read {password_file}: {exc.strerror}") from None
    register_secret(password)
    return Credentials(username=user or environ.get("REDIS_USER") or None, password=password, tls=tls or Tls())
