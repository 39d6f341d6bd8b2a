"""Stores for the lifecycle tests (every store test runs on SQLite and on a private PostgreSQL cluster), and
Alertmanager clusters of two with a route to nowhere (the tests read alerts and silences through the API)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from cachewatch.alert_lifecycle.store.engine import Store, open_store
from tests.support.alertmanager_process import AlertmanagerCluster, running_alertmanager_cluster
from tests.support.postgres_process import create_database, running_postgres

_names = itertools.count()
NULL_ROUTE = "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n"


def _null_cluster(tmp: Path) -> Iterator[AlertmanagerCluster]:
    (tmp / "alertmanager.yml").write_text(NULL_ROUTE)
    with running_alertmanager_cluster(tmp / "alertmanager.yml", tmp, size=2) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertmanagerCluster]:
    """Shared by the tests of a module that keep both members up; each test uses its own alert names."""
    yield from _null_cluster(tmp_path_factory.mktemp("am-cluster"))


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[AlertmanagerCluster]:
    """A cluster of its own, for a test that stops or restarts members."""
    yield from _null_cluster(tmp_path)


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
