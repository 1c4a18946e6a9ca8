"""``Idempotency-Key``: a retried write answers with the original result and writes nothing twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from fastapi.testclient import TestClient

from deconflict.storage import tables as t
from tests.conftest import bearer
from tests.gate import BatchGate
from tests.world import World, site


def declarations_count(world: World) -> int:
    with world.service.db.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(t.declarations)).scalar_one()
        )


def test_a_retried_declaration_returns_the_first_answer_and_writes_once(
    world: World, api: TestClient
) -> None:
    headers = {**bearer(world.token("alpha")), "Idempotency-Key": "decl-1"}
    body = site(41.0, 36.5, share_with=["bravo"])
    first = api.post("/v1/declarations", json=body, headers=headers)
    events = world.service.event_count()
    again = api.post("/v1/declarations", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert world.service.event_count() == events
    assert declarations_count(world) == 1
    # The key belongs to the member: another member's identical request is a new declaration.
    other = api.post(
        "/v1/declarations",
        json=body,
        headers={**bearer(world.token("bravo")), "Idempotency-Key": "decl-1"},
    )
    assert other.status_code == 201
    assert other.json()["declaration"]["id"] != first.json()["declaration"]["id"]


def test_a_key_reused_for_a_different_request_is_refused_by_name(
    world: World, api: TestClient
) -> None:
    headers = {**bearer(world.token("alpha")), "Idempotency-Key": "k"}
    assert api.post("/v1/declarations", json=site(41.0, 36.5), headers=headers).status_code == 201
    events = world.service.event_count()
    reused = api.post("/v1/declarations", json=site(41.2, 36.5), headers=headers)
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in reused.json()["errors"]] == ["header.Idempotency-Key"]
    assert world.service.event_count() == events


def test_without_a_key_a_repeated_request_writes_twice(world: World, api: TestClient) -> None:
    headers = bearer(world.token("alpha"))
    for _ in range(2):
        assert (
            api.post("/v1/declarations", json=site(41.0, 36.5), headers=headers).status_code == 201
        )
    assert declarations_count(world) == 2


def test_a_refused_write_stores_nothing_and_can_be_retried(world: World, api: TestClient) -> None:
    headers = {**bearer(world.token("alpha")), "Idempotency-Key": "fix-and-retry"}
    made = api.post("/v1/declarations", json=site(41.0, 36.5), headers=headers).json()
    path = f"/v1/declarations/{made['declaration']['id']}"
    amend_headers = {**headers, "Idempotency-Key": "amend-1"}
    stale = api.put(f"{path}?version=9", json=site(41.1, 36.5), headers=amend_headers)
    assert stale.status_code == 409
    fixed = api.put(f"{path}?version=1", json=site(41.1, 36.5), headers=amend_headers)
    assert fixed.status_code == 200
    with world.service.db.connect() as conn:
        keys = {row.key for row in conn.execute(sa.select(t.idempotency_keys.c.key))}
    assert keys == {"fix-and-retry", "amend-1"}


def test_a_concurrent_double_submit_writes_once(world: World, api: TestClient) -> None:
    """Both submissions pass the API's look-up before either is written, and the sequencer
    takes them into one batch: the second finds the first's answer inside that batch."""
    headers = {**bearer(world.token("alpha")), "Idempotency-Key": "double"}
    body = site(41.0, 36.5)
    with BatchGate(world.service.sequencer) as gate, ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(api.post, "/v1/declarations", json=body, headers=headers) for _ in range(2)
        ]
        gate.wait_for(2)
        gate.release()
        answers = [f.result() for f in futures]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
    assert declarations_count(world) == 1


def test_a_retry_in_a_later_batch_is_answered_from_the_first(world: World, api: TestClient) -> None:
    """A retry queued behind a batch that holds the first submission and other writes."""
    headers = {**bearer(world.token("alpha")), "Idempotency-Key": "later"}
    body = site(41.0, 36.5)
    others = [site(40.0 + i / 10, 36.0) for i in range(3)]
    alpha = bearer(world.token("alpha"))
    with BatchGate(world.service.sequencer) as gate, ThreadPoolExecutor(4) as pool:
        first = pool.submit(api.post, "/v1/declarations", json=body, headers=headers)
        rest = [pool.submit(api.post, "/v1/declarations", json=o, headers=alpha) for o in others]
        gate.wait_for(4)
        gate.release()
        answers = [first.result(), *(f.result() for f in rest)]
    assert [a.status_code for a in answers] == [201] * 4
    events = world.service.event_count()
    again = api.post("/v1/declarations", json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == answers[0].json()
    assert world.service.event_count() == events
    assert declarations_count(world) == 4


def test_an_invalid_key_is_refused(world: World, api: TestClient) -> None:
    headers = {**bearer(world.token("alpha")), "Idempotency-Key": "x" * 201}
    answer = api.post("/v1/declarations", json=site(41.0, 36.5), headers=headers)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["header.Idempotency-Key"]
    assert declarations_count(world) == 0
