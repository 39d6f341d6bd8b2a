"""The ``health`` and ``config`` probe modules: the snapshot's pipeline on the probe's own connection, the check
table evaluated on it, and the result as samples.

- ``redis_health_state{state}``: one series per state, 1 for the node's (over the module's checks only: the
  ``config`` module's state is that of its configuration and security checks).
- ``redis_health_check_status{check,category,severity}``: for each check that was decided (pass, info, warning,
  critical), one series per level the check has (its thresholds after the spec's overrides), 1 for the level
  it reached and 0 for the others, so a resolved check reads 0 at once. Checks that are ``skip`` (another role,
  policy or kind; a rate without a previous sample) or ``unknown`` (a refused command) publish nothing: no
  claim is made about them, and ``redis_health_state{state="unknown"}`` says when nothing could be decided.

Rate checks need the previous snapshot of the same node; ``SnapshotMemory`` keeps the last one per node for
the prober's lifetime (Prometheus drives the cadence, so the exporter keeps no other state).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from cachewatch.checks import CHECKS, Category, Check, Snapshot
from cachewatch.health.evaluate import CheckResult, State, evaluate_check, levels, node_state
from cachewatch.health.probe_samples import CHECK_STATUS, STATE, Sample, one_hot
from cachewatch.health.probe_wire import Wire
from cachewatch.health.replies import COMMANDS, build_snapshot
from cachewatch.spec import CheckLevels

STATES: tuple[State, ...] = ("healthy", "degraded", "unhealthy", "unknown")
LEVELS = ("info", "warning", "critical")
# module → which checks it evaluates
SELECTIONS: Mapping[str, Callable[[Check], bool]] = {
    "health": lambda check: True,
    "config": lambda check: check.category in (Category.CONFIGURATION, Category.SECURITY),
}


class SnapshotMemory:
    """The last snapshot per node (bounded, least recently used dropped), for the rate checks. A snapshot
    younger than ``min_gap`` (two Prometheus replicas probing at once) or older than ``max_age`` is not used."""

    def __init__(self, capacity: int = 4096, min_gap: float = 1.0, max_age: float = 600.0) -> None:
        self.capacity, self.min_gap, self.max_age = capacity, min_gap, max_age
        self._last: OrderedDict[str, Snapshot] = OrderedDict()

    def swap(self, node: str, snap: Snapshot) -> Snapshot | None:
        """Remember ``snap`` for ``node``; return the previous one when it is usable for a rate."""
        previous = self._last.pop(node, None)
        self._last[node] = snap
        while len(self._last) > self.capacity:
            self._last.popitem(last=False)
        if previous is None or not self.min_gap <= snap.taken - previous.taken <= self.max_age:
            return None
        return previous


async def read_snapshot(wire: Wire, kind: str) -> Snapshot:
    """The same commands as ``take_snapshot``, in one round trip on the probe's connection."""
    replies = await wire.pipeline([command for _, command in COMMANDS])
    return build_snapshot(replies, kind=kind, taken=time.time())


def evaluate_module(module: str, snap: Snapshot, previous: Snapshot | None,
                    overrides: Mapping[str, CheckLevels]) -> list[Sample]:
    """The module's checks on the snapshot → state and per-check samples."""
    chosen = [check for check in CHECKS.values() if SELECTIONS[module](check)]
    results: list[tuple[Check, CheckResult, tuple[str, ...]]] = []
    for check in chosen:
        thresholds = levels(check, overrides.get(check.id))
        has = tuple(level for level in LEVELS if getattr(thresholds, level) is not None)
        results.append((check, evaluate_check(check, snap, previous, thresholds), has))
    out = one_hot(STATE, "state", STATES, node_state(tuple(result for _, result, _ in results)))
    for check, result, has in results:
        if result.status in LEVELS or result.status == "pass":
            out += one_hot(CHECK_STATUS, "severity", has, result.status, check=check.id,
                           category=check.category.value)
    return out


def unreachable_state() -> list[Sample]:
    """A node the probe could not read is unhealthy, as ``cachewatch health`` reports it; its check series are
    left out (they go stale), and ``redis_probe_success 0`` with the failed phase says why."""
    return one_hot(STATE, "state", STATES, "unhealthy")
