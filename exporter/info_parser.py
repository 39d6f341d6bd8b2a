"""INFO text → plain dictionaries. Pure, total (never raises), one pass over the lines."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Words redis_exporter maps to numbers (ok/true → 1, err/fail/false → 0).
_WORD_VALUES = {"ok": 1.0, "true": 1.0, "up": 1.0, "err": 0.0, "fail": 0.0, "false": 0.0, "down": 0.0}

# Section name (lower case) → the per-item table its lines go to, with the key prefix to strip.
_ITEM_SECTIONS = {
    "commandstats": ("commandstats", "cmdstat_"),
    "latencystats": ("latencystats", "latency_percentiles_usec_"),
    "errorstats": ("errorstats", "errorstat_"),
    "keyspace": ("keyspace", ""),
}


@dataclass(slots=True)
class Info:
    fields: dict[str, str] = field(default_factory=dict)
    commandstats: dict[str, str] = field(default_factory=dict)
    latencystats: dict[str, str] = field(default_factory=dict)
    errorstats: dict[str, str] = field(default_factory=dict)
    keyspace: dict[str, str] = field(default_factory=dict)
    slaves: list[str] = field(default_factory=list)


def to_number(text: str) -> float | None:
    """INFO value → float, or None when it is not numeric (and not a known word)."""
    try:
        value = float(text)
    except ValueError:
        return _WORD_VALUES.get(text.strip().lower())
    return value if not math.isnan(value) else None


def parse_info(text: str) -> Info:
    """Split INFO into sections; plain sections fill ``fields``, per-item sections their own tables."""
    info = Info()
    fields = info.fields
    table: dict[str, str] | None = None
    strip = 0
    for line in text.replace("\r", "").split("\n"):
        if not line:
            continue
        if line[0] == "#":
            target = _ITEM_SECTIONS.get(line[1:].strip().lower())
            if target is None:
                table = None
            else:
                table, strip = getattr(info, target[0]), len(target[1])
            continue
        key, colon, value = line.partition(":")
        if not colon or not key:
            continue
        if table is not None:
            table[key[strip:]] = value
        elif key[0] == "s" and key.startswith("slave") and key[5:].isdigit():
            info.slaves.append(value)
        else:
            fields[key] = value
    return info
