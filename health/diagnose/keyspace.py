"""The ``--keyspace`` section: a sampled keyspace analysis (cachewatch.health.keyspace) as lines and findings.

Estimates are the sample scaled by the keyspace's size; a ``partial`` run says so in the first line.
"""

from __future__ import annotations

from dataclasses import asdict

from cachewatch.health.diagnose.model import Finding, Section
from cachewatch.health.diagnose.units import count, size
from cachewatch.health.keyspace import NO_TTL, KeyspaceReport, LongValue

SHOWN_PATTERNS = 15
BIG_STRING = 100 * 1024  # RedisInsight, Azure: keep values under 100 KB
BIG_LENGTH = {"hash": 5000, "set": 1000, "zset": 1000, "list": 1000, "stream": 1000}  # RedisInsight
EMBSTR_MAX = 44  # a string this short set with SET is one allocation (embstr)
# type → (the config setting that keeps it compact, its default, the non-compact encoding, min version)
COMPACT_SETTING = {"hash": ("hash-max-listpack-entries", 128, "hashtable", (7, 0)),
                   "zset": ("zset-max-listpack-entries", 128, "skiplist", (7, 0)),
                   "set": ("set-max-listpack-entries", 128, "hashtable", (7, 2))}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())


def _share(report: KeyspaceReport, rows: list[LongValue]) -> float:
    """Estimated keys like ``rows`` in the keyspace: their share of the lookups × the non-compact keys seen × scale."""
    looked = len(report.long_values) or 1
    return len(rows) / looked * report.long_lookups * report.scale


def _findings(report: KeyspaceReport, policy: str) -> list[Finding]:
    out = []
    no_ttl = dict(report.ttl).get(NO_TTL, 0.0)
    total = sum(v for _, v in report.ttl) or 1.0
    if no_ttl / total > 0.5:
        volatile = policy.startswith("volatile-")
        out.append(Finding(
            id="diag.mem.no_ttl", severity="warning" if volatile else "info", title="Most keys never expire",
            seen=f"~{count(no_ttl)} of ~{count(total)} keys ({100 * no_ttl / total:.0f}%) have no TTL; by pattern: "
                 + ", ".join(f"{p.pattern} {100 * p.no_ttl_share:.0f}%" for p in report.patterns[:5]),
            why=("under " + policy + " only keys with a TTL can be evicted: memory fills up and writes fail"
                 if volatile else "stale entries stay until evicted, and the cache's size follows its write volume"),
            fix="Give cached keys a TTL (SET key value EX seconds)"
                + (", or use allkeys-lru / allkeys-lfu." if volatile else "."),
            value=no_ttl / total))
    big_strings = [b for b in report.biggest if b.type == "string" and b.bytes >= BIG_STRING]
    if big_strings:
        out.append(Finding(
            id="diag.mem.big_string", severity="warning", title="Big string values",
            seen=", ".join(f"{b.key} {size(b.bytes)}" for b in big_strings[:5]) + f" (≥ {size(BIG_STRING)})",
            why="Reading or writing one blocks the event loop and the network for every client; deleting one too.",
            fix="Split the value (or compress it client-side); delete big keys with UNLINK.",
            value=float(big_strings[0].bytes)))
    big = [v for v in report.long_values if v.type in BIG_LENGTH and v.length > BIG_LENGTH[v.type]]
    if big:
        out.append(Finding(
            id="diag.perf.big_keys", severity="warning", title="Collections with many elements",
            seen=", ".join(f"{v.key} ({v.type}, {count(v.length)} elements, {size(v.bytes)})" for v in big[:5]),
            why="O(N) commands on them (HGETALL, SMEMBERS, LRANGE 0 -1, DEL) block Redis for every client.",
            fix="Shard them into smaller keys (user:1:cart:{bucket}); read with HSCAN/SSCAN/ZSCAN; delete with UNLINK.",
            value=float(big[0].length)))
    version = _version(report.version)
    for kind, (setting, default, encoding, since) in COMPACT_SETTING.items():
        rows = [v for v in report.long_values if v.type == kind and v.encoding == encoding and v.length <= 512
                and version >= since]
        if rows:
            current = report.config.get(setting, "?")
            longest = max(v.length for v in rows)
            cause = (f"raise {setting} (now {current}) to {max(longest, default)}" if current.isdigit()
                     and int(current) < longest else
                     f"a member is longer than {setting.replace('entries', 'value')}: raise it, or shorten members")
            out.append(Finding(
                id=f"diag.mem.encoding_{kind}", severity="info",
                title=f"Small {kind}es stored in the {encoding} encoding" if kind == "hash" else
                      f"Small {kind}s stored in the {encoding} encoding",
                seen=f"~{count(_share(report, rows))} {kind} keys with ≤ 512 members are {encoding}, e.g. "
                     f"{rows[0].key} ({rows[0].length} members, {size(rows[0].bytes)})",
                why="A listpack of a few members takes several times less memory than a hash table.",
                fix=f"{cause}: CONFIG SET {setting} {max(longest, default)} (objects convert when rewritten).",
                value=_share(report, rows)))
    raw = [v for v in report.long_values if v.type == "string" and v.encoding == "raw" and v.length <= EMBSTR_MAX]
    if raw:
        out.append(Finding(
            id="diag.mem.raw_small_strings", severity="info", title="Short strings stored raw",
            seen=f"~{count(_share(report, raw))} strings of ≤ {EMBSTR_MAX} bytes use the raw encoding, "
                 f"e.g. {raw[0].key}",
            why="raw takes two allocations where embstr takes one (APPEND, SETRANGE, SETBIT create raw strings).",
            fix="Write such values with SET (they become embstr), or prefer hashes for small appended fields.",
            value=_share(report, raw)))
    return out


def lines_of(report: KeyspaceReport) -> list[str]:
    where = report.node + (" (a replica)" if report.via_replica else "")
    head = (f"sampled {count(report.sampled)} of {count(report.keys_total)} keys on {where} in {report.seconds:.1f} s"
            + (f"; PARTIAL (stopped by the {report.stopped_by}): figures are estimates ×{report.scale:.2f}"
               if report.partial else "; complete") + (f"; {report.note}" if report.note else ""))
    lines = [head, f"  {'pattern':<40} {'keys':>12} {'memory':>10} {'share':>6} {'no TTL':>7}  types"]
    total = report.bytes_total or 1.0
    for p in report.patterns[:SHOWN_PATTERNS]:
        lines.append(f"  {p.pattern[:40]:<40} {count(p.keys):>12} {size(p.bytes):>10} {100 * p.bytes / total:>5.1f}%"
                     f" {100 * p.no_ttl_share:>6.0f}%  {','.join(p.types)}")
    if len(report.patterns) > SHOWN_PATTERNS:
        lines.append(f"  … {len(report.patterns) - SHOWN_PATTERNS} more patterns (--json lists them all)")
    lines.append("TTL: " + ", ".join(f"{label} {count(n)}" for label, n in report.ttl))
    lines.append("biggest keys: " + ", ".join(f"{b.key} ({b.type}/{b.encoding}, {size(b.bytes)})"
                                              for b in report.biggest))
    lines.append("types: " + ", ".join(f"{t}/{e} {count(n)} keys {size(b)}" for t, e, n, b in report.types))
    return lines


def section(report: KeyspaceReport, policy: str) -> Section:
    facts = asdict(report)
    if report.refused:
        return Section("keyspace", lines=(f"not analysed: {report.refused}",), facts=facts,
                       unknown=f"{report.refused} (refused by the server)")
    return Section("keyspace", findings=tuple(_findings(report, policy)), lines=tuple(lines_of(report)), facts=facts)
