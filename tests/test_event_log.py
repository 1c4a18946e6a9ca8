"""The event log is the source of truth: ordered without gaps, written atomically with the
projections, and enough on its own to rebuild every table and the engine."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from deconflict.core.declarations import DeclarationFeature
from deconflict.core.events import EventKind, NewEvent
from deconflict.core.parties import Role
from deconflict.service.deconflict import Deconflict
from deconflict.storage import queries
from deconflict.storage import tables as t
from tests.world import START, World, movement, site

ROUTE = [(40.98, 36.49), (41.02, 36.51)]


def feature(value: dict[str, Any]) -> DeclarationFeature:
    return DeclarationFeature.model_validate_json(json.dumps(value))


def busy_history(world: World) -> None:
    """A bit of everything: rules, declarations, amendments, a cancellation, acknowledgements, expiry."""
    service = world.service
    service.parties.set_rule(world.who(None), "alpha", "bravo", "patrol", 2500)
    site_a = service.declarations.declare(
        world.who("alpha"), feature(site(41.0, 36.5, share_with="all"))
    )
    patrol = service.declarations.declare(
        world.who("bravo"), feature(movement(ROUTE, share_with=["alpha"], category="patrol"))
    )
    service.advisories.acknowledge(
        world.who("alpha", Role.liaison), patrol.advisories[0].id, "seen"
    )
    service.declarations.amend(
        world.who("bravo"),
        patrol.declaration.id,
        1,
        feature(movement(ROUTE, start=START + timedelta(hours=5), share_with="all")),
    )
    service.declarations.declare(
        world.who("charlie"),
        feature(site(41.01, 36.5, hours=2, precision_m={"alpha": 5000}, share_with=["alpha"])),
    )
    service.declarations.cancel(world.who("alpha"), site_a.declaration.id, None)
    world.clock.advance(timedelta(hours=3))
    service.declarations.expire_due()


def snapshot(service: Deconflict) -> dict[str, list[tuple[Any, ...]]]:
    with service.db.connect() as conn:
        return {
            table.name: sorted(
                (
                    tuple(
                        json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v
                        for v in row
                    )
                    for row in conn.execute(sa.select(table))
                ),
                key=repr,
            )
            for table in t.PROJECTIONS
        }


def test_the_log_is_numbered_without_gaps(world: World) -> None:
    busy_history(world)
    with world.service.db.connect() as conn:
        seqs = [e.seq for e in queries.events(conn)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_rebuild_from_the_log_gives_identical_state(world: World) -> None:
    busy_history(world)
    before = snapshot(world.service)
    assert sum(len(rows) for rows in before.values()) > 20
    engine_before = sorted(a.declaration_id for a in world.service.engine.active())
    replayed = world.service.rebuild()
    assert replayed == world.service.event_count()
    assert snapshot(world.service) == before
    assert sorted(a.declaration_id for a in world.service.engine.active()) == engine_before


def test_rebuild_restores_a_projection_edited_behind_the_services_back(world: World) -> None:
    busy_history(world)
    before = snapshot(world.service)
    with world.service.db.begin() as conn:
        conn.execute(t.declarations.update().values(status="active", version=99))
        conn.execute(t.advisory_acknowledgements.delete())
    assert snapshot(world.service) != before
    world.service.rebuild()
    assert snapshot(world.service) == before


def test_a_failed_command_writes_nothing(world: World) -> None:
    before_count = world.service.event_count()
    before = snapshot(world.service)

    def half_done(tx: Any) -> None:
        tx.append(
            NewEvent(
                EventKind.party_registered,
                {"party_id": "delta", "name": "D", "aliases": []},
                frozenset({"host"}),
            )
        )
        raise RuntimeError("crash between two appends")

    with pytest.raises(RuntimeError):
        world.service.sequencer.write(half_done)
    assert world.service.event_count() == before_count
    assert snapshot(world.service) == before


def test_every_state_change_is_an_event(world: World) -> None:
    busy_history(world)
    with world.service.db.connect() as conn:
        kinds = {e.kind for e in queries.events(conn)}
    assert kinds >= {
        EventKind.party_registered,
        EventKind.member_added,
        EventKind.separation_rule_set,
        EventKind.declaration_declared,
        EventKind.declaration_amended,
        EventKind.declaration_cancelled,
        EventKind.declaration_expired,
        EventKind.advisory_raised,
        EventKind.advisory_resolved,
        EventKind.advisory_acknowledged,
    }


def test_events_carry_a_fresh_salt_and_an_audience(world: World) -> None:
    busy_history(world)
    with world.service.db.connect() as conn:
        events = list(queries.events(conn))
    salts = [e.salt for e in events]
    assert all(len(s) == 16 for s in salts)
    assert len(set(salts)) == len(salts)
    declared = [e for e in events if e.kind is EventKind.declaration_declared]
    charlie_site = next(e for e in declared if e.body["party_id"] == "charlie")
    assert charlie_site.visible_to("alpha")
    assert charlie_site.visible_to("charlie")
    assert not charlie_site.visible_to("bravo")
    assert not charlie_site.visible_to(None), "the host administrator sees no declarations"


def test_a_restarted_service_follows_the_committed_state(world: World) -> None:
    busy_history(world)
    active = sorted(a.declaration_id for a in world.service.engine.active())
    restarted = Deconflict(world.service.settings)
    try:
        assert sorted(a.declaration_id for a in restarted.engine.active()) == active
        assert restarted.rules.all() == world.service.rules.all()
    finally:
        restarted.close()
