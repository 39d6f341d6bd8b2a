"""Replies other than INFO → plain Python values. Pure and total: bad input gives empty results.

Replies arrive from hiredis already decoded (str, int, list, or an error object);
a hostile server can send any shape, so every parser checks types instead of trusting them.
"""

from __future__ import annotations

from dataclasses import dataclass

from cachewatch.exporter.info_parser import to_number


def _num(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return to_number(value)
    return None


def latency_latest(reply: object) -> list[tuple[str, float, float]]:
    """LATENCY LATEST → [(event, unix_ts, latest_ms)]."""
    out = []
    if isinstance(reply, list):
        for row in reply:
            if isinstance(row, list) and len(row) >= 3 and isinstance(row[0], str):
                ts, latest = _num(row[1]), _num(row[2])
                if ts is not None and latest is not None:
                    out.append((row[0], ts, latest))
    return out


def latency_histogram(reply: object) -> dict[str, tuple[float, list[tuple[float, float]]]]:
    """LATENCY HISTOGRAM → {cmd: (calls, [(bucket_upper_usec, cumulative_count), ...])}, numbers as sent (int)."""
    out: dict[str, tuple[float, list[tuple[float, float]]]] = {}
    if not isinstance(reply, list):
        return out
    for i in range(0, len(reply) - 1, 2):
        cmd, body = reply[i], reply[i + 1]
        if not isinstance(cmd, str) or not isinstance(body, list):
            continue
        attrs = {body[j]: body[j + 1] for j in range(0, len(body) - 1, 2) if isinstance(body[j], str)}
        calls, raw = _num(attrs.get("calls")), attrs.get("histogram_usec")
        if calls is None or not isinstance(raw, list):
            continue
        buckets = []
        for j in range(0, len(raw) - 1, 2):
            le, count = raw[j], raw[j + 1]
            if type(le) is not int or type(count) is not int:  # Redis sends integers; anything else is checked
                le, count = _num(le), _num(count)
                if le is None or count is None:
                    continue
            buckets.append((le, count))
        buckets.sort()
        out[cmd] = (calls, buckets)
    return out


def slowlog(length_reply: object, get_reply: object) -> tuple[float, float, float] | None:
    """SLOWLOG LEN + SLOWLOG GET 1 → (length, last_id, last_duration_seconds); 0s when empty."""
    length = _num(length_reply)
    if length is None:
        return None
    last_id = duration = 0.0
    if isinstance(get_reply, list) and get_reply and isinstance(get_reply[0], list) and len(get_reply[0]) >= 3:
        entry = get_reply[0]
        last_id = _num(entry[0]) or 0.0
        duration = (_num(entry[2]) or 0.0) / 1e6
    return length, last_id, duration


def config_pairs(reply: object) -> dict[str, str]:
    """CONFIG GET a b c → {"a": "...", ...}."""
    if not isinstance(reply, list):
        return {}
    return {
        reply[i]: reply[i + 1]
        for i in range(0, len(reply) - 1, 2)
        if isinstance(reply[i], str) and isinstance(reply[i + 1], str)
    }


def acl_log(reply: object) -> list[dict[str, object]]:
    """ACL LOG → list of entries as dicts (field names as Redis sends them)."""
    out = []
    if isinstance(reply, list):
        for entry in reply:
            if isinstance(entry, list):
                out.append({entry[i]: entry[i + 1] for i in range(0, len(entry) - 1, 2) if isinstance(entry[i], str)})
    return out


@dataclass(frozen=True, slots=True)
class ClusterNode:
    node_id: str
    host: str
    port: int
    hostname: str
    flags: frozenset[str]
    master_id: str
    link_state: str
    slots: int

    @property
    def is_primary(self) -> bool:
        return "master" in self.flags

    @property
    def healthy(self) -> bool:
        return self.link_state == "connected" and not self.flags & {"fail", "fail?", "noaddr", "handshake"}


def _slot_count(ranges: list[str]) -> int:
    total = 0
    for spec in ranges:
        if spec.startswith("["):  # importing/migrating marker, not an owned slot
            continue
        lo, _, hi = spec.partition("-")
        if lo.isdigit() and (not hi or hi.isdigit()):
            total += (int(hi) - int(lo) + 1) if hi else 1
    return total


def cluster_nodes(text: object) -> list[ClusterNode]:
    """CLUSTER NODES → nodes; lines that do not parse are skipped."""
    nodes = []
    if not isinstance(text, str):
        return nodes
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        address = parts[1]  # ip:port@cport[,hostname]
        addr, _, hostname = address.partition(",")
        hostport = addr.split("@", 1)[0]
        host, _, port = hostport.rpartition(":")
        if not port.isdigit() or not host:
            continue
        nodes.append(
            ClusterNode(
                node_id=parts[0],
                host=host.strip("[]"),
                port=int(port),
                hostname=hostname,
                flags=frozenset(parts[2].split(",")),
                master_id="" if parts[3] == "-" else parts[3],
                link_state=parts[7],
                slots=_slot_count(parts[8:]),
            )
        )
    return nodes
