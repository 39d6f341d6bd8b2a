"""Optional, bounded key classification: the user names a few key patterns, everything else is ``other``.

A raw key never becomes a label (unbounded cardinality, and keys can carry personal data); a key class does.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

OTHER = "other"
MAX_CLASSES = 32
_CLASS_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class KeyClassifier:
    """Maps a key to the first class whose glob pattern matches it (``{"user": "user:*", "sess": "s:*:v2"}``)."""

    def __init__(self, patterns: Mapping[str, str]) -> None:
        if not patterns:
            raise ValueError("key_classes: give at least one class, e.g. {'user': 'user:*'}")
        if len(patterns) > MAX_CLASSES:
            raise ValueError(f"key_classes: {len(patterns)} classes; at most {MAX_CLASSES} keep labels bounded")
        for name, pattern in patterns.items():
            if not _CLASS_NAME.match(name) or name == OTHER:
                raise ValueError(f"key_classes: class name {name!r} must match {_CLASS_NAME.pattern} and not be "
                                 f"{OTHER!r}")
            if not isinstance(pattern, str) or not pattern:
                raise ValueError(f"key_classes[{name!r}]: a non-empty glob pattern is required, got {pattern!r}")
        self.classes: tuple[str, ...] = (*patterns, OTHER)
        self._names = list(patterns)
        alternatives = "|".join(f"(?P<c{i}>{fnmatch.translate(p)})" for i, p in enumerate(patterns.values()))
        self._regex = re.compile(alternatives, re.DOTALL)

    def classify(self, key: Any) -> str:
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        elif not isinstance(key, str):
            key = str(key)
        match = self._regex.match(key)
        if match is None:
            return OTHER
        return self._names[int(match.lastgroup[1:])]
