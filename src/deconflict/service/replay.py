"""Do the projections equal a replay of the log? Answered without changing anything.

``deconflict rebuild`` replaces the projections; this asks the question first, so that an
operator (or ``deconflict restore``) can tell a sound database from one whose derived tables
drifted from the events, and rebuild only when they did. The replay runs inside a
transaction that is always rolled back: the stored rows are what they were before.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from deconflict.service.sequencer import WRITER_OPTION, take_write_lock
from deconflict.storage import projector
from deconflict.storage import tables as t


@dataclass(frozen=True)
class ReplayVerdict:
    events: int
    tables: int
    differing: list[str]
    """Names of the projection tables whose rows a replay would change."""

    @property
    def ok(self) -> bool:
        return not self.differing


def _value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float):
        return value
    # JSON columns come back as dicts whose key order is whatever the writer used.
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    # Anything else by its text: a PostGIS geometry's is its hex EWKB (its repr has an address).
    return str(value)


def _digest(conn: sa.Connection, table: sa.Table) -> tuple[int, str]:
    """A streamed hash of the table in primary-key order, so a large table is never held whole."""
    digest = hashlib.sha256()
    count = 0
    query = sa.select(table).order_by(*table.primary_key.columns)
    for row in conn.execute(query):
        digest.update(repr(tuple(_value(v) for v in row)).encode("utf-8"))
        digest.update(b"\n")
        count += 1
    return count, digest.hexdigest()


def compare_with_replay(engine: Engine) -> ReplayVerdict:
    """Replay the log into the projections inside the write lock, compare, and roll back.

    The write lock (``BEGIN IMMEDIATE`` on SQLite, the sequencer's advisory lock on PostgreSQL)
    keeps writers out while the projections are emptied and refilled: a write meanwhile would
    be compared against a replay that lacks it. Writers wait for the duration, so on a busy
    deployment run it where a short pause of writes is acceptable.
    """
    with engine.connect() as conn:
        conn.execution_options(**{WRITER_OPTION: True})
        transaction = conn.begin()
        try:
            take_write_lock(conn)
            stored = {table.name: _digest(conn, table) for table in t.PROJECTIONS}
            events = projector.replay(conn)
            replayed = {table.name: _digest(conn, table) for table in t.PROJECTIONS}
        finally:
            transaction.rollback()
    differing = [name for name in stored if stored[name] != replayed[name]]
    return ReplayVerdict(events=events, tables=len(stored), differing=differing)
