"""``cachewatch diagnose --keyspace``: a sampled keyspace analysis within a key budget and a time budget.

Where: on a replica of the target when it has one online (INFO replication lists them; the primary's clients
never wait for us), else on the target. What: SCAN (COUNT ``scan_count``, 250) from cursor 0 until the key budget,
the time budget or the end of the keyspace, and for every scanned key, pipelined: ``TYPE``, ``MEMORY USAGE key
SAMPLES 5``, ``PTTL`` and ``OBJECT ENCODING``.

Why a prefix of SCAN is a fair sample: SCAN walks the hash table's buckets, and a key's bucket comes from a hash
of its name, so the first N keys it returns are spread over the keyspace independently of their names. Every
figure is scaled by ``keys in the db / keys sampled`` (INFO keyspace): with 100k of 1M keys the per-pattern
counts and bytes are within ~1% (binomial error of the smallest common pattern). A run that stops before the end
of the keyspace is ``partial`` (and says which budget stopped it); its figures are estimates.

Why ``SAMPLES 5`` (Redis's own default, what ``redis-cli --memkeys`` sends): ``SAMPLES 0`` walks every element of
a collection, so one MEMORY USAGE of a million-member hash would stall Redis for tens of ms. With 5 samples the
call is O(1) for any key; compact encodings (listpack, intset, embstr, int) are measured exactly anyway, and only
big hashtable/skiplist/quicklist values are estimated from 5 elements.

Never a long stall: each command is O(1) or O(COUNT) with COUNT 250 (~0.1 ms), and a batch's commands arrive as
one pipeline that Redis interleaves with other clients every 16 KB read. Lengths (HLEN/SCARD/ZCARD/LLEN, O(1))
are asked only for collections in a non-compact encoding, at most ``MAX_LENGTH_LOOKUPS`` of them.

Key names appear in the report (the biggest keys; it is an operator's diagnostic), never in logs.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import redis.asyncio
import redis.exceptions

from cachewatch.health.client import client_for
from cachewatch.health.key_patterns import PatternCap, display_name
from cachewatch.health.replies import parse_fields, text
from cachewatch.health.targets import Credentials, Target
from cachewatch.logs import redact
from cachewatch.redis_text import parse_pairs

SAMPLES = 5
MAX_LENGTH_LOOKUPS = 1000
MAX_KEY_CHARS = 200  # a key name longer than this is shown cut, with "…"
# probe → (command prefix, required): a refused optional probe is dropped and noted, a required one ends the run.
PROBES: Mapping[str, tuple[tuple[str, ...], bool]] = {
    "type": (("TYPE",), True),
    "bytes": (("MEMORY", "USAGE"), True),  # the key, then SAMPLES 5, are appended
    "pttl": (("PTTL",), False),
    "encoding": (("OBJECT", "ENCODING"), False),
}
# Lengths are asked for values in a non-compact encoding only (raw strings: STRLEN, to find those that could be
# embstr).
LENGTH_COMMAND = {"hash": "HLEN", "set": "SCARD", "zset": "ZCARD", "list": "LLEN", "stream": "XLEN", "string": "STRLEN"}
SMALL_RAW_BYTES = 160  # a raw string this small (MEMORY USAGE) may be one that could be embstr: STRLEN tells
COMPACT = frozenset({"listpack", "ziplist", "intset", "embstr", "int"})
# TTL buckets (upper bound in seconds, label): RedisInsight's buckets, with the first hour split.
TTL_BUCKETS: tuple[tuple[float, str], ...] = (
    (60, "< 1 min"), (3600, "1 min – 1 h"), (4 * 3600, "1 h – 4 h"), (12 * 3600, "4 h – 12 h"),
    (86400, "12 h – 24 h"), (7 * 86400, "1 d – 7 d"), (30 * 86400, "7 d – 30 d"), (math.inf, "> 30 d"),
)
NO_TTL = "no TTL"


@dataclass(frozen=True)
class Budget:
    keys: int = 100_000  # keys sampled at most (over all dbs, shared in proportion to their sizes)
    seconds: float = 10.0  # wall time of the sampling at most
    scan_count: int = 250  # a SCAN of 250 keys costs Redis ~0.1 ms; a bigger COUNT makes longer single calls
    top: int = 10  # biggest keys listed


@dataclass
class PatternStats:
    keys: int = 0
    bytes: int = 0
    no_ttl: int = 0
    types: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class PatternRow:
    pattern: str
    sampled: int
    keys: float  # estimated in the whole keyspace
    bytes: float  # estimated
    no_ttl_share: float
    types: tuple[str, ...]


@dataclass(frozen=True)
class BigKey:
    db: int
    key: str  # display form (escaped, cut)
    type: str
    encoding: str
    bytes: int
    ttl: float | None  # seconds; None: no TTL


@dataclass(frozen=True)
class LongValue:
    """A collection in a non-compact encoding, with its length (for the encoding and big-key findings)."""

    db: int
    key: str
    type: str
    encoding: str
    length: int
    bytes: int


@dataclass(frozen=True)
class KeyspaceReport:
    node: str  # the node sampled
    via_replica: bool
    note: str  # why not a replica, or which probes were dropped
    keys_total: int  # INFO keyspace at the start, all dbs
    sampled: int
    partial: bool
    stopped_by: str  # "end of keyspace", "key budget", "time budget"
    seconds: float
    patterns: tuple[PatternRow, ...] = ()
    ttl: tuple[tuple[str, float], ...] = ()  # bucket → estimated keys (NO_TTL last)
    biggest: tuple[BigKey, ...] = ()
    types: tuple[tuple[str, str, float, float], ...] = ()  # (type, encoding, est keys, est bytes)
    long_values: tuple[LongValue, ...] = ()  # looked-up collections (non-compact), biggest first
    long_lookups: int = 0  # how many non-compact collections were sampled (lookups cover at most 1000)
    config: Mapping[str, str] = field(default_factory=dict)  # the *-max-listpack-* settings (empty if refused)
    version: str = ""
    refused: str = ""  # set when the analysis could not run (SCAN, TYPE or MEMORY USAGE refused)
    scale: float = 1.0  # estimated keys per sampled key (all dbs)

    @property
    def bytes_total(self) -> float:
        return sum(p.bytes for p in self.patterns)


ENCODING_CONFIG = ("hash-max-listpack-entries", "hash-max-listpack-value", "zset-max-listpack-entries",
                   "zset-max-listpack-value", "set-max-intset-entries", "set-max-listpack-entries",
                   "set-max-listpack-value")


class _Tally:
    """What one db's sample saw; scaled into estimates when the run ends."""

    def __init__(self, patterns: PatternCap, top: int) -> None:
        self.patterns, self.top = patterns, top
        self.by_pattern: dict[str, PatternStats] = {}
        self.ttl: Counter[str] = Counter()
        self.types: Counter[tuple[str, str]] = Counter()
        self.type_bytes: Counter[tuple[str, str]] = Counter()
        self.biggest: list[tuple[int, bytes, str, str, float | None]] = []
        self.long: list[tuple[bytes, str, str, int]] = []  # (key, type, encoding, bytes) to look up
        self.long_seen = 0
        self.sampled = 0

    def observe(self, key: bytes, kind: str, size: int, pttl: int | None, encoding: str) -> None:
        self.sampled += 1
        stats = self.by_pattern.setdefault(self.patterns(key), PatternStats())
        stats.keys += 1
        stats.bytes += size
        stats.types[kind] += 1
        ttl = None if pttl is None or pttl < 0 else pttl / 1000
        if ttl is None:
            stats.no_ttl += pttl is not None  # an unknown TTL (PTTL refused) is not "no TTL"
            self.ttl[NO_TTL if pttl is not None else "unknown"] += 1
        else:
            self.ttl[next(label for bound, label in TTL_BUCKETS if ttl < bound)] += 1
        self.types[kind, encoding] += 1
        self.type_bytes[kind, encoding] += size
        if len(self.biggest) < self.top or size > self.biggest[-1][0]:
            self.biggest.append((size, key, kind, encoding, ttl))
            self.biggest.sort(key=lambda row: -row[0])
            del self.biggest[self.top:]
        if kind in LENGTH_COMMAND and encoding and encoding not in COMPACT and (
                kind != "string" or size <= SMALL_RAW_BYTES):
            self.long_seen += 1
            if len(self.long) < MAX_LENGTH_LOOKUPS:
                self.long.append((key, kind, encoding, size))


