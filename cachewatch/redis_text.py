"""Redis's own text formats that several parts read: the ``a=1,b=2`` values of INFO lines (keyspace, replicas,
commandstats, errorstats). The exporter and the health checks parse them with this one function."""

from __future__ import annotations


def parse_pairs(text: str, sep: str = ",") -> dict[str, str]:
    """``a=1,b=2`` → ``{"a": "1", "b": "2"}``; malformed parts are skipped."""
    out: dict[str, str] = {}
    for part in text.split(sep):
        key, eq, value = part.partition("=")
        if eq:
            out[key.strip()] = value.strip()
    return out
