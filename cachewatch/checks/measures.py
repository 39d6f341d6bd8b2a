"""Small pure helpers the check rows measure with: ratios of INFO fields, rates between two snapshots, flags."""

from __future__ import annotations

from cachewatch.checks.model import Snapshot
from cachewatch.redis_text import parse_pairs

BLOCKING_COMMANDS = frozenset({"blpop", "brpop", "brpoplpush", "blmove", "blmpop", "bzpopmin", "bzpopmax", "bzmpop",
                               "xread", "xreadgroup", "wait", "waitaof", "subscribe", "psubscribe", "ssubscribe",
                               "monitor", "sync", "psync"})  # their time is waiting, not work


def flag(condition: bool) -> float:
    return 1.0 if condition else 0.0


def ratio(snap: Snapshot, numerator: str, denominator: str) -> float | None:
    """``numerator / denominator`` of two INFO fields; None when either is missing or the denominator is 0."""
    num, den = snap.number(numerator), snap.number(denominator)
    return None if num is None or not den else num / den


def growth(snap: Snapshot, prev: Snapshot | None, name: str) -> float | None:
    """How much an INFO counter grew since the previous snapshot; None without one or after a restart."""
    now, before = snap.number(name), prev.number(name) if prev is not None else None
    return None if now is None or before is None or now < before else now - before


def rate(snap: Snapshot, prev: Snapshot | None, name: str) -> float | None:
    """Per-second growth of an INFO counter between two snapshots; None without a previous sample or after a
    restart (the counter went back)."""
    if prev is None or snap.taken <= prev.taken:
        return None
    now, before = snap.number(name), prev.number(name)
    if now is None or before is None or now < before:
        return None
    return (now - before) / (snap.taken - prev.taken)


def is_replica(snap: Snapshot) -> bool:
    return snap.info.get("role") == "slave"


def replicas(snap: Snapshot) -> list[dict[str, str]]:
    """The ``slaveN:ip=…,port=…,state=…,offset=…,lag=…`` lines of a primary, parsed."""
    return [parse_pairs(value) for name, value in snap.info.items() if name.startswith("slave") and name[5:].isdigit()]


def server_time(snap: Snapshot) -> float:
    """The server's clock in seconds (INFO server_time_usec), else the prober's."""
    usec = snap.number("server_time_usec")
    return usec / 1e6 if usec else snap.taken


def nopass_users(snap: Snapshot) -> list[str]:
    """Users that are ``on`` and accept any password (ACL LIST: ``user NAME on nopass ...``)."""
    out = []
    for line in snap.acl_users:
        words = line.split()
        if len(words) >= 3 and words[0] == "user" and "on" in words[2:] and "nopass" in words[2:]:
            out.append(words[1])
    return out


def loopback_only(snap: Snapshot) -> bool:
    """``bind`` lists only loopback addresses (CONFIG GET bind)."""
    addresses = [a.lstrip("-") for a in snap.config.get("bind", "").split()]
    return bool(addresses) and all(a in ("127.0.0.1", "::1", "localhost") for a in addresses)


def error_count(snap: Snapshot, prefix: str) -> float:
    """The count of one INFO errorstats line (``errorstat_OOM:count=5``); 0 when the error never happened."""
    return float(parse_pairs(snap.info.get(f"errorstat_{prefix}", "")).get("count", 0))


def error_growth(snap: Snapshot, prev: Snapshot | None, prefix: str) -> float | None:
    """How many errors of one prefix since the previous snapshot (None without one)."""
    return None if prev is None else max(error_count(snap, prefix) - error_count(prev, prefix), 0.0)
