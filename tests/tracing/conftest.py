"""Fixtures of the cache-layer tests (sync and asyncio alike): a span recorder, a registry, a key prefix."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import CollectorRegistry

from tests.support.cache_layers import Tracing


@pytest.fixture
def tracing() -> Tracing:
    return Tracing()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """Keys no other test touches (the tests share one redis-server)."""
    return f"cwtest:{request.module.__name__.rsplit('.', 1)[-1]}:{request.node.name}:{uuid.uuid4().hex[:8]}:"
