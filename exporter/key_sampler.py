"""Opt-in background big-key / hot-key sampling within a key and a time budget.

redis_exporter's check-keys / key-groups SCAN inside every scrape and block it on big keyspaces.
Here sampling is its own asyncio task on its OWN connection and is NEVER called from a scrape: the
exporter wires ``start()``/``stop()`` to its lifecycle; a scrape only calls the cheap ``add_metrics``,
which renders the last finished run's snapshot and its age, so staleness is visible.

A run SCANs each db of ``INFO keyspace`` from where the last run stopped (cursor kept per db), one
pipelined round trip of TYPE + MEMORY USAGE (+ OBJECT FREQ under an LFU policy) per SCAN batch,
yielding between batches, until ``max_keys`` keys or ``time_budget`` seconds; a partial run still
publishes. A failed run keeps the old snapshot and sets ``last_error``; a refused probe (NOPERM) is
dropped for the rest of the run and reported in ``last_error``. Key names are redacted by default
(``redact_key_name``); keys redacting to the same label and type are aggregated: the value is the
group MAXIMUM, the key count stays in the snapshot (``BigKey.count``), not exported. Only the top N
per metric are kept. Non-UTF-8 key names cannot be sent back and are skipped like deleted keys.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from cachewatch.exporter.connect import open_target
from cachewatch.exporter.credentials import Credentials
from cachewatch.exporter.exposition import MetricSet, labels
from cachewatch.exporter.info_parser import parse_info
from cachewatch.exporter.options import KeySampling
from cachewatch.exporter.resp import Connection, ScrapeError, classify, encode_pipeline, reply_error_reason
from cachewatch.exporter.targets import Target
from cachewatch.logs import redact

log = logging.getLogger("cachewatch.exporter.key_sampler")

SCAN_COUNT = 100
MAX_LABEL_CHARS = 100
BATCH_PAUSE = 0.001  # seconds between batches: lets scrapes run and paces Redis a little
HARD_DEADLINE_SLACK = 10.0  # a run overrunning its budget by this much (hung Redis) is abandoned
LFU_POLICIES = frozenset({"allkeys-lfu", "volatile-lfu"})
# Per-key probe → command prefix (the key is appended). "freq" is only sent under an LFU policy.
KEY_PROBES: dict[str, tuple[str, ...]] = {
    "type": ("TYPE",), "memory": ("MEMORY", "USAGE"), "freq": ("OBJECT", "FREQ"),
}
_IDS = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|[0-9a-fA-F]{8,}|\d+")


def _printable(name: str) -> str:
    name = name[: MAX_LABEL_CHARS * 10]  # bound the work on absurd key names
    return name if name.isprintable() else "".join(ch for ch in name if ch.isprintable())


def redact_key_name(name: str) -> str:
    """UUIDs, hex ids (≥ 8 chars) and digit runs → ``*``: key labels stay low-cardinality and id-free."""
    return _IDS.sub("*", _printable(name))[:MAX_LABEL_CHARS]


def raw_key_name(name: str) -> str:
    """The name as it is, only made label-safe (printable, truncated)."""
    return _printable(name)[:MAX_LABEL_CHARS]


class BigKey(NamedTuple):
    db: str
    key: str
    type: str
    bytes: int
    count: int


class HotKey(NamedTuple):
    db: str
    key: str
    freq: int
    count: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the last finished run saw; ``series`` is pre-rendered so a scrape only copies it."""

    big: tuple[BigKey, ...]
    hot: tuple[HotKey, ...]
    keys_scanned: int
    finished: float  # unix time
    duration: float
    complete: bool  # False when the budget stopped the run mid-keyspace
    series: tuple[tuple[str, int, str], ...]


Groups = dict[tuple[str, ...], list[int]]  # label key → [max value, key count]


def _top(groups: Groups, n: int) -> list[tuple[tuple[str, ...], list[int]]]:
    return sorted(groups.items(), key=lambda kv: (-kv[1][0], kv[0]))[:n]


