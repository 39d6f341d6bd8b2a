"""Key name → key pattern: ``user:123:cart`` → ``user:*:cart``, so that a keyspace reads as a few dozen groups.

The name is split at the separators ``: . / - _`` (kept), and every segment that looks like an identifier becomes
``*``: digits, a UUID, hex of 8+ characters in one case (no English word of 8+ letters uses only a–f, while
one random 8-digit hex id in 2,500 has no digit), or a long random token (16+ characters mixing letters and
digits). UUIDs are replaced before splitting, since their own dashes are separators. Words stay: a pattern
keeps the names an application gave its keys. Pure and cheap (one regex pass per key): the sampler calls it for
every sampled key.
"""

from __future__ import annotations

import re
from collections.abc import Callable

WILDCARD = "*"
OTHER = "(other patterns)"  # where keys go once ``MAX_PATTERNS`` distinct patterns exist
MAX_PATTERNS = 1000
MAX_NAME_CHARS = 200  # longer names are cut before matching: the pattern of a 10 KB key name is not worth 10 KB
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SEPARATORS = re.compile(r"([:./\-_])")
_HEX = re.compile(r"[0-9a-f]{8,}|[0-9A-F]{8,}")
_TOKEN = re.compile(r"[0-9A-Za-z+=]{16,}")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[A-Za-z]")

# segment → is it an identifier? (first match wins; a table, so a new id shape is one row)
IDENTIFIERS: tuple[Callable[[str], bool], ...] = (
    str.isdigit,
    lambda s: s == WILDCARD,  # a UUID already replaced
    lambda s: bool(_HEX.fullmatch(s)),
    lambda s: bool(_TOKEN.fullmatch(s) and _DIGIT.search(s) and _LETTER.search(s)),
)


def display_name(key: bytes) -> str:
    """A key name as text a terminal can show: undecodable bytes and control characters escaped."""
    text = key.decode("utf-8", "backslashreplace")
    return text if text.isprintable() else "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def pattern_of(key: bytes | str) -> str:
    """The key's pattern (see the module docstring)."""
    name = display_name(key) if isinstance(key, bytes) else key
    name = _UUID.sub(WILDCARD, name[:MAX_NAME_CHARS])
    parts = _SEPARATORS.split(name)
    # parts alternate segment, separator, segment, ...: only segments (even indexes) are candidates
    return "".join(WILDCARD if i % 2 == 0 and part and any(test(part) for test in IDENTIFIERS) else part
                   for i, part in enumerate(parts))


class PatternCap:
    """Keeps the set of distinct patterns bounded: the first ``limit`` seen are kept, later ones fold into
    ``OTHER`` (a keyspace of random names must not make the report, or the sampler's memory, unbounded)."""

    def __init__(self, limit: int = MAX_PATTERNS) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, key: bytes | str) -> str:
        pattern = pattern_of(key)
        if pattern in self.seen:
            return pattern
        if len(self.seen) >= self.limit:
            return OTHER
        self.seen.add(pattern)
        return pattern
