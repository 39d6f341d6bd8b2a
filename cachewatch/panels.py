"""Stable panel ids: the contract between alerts (``Alert.panel = "<uid>/<key>"``) and dashboards.

Grafana's ``viewPanel`` URL parameter takes a panel id (Grafana ≤ 10: ``viewPanel=12``; Grafana ≥ 11
resolves the same number to ``panel-12``), so every panel an alert links to gets a fixed id here, and
``Links.dashboard`` can build ``viewPanel=<id>`` from ``panel_id(uid, key)``. Ids below 100 are reserved
for this table; other panels and rows are numbered from 100 in layout order. Never renumber an entry:
alert URLs already sent out point at these ids.
"""

from __future__ import annotations

PANEL_IDS: dict[str, dict[str, int]] = {
    "cachewatch-fleet": {"up": 1},
    "cachewatch-node": {"up": 1, "latency": 2, "memory": 3, "fragmentation": 4, "evictions": 5, "clients": 6,
                        "persistence": 7, "slowlog": 8, "errors": 9, "hit-ratio": 10},
    "cachewatch-cluster": {"roles": 1, "replication": 2, "slots": 3},
    "cachewatch-exporter": {"up": 1, "duration": 2, "scrapes": 3},
    "cachewatch-security": {"auth": 1, "acl": 2, "config": 3},
    "cachewatch-slo": {"burn-rate": 1},
    "cachewatch-app": {"hit-ratio": 1},
    # checks link to their category's panel ("checks": the default of a row without one); probe alerts to the rest
    "cachewatch-health": {"states": 1, "checks": 2, "probe": 3, "phases": 4, "delay": 5, "performance": 6,
                          "memory": 7, "network": 8, "replication": 9, "persistence": 10, "configuration": 11,
                          "security": 12},
}
FIRST_FREE_ID = 100


def panel_id(uid: str, key: str) -> int:
    """The numeric panel id for an alert's ``"<uid>/<key>"``; KeyError names what is missing."""
    try:
        return PANEL_IDS[uid][key]
    except KeyError:
        raise KeyError(f"no panel {key!r} on dashboard {uid!r}; see cachewatch/panels.py") from None


def resolve(panel: str) -> tuple[str, int]:
    """``"cachewatch-node/memory"`` → ``("cachewatch-node", 3)``."""
    uid, _, key = panel.partition("/")
    return uid, panel_id(uid, key)