def _missing(reply: object) -> bool:
    """Deleted (or unaddressable) between SCAN and the probes: nil, TYPE none, "no such key"."""
    return reply is None or reply == "none" or (isinstance(reply, Exception) and "no such key" in str(reply))


class _Run:
    """The mutable state of one run; groups are pruned to the top N as the run goes."""

    def __init__(self, top_n: int, label: Callable[[str], str], lfu: bool) -> None:
        self.top_n, self.label = top_n, label
        self.probes = [p for p in KEY_PROBES if lfu or p != "freq"]
        self.big: Groups = {}
        self.hot: Groups = {}
        self.denied: dict[str, str] = {}  # probe → reason it was dropped
        self.scanned = 0
        self.complete = False

    def observe(self, db: int, key: str, row: dict[str, object]) -> None:
        self.scanned += 1
        if any(_missing(reply) for reply in row.values()):
            return
        for probe, reply in row.items():
            if isinstance(reply, Exception) and probe in self.probes:
                self.probes.remove(probe)
                self.denied[probe] = reply_error_reason(reply)
        kind = row.get("type")
        kind = kind if isinstance(kind, str) else "unknown"
        name = self.label(key)
        for groups, value, group in ((self.big, row.get("memory"), (f"db{db}", name, kind)),
                                     (self.hot, row.get("freq"), (f"db{db}", name))):
            if isinstance(value, int):
                seen = groups.setdefault(group, [value, 0])
                seen[0], seen[1] = max(seen[0], value), seen[1] + 1

    def prune(self) -> None:
        """Exact for the maxima: a dropped group was below the N-th value, which only rises."""
        for groups in (self.big, self.hot):
            if len(groups) > 2 * self.top_n:
                kept = _top(groups, self.top_n)
                groups.clear()
                groups.update(kept)

    def snapshot(self, finished: float, duration: float) -> Snapshot:
        big = tuple(BigKey(*group, *value) for group, value in _top(self.big, self.top_n))
        hot = tuple(HotKey(*group, *value) for group, value in _top(self.hot, self.top_n))
        series = [("redis_key_sample_memory_usage_bytes", b.bytes,
                   labels(("db", b.db), ("key", b.key), ("type", b.type))) for b in big]
        series += [("redis_key_sample_frequency", h.freq, labels(("db", h.db), ("key", h.key))) for h in hot]
        return Snapshot(big, hot, self.scanned, finished, duration, self.complete, tuple(series))


