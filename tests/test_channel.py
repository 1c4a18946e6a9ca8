"""Threads, messages, receipts and meetings: who sees what, and what the record keeps."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient

from deconflict.core.declarations import DeclarationFeature
from deconflict.core.parties import Role
from tests.conftest import bearer
from tests.world import START, World, movement, site


def liaison(world: World, party: str) -> dict[str, str]:
    return bearer(world.token(party, Role.liaison))


def leader(world: World, party: str) -> dict[str, str]:
    return bearer(world.token(party, Role.leadership))


def declare(world: World, party: str, feature: dict[str, object]) -> str:
    f = DeclarationFeature.model_validate_json(json.dumps(feature))
    return world.service.declarations.declare(world.who(party), f).declaration.id


def open_thread(api: TestClient, world: World, **extra: object) -> dict[str, object]:
    body = {"parties": ["bravo"], "subject": "Hittin junction", **extra}
    response = api.post("/v1/threads", json=body, headers=liaison(world, "alpha"))
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


def test_a_thread_is_visible_to_its_parties_only(api: TestClient, world: World) -> None:
    thread = open_thread(api, world, message={"body": "our patrol passes at 08:00"})
    path = f"/v1/threads/{thread['id']}"
    assert thread["parties"] == ["alpha", "bravo"]
    assert api.get(path, headers=liaison(world, "bravo")).status_code == 200
    assert api.get(path, headers=liaison(world, "charlie")).status_code == 404
    listed = api.get("/v1/threads", headers=liaison(world, "charlie")).json()
    assert listed["items"] == []
    message = api.get(path, headers=liaison(world, "bravo")).json()["messages"][0]
    assert message["tier"] == "tactical"
    assert message["needs_ack"] is True
    assert [a["party_id"] for a in message["awaiting"]] == ["bravo"]
    other = api.get(f"/v1/messages/{message['id']}", headers=liaison(world, "charlie"))
    assert other.status_code == 404


def test_references_are_checked_for_the_author_and_filtered_for_each_reader(
    api: TestClient, world: World
) -> None:
    private = declare(world, "alpha", site(41.5, 36.9))
    shared = declare(world, "alpha", site(41.0, 36.5, share_with=["bravo"]))
    thread = open_thread(api, world)
    refs = {"declarations": [private, shared]}
    posted = api.post(
        f"/v1/threads/{thread['id']}/messages",
        json={"body": "see these", "references": refs},
        headers=liaison(world, "alpha"),
    )
    assert posted.status_code == 201
    assert posted.json()["references"]["declarations"] == [private, shared]
    seen_by_bravo = api.get(f"/v1/messages/{posted.json()['id']}", headers=liaison(world, "bravo"))
    assert seen_by_bravo.json()["references"]["declarations"] == [shared]
    assert private not in seen_by_bravo.text

    bravo_guess = api.post(
        f"/v1/threads/{thread['id']}/messages",
        json={"body": "what is this?", "references": {"declarations": [private]}},
        headers=liaison(world, "bravo"),
    )
    assert bravo_guess.status_code == 422
    assert bravo_guess.json()["errors"][0]["field"] == "references.declarations[0]"


def test_bad_messages_are_refused_naming_the_field_and_write_nothing(
    api: TestClient, world: World
) -> None:
    thread = open_thread(api, world)
    before = world.service.event_count()
    cases = [
        ({"body": ""}, "body"),
        ({"body": "x", "tier": "urgent"}, "tier"),
        ({"body": "x", "needs_ack": "yes"}, "needs_ack"),
        ({"body": "x", "extra": 1}, "extra"),
        ({"body": "x", "references": {"advisories": ["adv_nope"]}}, "references.advisories[0]"),
    ]
    for body, field in cases:
        response = api.post(
            f"/v1/threads/{thread['id']}/messages", json=body, headers=liaison(world, "alpha")
        )
        assert response.status_code == 422, body
        assert field in [e["field"] for e in response.json()["errors"]], response.text
    assert world.service.event_count() == before
    bad = api.post(
        "/v1/threads", json={"parties": ["zulu"], "subject": "s"}, headers=liaison(world, "alpha")
    )
    assert [e["field"] for e in bad.json()["errors"]] == ["parties[0]"]
    alone = api.post(
        "/v1/threads", json={"parties": ["alpha"], "subject": "s"}, headers=liaison(world, "alpha")
    )
    assert alone.status_code == 422


def test_operators_read_but_do_not_talk(api: TestClient, world: World) -> None:
    thread = open_thread(api, world)
    response = api.post(
        f"/v1/threads/{thread['id']}/messages",
        json={"body": "hello"},
        headers=bearer(world.token("alpha", Role.operator)),
    )
    assert response.status_code == 403
    assert (
        api.get(f"/v1/threads/{thread['id']}", headers=bearer(world.token("alpha"))).status_code
        == 200
    )


def test_acknowledgements_and_read_receipts_are_recorded(api: TestClient, world: World) -> None:
    thread = open_thread(api, world, message={"body": "confirm the route"})
    message = thread["messages"][0]["id"]  # type: ignore[index]
    read = api.post(
        f"/v1/messages/{message}/read", headers=bearer(world.token("bravo", Role.observer))
    )
    assert read.status_code == 200
    assert read.json()["receipts"][0]["party_id"] == "bravo"
    assert read.json()["receipts"][0]["read_at"] is not None
    events_before = world.service.event_count()
    api.post(f"/v1/messages/{message}/read", headers=bearer(world.token("bravo", Role.observer)))
    assert world.service.event_count() == events_before, "one read receipt per member"
    acked = api.post(
        f"/v1/messages/{message}/acknowledge",
        json={"note": "route confirmed"},
        headers=liaison(world, "bravo"),
    )
    assert acked.json()["awaiting"][0]["status"] == "acknowledged"
    again = api.post(f"/v1/messages/{message}/acknowledge", headers=liaison(world, "bravo"))
    assert again.status_code == 200
    assert world.service.event_count() == events_before + 1, "acknowledging twice changes nothing"


def test_a_thread_about_an_advisory_names_it_only_to_those_who_may_see_it(
    api: TestClient, world: World
) -> None:
    declare(world, "alpha", site(41.0, 36.5, share_with=["bravo"]))
    f = DeclarationFeature.model_validate_json(
        json.dumps(movement([(40.98, 36.49), (41.02, 36.51)], share_with=["alpha"]))
    )
    advisory = world.service.declarations.declare(world.who("bravo"), f).advisories[0].id
    thread = api.post(
        "/v1/threads",
        json={
            "parties": ["bravo", "charlie"],
            "subject": "the crossing",
            "about": {"kind": "advisory", "id": advisory},
        },
        headers=liaison(world, "alpha"),
    ).json()
    assert thread["about"] == {"kind": "advisory", "id": advisory}
    charlie = api.get(f"/v1/threads/{thread['id']}", headers=liaison(world, "charlie"))
    assert charlie.json()["about"] is None
    assert advisory not in charlie.text
    guessed = api.post(
        "/v1/threads",
        json={"parties": ["alpha"], "subject": "x", "about": {"kind": "advisory", "id": advisory}},
        headers=liaison(world, "charlie"),
    )
    assert guessed.status_code == 422
    assert guessed.json()["errors"][0]["field"] == "about.id"


def test_meeting_agenda_minutes_and_acknowledgements(api: TestClient, world: World) -> None:
    first = START + timedelta(hours=1)
    meeting = api.post(
        "/v1/meetings",
        json={"parties": ["bravo"], "title": "weekly", "first_at": first.isoformat()},
        headers=leader(world, "alpha"),
    )
    assert meeting.status_code == 201, meeting.text
    meeting_id = meeting.json()["id"]
    thread = open_thread(api, world, message={"body": "confirm", "tier": "leadership"})
    world.clock.advance(timedelta(days=2))
    world.service.channel.escalate_due()
    agenda = api.get(f"/v1/meetings/{meeting_id}/agenda", headers=leader(world, "bravo")).json()
    assert agenda["meeting_at"].startswith((first + timedelta(days=7)).date().isoformat())
    assert agenda["since"].startswith(first.date().isoformat())
    [item] = agenda["unanswered"]
    assert item["item_id"] == thread["messages"][0]["id"]  # type: ignore[index]
    assert item["on_leadership_agenda"] is True
    assert [e["to"] for e in agenda["escalations"]] == ["agenda"]
    assert (
        api.get(f"/v1/meetings/{meeting_id}/agenda", headers=leader(world, "charlie")).status_code
        == 404
    )

    minutes = {"occurrence": first.isoformat(), "text": "Both sides will use the channel."}
    recorded = api.post(
        f"/v1/meetings/{meeting_id}/minutes", json=minutes, headers=leader(world, "alpha")
    )
    assert recorded.json()["minutes"][0]["awaiting"] == ["alpha", "bravo"]
    ack = {"occurrence": first.isoformat(), "version": 1}
    for party in ("alpha", "bravo"):
        done = api.post(
            f"/v1/meetings/{meeting_id}/minutes/acknowledge", json=ack, headers=leader(world, party)
        )
    assert done.json()["minutes"][0]["awaiting"] == []
    assert done.json()["minutes"][0]["acknowledged_by"] == ["alpha", "bravo"]
    future = {"occurrence": (first + timedelta(days=14)).isoformat(), "text": "x"}
    early = api.post(
        f"/v1/meetings/{meeting_id}/minutes", json=future, headers=leader(world, "alpha")
    )
    assert early.status_code == 422
    assert early.json()["errors"][0]["field"] == "occurrence"
    stale = api.post(
        f"/v1/meetings/{meeting_id}/minutes/acknowledge",
        json={"occurrence": first.isoformat(), "version": 2},
        headers=leader(world, "bravo"),
    )
    assert stale.status_code == 409