def _shorten(key: bytes) -> str:
    name = display_name(key)
    return name if len(name) <= MAX_KEY_CHARS else name[:MAX_KEY_CHARS] + "…"


def _error_reason(reply: BaseException) -> str:
    return redact(str(reply).splitlines()[0] if str(reply) else type(reply).__name__)


class _Refused(Exception):
    """A required probe was refused: the analysis cannot run."""


async def _pipeline(client: redis.asyncio.Redis, db: int, commands: Sequence[tuple[object, ...]]) -> list[object]:
    """One round trip; error replies come back in their slots. A SELECT goes first on a non-zero db: the pool
    may hand out any of its connections."""
    pipe = client.pipeline(transaction=False)
    pipe.response_callbacks = {}
    if db:
        pipe.execute_command("SELECT", db)
    for command in commands:
        pipe.execute_command(*command)
    replies = await pipe.execute(raise_on_error=False)
    return replies[1:] if db else replies


class _Sampler:
    def __init__(self, client: redis.asyncio.Redis, budget: Budget) -> None:
        self.client, self.budget = client, budget
        self.probes = dict(PROBES)
        self.dropped: dict[str, str] = {}
        self.patterns = PatternCap()

    def _commands(self, keys: Sequence[bytes]) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for key in keys:
            for name, (prefix, _) in self.probes.items():
                out.append((*prefix, key, "SAMPLES", SAMPLES) if name == "bytes" else (*prefix, key))
        return out

    def _read(self, tally: _Tally, keys: Sequence[bytes], replies: Sequence[object]) -> None:
        names = list(self.probes)
        width = len(names)
        for i, key in enumerate(keys):
            row = dict(zip(names, replies[i * width:(i + 1) * width], strict=True))
            for name, reply in row.items():
                if isinstance(reply, redis.exceptions.ResponseError) and "no such key" not in str(reply).lower():
                    if self.probes[name][1]:
                        raise _Refused(f"{' '.join(self.probes[name][0])}: {_error_reason(reply)}")
                    self.dropped[name] = _error_reason(reply)
                    self.probes.pop(name, None)
            kind = text(row["type"]) if isinstance(row["type"], bytes | str) else "none"
            size = row["bytes"]
            if kind == "none" or not isinstance(size, int):
                continue  # deleted (expired, evicted) between SCAN and the probes: not sampled
            pttl = row.get("pttl")
            encoding = row.get("encoding")
            tally.observe(key, kind, size, pttl if isinstance(pttl, int) else None,
                          text(encoding) if isinstance(encoding, bytes | str) else "")

    async def sample_db(self, db: int, budget_keys: int, deadline: float, top: int) -> tuple[_Tally, str]:
        """Scan one db until its key budget, the deadline or the end; (tally, what stopped it). The first SCAN
        batch is always taken, so that even a budget spent on connecting samples something."""
        tally = _Tally(self.patterns, top)
        seen: set[bytes] = set()  # SCAN may return a key twice (during a rehash)
        cursor: bytes | int = 0
        pending: list[bytes] = []
        stopped = ""
        while True:
            started = bool(pending) or tally.sampled > 0  # at least one SCAN batch, however short the budget
            if not stopped and started and time.monotonic() >= deadline:
                stopped = "time budget"
            scanning = not stopped
            commands = self._commands(pending)
            if scanning:
                commands.append(("SCAN", cursor, "COUNT", self.budget.scan_count))
            if not commands:
                return tally, stopped
            replies = await _pipeline(self.client, db, commands)
            self._read(tally, pending, replies[:len(replies) - scanning])
            pending = []
            if not scanning:
                return tally, stopped
            reply = replies[-1]
            if isinstance(reply, BaseException):
                raise _Refused(f"SCAN: {_error_reason(reply)}")
            cursor = int(reply[0])  # type: ignore[index]
            room = budget_keys - len(seen)
            fresh = [k for k in reply[1] if k not in seen][:room]  # type: ignore[index]
            seen.update(fresh)
            pending = fresh
            if len(seen) >= budget_keys:
                stopped = "key budget"
            elif cursor == 0:
                stopped = "end of keyspace"

    async def lengths(self, db: int, rows: Sequence[tuple[bytes, str, str, int]]) -> list[LongValue]:
        out = []
        for start in range(0, len(rows), 500):
            chunk = rows[start:start + 500]
            replies = await _pipeline(self.client, db, [(LENGTH_COMMAND[kind], key) for key, kind, _, _ in chunk])
            out += [LongValue(db, _shorten(key), kind, encoding, reply, size)
                    for (key, kind, encoding, size), reply in zip(chunk, replies, strict=True)
                    if isinstance(reply, int)]
        return out


