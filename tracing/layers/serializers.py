"""How cache layers turn values into Redis bytes and back. Pluggable: anything with ``dumps``/``loads`` works.

The default, :class:`JsonSerializer`, writes compact UTF-8 JSON, so that other services (and ``redis-cli``) can
read what the cache stores. ``bytes`` values pass through unencoded (no base64 inflation): they are stored as
one marker byte ``0xFF`` followed by the raw bytes. ``0xFF`` never starts UTF-8 text, so a stored value is
either JSON or raw bytes, never ambiguous, and ``bytes`` round-trip exactly. Use :class:`BytesSerializer` when
every value is already ``bytes`` and the stored form must be exactly those bytes.

A serializer's ``loads`` raises ``ValueError`` (or ``TypeError``) for data it cannot decode: the cache then
treats the entry as a miss and reloads it from the origin instead of failing the read.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

BYTES_MARKER = b"\xff"


@runtime_checkable
class Serializer(Protocol):
    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


def _as_bytes(data: bytes | str) -> bytes:
    """Clients created with ``decode_responses=True`` hand back ``str``."""
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


class JsonSerializer:
    """Compact JSON for ordinary values; ``bytes`` stored raw behind a ``0xFF`` marker byte."""

    def __init__(self, **dumps_options: Any) -> None:
        self._options = {"separators": (",", ":"), "ensure_ascii": False, **dumps_options}

    def dumps(self, value: Any) -> bytes:
        if isinstance(value, bytes | bytearray | memoryview):
            return BYTES_MARKER + bytes(value)
        return json.dumps(value, **self._options).encode("utf-8")

    def loads(self, data: bytes | str) -> Any:
        raw = _as_bytes(data)
        if raw.startswith(BYTES_MARKER):
            return raw[len(BYTES_MARKER):]
        return json.loads(raw.decode("utf-8"))


class BytesSerializer:
    """Identity: values must be ``bytes`` (or ``str``, stored as UTF-8) and come back as ``bytes``."""

    def dumps(self, value: Any) -> bytes:
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        raise TypeError(f"BytesSerializer stores bytes or str, got {type(value).__name__}")

    def loads(self, data: bytes | str) -> bytes:
        return _as_bytes(data)


DEFAULT_SERIALIZER = JsonSerializer()
