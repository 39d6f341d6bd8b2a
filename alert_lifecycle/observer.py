"""What the lifecycle reports as it happens, for metrics (metrics.py) or anything else that listens.

The writers collect these calls during a transaction and make them after it commits, so a retried or rolled
back transaction never counts twice.
"""

from __future__ import annotations

from typing import Any, Protocol

Row = dict[str, Any]


class Observer(Protocol):
    def episode_opened(self, episode: Row, flapping: bool) -> None: ...
    def notified(self, episode: Row) -> None: ...
    def acked(self, episode: Row, seconds: float | None) -> None: ...
    def resolved(self, episode: Row, seconds: float, inferred: bool) -> None: ...
    def closed(self, episode: Row, seconds: float, classification: str) -> None: ...
    def escalated(self, episode: Row) -> None: ...
    def ingested(self, source: str, result: str, count: int = 1) -> None: ...
    def alertmanager_error(self, operation: str) -> None: ...
    def reconciled(self, at: float) -> None: ...


class NullObserver:
    """Listens to nothing (the CLI, tests that do not look at metrics)."""

    def __getattr__(self, _name: str):
        return lambda *args, **kwargs: None


class Effects:
    """Observer calls held until the transaction that caused them commits."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str):
        return lambda *args: self.calls.append((name, args))

    def flush(self, observer: Observer) -> None:
        for name, args in self.calls:
            getattr(observer, name)(*args)
        self.calls.clear()
