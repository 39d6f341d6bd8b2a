"""What a Redis command means to a cache: is it a read, how its reply splits into hits and misses, and how an
error is named. Tables, not branches, so a new command is one line."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from redis import exceptions as rex

# (reply, command args) → (hits, misses)
HitCounter = Callable[[Any, Sequence[Any]], tuple[int, int]]


def single_reply(reply: Any, _args: Sequence[Any]) -> tuple[int, int]:
    return (0, 1) if reply is None else (1, 0)


def _each(reply: Any, _args: Sequence[Any]) -> tuple[int, int]:
    if not isinstance(reply, list | tuple):
        return (0, 0)
    misses = sum(1 for value in reply if value is None)
    return (len(reply) - misses, misses)


def _nonempty(reply: Any, _args: Sequence[Any]) -> tuple[int, int]:
    return (1, 0) if reply else (0, 1)


def _exists(reply: Any, args: Sequence[Any]) -> tuple[int, int]:
    asked = len(args) - 1
    found = min(int(reply or 0), asked)
    return (found, asked - found)


# Read commands of a cache: a nil (or empty) reply is a miss. MGET/HMGET count per key/field.
READS: dict[str, HitCounter] = {
    "GET": single_reply,
    "GETEX": single_reply,
    "GETDEL": single_reply,
    "HGET": single_reply,
    "LINDEX": single_reply,
    "ZSCORE": single_reply,
    "JSON.GET": single_reply,
    "MGET": _each,
    "HMGET": _each,
    "JSON.MGET": _each,
    "HGETALL": _nonempty,
    "HEXISTS": _nonempty,
    "EXISTS": _exists,
}

# Reads whose reply has one element per key argument, in order (so each key can be classified on its own).
PER_KEY_REPLIES = frozenset({"MGET"})

# Distinct operation labels one client may create; the rest are counted as OTHER (labels stay bounded even
# when an application sends generated command names through execute_command).
MAX_OPERATIONS = 256
OTHER = "OTHER"

# Redis error prefixes are a closed set in practice; anything else is counted as ERR's sibling "other".
REDIS_ERROR_CODES = frozenset({
    "ERR", "WRONGTYPE", "NOSCRIPT", "READONLY", "MOVED", "ASK", "CLUSTERDOWN", "CROSSSLOT", "TRYAGAIN", "LOADING",
    "BUSY", "BUSYKEY", "NOAUTH", "WRONGPASS", "NOPERM", "OOM", "EXECABORT", "MASTERDOWN", "MISCONF", "NOREPLICAS",
    "UNBLOCKED", "NOGROUP", "NOTBUSY", "NOPROTO", "INVALIDOBJ",
})

# Exception class → metric error_type, most specific first (checked with isinstance, in order).
ERROR_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (rex.TimeoutError, "timeout"),
    (TimeoutError, "timeout"),
    (rex.AuthenticationError, "auth"),
    (rex.ConnectionError, "connection"),
    (ConnectionError, "connection"),
    (OSError, "connection"),
    (rex.WatchError, "watch"),
    (rex.DataError, "data"),
)


def normalize(name: Any) -> str:
    """The operation label for a command name as redis-py passes it (str or bytes, any case)."""
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    return str(name).upper()


def status_code(exc: BaseException) -> str | None:
    """The Redis error prefix (``db.response.status_code``) of a server error reply, else None."""
    if not isinstance(exc, rex.ResponseError):
        return None
    code = getattr(exc, "status_code", None)
    if code:
        return code
    first = str(exc).split(" ", 1)[0]
    return first if first in REDIS_ERROR_CODES else "ERR"


def error_type(exc: BaseException) -> str:
    """A bounded metric label for an exception: timeout, connection, auth, watch, data, the Redis error code of a
    server reply (ERR, WRONGTYPE, ...), or the exception's class name for anything else raised inside a call."""
    code = status_code(exc)
    if code is not None:
        return code
    for cls, kind in ERROR_KINDS:
        if isinstance(exc, cls):
            return kind
    return type(exc).__name__


def span_error_type(exc: BaseException) -> str:
    """``error.type`` on spans: the Redis error code for server replies, else the exception's qualified class."""
    code = status_code(exc)
    if code is not None:
        return code
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def sanitize(args: Sequence[Any], limit: int = 1000) -> str:
    """``db.query.text`` without values: the command name, then one ``?`` per argument (keys can be personal data
    too), cut at ``limit`` characters."""
    text = " ".join([normalize(args[0]), *("?" * (len(args) - 1))])
    return text if len(text) <= limit else text[: limit - 3] + "..."
