"""cachewatch.health: is each Redis node healthy, and if not, what is wrong and what to do.

snapshot (one pipelined round trip per node, one deadline) → evaluate (pure: every row of the check table in
cachewatch.checks) → report (a table, or JSON). ``cachewatch health`` runs it over a spec's nodes or ``--target``
URLs, concurrently, once or every ``--watch`` period (run.py). Use ``cachewatch.health.evaluate.evaluate``: the
package does not re-export it, so that ``cachewatch.health.evaluate`` stays the module.
"""

from cachewatch.health.evaluate import CheckResult, NodeHealth, unreachable
from cachewatch.health.snapshot import NodeUnreachable, take_snapshot

__all__ = ["CheckResult", "NodeHealth", "NodeUnreachable", "take_snapshot", "unreachable"]
