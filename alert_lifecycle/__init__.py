"""cachewatch.alert_lifecycle: episodes, acks as leased silences, escalation, history and analytics on top of
Alertmanager (``cachewatch alerts serve``; docs/alert-lifecycle.md).

``CacheAlertingSystem`` is imported lazily: ``cachewatch generate`` imports this package's contribution and must
not pay for the service's database and HTTP libraries.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CacheAlertingSystem"]


def __getattr__(name: str) -> Any:
    if name == "CacheAlertingSystem":
        from cachewatch.alert_lifecycle.facade import CacheAlertingSystem

        return CacheAlertingSystem
    raise AttributeError(name)