def db_sizes(info: Mapping[str, str]) -> dict[int, int]:
    """INFO keyspace ``dbN:keys=…`` → {N: keys}."""
    return {int(name[2:]): int(parse_pairs(value).get("keys", 0)) for name, value in info.items()
            if name.startswith("db") and name[2:].isdigit()}


def db_budgets(sizes: Mapping[int, int], keys: int) -> dict[int, int]:
    """The key budget shared over the dbs in proportion to their sizes (at least one key each)."""
    total = sum(sizes.values())
    return {db: max(1, math.ceil(keys * n / total)) for db, n in sizes.items() if n} if total else {}


async def _info(client: redis.asyncio.Redis, timeout: float) -> dict[str, str]:
    """INFO's own text, parsed the way the health checks parse it (redis-py's INFO callback is bypassed)."""
    async with asyncio.timeout(timeout):
        (reply,) = await _pipeline(client, 0, [("INFO",)])
    if isinstance(reply, BaseException):
        raise reply
    return parse_fields(reply)


async def choose_node(target: Target, credentials: Credentials, timeout: float
                      ) -> tuple[redis.asyncio.Redis, Target, bool, str]:
    """The target's first online replica when it is a primary with one, else the target: (client, target,
    via_replica, note). The caller closes the client."""
    client = client_for(target, credentials, timeout)
    info = await _info(client, timeout)
    if info.get("role") != "master":
        return client, target, False, ""
    online = [parse_pairs(v) for k, v in info.items() if k.startswith("slave") and k[5:].isdigit()]
    online = [r for r in online if r.get("state") == "online" and r.get("ip") and r.get("port", "").isdigit()]
    if not online:
        return client, target, False, "no online replica: sampled the primary"
    replica = Target(host=online[0]["ip"], port=int(online[0]["port"]), tls=target.tls, cluster=target.cluster,
                     kind=target.kind, username=target.username, credentials=target.credentials)
    other = client_for(replica, credentials, timeout)
    try:
        replica_info = await _info(other, timeout)
        if replica_info.get("cluster_enabled") == "1":
            await other.execute_command("READONLY")
    except Exception as exc:  # an unreachable replica: the primary is still there to sample
        await other.aclose()
        return client, target, False, f"replica {replica.address} unusable ({_error_reason(exc)}): sampled the primary"
    await client.aclose()
    return other, replica, True, ""


