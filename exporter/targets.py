"""Target addresses: parsing, normalising, and the /scrape allowlist.

A target names a Redis by scheme, host and port (plus optional ACL user and db).
Passwords are never taken from a target URL: they come from the password file or a
credential profile, so a scrape request cannot carry or redirect credentials.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_PORT = 6379
# Accepted URL schemes → the scheme we speak (valkey:// is redis:// by another name).
SCHEMES = {"redis": "redis", "rediss": "rediss", "valkey": "redis", "valkeys": "rediss"}


class TargetError(ValueError):
    """A target that cannot be scraped; the message is safe to return to the HTTP client."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    username: str = ""
    db: int = 0

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss"

    @property
    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The canonical URL, with the user but never a password (safe for logs and labels)."""
        user = f"{self.username}@" if self.username else ""
        db = f"/{self.db}" if self.db else ""
        return f"{self.scheme}://{user}{self.hostport}{db}"


def parse_target(text: str, *, allow_password: bool = False) -> tuple[Target, str | None]:
    """Parse ``redis://[user[:pw]@]host[:port][/db]``, ``rediss://…`` or bare ``host:port``.

    Returns the target and the password found in the URL (only when ``allow_password``,
    i.e. for the operator's own ``--redis-addr``; a /scrape target with one is refused).
    """
    text = text.strip()
    if not text:
        raise TargetError("empty target")
    if "://" not in text:
        text = f"redis://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"malformed target: {exc}") from None
    scheme = SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise TargetError(f"unsupported scheme {parts.scheme!r}; use one of {', '.join(sorted(SCHEMES))}")
    if not parts.hostname:
        raise TargetError("target has no host")
    if parts.query or parts.fragment:
        raise TargetError("target must not carry a query or fragment")
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not allow_password:
        raise TargetError("passwords are not accepted in target URLs; use a password file or auth_module")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise TargetError("the path of a target may only be a database number")
    target = Target(scheme=scheme, host=parts.hostname, port=port or DEFAULT_PORT,
                    username=unquote(parts.username or ""), db=int(path or 0))
    return target, password


def _literal_brackets(pattern: str) -> str:
    """fnmatch reads ``[...]`` as a character class; in ``[::1]:6379`` the brackets are literal."""
    return "".join({"[": "[[]", "]": "[]]"}.get(ch, ch) for ch in pattern)


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Globs (``*`` and ``?``) on ``host:port`` that /scrape may contact; ``allow_any`` turns the check off."""

    patterns: tuple[str, ...] = ()
    allow_any: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "patterns", tuple(_literal_brackets(p) for p in self.patterns))

    def allows(self, target: Target) -> bool:
        if self.allow_any:
            return True
        candidates = {target.hostport, f"{target.host}:{target.port}"}
        return any(fnmatch.fnmatchcase(c, p) for p in self.patterns for c in candidates)
