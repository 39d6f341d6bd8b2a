"""The snapshot's replies → a ``Snapshot``: pure functions, no I/O, so every reply shape is testable by hand.

Replies arrive raw: bytes or str, lists, a RESP3 map for CONFIG GET, or the exception redis-py returns in place
of an error reply. A family whose reply is an error, or cannot be read, goes into ``Snapshot.refused``: the checks
that need it are ``unknown``, never failed. CLUSTER INFO on a server that is not in cluster mode is the one error
that is no refusal: it only says the cluster checks do not apply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from cachewatch.checks import CONFIG_KEYS, Snapshot

SLOWLOG_ENTRIES = 32
# The pipelined round trip, in order: (family, command). take_snapshot sends it, build_snapshot reads it.
COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # INFO's default sections (server … errorstats, keyspace): every field a check reads, at a third of the cost
    # of INFO ALL, whose commandstats and latencystats no check needs.
    ("info", ("INFO",)),
    ("config", ("CONFIG", "GET", *CONFIG_KEYS)),  # several parameters in one CONFIG GET: Redis 7+
    ("acl", ("ACL", "LIST")),
    ("slowlog", ("SLOWLOG", "GET", str(SLOWLOG_ENTRIES))),
    ("latency", ("LATENCY", "LATEST")),
    ("cluster", ("CLUSTER", "INFO")),
)
FAMILIES = tuple(family for family, _ in COMMANDS)
INFO_REFUSED = "info"  # in ``refused``: nothing about the node can be decided


def text(value: object) -> str:
    """A reply element as text; bytes that are not UTF-8 (a binary key name) are replaced, never fatal."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)


def parse_fields(reply: object) -> dict[str, str]:
    """``name:value`` lines (INFO, CLUSTER INFO) → a flat dict; section headers and blank lines are skipped."""
    out = {}
    for line in text(reply).splitlines():
        name, sep, value = line.partition(":")
        if sep and name and not name.startswith("#"):
            out[name.strip()] = value.strip()
    return out


def parse_config(reply: object) -> dict[str, str]:
    """CONFIG GET: a flat ``[name, value, ...]`` list (RESP2) or a map (RESP3)."""
    if isinstance(reply, Mapping):
        return {text(k): text(v) for k, v in reply.items()}
    items = list(reply)  # type: ignore[call-overload]
    if len(items) % 2:
        raise ValueError("CONFIG GET reply has an odd number of elements")
    return {text(items[i]): text(items[i + 1]) for i in range(0, len(items), 2)}


def parse_acl_list(reply: object) -> tuple[str, ...]:
    return tuple(text(line) for line in reply)  # type: ignore[attr-defined]


def parse_slowlog(reply: object) -> tuple[tuple[int, int, int, str], ...]:
    """SLOWLOG GET entries ``[id, unix time, duration µs, [argv...], ...]`` → (id, time, µs, command name).
    Only the command name is kept: arguments may hold keys and values, never needed and never shown."""
    out = []
    for entry in reply:  # type: ignore[attr-defined]
        argv = entry[3]
        name = text(argv[0]).lower() if argv else ""
        out.append((int(entry[0]), int(entry[1]), int(entry[2]), name))
    return tuple(out)


def parse_latency_latest(reply: object) -> tuple[tuple[str, int, int, int], ...]:
    """LATENCY LATEST entries ``[event, unix time, latest ms, max ms, ...]`` (newer servers add fields)."""
    return tuple((text(e[0]), int(e[1]), int(e[2]), int(e[3])) for e in reply)  # type: ignore[attr-defined]


# family → (Snapshot field, parser); INFO is read first, on its own, because everything depends on it.
PARSERS: Mapping[str, tuple[str, Callable[[object], object]]] = {
    "config": ("config", parse_config),
    "acl": ("acl_users", parse_acl_list),
    "slowlog": ("slowlog", parse_slowlog),
    "latency": ("latency_latest", parse_latency_latest),
    "cluster": ("cluster_info", parse_fields),
}
UNREADABLE = (ValueError, TypeError, IndexError, KeyError, AttributeError)


def build_snapshot(replies: Sequence[object], *, kind: str = "cache", taken: float = 0.0) -> Snapshot:
    """The replies of ``COMMANDS`` (in order) → a Snapshot. An INFO error (or a reply that is not INFO's text)
    makes every family refused: the node answered, but nothing can be decided. A CLUSTER INFO reply is kept only
    from a server in cluster mode."""
    if len(replies) != len(COMMANDS):
        raise ValueError(f"expected {len(COMMANDS)} replies, got {len(replies)}")
    by_family = dict(zip(FAMILIES, replies, strict=True))
    info = parse_fields(by_family["info"]) if isinstance(by_family["info"], bytes | str) else {}
    if not info:  # an error reply, or not INFO's text at all: no check can be decided on it
        return Snapshot(info={}, refused=frozenset(FAMILIES), kind=kind, taken=taken)
    fields: dict[str, object] = {}
    refused = set()
    for family, (field, parse) in PARSERS.items():
        reply = by_family[family]
        if family == "cluster" and info.get("cluster_enabled") != "1":
            continue  # "ERR This instance has cluster support disabled": not in cluster mode, not refused
        if isinstance(reply, Exception):
            refused.add(family)
            continue
        try:
            fields[field] = parse(reply)
        except UNREADABLE:  # a reply we cannot read decides nothing either
            refused.add(family)
    return Snapshot(info=info, refused=frozenset(refused), kind=kind, taken=taken, **fields)  # type: ignore[arg-type]

