"""Shared fixtures: real redis-server topologies started once per session on free ports; the ``e2e`` marker."""

from __future__ import annotations

from pathlib import Path

import pytest

from cachewatch.local_redis import (
    MONITOR_ACL,
    RedisCluster,
    RedisServer,
    TlsFiles,
    make_tls_files,
    start_cluster,
    start_redis,
    start_replica,
)

E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e/ (Prometheus, Alertmanager, the peer exporter, wheel builds) is ``e2e``:
    ``scripts/test.sh --fast`` leaves them out with ``-m "not e2e"``."""
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def redis_primary() -> RedisServer:
    """A standalone primary with a least-privilege ``monitor`` user and some data and traffic."""
    server = start_redis(acl_users={"monitor": MONITOR_ACL})
    server.cli("SET", "cw:test:a", "1")
    server.cli("EXPIRE", "cw:test:a", "1000")
    server.cli("GET", "cw:test:a")
    server.cli("GET", "cw:test:missing")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_replica(redis_primary: RedisServer) -> RedisServer:
    replica = start_replica(redis_primary)
    yield replica
    replica.stop()


@pytest.fixture(scope="session")
def redis_app() -> RedisServer:
    """A plain standalone server for client-library tests, apart from the exporter's (their traffic stays out of
    the exporter's counters and vice versa)."""
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> RedisCluster:
    cluster = start_cluster(3)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def redis_tls(tls_files: TlsFiles) -> RedisServer:
    server = start_redis(tls=tls_files)
    yield server
    server.stop()
