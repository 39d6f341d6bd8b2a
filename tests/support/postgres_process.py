"""A private PostgreSQL cluster (Debian's ``postgresql`` package) on a free port, for tests of the PostgreSQL store.

Never the machine's own instance on 5432: each use runs ``initdb`` into a fresh directory and starts its own
``postgres``, tuned for throw-away data (no fsync), and stops it and removes the directory afterwards.
``create_database`` then gives each test an empty database of that cluster in tens of milliseconds.

initdb and postgres refuse to run as root, so under root they run as the ``postgres`` system user. That user
must reach the data directory, and pytest's tmp_path lies under ``/tmp/pytest-of-root`` (0700, and pytest
resets its mode whenever another session starts), so the data directory is a private 0700 directory of its own
in the system temp dir, removed on exit; the server log stays in ``tmp``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from cachewatch.local_redis import free_port

INSTALL_HINT = "apt-get install -y postgresql"
SERVER_USER = "postgres"
START_TIMEOUT = 30.0
# Throw-away data: durability off, loopback only, no stray socket in /var/run/postgresql.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                 "listen_addresses": "127.0.0.1", "shared_buffers": "32MB", "max_connections": "100"}
HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\n"


def postgres_bindir() -> Path:
    """The directory holding initdb, postgres and pg_ctl: PATH first, then /usr/lib/postgresql/<v>/bin, newest
    version first."""
    candidates = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(p) for p in sorted(versioned, key=_version, reverse=True)]
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "postgres", "pg_ctl")):
            return bindir
    pytest.fail(f"PostgreSQL server binaries (initdb, postgres, pg_ctl) not found; install them with: {INSTALL_HINT}")


def _version(bindir: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", Path(bindir).parent.name))


def _as_server_user() -> dict:
    """Popen arguments that drop root to the postgres user (nothing to drop when not root)."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        pytest.fail(f"no '{SERVER_USER}' system user to run PostgreSQL as (root is refused); {INSTALL_HINT}")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _server_env() -> dict[str, str]:
    """The environment without PG* variables, which would point tools at another server."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


@contextlib.contextmanager
def running_postgres(tmp: Path) -> Iterator[str]:
    """A private PostgreSQL cluster on a free loopback port; yields the SQLAlchemy URL of its ``postgres``
    database once it accepts connections, and always stops it and removes its data directory."""
    bindir = postgres_bindir()
    drop = _as_server_user()
    port = free_port()
    datadir = Path(tempfile.mkdtemp(prefix="cachewatch-pg-"))
    log_path = tmp / "postgres.log"
    proc: subprocess.Popen | None = None
    try:
        if drop:
            os.chown(datadir, drop["user"], drop["group"])
        with log_path.open("w") as log:
            initdb = subprocess.run(
                [bindir / "initdb", "-D", datadir, "-U", SERVER_USER, "-A", "trust", "-E", "UTF8", "--no-locale",
                 "--no-sync", "--no-instructions"],
                stdout=log, stderr=subprocess.STDOUT, env=_server_env(), cwd=datadir, check=False, **drop)
            if initdb.returncode != 0:
                pytest.fail(f"initdb failed:\n{log_path.read_text()}")
            (datadir / "pg_hba.conf").write_text(HBA)
            settings = {**FAST_SETTINGS, "port": str(port), "unix_socket_directories": str(datadir)}
            options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
            proc = subprocess.Popen([bindir / "postgres", "-D", datadir, *options], stdout=log,
                                    stderr=subprocess.STDOUT, env=_server_env(), cwd=datadir, **drop)
        _wait_until_accepting(port, proc, log_path)
        yield f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{port}/postgres"
    finally:
        if proc is not None:
            _stop(bindir, datadir, proc, drop)
        shutil.rmtree(datadir, ignore_errors=True)


def _wait_until_accepting(port: int, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            psycopg.connect(host="127.0.0.1", port=port, user=SERVER_USER, dbname="postgres",
                            connect_timeout=1).close()
            return
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"postgres did not accept connections on port {port}:\n{log_path.read_text()}")
            time.sleep(0.05)


def _stop(bindir: Path, datadir: Path, proc: subprocess.Popen, drop: dict) -> None:
    """``pg_ctl stop -m immediate``; if that fails, the same by signal (SIGQUIT), then SIGKILL."""
    if proc.poll() is None:
        subprocess.run([bindir / "pg_ctl", "stop", "-D", datadir, "-m", "immediate", "-w", "-t", "10"],
                       capture_output=True, env=_server_env(), cwd=datadir, check=False, **drop)
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        if proc.poll() is not None:
            break
        proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
    proc.wait(timeout=10)


def create_database(url: str, name: str) -> str:
    """Create the empty database ``name`` in the cluster of ``url``; returns its SQLAlchemy URL."""
    server = make_url(url)
    with psycopg.connect(host=server.host, port=server.port, user=server.username, password=server.password,
                         dbname=server.database, autocommit=True) as conn:
        # FILE_COPY (PostgreSQL 15+) copies template0's files: with fsync off, several times faster than WAL_LOG.
        strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0" + strategy).format(sql.Identifier(name)))
    return server.set(database=name).render_as_string(hide_password=False)
