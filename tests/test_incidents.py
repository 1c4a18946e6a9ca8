"""Incidents: each party's own account, side by side and versioned; status; who may see them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deconflict.core.errors import StateConflict
from deconflict.core.incidents import IncidentStatus, Move, transition
from deconflict.core.parties import Role
from tests.conftest import bearer
from tests.world import World, site

FIRE = "An exchange of fire took place near the junction; one soldier was lightly injured."
DENIAL = "We have no information on any exchange of fire."


def liaison(world: World, party: str) -> dict[str, str]:
    return bearer(world.token(party, Role.liaison))


def leader(world: World, party: str) -> dict[str, str]:
    return bearer(world.token(party, Role.leadership))


def report(api: TestClient, world: World, **change: Any) -> dict[str, Any]:
    body = {
        "type": "blocked_passage",
        "occurred_at": "2020-01-20T05:10:00Z",
        "time_precision_s": 600,
        "place": [40.915, 36.7],
        "place_precision_m": 500,
        "place_name": "Hittin junction",
        "summary": "A patrol was blocked at the junction.",
        "involved": ["alpha", "bravo"],
        "casualties": {"killed": 0, "injured": 1, "note": "as reported by alpha"},
    } | change
    response = api.post("/v1/incidents", json=body, headers=liaison(world, "alpha"))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def account(api: TestClient, world: World, incident: str, party: str, text: str) -> dict[str, Any]:
    response = api.post(
        f"/v1/incidents/{incident}/accounts", json={"text": text}, headers=liaison(world, party)
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_transitions() -> None:
    assert transition(IncidentStatus.reported, Move.discuss) is IncidentStatus.under_discussion
    assert transition(IncidentStatus.disputed, Move.settle) is IncidentStatus.settled
    with pytest.raises(StateConflict):
        transition(IncidentStatus.settled, Move.dispute)
    with pytest.raises(StateConflict):
        transition(IncidentStatus.under_discussion, Move.discuss)


def test_two_accounts_side_by_side_never_overwritten(api: TestClient, world: World) -> None:
    incident = report(api, world)
    assert incident["status"] == "reported"
    account(api, world, incident["id"], "alpha", FIRE)
    assert (
        api.get(f"/v1/incidents/{incident['id']}", headers=liaison(world, "alpha")).json()["status"]
        == "reported"
    ), "the reporter's own account does not open the discussion"
    view = account(api, world, incident["id"], "bravo", DENIAL)
    assert view["status"] == "under_discussion"
    sides = {side["party_id"]: side for side in view["accounts"]}
    assert sides["alpha"]["latest"]["text"] == FIRE
    assert sides["bravo"]["latest"]["text"] == DENIAL
    revised = account(api, world, incident["id"], "bravo", DENIAL + " Our patrol withdrew.")
    bravo = next(s for s in revised["accounts"] if s["party_id"] == "bravo")
    assert [v["version"] for v in bravo["versions"]] == [1, 2]
    assert bravo["versions"][0]["text"] == DENIAL, "version 1 is kept as filed"
    assert revised["accounts_filed"] == {"alpha": 1, "bravo": 2}


def test_only_involved_observers_and_shared_parties_see_it(api: TestClient, world: World) -> None:
    incident = report(api, world)
    path = f"/v1/incidents/{incident['id']}"
    assert api.get(path, headers=liaison(world, "charlie")).status_code == 404
    assert api.get("/v1/incidents", headers=liaison(world, "charlie")).json()["items"] == []
    refused = api.post(f"{path}/accounts", json={"text": "x"}, headers=liaison(world, "charlie"))
    assert refused.status_code == 404
    shared = api.post(
        f"{path}/share", json={"party_id": "charlie"}, headers=liaison(world, "bravo")
    )
    assert shared.json()["shared_with"] == ["charlie"]
    assert api.get(path, headers=liaison(world, "charlie")).status_code == 200
    shown_only = api.post(f"{path}/accounts", json={"text": "x"}, headers=liaison(world, "charlie"))
    assert shown_only.status_code == 403, "a party only shown the incident files no account"
    assert (
        api.post(
            f"{path}/share", json={"party_id": "alpha"}, headers=liaison(world, "charlie")
        ).status_code
        == 403
    )


def test_an_observer_files_its_own_account(api: TestClient, world: World) -> None:
    incident = report(api, world, observers=["charlie"])
    view = account(api, world, incident["id"], "charlie", "Our team saw two convoys stop.")
    roles = {s["party_id"]: s["role"] for s in view["accounts"]}
    assert roles == {"alpha": "involved", "bravo": "involved", "charlie": "observer"}


def test_settlement_needs_every_involved_party(api: TestClient, world: World) -> None:
    incident = report(api, world)
    path = f"/v1/incidents/{incident['id']}"
    proposed = api.post(
        f"{path}/settlement",
        json={"text": "Settled through military channels."},
        headers=leader(world, "alpha"),
    )
    assert proposed.json()["status"] == "under_discussion"
    assert proposed.json()["settlement"]["awaiting"] == ["bravo"]
    assert (
        api.post(
            f"{path}/settlement/accept", json={"version": 2}, headers=leader(world, "bravo")
        ).status_code
        == 409
    )
    assert (
        api.post(
            f"{path}/settlement/accept", json={"version": 1}, headers=liaison(world, "bravo")
        ).status_code
        == 403
    )
    settled = api.post(
        f"{path}/settlement/accept", json={"version": 1}, headers=leader(world, "bravo")
    )
    assert settled.json()["status"] == "settled"
    assert settled.json()["settlement"]["accepted_by"] == ["alpha", "bravo"]
    assert api.post(f"{path}/dispute", headers=leader(world, "bravo")).status_code == 409


def test_a_dispute_and_a_later_settlement(api: TestClient, world: World) -> None:
    incident = report(api, world)
    path = f"/v1/incidents/{incident['id']}"
    disputed = api.post(
        f"{path}/dispute", json={"reason": "no fire was exchanged"}, headers=leader(world, "bravo")
    )
    assert disputed.json()["status"] == "disputed"
    api.post(
        f"{path}/settlement",
        json={"text": "Patrols will keep 2 km apart."},
        headers=leader(world, "bravo"),
    )
    done = api.post(
        f"{path}/settlement/accept", json={"version": 1}, headers=leader(world, "alpha")
    )
    assert done.json()["status"] == "settled"


def test_links_are_checked_and_filtered(api: TestClient, world: World) -> None:
    from deconflict.core.declarations import DeclarationFeature

    f = DeclarationFeature.model_validate_json(json.dumps(site(41.5, 36.9)))
    private = world.service.declarations.declare(world.who("alpha"), f).declaration.id
    incident = report(api, world, links={"declarations": [private]})
    assert incident["links"]["declarations"] == [private]
    seen = api.get(f"/v1/incidents/{incident['id']}", headers=liaison(world, "bravo"))
    assert seen.json()["links"]["declarations"] == []
    assert private not in seen.text
    response = api.post(
        "/v1/incidents",
        json={
            "type": "other",
            "occurred_at": "2020-01-20T05:00:00Z",
            "place": [41, 36],
            "summary": "x",
            "involved": ["bravo"],
            "links": {"declarations": [private]},
        },
        headers=liaison(world, "bravo"),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "links.declarations[0]"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "skirmish"}, "type"),
        ({"place": [200, 36]}, "place[0]"),
        ({"occurred_at": "2020-01-20T05:00:00"}, "occurred_at"),
        ({"occurred_at": "2020-02-20T05:00:00Z"}, "occurred_at"),
        ({"occurred_at": "0001-01-01T00:00:00+05:00"}, "occurred_at"),
        ({"involved": ["charlie"]}, "involved"),
        ({"involved": ["alpha", "zulu"]}, "involved[1]"),
        ({"observers": ["alpha"]}, "observers"),
        ({"casualties": {"killed": -1}}, "casualties.killed"),
    ],
)
def test_bad_reports_are_refused_naming_the_field(
    api: TestClient, world: World, change: dict[str, Any], field: str
) -> None:
    body = {
        "type": "close_approach",
        "occurred_at": "2020-01-20T05:00:00Z",
        "place": [41.0, 36.5],
        "summary": "s",
        "involved": ["alpha", "bravo"],
    } | change
    before = world.service.event_count()
    response = api.post("/v1/incidents", json=body, headers=liaison(world, "alpha"))
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]], response.text
    assert world.service.event_count() == before
