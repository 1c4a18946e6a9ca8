"""The single writer: every state change passes through here, in one order.

One writer at a time orders all writes within a process; across processes the database's own
write lock does (``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock on
PostgreSQL), taken before the log's next number is read. So the log has no gaps, and
conflict detection always sees the state the previous write left.

Writes are group-committed. Callers queue their commands; whichever caller finds no batch
running becomes the leader, takes what is queued (up to :data:`MAX_BATCH`, never waiting for
more) and runs it in one transaction: each command inside a savepoint of its own, so a
command that fails leaves no trace and its caller alone gets the error; then the checkpoint
is signed once for the batch, and the batch commits once. Only after that commit is any
caller told its result, so an acknowledged write is as durable as before, while the fsync and
the signature are paid once per batch rather than once per write. At concurrency 1 a batch
is one command and no savepoint is used.

Projections are updated inside the transaction. The in-memory state followers (the conflict
engine, the separation rules) must see each command's effects before the next command of
the same batch runs, so they are told as each command's savepoint is released; if the batch
then fails to commit they are reloaded from the database, so they never stay ahead of what
is durable. Everything else that follows the log (the live streams) is told only after the
commit. Before each batch the followers catch up on events another process (a second
server, or the CLI on the same file) committed meanwhile, so they never fall behind either.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from deconflict.core.clock import Clock, utc_text
from deconflict.core.events import Event, NewEvent
from deconflict.service import idempotency
from deconflict.storage import projector
from deconflict.storage import tables as t

T = TypeVar("T")
Follower = Callable[[list[Event]], None]
Reload = Callable[[], None]
FinishHook = Callable[["Transaction"], None]

log = logging.getLogger("deconflict.sequencer")

MAX_BATCH = 64
"""Commands committed together at most: bounds the work one failed commit throws away and
the wait of the last command in a batch."""

WRITER_OPTION = "deconflict_writer"
POSTGRES_WRITE_LOCK = 0x6465636F6E666C  # "deconfl": one key for the whole log
NOTIFY_CHANNEL = "deconflict_events"
"""PostgreSQL channel on which every write announces the log's new last seq (after commit)."""

_EVENT_INSERT = t.events.insert()
"""Built once: the compiled form is cached against this one construct."""


class NotCommitted(RuntimeError):
    """The batch this write was part of could not be committed: none of it was written."""


