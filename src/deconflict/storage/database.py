"""Opening the database: SQLite (the embedded default) or PostgreSQL, one code path.

SQLite runs in WAL mode with ``synchronous=FULL``: in WAL mode, ``NORMAL`` can lose the
last transactions on power loss, and a 2xx from this service promises durability.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from deconflict.storage.tables import metadata


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
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    # The single writer takes SQLite's write lock at once, so that a second process cannot
    # slip a write between our reading the log's last number and appending after it.
    writer = connection.get_execution_options().get("deconflict_writer", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