async def analyse(target: Target, credentials: Credentials, budget: Budget = Budget(),
                  timeout: float = 5.0) -> KeyspaceReport:
    """Sample the keyspace of ``target`` (or its replica) within ``budget``. Connection errors propagate;
    refused commands give a report with ``refused`` set."""
    started = time.monotonic()
    client, node, via_replica, note = await choose_node(target, credentials, timeout)
    try:
        info = await _info(client, timeout)
        sizes = db_sizes(info)
        base = {"node": node.address, "via_replica": via_replica, "keys_total": sum(sizes.values()),
                "version": info.get("redis_version", "")}
        config = await _encoding_config(client)
        sampler = _Sampler(client, budget)
        deadline = started + budget.seconds
        tallies: dict[int, _Tally] = {}
        stops: list[str] = []
        long_values: list[LongValue] = []
        try:
            for db, keys in db_budgets(sizes, budget.keys).items():
                tallies[db], stop = await sampler.sample_db(db, keys, deadline, budget.top)
                stops.append(stop)
                long_values += await sampler.lengths(db, tallies[db].long)
        except _Refused as exc:
            return KeyspaceReport(note=note, sampled=0, partial=True, stopped_by="refused",
                                  seconds=time.monotonic() - started, refused=str(exc), config=config, **base)
    finally:
        await client.aclose()
    dropped = "; ".join(f"{' '.join(PROBES[n][0])} refused ({why})" for n, why in sampler.dropped.items())
    return summarise(tallies, sizes, stops, long_values, budget.top, seconds=time.monotonic() - started,
                     note="; ".join(filter(None, (note, dropped))), config=config, **base)


