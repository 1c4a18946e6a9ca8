"""The single writer: every state change passes through here, one at a time.

One lock orders all writes within a process, and the log's next number is read inside
the same transaction that appends, so the log has no gaps and conflict detection always
sees the state the previous write committed. Projections are updated in that transaction
too; only after the commit are in-memory followers (the conflict engine) told, so they
never run ahead of what is durable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from deconflict.core.clock import Clock
from deconflict.core.events import Event, NewEvent
from deconflict.storage import projector
from deconflict.storage import tables as t

T = TypeVar("T")
Follower = Callable[[list[Event]], None]


class Transaction:
    """The view a command has of one write: read the current state, append events."""

    def __init__(self, conn: sa.Connection, next_seq: int, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self._next_seq = next_seq
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
        self._next_seq += 1
        self.events.append(event)
        return event


class Sequencer:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._lock = threading.Lock()
        self._followers: list[Follower] = []

    def follow(self, follower: Follower) -> None:
        self._followers.append(follower)

    def write(self, command: Callable[[Transaction], T]) -> T:
        """Run ``command`` in one transaction; its events are committed together or not at all."""
        with self._lock:
            with self._engine.begin() as conn:
                last = conn.execute(sa.select(sa.func.max(t.events.c.seq))).scalar_one_or_none()
                tx = Transaction(conn, next_seq=(last or 0) + 1, now=self._clock.now())
                result = command(tx)
            for follower in self._followers:
                follower(tx.events)
            return result
