"""The record hands out event bodies only to parties entitled to them in full.

Being told of an event is not enough: a party that sees a declaration coarsened, or a
conflict only as an undisclosed activity, must not find the exact coordinates in the
record's events or in its exported bundle (DESIGN §4 rules 2-4, §5)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from deconflict.core.parties import Role
from deconflict.service.bundle import export_bundle
from tests.conftest import bearer
from tests.world import World, movement, site

# Coordinates with enough digits that finding them in an answer means the exact geometry leaked.
SITE = (41.012345, 36.498765)
ROUTE = [(40.987654, 36.491234), (41.023456, 36.512345)]


def record_events(api: TestClient, world: World, party: str) -> list[dict[str, Any]]:
    response = api.get("/v1/record/events", headers=bearer(world.token(party, Role.observer)))
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["kind"] for e in events]


def declare(api: TestClient, world: World, party: str, feature: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/declarations", json=feature, headers=bearer(world.token(party)))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_coarsened_recipient_gets_no_exact_geometry_from_the_record(
    api: TestClient, world: World
) -> None:
    declare(
        api,
        world,
        "alpha",
        site(*SITE, share_with=["bravo", "charlie"], precision_m={"bravo": 2000}),
    )
    exact_digits = f"{SITE[0]}"
    charlie = record_events(api, world, "charlie")
    bravo = record_events(api, world, "bravo")
    assert "declaration_declared" in kinds(charlie), "shared exactly: the body is charlie's to read"
    assert exact_digits in json.dumps(charlie)
    assert "declaration_declared" not in kinds(bravo)
    assert exact_digits not in json.dumps(bravo)


def test_an_advisory_body_goes_only_to_recipients_that_see_the_other_side_exactly(
    api: TestClient, world: World
) -> None:
    declare(api, world, "alpha", site(*SITE, share_with=["bravo"], precision_m={"bravo": 2000}))
    raised = declare(api, world, "bravo", movement(ROUTE, share_with=["alpha"]))
    assert len(raised["advisories"]) == 1
    assert "advisory_raised" in kinds(record_events(api, world, "alpha")), (
        "alpha sees bravo's patrol exactly"
    )
    bravo = record_events(api, world, "bravo")
    assert "advisory_raised" not in kinds(bravo), "the encounter's points would locate alpha's site"
    assert f"{SITE[0]}" not in json.dumps(bravo)


def test_an_undisclosed_notice_recipient_gets_no_advisory_body(
    api: TestClient, world: World
) -> None:
    declare(api, world, "alpha", site(*SITE, disclose_conflicts=True))
    raised = declare(api, world, "bravo", movement(ROUTE))
    assert raised["advisories"][0]["disclosure"] == "undisclosed"
    bravo = record_events(api, world, "bravo")
    assert "advisory_raised" not in kinds(bravo)
    assert f"{SITE[0]}" not in json.dumps(bravo)


def test_the_exported_bundle_follows_the_same_rule(api: TestClient, world: World) -> None:
    declare(api, world, "alpha", site(*SITE, share_with=["bravo"], precision_m={"bravo": 2000}))
    declare(api, world, "bravo", movement(ROUTE, share_with=["alpha"]))
    bravo_bundle = json.dumps(export_bundle(world.service, "bravo"), default=str)
    alpha_bundle = json.dumps(export_bundle(world.service, "alpha"), default=str)
    assert f"{SITE[0]}" in alpha_bundle
    assert f"{SITE[0]}" not in bravo_bundle
