"""The single writer: every state change passes through here, one at a time.

One lock orders all writes within a process; across processes the database's own write
lock does (``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock on
PostgreSQL), taken before the log's next number is read. So the log has no gaps, and
conflict detection always sees the state the previous write committed.

Projections are updated in the same transaction. In-memory followers (the conflict
engine, the separation rules) are told only after the commit, so they never run ahead of
what is durable; and before each write they catch up on events that another process (a
second server, or the CLI working on the file) committed meanwhile, so they never fall
behind either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from deconflict.core.clock import Clock, utc_text
from deconflict.core.events import Event, NewEvent
from deconflict.service import idempotency
from deconflict.storage import projector
from deconflict.storage import tables as t

T = TypeVar("T")
Follower = Callable[[list[Event]], None]
AppendHook = Callable[["Transaction", Event], None]
FinishHook = Callable[["Transaction"], None]


class Transaction:
    """The view a command has of one write: read the current state, append events."""

    def __init__(
        self,
        conn: sa.Connection,
        next_seq: int,
        now: datetime,
        on_append: list[AppendHook] | None = None,
    ) -> None:
        self.conn = conn
        self.now = now
        self._next_seq = next_seq
        self._on_append = on_append or []
        self.events: list[Event] = []

    def append(self, new: NewEvent) -> Event:
        event = Event(
            seq=self._next_seq,
            kind=new.kind,
            recorded_at=self.now,
            body=new.body,
            audience=new.audience,
            actor_member=new.actor_member,
            salt=new.salt,
        )
        self.conn.execute(
            t.events.insert().values(
                seq=event.seq,
                kind=event.kind.value,
                recorded_at=projector.iso(event),
                actor_member=event.actor_member,
                audience=sorted(event.audience),
                salt=event.salt,
                body=event.body,
            )
        )
        projector.apply(self.conn, event)
        for hook in self._on_append:
            hook(self, event)
        self._next_seq += 1
        self.events.append(event)
        return event


WRITER_OPTION = "deconflict_writer"
POSTGRES_WRITE_LOCK = 0x6465636F6E666C  # "deconfl": one key for the whole log
NOTIFY_CHANNEL = "deconflict_events"
"""PostgreSQL channel on which every write announces the log's new last seq (after commit)."""


class Sequencer:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._lock = threading.Lock()
        self._followers: list[Follower] = []
        self._on_append: list[AppendHook] = []
        self._on_finish: list[FinishHook] = []
        self._followed_seq = 0

    def follow(self, follower: Follower) -> None:
        """Call ``follower`` with the events of every committed write, after the commit."""
        self._followers.append(follower)

    def on_append(self, hook: AppendHook) -> None:
        """Call ``hook`` inside the transaction for every event appended (e.g. to extend the Merkle tree)."""
        self._on_append.append(hook)

    def on_finish(self, hook: FinishHook) -> None:
        """Call ``hook`` inside the transaction once the command is done (e.g. to sign a checkpoint)."""
        self._on_finish.append(hook)

    def followed_from(self, seq: int) -> None:
        """The followers were just loaded from the state as of event ``seq``."""
        self._followed_seq = seq

    def write(self, command: Callable[[Transaction], T]) -> T:
        """Run ``command`` in one transaction; its events are committed together or not at all."""
        with self._lock:
            with self._engine.connect() as conn:
                conn.execution_options(**{WRITER_OPTION: True})
                with conn.begin():
                    if conn.dialect.name == "postgresql":
                        conn.execute(
                            sa.text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": POSTGRES_WRITE_LOCK},
                        )
                    last = (
                        conn.execute(sa.select(sa.func.max(t.events.c.seq))).scalar_one_or_none()
                        or 0
                    )
                    self._catch_up(conn, last)
                    claim = idempotency.before_write(conn)
                    tx = Transaction(
                        conn, next_seq=last + 1, now=self._clock.now(), on_append=self._on_append
                    )
                    result = command(tx)
                    if tx.events:
                        for hook in self._on_finish:
                            hook(tx)
                        if conn.dialect.name == "postgresql":
                            # Delivered by PostgreSQL only if and when this transaction commits.
                            conn.execute(
                                sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, str(tx.events[-1].seq)))
                            )
                    if claim is not None:
                        idempotency.after_write(conn, claim, result, utc_text(tx.now))
            self._tell(tx.events)
            return result

    def refresh(self) -> None:
        """Bring the followers up to the committed log without writing (another process wrote)."""
        with self._lock, self._engine.connect() as conn:
            last = conn.execute(sa.select(sa.func.max(t.events.c.seq))).scalar_one_or_none() or 0
            self._catch_up(conn, last)

    def _catch_up(self, conn: sa.Connection, last: int) -> None:
        if last > self._followed_seq:
            from deconflict.storage import queries

            self._tell(list(queries.events(conn, after_seq=self._followed_seq)))

    def _tell(self, events: list[Event]) -> None:
        for follower in self._followers:
            follower(events)
        if events:
            self._followed_seq = events[-1].seq