class KeySampler:
    """Background sampler for one target; see the module docstring for why it is shaped so."""

    def __init__(self, target: Target, credentials: Credentials, settings: KeySampling, *,
                 client_name: str = "cachewatch-sampler", max_reply_bytes: int = 16 << 20) -> None:
        self.target, self.credentials, self.settings = target, credentials, settings
        self.client_name, self.max_reply_bytes = client_name, max_reply_bytes
        self.last_error: str | None = None
        self.snapshot: Snapshot | None = None
        self._label = raw_key_name if settings.raw_key_names else redact_key_name
        self._cursors: dict[int, str] = {}  # db → SCAN cursor to resume from
        self._next_db = 0  # the db the next run starts in
        self._task: asyncio.Task[None] | None = None
        self._conn: Connection | None = None

    def start(self) -> None:
        try:
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._loop(), name="key-sampler")
        except Exception:
            log.exception("key sampler could not start", extra={"target": self.target.url})

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
        self._close()

    async def _loop(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.settings.interval)

    async def run_once(self) -> None:
        began = time.perf_counter()
        budget = self.settings.time_budget
        try:
            async with asyncio.timeout(budget + HARD_DEADLINE_SLACK):
                run = await self._sample(time.monotonic() + budget)
        except Exception as exc:
            self.last_error = reason = classify(exc)
            log.warning("key sampling run failed; the previous snapshot stays",
                        exc_info=reason == "internal_error",
                        extra={"target": self.target.url, "reason": reason, "detail": redact(str(exc))[:200]})
            return
        finally:
            self._close()
        self.snapshot = run.snapshot(time.time(), time.perf_counter() - began)
        self.last_error = next(iter(run.denied.values()), None)
        if run.denied:
            log.warning("key sampling: commands refused, skipped for the rest of the run",
                        extra={"target": self.target.url, "refused": run.denied})

    def add_metrics(self, out: MetricSet, now: float) -> None:
        try:
            snap = self.snapshot
            if snap is None:
                out.add("redis_last_key_groups_scrape_duration_milliseconds", 0)
                return
            for name, value, label_text in snap.series:
                out.add(name, value, label_text)
            for name, number in (("redis_key_sample_keys_scanned", snap.keys_scanned),
                                 ("redis_key_sample_last_run_timestamp_seconds", snap.finished),
                                 ("redis_key_sample_age_seconds", max(0.0, now - snap.finished)),
                                 ("redis_key_sample_duration_seconds", snap.duration),
                                 ("redis_last_key_groups_scrape_duration_milliseconds", snap.duration * 1e3)):
                out.add(name, number)
        except Exception:
            log.exception("key sampler could not render its metrics", extra={"target": self.target.url})

    async def _call(self, conn: Connection, *commands: tuple[str, ...]) -> list:
        replies = await conn.pipeline(encode_pipeline(commands), len(commands))
        for reply in replies:
            if isinstance(reply, Exception):
                raise ScrapeError(reply_error_reason(reply), str(reply))
        return replies

    async def _sample(self, deadline: float) -> _Run:
        # Every db in INFO keyspace is sampled, so the target's own db is not selected at connect.
        conn = self._conn = await open_target(self.target, self.credentials, client_name=self.client_name or None,
                                              max_reply_bytes=self.max_reply_bytes, select_db=False)
        keyspace, memory = await self._call(conn, ("INFO", "keyspace"), ("INFO", "memory"))
        dbs = sorted(int(name[2:]) for name in parse_info(keyspace).keyspace
                     if name.startswith("db") and name[2:].isdigit())
        lfu = parse_info(memory).fields.get("maxmemory_policy", "").strip() in LFU_POLICIES
        run = _Run(self.settings.top_n, self._label, lfu)
        self._cursors = {db: cursor for db, cursor in self._cursors.items() if db in dbs}
        max_keys = self.settings.max_keys
        for db in [d for d in dbs if d >= self._next_db] + [d for d in dbs if d < self._next_db]:
            self._next_db = db
            select: list[tuple[str, ...]] = [("SELECT", str(db))]
            while True:
                if run.scanned >= max_keys or time.monotonic() >= deadline:
                    return run
                count = str(min(SCAN_COUNT, max_keys - run.scanned))
                *_, (cursor, keys) = await self._call(
                    conn, *select, ("SCAN", self._cursors.get(db, "0"), "COUNT", count))
                select = []
                await self._probe(conn, run, db, keys)
                if cursor == "0":
                    self._cursors.pop(db, None)
                    break
                self._cursors[db] = cursor
                await asyncio.sleep(BATCH_PAUSE)
        self._next_db, run.complete = 0, True
        return run

    async def _probe(self, conn: Connection, run: _Run, db: int, keys: list[str]) -> None:
        """One round trip for the whole batch: every enabled probe for every key."""
        probes = list(run.probes)
        if not keys or not probes:
            run.scanned += len(keys)
            return
        payload = encode_pipeline([(*KEY_PROBES[p], key) for key in keys for p in probes])
        replies = await conn.pipeline(payload, len(keys) * len(probes))
        width = len(probes)
        for i, key in enumerate(keys):
            run.observe(db, key, dict(zip(probes, replies[i * width:(i + 1) * width], strict=True)))
        run.prune()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
