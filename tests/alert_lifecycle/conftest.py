"""Stores for the lifecycle tests: every store test runs on SQLite and on a private PostgreSQL cluster."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from cachewatch.alert_lifecycle.store.engine import Store, open_store
from tests.support.postgres_process import create_database, running_postgres

_names = itertools.count()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_postgres(tmp_path_factory.mktemp("postgres")) as url:
        yield url


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, postgres_server: str) -> str:
    return create_database(postgres_server, f"t{next(_names)}_{abs(hash(request.node.nodeid)) % 10**8}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    """One empty, migrated store of each kind: both must pass the same tests."""
    url = str(tmp_path / "alerts.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    opened = open_store(url)
    try:
        yield opened
    finally:
        opened.close()
