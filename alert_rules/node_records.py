"""Per-node recording rules: the ratios and rates that dashboards (and people at the console) read most.

Decisions:
- One series per node with every label of the node kept (job, instance, region, cluster, shard, role, team and
  any free-form label of the spec): a record is a drop-in for the expression it stores, so ``max by (cluster)``
  or ``{instance="…"}`` work on it exactly as on the raw series.
- Ratios guard their denominator: no series (not NaN or +Inf) where maxmemory or maxclients is 0 (no limit) or
  a node had no reads in the window.
- Rates use a fixed 5m window, the recording-rule convention (``…:rate5m``); zoomable panels that follow
  ``$__rate_interval`` keep their own query.
- maxclients is INFO's ``maxclients`` (``redis_max_clients``), read on every scrape, as the node dashboard
  always did; ``redis_config_maxclients`` (CONFIG GET, cached by the exporter) carries the same value.
"""

from __future__ import annotations

from cachewatch import promql
from cachewatch.promql import REDIS, selector
from cachewatch.rulefmt import Record, RuleGroup
from cachewatch.spec.model import FleetSpec

MEMORY_USED = "redis:memory_used:ratio"
CONNECTIONS = "redis:connections:ratio"
HIT_RATIO = "redis:keyspace_hit:ratio_rate5m"
COMMANDS = "redis:commands:rate5m"
WINDOW = "5m"


def _rate(name: str) -> str:
    return promql.rate(selector(name, REDIS), WINDOW)


def records() -> list[Record]:
    """The node records, in one table: record name → the expression it stores."""
    hits, misses = _rate("redis_keyspace_hits_total"), _rate("redis_keyspace_misses_total")
    return [
        Record(MEMORY_USED, promql.ratio(selector("redis_memory_used_bytes", REDIS),
                                         selector("redis_memory_max_bytes", REDIS))),
        Record(CONNECTIONS, promql.ratio(selector("redis_connected_clients", REDIS),
                                         selector("redis_max_clients", REDIS))),
        Record(HIT_RATIO, promql.ratio(hits, f"{hits} + {misses}")),
        Record(COMMANDS, _rate("redis_commands_processed_total")),
    ]


def groups(spec: FleetSpec) -> list[RuleGroup]:
    """One group whatever the spec: every node gets the same records (``spec`` is every rule source's signature)."""
    return [RuleGroup(name="redis-records", file="records.yml", rules=tuple(records()))]