async def _encoding_config(client: redis.asyncio.Redis) -> dict[str, str]:
    (reply,) = await _pipeline(client, 0, [("CONFIG", "GET", *ENCODING_CONFIG)])
    items = [text(x) for x in reply] if isinstance(reply, list) else []
    return dict(zip(items[::2], items[1::2], strict=False))


def summarise(tallies: Mapping[int, _Tally], sizes: Mapping[int, int], stops: Sequence[str],
              long_values: Sequence[LongValue], top: int, **base: object) -> KeyspaceReport:
    """The per-db tallies scaled to their db's size and merged: pure, so the estimate is testable by hand."""
    patterns: dict[str, list[float]] = {}
    pattern_types: dict[str, Counter[str]] = {}
    ttl: Counter[str] = Counter()
    types: dict[tuple[str, str], list[float]] = {}
    biggest: list[BigKey] = []
    sampled = sum(t.sampled for t in tallies.values())
    for db, tally in tallies.items():
        scale = sizes.get(db, 0) / tally.sampled if tally.sampled else 0.0
        for pattern, stats in tally.by_pattern.items():
            row = patterns.setdefault(pattern, [0, 0.0, 0.0, 0.0])
            row[0] += stats.keys
            row[1] += stats.keys * scale
            row[2] += stats.bytes * scale
            row[3] += stats.no_ttl * scale
            pattern_types.setdefault(pattern, Counter()).update(stats.types)
        for label, count in tally.ttl.items():
            ttl[label] += count * scale
        for key, count in tally.types.items():
            row = types.setdefault(key, [0.0, 0.0])
            row[0] += count * scale
            row[1] += tally.type_bytes[key] * scale
        biggest += [BigKey(db, _shorten(k), kind, enc, size, t) for size, k, kind, enc, t in tally.biggest]
    rows = tuple(sorted((PatternRow(p, int(r[0]), r[1], r[2], r[3] / r[1] if r[1] else 0.0,
                                    tuple(t for t, _ in pattern_types[p].most_common()))
                         for p, r in patterns.items()), key=lambda r: (-r.bytes, r.pattern)))
    order = [label for _, label in TTL_BUCKETS] + [NO_TTL, "unknown"]
    partial = any(stop != "end of keyspace" for stop in stops)
    stopped = next((s for s in ("time budget", "key budget") if s in stops), "end of keyspace")
    return KeyspaceReport(
        sampled=sampled, partial=partial, stopped_by=stopped if stops else "empty keyspace",
        patterns=rows, ttl=tuple((label, ttl[label]) for label in order if ttl[label]),
        biggest=tuple(sorted(biggest, key=lambda b: -b.bytes)[:top]),
        types=tuple(sorted(((t, e, v[0], v[1]) for (t, e), v in types.items()), key=lambda r: -r[3])),
        long_values=tuple(sorted(long_values, key=lambda v: -v.bytes)),
        long_lookups=sum(t.long_seen for t in tallies.values()),
        scale=sum(sizes.get(db, 0) for db in tallies) / sampled if sampled else 1.0,
        **base,  # type: ignore[arg-type]
    )
