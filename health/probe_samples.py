"""What a probe returns: plain (family, labels, value) samples, so that the exporter can render them without
importing the health part (and the health part never imports the exporter). Family names are the catalog's
(cachewatch/catalog/exporter_families.py, group "probe")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

SUCCESS = "redis_probe_success"
DURATION = "redis_probe_duration_seconds"
STATE = "redis_health_state"
CHECK_STATUS = "redis_health_check_status"
DELAY = "redis_replication_probe_delay_seconds"
REPLICA_SUCCESS = "redis_replication_probe_success"


class Sample(NamedTuple):
    family: str
    labels: Mapping[str, str]
    value: float


def one_hot(family: str, label: str, values: tuple[str, ...], current: str, **fixed: str) -> list[Sample]:
    """One series per value of ``label``, 1 for ``current`` and 0 for the others: a value that stops being
    current reads 0 at once, instead of going stale."""
    return [Sample(family, {**fixed, label: value}, 1.0 if value == current else 0.0) for value in values]
