"""Declaration lifecycle through the service: versions, cancellation, expiry, reconfirmation,
and how each change re-evaluates the advisories it touches."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from deconflict.core.declarations import DeclarationFeature, Status
from deconflict.core.errors import (
    InvalidInput,
    NotFound,
    NotPermitted,
    StateConflict,
    VersionConflict,
)
from deconflict.core.parties import Role
from tests.world import START, World, movement, site

ROUTE = [(40.98, 36.49), (41.02, 36.51)]


def feature(value: dict[str, Any]) -> DeclarationFeature:
    return DeclarationFeature.model_validate_json(json.dumps(value))


def declare(world: World, party: str, value: dict[str, Any]) -> Any:
    return world.service.declarations.declare(world.who(party), feature(value))


def open_advisories(world: World, party: str) -> list[Any]:
    return world.service.advisories.visible(world.who(party), status="open").items


def test_a_conflict_raises_one_advisory_seen_by_both_sides(world: World) -> None:
    first = declare(world, "alpha", site(41.0, 36.5, share_with=["bravo"]))
    assert first.advisories == []
    second = declare(world, "bravo", movement(ROUTE, share_with=["alpha"]))
    assert len(second.advisories) == 1
    advisory = second.advisories[0]
    assert advisory.other.declaration_id == first.declaration.id
    assert advisory.closest_approach.distance_m is not None
    assert advisory.closest_approach.distance_m < advisory.closest_approach.separation_m
    seen_by_alpha = open_advisories(world, "alpha")
    assert [a.id for a in seen_by_alpha] == [advisory.id]
    assert seen_by_alpha[0].own.declaration_id == first.declaration.id
    assert open_advisories(world, "charlie") == []


def test_same_party_declarations_never_conflict(world: World) -> None:
    declare(world, "alpha", site(41.0, 36.5))
    assert declare(world, "alpha", movement(ROUTE)).advisories == []


def test_amending_away_from_the_conflict_resolves_the_advisory(world: World) -> None:
    declare(world, "alpha", site(41.0, 36.5, share_with="all"))
    patrol = declare(world, "bravo", movement(ROUTE, share_with="all"))
    far = [(41.5, 36.9), (41.6, 36.95)]
    amended = world.service.declarations.amend(
        world.who("bravo"), patrol.declaration.id, 1, feature(movement(far, share_with="all"))
    )
    assert amended.declaration.properties["version"] == 2
    assert amended.advisories == []
    resolved = world.service.advisories.get(world.who("alpha"), patrol.advisories[0].id)
    assert (resolved.status, resolved.resolution) == ("resolved", "declaration_amended")


def test_amending_within_the_conflict_supersedes_the_advisory(world: World) -> None:
    declare(world, "alpha", site(41.0, 36.5, share_with="all"))
    patrol = declare(world, "bravo", movement(ROUTE, share_with="all"))
    later = world.service.declarations.amend(
        world.who("bravo"),
        patrol.declaration.id,
        1,
        feature(movement(ROUTE, start=START + timedelta(hours=3), share_with="all")),
    )
    assert len(later.advisories) == 1
    assert later.advisories[0].supersedes == patrol.advisories[0].id
    old = world.service.advisories.get(world.who("bravo"), patrol.advisories[0].id)
    assert old.resolution == "superseded"


def test_amend_needs_the_current_version(world: World) -> None:
    made = declare(world, "alpha", site(41.0, 36.5))
    world.service.declarations.amend(
        world.who("alpha"), made.declaration.id, 1, feature(site(41.1, 36.5))
    )
    with pytest.raises(VersionConflict):
        world.service.declarations.amend(
            world.who("alpha"), made.declaration.id, 1, feature(site(41.2, 36.5))
        )


def test_cancel_resolves_advisories_and_refuses_further_changes(world: World) -> None:
    made = declare(world, "alpha", site(41.0, 36.5, share_with="all"))
    patrol = declare(world, "bravo", movement(ROUTE, share_with="all"))
    cancelled = world.service.declarations.cancel(world.who("alpha"), made.declaration.id, 1)
    assert cancelled.properties["status"] == Status.cancelled
    advisory = world.service.advisories.get(world.who("bravo"), patrol.advisories[0].id)
    assert advisory.resolution == "declaration_cancelled"
    with pytest.raises(StateConflict):
        world.service.declarations.amend(
            world.who("alpha"), made.declaration.id, 1, feature(site(41.0, 36.5))
        )
    others = [a.other.declaration_id for a in declare(world, "charlie", movement(ROUTE)).advisories]
    assert others == [patrol.declaration.id], (
        "bravo's patrol still conflicts; the cancelled site does not"
    )


def test_expiry_resolves_advisories_and_removes_from_the_engine(world: World) -> None:
    made = declare(world, "alpha", site(41.0, 36.5, hours=3, share_with="all"))
    patrol = declare(world, "bravo", movement(ROUTE, share_with="all"))
    world.clock.advance(timedelta(hours=4))
    assert world.service.declarations.expire_due() == 2, (
        "the site (3 h) and the patrol (ends 08:45) expire"
    )
    assert (
        world.service.declarations.get(world.who("alpha"), made.declaration.id).properties["status"]
        == "expired"
    )
    advisory = world.service.advisories.get(world.who("alpha"), patrol.advisories[0].id)
    assert advisory.resolution == "declaration_expired"
    assert len(world.service.engine) == 0


def test_declaring_something_already_over_is_refused(world: World) -> None:
    world.clock.advance(timedelta(days=2))
    with pytest.raises(InvalidInput) as refused:
        declare(world, "alpha", site(41.0, 36.5, hours=3))
    assert refused.value.problems[0].field == "properties.end"


def test_open_ended_site_goes_stale_until_reconfirmed(world: World) -> None:
    made = declare(world, "alpha", site(41.0, 36.5, hours=None, reconfirm_every_s=86_400))
    declaration_id = made.declaration.id
    assert made.declaration.properties["stale"] is False
    world.clock.advance(timedelta(days=2))
    assert (
        world.service.declarations.get(world.who("alpha"), declaration_id).properties["stale"]
        is True
    )
    reconfirmed = world.service.declarations.reconfirm(world.who("alpha"), declaration_id)
    assert reconfirmed.properties["stale"] is False


def test_stale_sites_are_still_checked(world: World) -> None:
    declare(world, "alpha", site(41.0, 36.5, hours=None, share_with="all"))
    world.clock.advance(timedelta(days=8))
    patrol = declare(
        world, "bravo", movement(ROUTE, start=START + timedelta(days=8, hours=1), share_with="all")
    )
    assert len(patrol.advisories) == 1


def test_only_operators_declare_and_only_the_owner_amends(world: World) -> None:
    with pytest.raises(NotPermitted):
        world.service.declarations.declare(
            world.who("alpha", Role.observer), feature(site(41.0, 36.5))
        )
    made = declare(world, "alpha", site(41.0, 36.5, share_with="all"))
    with pytest.raises(NotFound):
        world.service.declarations.amend(
            world.who("bravo"), made.declaration.id, 1, feature(site(41.0, 36.5))
        )
    with pytest.raises(NotFound):
        world.service.declarations.cancel(world.who("bravo"), made.declaration.id, None)


def test_dry_run_check_stores_nothing(world: World) -> None:
    declare(world, "alpha", site(41.0, 36.5, share_with="all"))
    before = world.service.event_count()
    preview = world.service.declarations.check(world.who("bravo"), feature(movement(ROUTE)))
    assert len(preview) == 1
    assert world.service.event_count() == before
    assert open_advisories(world, "alpha") == []


def test_separation_rules_per_pair_and_category(world: World) -> None:
    host = world.who(None)
    world.service.parties.set_rule(host, "alpha", "bravo", None, 5000)
    world.service.parties.set_rule(host, "alpha", "bravo", "patrol", 12_000)
    declare(world, "alpha", site(41.0, 36.5, share_with="all"))
    eight_km_north = [(40.95, 36.572), (41.05, 36.572)]
    assert declare(world, "charlie", movement(eight_km_north)).advisories == [], (
        "default 1 km applies to charlie"
    )
    assert declare(world, "bravo", movement(eight_km_north, share_with="all")).advisories == [], (
        "5 km for the pair"
    )
    patrol = declare(world, "bravo", movement(eight_km_north, category="patrol", share_with="all"))
    assert len(patrol.advisories) == 1
    assert patrol.advisories[0].closest_approach.separation_m == 12_000
