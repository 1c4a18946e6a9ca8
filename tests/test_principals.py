"""Remembered principals: a token is looked up once, and a revocation still takes effect —
at once in the process that applies it, within a second anywhere else."""

from __future__ import annotations

import pytest

from deconflict.core.errors import Unauthenticated
from deconflict.core.events import HOST, EventKind, NewEvent
from deconflict.core.parties import Principal, Role
from deconflict.service.deconflict import Deconflict
from deconflict.service.principals import TTL_S, PrincipalCache
from deconflict.service.sequencer import Transaction
from tests.world import World


def revoke(service: Deconflict, member_id: str) -> None:
    def command(tx: Transaction) -> None:
        tx.append(NewEvent(EventKind.member_revoked, {"member_id": member_id}, frozenset({HOST})))

    service.sequencer.write(command)


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_revocation_applied_here_is_refused_at_once(world: World) -> None:
    token = world.token("alpha")
    who = world.service.authenticate(token)
    assert world.service.remembered_principal(token) == who
    revoke(world.service, who.member_id)
    assert world.service.remembered_principal(token) is None
    with pytest.raises(Unauthenticated):
        world.service.authenticate(token)


def test_a_revocation_by_another_process_is_refused_within_the_ttl(world: World) -> None:
    service = world.service
    ticks = Ticks()
    service.principals = PrincipalCache(clock=ticks)
    service.sequencer._trackers.append((service.principals.follow, service.principals.forget))
    token = world.token("bravo", Role.liaison)
    who = service.authenticate(token)
    other = Deconflict(service.settings)  # a second process on the same database
    try:
        revoke(other, who.member_id)
    finally:
        other.close()
    assert service.authenticate(token) == who  # remembered, and nothing told this process yet
    ticks.now += TTL_S * 1.01
    with pytest.raises(Unauthenticated):
        service.authenticate(token)


def test_catching_up_with_another_process_forgets_at_once(world: World) -> None:
    """What the PostgreSQL commit listener does on a notification."""
    service = world.service
    token = world.token("charlie")
    who = service.authenticate(token)
    other = Deconflict(service.settings)
    try:
        revoke(other, who.member_id)
    finally:
        other.close()
    service.sequencer.refresh()
    with pytest.raises(Unauthenticated):
        service.authenticate(token)


def test_a_look_up_that_raced_a_revocation_is_not_remembered() -> None:
    cache = PrincipalCache()
    who = Principal(member_id="mbr_1", party_id="alpha", role=Role.operator, name="op")
    generation = cache.generation  # the look-up begins ...
    cache.forget()  # ... a revocation is applied while it reads the database ...
    cache.put("hash", who, generation)  # ... and what it read may predate the revocation
    assert cache.get("hash") is None
    cache.put("hash", who, cache.generation)
    assert cache.get("hash") == who
