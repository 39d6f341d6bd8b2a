"""Open the store: SQLite (the embedded default, WAL) or PostgreSQL (several replicas, shared history).

Both get the same schema through the same Alembic migrations, run on open. PostgreSQL replicas starting together
take an advisory lock around the migration so only one runs it. SQLite has one writer at a time: writes take a
process lock and ``BEGIN IMMEDIATE``, so a read that turns into a write never fails with "database is locked".
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x63616368  # "cach": the advisory lock id replicas take around migrations
DEFAULT_SQLITE = "cachewatch-alerts.db"


class StoreError(RuntimeError):
    """The database cannot be used; the message never contains a password."""


def database_url(given: str | None) -> sa.URL:
    """``postgresql://…``, ``sqlite:///path`` or a plain file path → a SQLAlchemy URL with the driver we use."""
    text = given or DEFAULT_SQLITE
    if "://" not in text:
        return sa.URL.create("sqlite", database=str(Path(text)))
    url = sa.make_url(text)
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("", "psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"database {url.render_as_string(hide_password=True)}: only sqlite and postgresql are "
                         "supported")
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (BEGIN IMMEDIATE for writes)
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=10000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


class Store:
    """The engine plus how to open a read or a write transaction on it."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._write_lock = threading.Lock() if self.sqlite else contextlib.nullcontext()

    @property
    def redacted_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextlib.contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            if self.sqlite:
                conn.exec_driver_sql("BEGIN")
            try:
                yield conn
            finally:
                conn.rollback()

    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """One transaction, committed when the block ends without an exception."""
        with self._write_lock, self.engine.connect() as conn:
            if self.sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def close(self) -> None:
        self.engine.dispose()


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest migration (idempotent; safe with several replicas on PostgreSQL)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def schema_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def open_store(url: str | None = None) -> Store:
    """Connect, migrate, and return the store. Errors name the database without its password."""
    parsed = database_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = sa.create_engine(parsed, connect_args={"check_same_thread": False})
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = sa.create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=10)
        migrate(engine)
    except sa.exc.SQLAlchemyError as exc:
        reason = str(exc.orig if getattr(exc, "orig", None) else exc).splitlines()[0]
        raise StoreError(f"database {parsed.render_as_string(hide_password=True)}: {reason}") from None
    return Store(engine)
