"""Configuration checks: settings that are wrong for a cache, or that blind the diagnostics."""

from __future__ import annotations

from functools import partial

from cachewatch.checks.measures import flag
from cachewatch.checks.model import AlertAs, Category, Check, FromMetrics, Severity, Thresholds, Tier

CONFIGURATION, CHEAP = Category.CONFIGURATION, Tier.CHEAP
PANEL = "cachewatch-health/configuration"

row = partial(Check, category=CONFIGURATION, tier=CHEAP, panel=PANEL)  # the fields every row here shares

CHECKS: tuple[Check, ...] = (
    row(id="cfg.eviction_policy", unit="bool", thresholds=Thresholds(warning=1),
        measure=lambda s, p: flag(s.info.get("maxmemory_policy") == "noeviction"), kinds=("cache",),
        title="A cache does not evict", trigger="maxmemory-policy noeviction on a cache",
        why="When memory is full, writes fail instead of old keys making room.",
        fix="CONFIG SET maxmemory-policy allkeys-lru (or allkeys-lfu).",
        metrics=FromMetrics(expr='redis_instance_info{node:maxmemory_policy="noeviction"}',
                            panel="cachewatch-security/config", labels={"maxmemory_policy": "noeviction"},
                            fire={'redis_instance_info{maxmemory_policy="noeviction"}': 1}, fire_value=1,
                            quiet={'redis_instance_info{maxmemory_policy="allkeys-lru"}': 1},
                            description="{{ $labels.instance }} uses maxmemory-policy noeviction: writes fail when "
                                        "memory is full.",
                            alerts={Severity.WARNING: AlertAs(name="RedisNoEvictionPolicy", for_="30m")})),
    row(id="cfg.latency_monitor_off", unit="bool", thresholds=Thresholds(info=1),
        measure=lambda s, p: flag(s.config.get("latency-monitor-threshold", "0") == "0"), needs=frozenset({"config"}),
        title="The latency monitor is off", trigger="latency-monitor-threshold is 0 (the default)",
        why="LATENCY DOCTOR and perf.latency_spikes see nothing.", fix="CONFIG SET latency-monitor-threshold 100"),
    row(id="cfg.slowlog_off", unit="bool", thresholds=Thresholds(warning=1),
        measure=lambda s, p: flag(s.config.get("slowlog-log-slower-than", "10000").startswith("-")
                or s.config.get("slowlog-max-len") == "0"),
        needs=frozenset({"config"}), title="The slow log is off",
        trigger="slowlog-log-slower-than < 0 or slowlog-max-len 0",
        why="Slow commands leave no trace: perf.slow_commands is blind.",
        fix="CONFIG SET slowlog-log-slower-than 10000; CONFIG SET slowlog-max-len 128"),
    row(id="cfg.tcp_keepalive_off", unit="bool", thresholds=Thresholds(warning=1),
        measure=lambda s, p: flag(s.config.get("tcp-keepalive") == "0"), needs=frozenset({"config"}),
        title="Dead clients are never detected", trigger="tcp-keepalive 0",
        why="Connections of crashed clients hold slots towards maxclients forever.",
        fix="CONFIG SET tcp-keepalive 300"),
)
