"""The record inside the service: leaves and checkpoints in the write transaction, proofs over the
API under the visibility rules, party keys and signed acknowledgements."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from deconflict.core.errors import InvalidInput, NotPermitted
from deconflict.core.events import EventKind, NewEvent
from deconflict.core.parties import Role
from deconflict.core.record import (
    MemoryNodeStore,
    MerkleTree,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from deconflict.core.record.acknowledgements import PartyKey, sign_acknowledgement
from deconflict.core.record.leaves import event_leaf
from deconflict.service.bundle import verify_database
from deconflict.storage import queries
from deconflict.storage import tables as t
from deconflict.storage.merkle_store import tree_size
from tests.conftest import bearer
from tests.test_event_log import busy_history, feature
from tests.world import World, movement, site

ROUTE = [(40.98, 36.49), (41.02, 36.51)]


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def latest(world: World) -> Any:
    checkpoint, _ = open_checkpoint(
        world.service.record.checkpoint(), [world.service.record.signer.verifier()]
    )
    return checkpoint


def conflict(world: World, alpha_share: Any = ("bravo",), **bravo: Any) -> str:
    world.service.declarations.declare(
        world.who("alpha"), feature(site(41.0, 36.5, share_with=list(alpha_share)))
    )
    outcome = world.service.declarations.declare(
        world.who("bravo"), feature(movement(ROUTE, **bravo))
    )
    return outcome.advisories[0].id if outcome.advisories else _advisory_of(world, "bravo")


def _advisory_of(world: World, party: str) -> str:
    return world.service.advisories.visible(world.who(party)).items[-1].id


# --- the tree follows the log -------------------------------------------------------------------


def test_every_write_is_covered_by_a_signed_checkpoint_of_the_recomputed_tree(world: World) -> None:
    busy_history(world)
    with world.service.db.connect() as conn:
        events = list(queries.events(conn))
        sizes = [r.size for r in conn.execute(sa.select(t.checkpoints.c.size))]
    expected = MerkleTree(MemoryNodeStore())
    expected.extend(event_leaf(e) for e in events)
    checkpoint = latest(world)
    assert checkpoint.size == len(events) == world.service.event_count()
    assert checkpoint.root_hash == expected.root()
    assert checkpoint.origin == world.service.settings.record_origin
    assert sizes == sorted(set(sizes))
    assert len(sizes) > 10


def test_a_failed_write_leaves_neither_events_nor_leaves(world: World) -> None:
    before = latest(world).size

    def broken(tx: Any) -> None:
        tx.append(
            NewEvent(
                EventKind.party_registered,
                {"party_id": "delta", "name": "D", "aliases": []},
                frozenset({"host"}),
            )
        )
        raise RuntimeError("crash after an append")

    with pytest.raises(RuntimeError):
        world.service.sequencer.write(broken)
    with world.service.db.connect() as conn:
        assert tree_size(conn) == before
    assert latest(world).size == before
    world.service.parties.register(world.who(None), "delta", "Delta", [])
    assert latest(world).size == before + 1
    with world.service.db.connect() as conn:
        assert verify_database(conn, world.service.record.signer.verifier()).ok


def test_rebuild_leaves_the_record_alone_and_it_still_verifies(world: World) -> None:
    busy_history(world)

    def dump() -> list[Any]:
        with world.service.db.connect() as conn:
            return [list(conn.execute(sa.select(table))) for table in t.RECORD_TABLES]

    before = dump()
    world.service.rebuild()
    assert dump() == before
    with world.service.db.connect() as conn:
        verdict = verify_database(conn, world.service.record.signer.verifier())
    assert verdict.ok, verdict.failures
    assert verdict.events == world.service.event_count()


def test_a_database_from_before_the_record_gets_its_tree_on_the_next_write(world: World) -> None:
    with world.service.db.begin() as conn:
        for table in t.RECORD_TABLES:
            conn.execute(table.delete())
    world.service.parties.register(world.who(None), "delta", "Delta", [])
    with world.service.db.connect() as conn:
        verdict = verify_database(conn, world.service.record.signer.verifier())
    assert verdict.ok, verdict.failures
    assert latest(world).size == world.service.event_count()


def test_an_edited_event_row_is_detected_and_located(world: World) -> None:
    busy_history(world)
    with world.service.db.begin() as conn:
        conn.execute(t.events.update().where(t.events.c.seq == 7).values(actor_member="mbr_forged"))
    with world.service.db.connect() as conn:
        verdict = verify_database(conn, world.service.record.signer.verifier())
    assert not verdict.ok
    assert verdict.failures[0][0] == "event 7"
    assert "changed after it was recorded" in verdict.failures[0][1]


def test_edited_nodes_to_match_an_edited_event_still_break_the_signed_roots(world: World) -> None:
    busy_history(world)
    with world.service.db.begin() as conn:
        conn.execute(t.events.update().where(t.events.c.seq == 3).values(actor_member="forged"))
    with world.service.db.connect() as conn:
        event = next(iter(queries.events(conn, 2, 1)))
    with world.service.db.begin() as conn:
        conn.execute(
            t.merkle_nodes.update()
            .where(t.merkle_nodes.c.level == 0, t.merkle_nodes.c.idx == 2)
            .values(hash=event_leaf(event))
        )
    with world.service.db.connect() as conn:
        verdict = verify_database(conn, world.service.record.signer.verifier())
    entries = [entry for entry, _ in verdict.failures]
    assert "event 3" not in entries
    assert "checkpoint 3" in entries, verdict.failures


# --- the API ------------------------------------------------------------------------------------


def test_checkpoint_key_and_consistency_are_public_and_verify(
    api: TestClient, world: World
) -> None:
    first = latest(world).size
    busy_history(world)
    key = api.get("/v1/record/key")
    assert key.headers["content-type"].startswith("text/plain")
    assert key.text.strip() == world.service.record.verifier_key()
    note = api.get("/v1/record/checkpoint").text
    new, _ = open_checkpoint(note, [world.service.record.signer.verifier()])
    old_note = api.get(f"/v1/record/checkpoints/{first}").text
    old, _ = open_checkpoint(old_note, [world.service.record.signer.verifier()])
    proof = api.get("/v1/record/consistency", params={"from": first, "to": new.size}).json()
    verify_consistency(
        first, new.size, [unb64(h) for h in proof["hashes"]], old.root_hash, new.root_hash
    )
    missing = api.get(f"/v1/record/checkpoints/{new.size + 1}")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    beyond = api.get("/v1/record/consistency", params={"from": 1, "to": new.size + 5})
    assert beyond.status_code == 422
    assert beyond.json()["errors"][0]["field"] == "query.to"


def test_inclusion_proofs_follow_visibility(api: TestClient, world: World) -> None:
    private = world.service.declarations.declare(world.who("alpha"), feature(site(41.5, 36.9)))
    seq = latest(world).size
    proof = api.get(
        f"/v1/record/events/{seq}/inclusion", headers=bearer(world.token("alpha"))
    ).json()
    page = api.get(
        "/v1/record/events",
        params={"after": seq - 1, "limit": 1},
        headers=bearer(world.token("alpha")),
    ).json()
    [entry] = page["events"]
    assert private.declaration.id in entry["event"]
    checkpoint = latest(world)
    verify_inclusion(
        unb64(entry["leaf_hash"]),
        seq - 1,
        checkpoint.size,
        [unb64(h) for h in proof["hashes"]],
        checkpoint.root_hash,
    )
    for other in (world.token("bravo"), world.token(None)):
        refused = api.get(f"/v1/record/events/{seq}/inclusion", headers=bearer(other))
        assert refused.status_code == 404
        listed = api.get("/v1/record/events", params={"limit": 500}, headers=bearer(other)).json()
        assert private.declaration.id not in json.dumps(listed)
    assert (
        api.get(
            "/v1/record/events/999999/inclusion", headers=bearer(world.token("alpha"))
        ).status_code
        == 404
    )


def test_host_sees_only_host_events_and_parties_only_theirs(api: TestClient, world: World) -> None:
    busy_history(world)
    host = api.get(
        "/v1/record/events", params={"limit": 500}, headers=bearer(world.token(None))
    ).json()
    assert host["events"]
    assert all('"host"' in e["event"] for e in host["events"])
    charlie = api.get(
        "/v1/record/events", params={"limit": 500}, headers=bearer(world.token("charlie"))
    ).json()
    for entry in charlie["events"]:
        audience = json.loads(entry["event"])["audience"]
        assert "charlie" in audience or "*" in audience


def test_an_undisclosed_recipient_does_not_get_the_advisory_event(world: World) -> None:
    world.service.declarations.declare(
        world.who("alpha"), feature(site(41.0, 36.5, share_with=["bravo"]))
    )
    world.service.declarations.declare(
        world.who("bravo"), feature(movement(ROUTE, disclose_conflicts=True))
    )
    [advisory] = world.service.advisories.visible(world.who("alpha")).items
    assert advisory.other.declaration_id is None, "alpha may not see bravo's movement"
    alpha_events = world.service.record.events(world.who("alpha"), 0, 500).events
    assert all(e.kind != EventKind.advisory_raised for e in alpha_events)
    bravo_events = world.service.record.events(world.who("bravo"), 0, 500).events
    assert any(e.kind == EventKind.advisory_raised for e in bravo_events)


# --- party keys and signed acknowledgements ---------------------------------------------------


def test_only_leadership_manages_keys_and_rotation_is_logged(world: World) -> None:
    first, second = PartyKey.generate(), PartyKey.generate()
    with pytest.raises(NotPermitted):
        world.service.keys.register(world.who("alpha", Role.liaison), first.public_key_b64)
    with pytest.raises(NotPermitted):
        world.service.keys.register(world.who(None), first.public_key_b64)
    leader = world.who("alpha", Role.leadership)
    world.service.keys.register(leader, first.public_key_b64)
    rotated = world.service.keys.register(leader, second.public_key_b64, replaces=first.key_id)
    assert rotated.key_id == second.key_id
    keys = {k.key_id: k for k in world.service.keys.all(world.who("bravo"))}
    assert keys[first.key_id].revoked_seq == rotated.registered_seq + 1
    assert keys[second.key_id].revoked_seq is None
    kinds = [e.kind for e in world.service.record.events(world.who("bravo"), 0, 500).events]
    assert kinds.count(EventKind.party_key_registered) == 2
    assert kinds.count(EventKind.party_key_revoked) == 1


def signed_for(
    world: World, advisory: str, key: PartyKey, note: str | None = None, **changes: Any
) -> dict[str, Any]:
    template = world.service.keys.template(world.who("alpha", Role.liaison), advisory).payload
    return sign_acknowledgement({**template, **changes}, key, world.clock.now(), note)


def test_a_signed_acknowledgement_is_verified_and_recorded(world: World) -> None:
    advisory = conflict(world, share_with=["alpha"])
    key = PartyKey.generate()
    world.service.keys.register(world.who("alpha", Role.leadership), key.public_key_b64)
    liaison = world.who("alpha", Role.liaison)
    world.service.advisories.acknowledge(
        liaison, advisory, "seen", signed_for(world, advisory, key, "seen")
    )
    [event] = [
        e
        for e in world.service.record.events(world.who("bravo"), 0, 500).events
        if e.kind == EventKind.advisory_acknowledged
    ]
    body = json.loads(event.event)["body"]
    assert body["signature"]["payload"]["key_id"] == key.key_id
    assert body["signature"]["payload"]["versions"]["other"]["party_id"] == "bravo"


@pytest.mark.parametrize(
    ("tamper", "field"),
    [
        (lambda s: {**s, "signature": s["signature"][:-4] + "AAA="}, "signed.signature"),
        (lambda s: {**s, "payload": {**s["payload"], "note": "other"}}, "signed.payload.note"),
        (
            lambda s: {**s, "payload": {**s["payload"], "versions": {"own": None, "other": None}}},
            "signed.payload.versions",
        ),
        (
            lambda s: {**s, "payload": {**s["payload"], "event": {"seq": 1, "leaf_hash": "x"}}},
            "signed.payload.event",
        ),
        (lambda s: {**s, "payload": {**s["payload"], "key_id": "0" * 16}}, "signed.payload.key_id"),
        (
            lambda s: {**s, "payload": {**s["payload"], "acknowledged_at": "2019-01-01T00:00:00Z"}},
            "signed.payload.acknowledged_at",
        ),
        (lambda s: {**s, "payload": {**s["payload"], "extra": 1}}, "signed.payload.extra"),
    ],
)
def test_a_bad_signed_acknowledgement_is_refused_naming_the_field(
    world: World, tamper: Any, field: str
) -> None:
    advisory = conflict(world, share_with=["alpha"])
    key = PartyKey.generate()
    world.service.keys.register(world.who("alpha", Role.leadership), key.public_key_b64)
    before = world.service.event_count()
    with pytest.raises(InvalidInput) as refused:
        world.service.advisories.acknowledge(
            world.who("alpha", Role.liaison),
            advisory,
            "seen",
            tamper(signed_for(world, advisory, key, "seen")),
        )
    assert refused.value.problems[0].field == field
    assert world.service.event_count() == before


def test_unsigned_acknowledgements_only_while_the_party_has_no_active_key(
    api: TestClient, world: World
) -> None:
    advisory = conflict(world, share_with=["alpha"])
    key = PartyKey.generate()
    leader = world.who("alpha", Role.leadership)
    world.service.keys.register(leader, key.public_key_b64)
    url = f"/v1/advisories/{advisory}/acknowledge"
    refused = api.post(
        url, json={"note": "seen"}, headers=bearer(world.token("alpha", Role.liaison))
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "signed"
    world.service.keys.revoke(leader, key.key_id, "lost")
    assert (
        api.post(
            url, json={"note": "seen"}, headers=bearer(world.token("alpha", Role.liaison))
        ).status_code
        == 200
    )


def test_a_revoked_key_no_longer_signs(world: World) -> None:
    advisory = conflict(world, share_with=["alpha"])
    old, new = PartyKey.generate(), PartyKey.generate()
    leader = world.who("alpha", Role.leadership)
    world.service.keys.register(leader, old.public_key_b64)
    world.service.keys.register(leader, new.public_key_b64, replaces=old.key_id)
    with pytest.raises(InvalidInput) as refused:
        world.service.advisories.acknowledge(
            world.who("alpha", Role.liaison), advisory, None, signed_for(world, advisory, old)
        )
    assert refused.value.problems[0].field == "signed.payload.key_id"
    world.clock.advance(timedelta(minutes=1))
    view = world.service.advisories.acknowledge(
        world.who("alpha", Role.liaison), advisory, None, signed_for(world, advisory, new)
    )
    assert [a.party_id for a in view.acknowledgements] == ["alpha"]
