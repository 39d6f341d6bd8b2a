"""Families written by the generated recording rules (alert_rules/): SLIs, SLO burn rates, business figures.

Their names follow the ``level:metric:operations`` recording-rule convention; grep a name to find the rule.
"""

from __future__ import annotations

from cachewatch.catalog.model import Family, MetricType, Source

G = MetricType.GAUGE
NODE = ("region", "cluster", "shard", "role", "team", "instance")


def _rec(name: str, help_: str, labels: tuple[str, ...], unit: str = "", group: str = "recording") -> Family:
    return Family(name=name, type=G, help=help_, labels=labels, unit=unit, source=Source.RECORDING, group=group)


RECORDING_FAMILIES: tuple[Family, ...] = (
    _rec("redis:memory_used:ratio", "used_memory / maxmemory per node; absent where maxmemory is 0.", NODE),
    _rec("redis:connections:ratio", "connected_clients / maxclients per node.", NODE),
    _rec("redis:keyspace_hit:ratio_rate5m", "Server-side hit ratio over 5m per node; absent without reads.", NODE),
    _rec("redis:commands:rate5m", "Commands per second over 5m per node.", NODE),
)
