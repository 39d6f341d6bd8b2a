"""The health-check table: every check cachewatch makes, the metric catalog's twin.

One row per check (``Check``): id, category, cost tier, thresholds, unit, trigger, why, fix, panel, and the
pure ``measure`` over a ``Snapshot``. The health part evaluates it every 30 s and on demand; the docs
(docs/checks.md) and the health dashboard are generated from it. Find a check by grepping its id here.
"""

from __future__ import annotations

from collections.abc import Mapping

from cachewatch.checks import configuration, memory, network, performance, persistence, replication, security
from cachewatch.checks.model import AlertAs, Category, Check, FromMetrics, Severity, Snapshot, Thresholds, Tier, index

CHECKS: Mapping[str, Check] = index((*memory.CHECKS, *replication.CHECKS, *network.CHECKS, *performance.CHECKS,
                                     *persistence.CHECKS, *configuration.CHECKS, *security.CHECKS))
# What a snapshot asks CONFIG GET for: every parameter a check reads.
CONFIG_KEYS = ("save", "appendonly", "stop-writes-on-bgsave-error", "latency-monitor-threshold",
               "slowlog-log-slower-than", "slowlog-max-len", "tcp-keepalive", "protected-mode", "bind",
               "enable-debug-command", "enable-module-command", "maxmemory", "maxmemory-policy", "repl-backlog-size")

__all__ = ["CHECKS", "CONFIG_KEYS", "AlertAs", "Category", "Check", "FromMetrics", "Severity", "Snapshot", "Thresholds",
           "Tier"]
