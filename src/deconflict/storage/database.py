"""Opening the database: SQLite (the embedded default) or PostgreSQL, one code path.

SQLite runs in WAL mode with ``synchronous=FULL``: in WAL mode, ``NORMAL`` can lose the
last transactions on power loss, and a 2xx from this service promises durability.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from deconflict.storage.tables import POSTGRESQL_ONLY

MIGRATIONS = Path(__file__).parent / "migrations"
"""Alembic's script directory, shipped inside the package so an installed service can migrate."""

MIGRATION_LOCK = 0x6465_636F_6E66
"""The PostgreSQL advisory lock key held while migrating ("deconf" in ASCII): one per database."""


def open_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide when transactions begin (so BEGIN is explicit).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


SQLITE_BUSY_TIMEOUT_MS = 30_000


def _switch_to_wal(cursor: Any) -> None:
    """Put the database in WAL mode, waiting out another connection doing the same.

    Two processes opening a brand-new file at once both try to switch it, and SQLite answers
    the loser "database is locked" at once, without consulting the busy timeout. The mode is
    persistent, so once any connection has switched, the others find it done; until then
    they retry for as long as any other lock would be waited for.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_begin(connection: sa.Connection) -> None:
    # The single writer takes SQLite's write lock at once, so that a second process cannot
    # slip a write between our reading the log's last number and appending after it.
    writer = connection.get_execution_options().get("deconflict_writer", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def create_schema(engine: Engine) -> None:
    """Bring the database to the newest migration; every process runs this at start.

    An up-to-date database costs one read of ``alembic_version``, without any lock, because
    every ``Deconflict`` start comes here. Otherwise the upgrade runs in one transaction that
    first takes the migration lock (an advisory lock on PostgreSQL, SQLite's write lock via
    ``BEGIN IMMEDIATE``), so that of two processes starting at once one migrates and the other
    waits, then finds nothing left to do. A database made by ``create_all`` before migrations
    existed has tables but no ``alembic_version``: revision 0001 adopts it (see its docstring).
    """
    with engine.connect() as conn, conn.begin():
        if _current_revision(conn) == _head_revision():
            return
    with engine.connect() as conn:
        conn = conn.execution_options(deconflict_writer=True)  # BEGIN IMMEDIATE on SQLite
        with conn.begin():
            if not is_sqlite(engine):
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            if _current_revision(conn) == _head_revision():
                return  # another process migrated while we waited for the lock
            config = _alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


NOT_OURS = frozenset({"spatial_ref_sys"})
"""Tables that share the database but belong to others (PostGIS's, in ``public``)."""


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    """Alembic's filter: compare only our tables, so a drafted revision never drops PostGIS's."""
    return not (type_ == "table" and name in NOT_OURS)


ObjectFilter = Callable[[Any, "str | None", str, bool, Any], bool]


def include_object_on(dialect_name: str) -> ObjectFilter:
    """Alembic's object filter for one backend: leave out indexes built only on another.

    ``metadata`` declares PostgreSQL's GiST index with ``ddl_if``, which ``create_all``
    honours and alembic's comparison does not; without this, SQLite would be asked for it.
    """

    def include_object(_obj: Any, name: str | None, type_: str, _reflected: bool, _to: Any) -> bool:
        return not (type_ == "index" and name in POSTGRESQL_ONLY and dialect_name != "postgresql")

    return include_object


def _alembic_config() -> Config:
    # A fresh Config each time: its attributes carry the connection, so sharing one between
    # threads would hand one caller's connection to another.
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@cache
def _head_revision() -> str | None:
    """The newest revision shipped: fixed for the life of the process, so read once."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def _current_revision(conn: sa.Connection) -> str | None:
    inspector = sa.inspect(conn)
    if not inspector.has_table("alembic_version", schema=inspector.default_schema_name):
        return None
    revision: str | None = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return revision


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
