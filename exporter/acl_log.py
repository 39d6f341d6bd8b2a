"""Security counters from ``ACL LOG``: each denial counted once across scrapes, with bounded labels.

ACL LOG is a capped list, newest (most recently updated) first. A denial either bumps the count of the
entry with the same (reason, context, object, username) if it is among the first 10 and was updated less
than 60 s ago, moving it to the head, or adds a fresh entry (count 1) at the head; the tail is trimmed
at ``acllog-max-len``. So all that changed since the last scrape sits at the head, and what follows is
the previous log minus the updated entries, in the same order, cut at the tail. Counting the deltas of
that head is exact as long as we know which earlier entry (if any) each changed entry continues.
"""

from __future__ import annotations

import math
from typing import ClassVar, NamedTuple

from cachewatch.exporter.exposition import MetricSet, labels

REASONS = frozenset({"auth", "command", "key", "channel"})
CONTEXTS = frozenset({"toplevel", "multi", "lua", "module"})
FIELDS = ("reason", "context", "object", "username")
SCAN = 10  # Redis looks for an entry to bump among the first 10 only ...
GROUP_SECONDS = 60.0  # ... and only if it was updated less than this long ago
USER_CHARS = 64

Label = tuple[str, str, str]


class _Entry(NamedTuple):
    key: int  # hash of (reason, context, object, username): objects and user names may be huge
    count: int
    age: float | None  # age-seconds: time since the last update
    ident: tuple[object, object] | None  # (entry-id, timestamp-created), Redis >= 7.2


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _parse(raw: object) -> tuple[_Entry, tuple[str, str, str]] | None:
    """One ACL LOG entry → (entry, (reason, context, username)); None when it is malformed."""
    if not isinstance(raw, dict):
        return None
    fields = tuple(raw.get(name) for name in FIELDS)
    count = raw.get("count")
    if not all(isinstance(v, str) for v in fields) or type(count) is not int or count < 1:
        return None
    eid = raw.get("entry-id")
    ident = (eid, raw.get("timestamp-created")) if type(eid) is int else None
    entry = _Entry(hash(fields), count, _seconds(raw.get("age-seconds")), ident)
    return entry, (fields[0], fields[1], fields[3])


