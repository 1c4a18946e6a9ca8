"""Group commit: concurrent writes share one transaction and one commit, and still behave as
if each had been written alone — gap-free seqs, failures that leave no trace, conflicts found
between writes of the same batch, and in-memory state that never runs ahead of the log."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from deconflict.core.declarations import DeclarationFeature, Status
from deconflict.core.errors import InvalidInput, VersionConflict
from deconflict.core.events import HOST, EventKind, NewEvent
from deconflict.core.record.notes import Verifier
from deconflict.service.bundle import verify_database
from deconflict.service.declarations import DeclarationOutcome
from deconflict.service.deconflict import Deconflict
from deconflict.service.sequencer import NotCommitted, Transaction
from deconflict.storage import merkle_store as store
from deconflict.storage import queries
from deconflict.storage import tables as t
from tests.gate import BatchGate
from tests.world import START, World, site


def feature(value: dict[str, Any]) -> DeclarationFeature:
    return DeclarationFeature.model_validate_json(json.dumps(value))


def together(service: Deconflict, calls: list[Callable[[], Any]]) -> list[Any]:
    """Each call (one write) in a thread of its own, all lined up into one batch; the results,
    or the exceptions raised, in the order of ``calls``."""
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            outcomes[index] = calls[index]()
        except Exception as error:
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    with BatchGate(service.sequencer) as gate:
        for thread in threads:
            thread.start()
        gate.wait_for(len(calls))
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive()
    return outcomes


def seqs(service: Deconflict) -> list[int]:
    with service.db.connect() as conn:
        return list(conn.execute(sa.select(t.events.c.seq).order_by(t.events.c.seq)).scalars())


def checkpoint_sizes(service: Deconflict) -> list[int]:
    with service.db.connect() as conn:
        return store.checkpoint_sizes(conn)


def assert_whole(service: Deconflict) -> None:
    """Seqs from 1 without gaps, every event a leaf under a valid signed checkpoint, and the
    in-memory engine holding exactly the active declarations the database holds."""
    numbers = seqs(service)
    assert numbers == list(range(1, len(numbers) + 1))
    with service.db.connect() as conn:
        verdict = verify_database(conn, Verifier.from_key(service.record.verifier_key()))
        active = {d.id for d in queries.active_declarations(conn)}
    assert verdict.ok, verdict.failures
    assert checkpoint_sizes(service)[-1] == numbers[-1]
    assert {a.declaration_id for a in service.engine.active()} == active


def spread(i: int) -> dict[str, Any]:
    """Sites far enough apart never to conflict."""
    return site(40.0 + (i % 10) * 0.2, 36.0 + (i // 10) * 0.2, share_with="all")


def test_a_batch_of_concurrent_declarations_commits_once_without_gaps(world: World) -> None:
    service = world.service
    parties = ["alpha", "bravo", "charlie"]
    who = {p: world.who(p) for p in parties}
    before = checkpoint_sizes(service)
    calls: list[Callable[[], Any]] = [
        lambda i=i: service.declarations.declare(who[parties[i % 3]], feature(spread(i)))
        for i in range(20)
    ]
    outcomes = together(service, calls)
    assert all(isinstance(o, DeclarationOutcome) for o in outcomes), outcomes
    assert len({o.declaration.id for o in outcomes}) == 20
    # One batch: one commit, one signed checkpoint covering all twenty.
    assert checkpoint_sizes(service) == [*before, seqs(service)[-1]]
    assert_whole(service)


def test_free_running_writers_keep_the_log_whole(world: World) -> None:
    service = world.service
    parties = ["alpha", "bravo", "charlie"]
    who = {p: world.who(p) for p in parties}
    start = threading.Barrier(6)
    made: list[str] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        start.wait()
        for k in range(6):
            outcome = service.declarations.declare(who[parties[n % 3]], feature(spread(n * 6 + k)))
            with lock:
                made.append(outcome.declaration.id)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(made) == 36
    with service.db.connect() as conn:
        stored = set(conn.execute(sa.select(t.declarations.c.id)).scalars())
    assert set(made) == stored
    assert_whole(service)


def test_a_command_that_fails_inside_a_batch_leaves_no_trace(world: World) -> None:
    service = world.service
    alpha, bravo = world.who("alpha"), world.who("bravo")
    existing = service.declarations.declare(alpha, feature(spread(50)))
    events_before = len(seqs(service))

    def ghost(tx: Transaction) -> None:
        tx.append(
            NewEvent(
                EventKind.party_registered,
                {"party_id": "ghost", "name": "Ghost", "aliases": []},
                frozenset({HOST}),
            )
        )
        raise ValueError("changed its mind after appending")

    outcomes = together(
        service,
        [
            lambda: service.declarations.declare(alpha, feature(spread(1))),
            lambda: service.sequencer.write(ghost),
            lambda: service.declarations.amend(
                alpha, existing.declaration.id, 7, feature(spread(51))
            ),
            lambda: service.declarations.declare(
                bravo, feature(site(41.0, 36.5, share_with=["nobody"]))
            ),
            lambda: service.declarations.declare(bravo, feature(spread(2))),
        ],
    )
    assert isinstance(outcomes[0], DeclarationOutcome)
    assert isinstance(outcomes[1], ValueError)
    assert isinstance(outcomes[2], VersionConflict)
    assert isinstance(outcomes[3], InvalidInput)
    assert isinstance(outcomes[4], DeclarationOutcome)
    with service.db.connect() as conn:
        assert queries.party(conn, "ghost") is None
        kinds = list(
            conn.execute(sa.select(t.events.c.kind).where(t.events.c.seq > events_before)).scalars()
        )
    assert kinds == [EventKind.declaration_declared.value] * 2
    assert_whole(service)


def test_conflicting_declarations_in_one_batch_raise_their_advisories(world: World) -> None:
    """The engine follows each command of a batch before the next runs, so three declarations
    at one place and time, lined up together, raise an advisory for every pair."""
    service = world.service
    parties = ["alpha", "bravo", "charlie"]
    who = {p: world.who(p) for p in parties}
    calls: list[Callable[[], Any]] = [
        lambda p=p: service.declarations.declare(
            who[p], feature(site(41.0, 36.5, share_with="all"))
        )
        for p in parties
    ]
    calls.append(lambda: service.declarations.declare(who["alpha"], feature(spread(3))))
    outcomes = together(service, calls)
    assert all(isinstance(o, DeclarationOutcome) for o in outcomes), outcomes
    ids = {o.declaration.id for o in outcomes[:3]}
    with service.db.connect() as conn:
        pairs = {
            frozenset((row.declaration_a, row.declaration_b))
            for row in conn.execute(sa.select(t.advisories))
        }
    assert pairs == {frozenset((a, b)) for a in ids for b in ids if a < b}
    assert sorted(len(o.advisories) for o in outcomes[:3]) == [0, 1, 2]
    assert outcomes[3].advisories == []
    assert_whole(service)


def test_a_batch_that_fails_to_commit_leaves_the_engine_as_the_database_is(world: World) -> None:
    service = world.service
    alpha, bravo, charlie = world.who("alpha"), world.who("bravo"), world.who("charlie")
    failures = [RuntimeError("the disk is full"), RuntimeError("the disk is still full")]

    def sabotage(_tx: Transaction) -> None:
        if failures:
            raise failures.pop(0)

    service.sequencer.on_finish(sabotage)
    here = site(41.0, 36.5, share_with="all")
    events_before, checkpoints_before = seqs(service), checkpoint_sizes(service)
    notified = service.delivery.notifier.latest
    outcomes = together(
        service,
        [
            lambda: service.declarations.declare(alpha, feature(here)),
            lambda: service.declarations.declare(bravo, feature(here)),
            lambda: service.declarations.declare(charlie, feature(spread(4))),
        ],
    )
    assert all(isinstance(o, NotCommitted) for o in outcomes), outcomes
    assert all(str(o.__cause__) == "the disk is full" for o in outcomes)
    assert seqs(service) == events_before
    assert checkpoint_sizes(service) == checkpoints_before
    assert service.delivery.notifier.latest == notified  # streams heard of nothing
    assert_whole(service)
    assert len(service.engine) == 0
    # A batch of one (no savepoints) fails the same way.
    with pytest.raises(NotCommitted):
        service.declarations.declare(alpha, feature(here))
    assert len(service.engine) == 0
    # Nothing of the lost declarations haunts the next ones: the first conflicts with nothing.
    first = service.declarations.declare(alpha, feature(here))
    second = service.declarations.declare(bravo, feature(here))
    assert first.advisories == []
    assert [a.other.declaration_id for a in second.advisories] == [first.declaration.id]
    assert_whole(service)


def test_recorded_times_never_go_back_along_the_log(world: World) -> None:
    """Each command takes its own time, but a clock stepping back within a batch does not
    make a later event older than an earlier one."""
    service = world.service
    alpha = world.who("alpha")
    times = iter([START + timedelta(minutes=10 - i) for i in range(10)])

    class Backwards:
        def now(self) -> datetime:
            return next(times)

    service.sequencer._clock = Backwards()
    outcomes = together(
        service,
        [lambda i=i: service.declarations.declare(alpha, feature(spread(i))) for i in range(4)],
    )
    assert all(isinstance(o, DeclarationOutcome) for o in outcomes), outcomes
    with service.db.connect() as conn:
        recorded = list(
            conn.execute(
                sa.select(t.events.c.recorded_at)
                .where(t.events.c.kind == EventKind.declaration_declared.value)
                .order_by(t.events.c.seq)
            ).scalars()
        )
    assert len(recorded) == 4
    assert recorded == sorted(recorded)


def test_a_declaration_another_process_made_expires_on_time(world: World) -> None:
    """A write skips the expiry sweep while nothing can be due; what another process declares
    in between is caught up with before the next write, and brings the sweep back."""
    service = world.service
    alpha = world.who("alpha")
    service.declarations.declare(alpha, feature(spread(1)))  # quiet until that one ends
    other = Deconflict(service.settings)  # a second process on the same database and clock
    try:
        short = other.declarations.declare(
            other.authenticate(world.token("bravo")), feature(site(41.0, 36.5, hours=1))
        )
    finally:
        other.close()
    world.clock.advance(timedelta(hours=2))
    service.declarations.declare(alpha, feature(spread(2)))
    with service.db.connect() as conn:
        stored = queries.declaration(conn, short.declaration.id)
    assert stored is not None
    assert stored.status is Status.expired
    assert short.declaration.id not in {a.declaration_id for a in service.engine.active()}


def test_an_expiry_undone_with_its_write_is_swept_again(world: World) -> None:
    service = world.service
    alpha = world.who("alpha")
    short = service.declarations.declare(alpha, feature(site(41.0, 36.5, hours=1)))
    service.declarations.declare(alpha, feature(spread(1)))
    world.clock.advance(timedelta(hours=2))
    with pytest.raises(VersionConflict):  # swept first, then refused: the sweep is undone too
        service.declarations.amend(alpha, short.declaration.id, 9, feature(spread(2)))
    with service.db.connect() as conn:
        stored = queries.declaration(conn, short.declaration.id)
        assert stored is not None
        assert stored.status is Status.active
    service.declarations.declare(alpha, feature(spread(3)))
    with service.db.connect() as conn:
        stored = queries.declaration(conn, short.declaration.id)
    assert stored is not None
    assert stored.status is Status.expired
