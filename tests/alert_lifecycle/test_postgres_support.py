"""The private PostgreSQL the store tests run on: its own cluster on a free port, a fresh database per test, and
nothing left running or on disk afterwards."""

from __future__ import annotations

from pathlib import Path

import psutil
import psycopg
import pytest
import sqlalchemy as sa

from tests.support.postgres_process import create_database, running_postgres

pytestmark = pytest.mark.e2e


def run(url: str, *statements: str) -> object:
    """Run ``statements`` in one transaction; the first column of the last one's first row, if it returns rows."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            results = [conn.execute(sa.text(statement)) for statement in statements]
            return results[-1].scalar() if results[-1].returns_rows else None
    finally:
        engine.dispose()


def postmaster(port: int) -> psutil.Process:
    """The server process listening on ``port`` (its command line carries ``port=<port>``)."""
    found = [proc for proc in psutil.process_iter(["cmdline"])
             if proc.info["cmdline"] and f"port={port}" in proc.info["cmdline"]]
    assert len(found) == 1, found
    return found[0]


def test_a_private_cluster_answers_gives_independent_databases_and_leaves_nothing_behind(tmp_path: Path) -> None:
    with running_postgres(tmp_path) as url:
        port = sa.engine.make_url(url).port
        assert port != 5432, "must never use the machine's own PostgreSQL"
        assert run(url, "select 1") == 1
        server = postmaster(port)
        processes = [server, *server.children(recursive=True)]
        datadir = Path(server.cwd())

        first, second = create_database(url, "first_db"), create_database(url, "second_db")
        assert first.endswith("/first_db") and second.endswith("/second_db")
        run(first, "create table episodes (id text primary key)", "insert into episodes values ('only-in-first')")
        assert run(first, "select count(*) from episodes") == 1
        assert run(second, "select count(*) from pg_tables where tablename = 'episodes'") == 0

    assert not any(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE for proc in processes)
    assert not datadir.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=2)
    assert not [proc for proc in psutil.process_iter(["cwd"]) if _under(proc.info["cwd"], tmp_path)]


def _under(cwd: str | None, directory: Path) -> bool:
    return cwd is not None and Path(cwd).is_relative_to(directory)