class AclLogTracker:
    """Turns successive ACL LOG snapshots into ``redis_acl_denials_total`` without counting anything twice.

    With ``entry-id`` (Redis >= 7.2) identity is exact. Without it (Redis 7.0) we keep the last known
    log and align each snapshot with it: the unchanged entries are the longest tail of the snapshot that
    equals the previous log (same key and count; and, when ``age-seconds`` is there, an age that grew by
    at least ``elapsed`` - ``AGE_TOLERANCE``), where only entries that Redis could have bumped may be
    skipped: for each key, the newest previous entry, if among the first 10, less than 60 s old and of a
    lower count than the oldest changed entry of that key, which is then its continuation (delta = the
    count difference); every other changed entry is fresh. A whole log that cannot be aligned lost entries
    for no reason Redis has but ``ACL LOG RESET``: everything in it is counted as new.

    Remaining ambiguity without entry-id: (1) without ages (or ``elapsed``), a fresh entry that equals an
    earlier one in key and count (e.g. one failure each of a slow brute force) cannot be told from it when
    the log is a run of such twins, and a RESET followed by the same denials reads as "nothing happened";
    (2) when the log is full and more than ``acllog-max-len`` - 10 entries changed between scrapes, a
    bumped entry cannot be told from a trimmed one (we assume bumped); more than ``acllog-max-len``
    changes lose denials in any case; (3) a server clock that steps back makes ages shrink, so unchanged
    entries look changed and are counted again. Pass ``elapsed`` (seconds between the two fetches).
    """

    PREFIX: ClassVar[int] = 16
    AGE_TOLERANCE: ClassVar[float] = 1.0

    def __init__(self, max_users: int = 20) -> None:
        self._max_users = max_users
        self._users: set[str] = set()
        self._counts: dict[Label, int] = {}
        self._log: list[_Entry] = []  # last known log (reconstructed), newest first, <= max_len entries
        self._log_len: int | None = None  # None until the baseline is taken

    def observe(
        self, entries: list[dict[str, object]], *, complete: bool, max_len: int = 128,
        elapsed: float | None = None,
    ) -> bool:
        """Feed one fetched ACL LOG (newest first). Returns False, changing nothing, when the prefix is not
        enough to account for every change (all of its entries are new/changed and it is full, or a changed
        entry may continue an entry past the prefix): fetch ``ACL LOG <max_len>`` and call
        ``observe(full, complete=True)``. The first observation is a baseline: it counts nothing (a restarted
        exporter must not recount), and it needs the whole log to align later snapshots with."""
        raw = entries if isinstance(entries, list) else []
        if not raw and not self._log:  # the common case, an empty log that stays empty: nothing to align
            self._log_len = 0
            return True
        max_len = max_len if type(max_len) is int and max_len > 0 else 128
        elapsed = _seconds(elapsed)
        parsed = [p for p in map(_parse, raw) if p is not None]
        fetched = [entry for entry, _ in parsed]
        whole = bool(complete) or len(raw) < self.PREFIX
        if fetched and all(e.ident is not None for e in fetched + self._log):
            plan = self._by_id(fetched, whole)
        else:
            plan = self._by_order(fetched, whole, whole and len(raw) < max_len, elapsed)
        if plan is None:
            return False
        deltas, rest = plan
        primed = self._log_len is not None
        for (_, names), delta in zip(reversed(parsed), reversed(deltas), strict=True):  # oldest user first
            label = self._label(*names)
            self._counts[label] = self._counts.get(label, 0) + (delta if primed else 0)
        self._log = (fetched + rest)[:max_len]
        self._log_len = len(raw) if whole else min(max_len, len(self._log) + len(raw) - len(fetched))
        return True

    def add_metrics(self, out: MetricSet) -> None:
        """Denials per (reason, context, user) seen so far, and the log length as last known."""
        for (reason, context, user), value in sorted(self._counts.items()):
            text = labels(("reason", reason), ("context", context), ("user", user))
            out.add("redis_acl_denials_total", value, text)
        if self._log_len is not None:
            out.add("redis_acl_log_entries", self._log_len)

    def _label(self, reason: str, context: str, user: str) -> Label:
        """Bounded labels: known reasons/contexts, at most max_users user names (attackers choose them)."""
        user = "".join(filter(str.isprintable, user[: 16 * USER_CHARS]))[:USER_CHARS]
        if user not in self._users:
            if len(self._users) >= self._max_users:
                user = "other"
            else:
                self._users.add(user)
        return (reason if reason in REASONS else "other", context if context in CONTEXTS else "other", user)

    def _by_id(self, fetched: list[_Entry], whole: bool) -> tuple[list[int], list[_Entry]] | None:
        """Exact: a known entry-id adds its count growth; a new one (or one that shrank: restart) all."""
        old = {e.ident: e for e in self._log}
        deltas = []
        for e in fetched:
            delta = e.count - old[e.ident].count if e.ident in old else e.count
            deltas.append(delta if delta >= 0 else e.count)
        if not whole and all(deltas):
            return None
        seen = {e.ident for e in fetched}
        return deltas, [] if whole else [e for e in self._log if e.ident not in seen]

    def _by_order(
        self, fetched: list[_Entry], whole: bool, need_all: bool, elapsed: float | None
    ) -> tuple[list[int], list[_Entry]] | None:
        """Find the smallest changed head that lets the rest align with the previous log (see class doc)."""
        old, n = self._log, len(fetched)
        first: dict[int, int] = {}  # key -> index of its newest previous entry, if Redis could bump it
        for i, e in enumerate(old[:SCAN]):
            first.setdefault(e.key, i)
        oldest: dict[int, int] = {}  # key -> index of the oldest changed entry with that key
        for c in range(n + 1):
            if c:
                oldest[fetched[c - 1].key] = c - 1
            if c == n and not whole:
                return None  # all of the prefix changed: the boundary is further down
            cand = {i: oldest[k] for k, i in first.items() if self._bumps(old[i], fetched, oldest.get(k))}
            fit = self._fit(fetched[c:], cand, need_all, elapsed)
            if fit is not None:
                break
        else:
            return [e.count for e in fetched], []  # ACL LOG RESET: everything there is new
        end, bumped = fit
        unseen = {i for i in cand if i >= end}
        if unseen and not whole:
            return None  # bumped, or still there past the prefix: only the whole log tells
        deltas = [e.count for e in fetched[:c]] + [0] * (n - c)
        for i in bumped | unseen:
            deltas[cand[i]] -= old[i].count
        return deltas, [] if whole else old[end:]  # bumped ones all lie before `end`

    def _bumps(self, prev: _Entry, fetched: list[_Entry], at: int | None) -> bool:
        """Can ``fetched[at]`` be ``prev`` bumped? Only if it grew and ``prev`` was young enough to group."""
        young = prev.age is None or prev.age <= GROUP_SECONDS + self.AGE_TOLERANCE
        return at is not None and young and prev.count < fetched[at].count

    def _same(self, prev: _Entry, now: _Entry, elapsed: float | None) -> bool:
        """Unchanged: same key and count, and (when known) an age that kept growing."""
        if prev.key != now.key or prev.count != now.count:
            return False
        if prev.age is None or now.age is None:
            return True
        return now.age >= prev.age + (elapsed or 0.0) - self.AGE_TOLERANCE

    def _fit(
        self, tail: list[_Entry], cand: dict[int, int], need_all: bool, elapsed: float | None
    ) -> tuple[int, set[int]] | None:
        """Align ``tail`` with the previous log, skipping only bump candidates (preferred: bursts are common).

        Returns (index in the previous log after the aligned part, skipped indices) or None. Iterative
        depth-first search; (i, k) states that failed are not retried, so the cost stays O(11 * len).
        """
        old, m = self._log, len(tail)
        stack: list[tuple[int, int, frozenset[int]]] = [(0, 0, frozenset())]
        tried: set[tuple[int, int]] = set()
        while stack:
            i, k, skipped = stack.pop()
            while True:
                if k == m and not (need_all and i < len(old)):
                    return i, set(skipped)
                if i == len(old) or (i, k) in tried:
                    break
                tried.add((i, k))
                same = k < m and self._same(old[i], tail[k], elapsed)
                if i in cand:
                    if same:
                        stack.append((i + 1, k + 1, skipped))  # fallback: it was not bumped after all
                    i, skipped = i + 1, skipped | {i}
                elif same:
                    i, k = i + 1, k + 1
                else:
                    break
        return None
