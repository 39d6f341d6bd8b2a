"""The run's exit code: the worst node decides, and a node nobody could judge outranks a degraded one."""

from __future__ import annotations

import pytest

from cachewatch.health.evaluate import NodeHealth
from cachewatch.health.run import exit_code


def nodes(*states: str) -> list[NodeHealth]:
    return [NodeHealth(address=f"n{i}:6379", state=s, checks=(), timestamp=0.0)  # type: ignore[arg-type]
            for i, s in enumerate(states)]


@pytest.mark.parametrize(("states", "code"), [
    (("healthy", "healthy"), 0),
    (("healthy", "degraded"), 1),
    (("degraded", "unknown", "healthy"), 3),
    (("unknown", "unhealthy", "degraded"), 2),
    ((), 3),
])
def test_the_worst_node_decides(states: tuple[str, ...], code: int) -> None:
    assert exit_code(nodes(*states)) == code