class Transaction:
    """The view a command has of one write: read the current state, append events.

    Projections are updated as each event is appended; the event rows themselves are written
    together when the command is done (:meth:`flush`), in one statement, since nothing reads
    the log back within the command that is writing it.
    """

    def __init__(self, conn: sa.Connection, next_seq: int, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.next_seq = next_seq
        self.events: list[Event] = []
        self._rows: list[dict[str, Any]] = []

    def append(self, new: NewEvent) -> Event:
        event = Event(
            seq=self.next_seq,
            kind=new.kind,
            recorded_at=self.now,
            body=new.body,
            audience=new.audience,
            actor_member=new.actor_member,
            salt=new.salt,
        )
        self._rows.append(
            {
                "seq": event.seq,
                "kind": event.kind.value,
                "recorded_at": projector.iso(event),
                "actor_member": event.actor_member,
                "audience": sorted(event.audience),
                "salt": event.salt,
                "body": event.body,
            }
        )
        projector.apply(self.conn, event)
        self.next_seq += 1
        self.events.append(event)
        return event

    def flush(self) -> None:
        """Write the event rows appended so far (the sequencer calls this after the command)."""
        if self._rows:
            self.conn.execute(_EVENT_INSERT, self._rows)
            self._rows = []


_PENDING: Any = object()


@dataclass(eq=False)
class _Queued:
    """One caller's command waiting for (or inside) a batch."""

    command: Callable[[Transaction], Any]
    context: contextvars.Context
    """The caller's context: the command runs in it, whichever thread leads the batch (the
    API layer's idempotency claim is a context variable)."""
    result: Any = _PENDING
    error: BaseException | None = None
    done: bool = False


def take_write_lock(conn: sa.Connection) -> None:
    """Join the one queue every write of the deployment waits in.

    On PostgreSQL that is a transaction-scoped advisory lock; on SQLite the writer
    connection's ``BEGIN IMMEDIATE`` already holds the database's write lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_WRITE_LOCK})


class Sequencer:
    def __init__(self, engine: Engine, clock: Clock, max_batch: int = MAX_BATCH) -> None:
        self._engine = engine
        self._clock = clock
        self._max_batch = max_batch
        self._lock = threading.Lock()
        """Held while a batch runs or the followers catch up: one writer in this process."""
        self._turn = threading.Condition()
        self._queue: list[_Queued] = []
        self._leading = False
        self._trackers: list[tuple[Follower, Reload]] = []
        self._followers: list[Follower] = []
        self._on_finish: list[FinishHook] = []
        self._followed_seq = 0
        self._stale = False

    # --- wiring --------------------------------------------------------------------------

    def track(self, follower: Follower, reload: Reload) -> None:
        """Keep in-memory state that later commands read: ``follower`` gets each command's
        events inside the batch; ``reload`` rebuilds it from the database when a batch fails."""
        self._trackers.append((follower, reload))

    def follow(self, follower: Follower) -> None:
        """Call ``follower`` with the events of every committed batch, after the commit."""
        self._followers.append(follower)

    def on_finish(self, hook: FinishHook) -> None:
        """Call ``hook`` inside the transaction once per batch that appended events, with a
        :class:`Transaction` holding all of them (e.g. to sign a checkpoint)."""
        self._on_finish.append(hook)

    def followed_from(self, seq: int) -> None:
        """The followers were just loaded from the state as of event ``seq``."""
        self._followed_seq = seq

    # --- writing -------------------------------------------------------------------------

    def write(self, command: Callable[[Transaction], T]) -> T:
        """Run ``command`` in a transaction; returns once its events are committed.

        Its events are committed together or not at all; if it raises, nothing it did is
        written and the exception is raised here.
        """
        queued = _Queued(command, contextvars.copy_context())
        with self._turn:
            self._queue.append(queued)
        while True:
            with self._turn:
                while self._leading and not queued.done:
                    self._turn.wait()
                if queued.done:
                    break
                self._leading = True
            batch: list[_Queued] = []
            try:
                with self._lock:
                    with self._turn:  # whatever queued up meanwhile, without waiting for more
                        batch = self._queue[: self._max_batch]
                        del self._queue[: self._max_batch]
                    self._run(batch)
            finally:
                with self._turn:
                    for item in batch:
                        if item.error is None and item.result is _PENDING:
                            item.error = NotCommitted("the writer stopped before committing")
                        item.done = True
                    self._leading = False
                    self._turn.notify_all()
        if queued.error is not None:
            raise queued.error
        return cast(T, queued.result)

    def _run(self, batch: list[_Queued]) -> None:
        if self._stale:
            self._reload()
        claims: list[idempotency.Claim] = []
        events: list[Event] = []
        told = False
        with self._engine.connect() as conn:
            conn.execution_options(**{WRITER_OPTION: True})
            transaction = conn.begin()
            try:
                take_write_lock(conn)
                last = _last_seq(conn)
                self._catch_up(conn, last)
                nested = len(batch) > 1
                next_seq, now = last + 1, None
                succeeded = False
                for item in batch:
                    moment = self._clock.now()
                    now = moment if now is None or moment > now else now  # never back in seq order
                    tx = Transaction(conn, next_seq, now)
                    savepoint = conn.begin_nested() if nested else None
                    try:
                        item.result, claim = item.context.run(_execute, conn, item.command, tx)
                    except Exception as error:
                        if savepoint is not None:
                            savepoint.rollback()
                        item.error = error
                        continue
                    if claim is not None:
                        claims.append(claim)
                    if savepoint is not None:
                        savepoint.commit()
                    succeeded = True
                    if tx.events:
                        told = True
                        for follower, _ in self._trackers:
                            follower(tx.events)
                        events.extend(tx.events)
                        next_seq = tx.next_seq
                if events:
                    assert now is not None
                    whole = Transaction(conn, events[0].seq, now)
                    whole.events = events
                    for hook in self._on_finish:
                        hook(whole)
                    if conn.dialect.name == "postgresql":
                        # Delivered by PostgreSQL only if and when this transaction commits.
                        conn.execute(
                            sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, str(next_seq - 1)))
                        )
                if succeeded:
                    transaction.commit()
                else:
                    transaction.rollback()
            except BaseException as failure:
                with contextlib.suppress(Exception):
                    transaction.rollback()
                for claim in claims:
                    claim.stored = False
                for item in batch:
                    item.result = _PENDING
                    item.error = NotCommitted("the write could not be committed")
                    item.error.__cause__ = failure
                if told:
                    try:
                        self._reload()
                    except Exception:  # the database is unreachable: retried before the next write
                        log.exception("reloading the in-memory state failed")
                if not isinstance(failure, Exception):
                    raise
                log.error("a batch of %d writes failed to commit", len(batch), exc_info=failure)
                return
        if events:
            self._followed_seq = events[-1].seq
            for follower in self._followers:
                follower(events)

    # --- following -----------------------------------------------------------------------

    def reload(self) -> None:
        """Rebuild the in-memory state followers from the committed state."""
        with self._lock:
            self._reload()

    def refresh(self) -> None:
        """Bring the followers up to the committed log without writing (another process wrote)."""
        with self._lock:
            if self._stale:
                self._reload()
            with self._engine.connect() as conn:
                last = _last_seq(conn)
                self._catch_up(conn, last)

    def _reload(self) -> None:
        # The log's end is read before the state, so a write committed in between (by another
        # process) is at worst told again on the next catch-up, which replays in order.
        self._stale = True  # until it has succeeded: no batch may run on state ahead of the log
        with self._engine.connect() as conn:
            last = _last_seq(conn)
        for _, reload in self._trackers:
            reload()
        self._followed_seq = last
        self._stale = False

    def _catch_up(self, conn: sa.Connection, last: int) -> None:
        if last > self._followed_seq:
            from deconflict.storage import queries

            events = list(queries.events(conn, after_seq=self._followed_seq))
            for follower, _ in self._trackers:
                follower(events)
            for follower in self._followers:
                follower(events)
            if events:
                self._followed_seq = events[-1].seq


def _last_seq(conn: sa.Connection) -> int:
    """The number of the log's last committed event (0 for an empty log)."""
    return int(conn.execute(sa.select(sa.func.max(t.events.c.seq))).scalar_one_or_none() or 0)


def _execute(
    conn: sa.Connection, command: Callable[[Transaction], Any], tx: Transaction
) -> tuple[Any, idempotency.Claim | None]:
    """One command with its idempotency claim, run in the caller's context."""
    claim = idempotency.before_write(conn)
    result = command(tx)
    tx.flush()
    if claim is not None:
        idempotency.after_write(conn, claim, result, utc_text(tx.now))
    return result, claim
