"""Fixtures for the health tests: own redis-servers (faults never touch the session's shared servers) and probes,
all stopped and closed after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from cachewatch.local_redis import RedisServer, start_redis
from tests.health.probe import Probe


@pytest.fixture
def servers() -> Iterator[Callable[..., RedisServer]]:
    """``servers(*args, **kwargs)`` starts a redis-server (start_redis's arguments); all are stopped after."""
    started: list[RedisServer] = []

    def start(*args: str, **kwargs: object) -> RedisServer:
        server = start_redis(*args, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def probe() -> Iterator[Callable[..., Probe]]:
    """``probe(server_or_port, user=..., password=..., kind=..., timeout=...)``; every probe is closed after."""
    made: list[Probe] = []

    def make(server: RedisServer | int, **kwargs: object) -> Probe:
        made.append(Probe(server, **kwargs))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for p in made:
        p.close()
