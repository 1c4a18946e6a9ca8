"""The cross-party authorisation matrix: every route × method × role × party.

The matrix is checked against the application's own route table, so a route added
without an entry here fails the suite. Each expectation follows three rules:

* no token: 401 (except the public routes);
* a role that may never take the action: 403, the same whatever the object;
* an object of another party that was not shared with the caller's party: 404, and its id
  appears nowhere in any answer that party gets.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from deconflict.core.parties import PARTY_ROLES, Action, Role
from deconflict.core.record.notes import Cosigner
from tests.channel_matrix import channel_matrix
from tests.conftest import bearer
from tests.world import PARTIES, World, movement, site

ANONYMOUS = "anonymous"
HOST = "host"
PRINCIPALS: list[tuple[str, Role | None]] = [
    (ANONYMOUS, None),
    (HOST, Role.host),
    *itertools.product(PARTIES, PARTY_ROLES),
]


@dataclass
class Objects:
    """What alpha and bravo have declared; charlie is involved in nothing."""

    private: str  # alpha's site, shared with nobody
    shared: str  # alpha's site, shared with bravo
    crossing: str  # bravo's movement across `shared`, shared with alpha
    advisory: str  # between `shared` and `crossing`


@dataclass(frozen=True)
class Expect:
    """Who may do what: ``action`` None means any authenticated caller."""

    ok: int
    action: Action | None = None
    public: bool = False
    visible_to: tuple[str, ...] | None = (
        None  # parties that can see the object; None: no object involved
    )


@dataclass(frozen=True)
class Call:
    path: str
    json: Any = None
    params: dict[str, Any] | None = None


def declare(world: World, party: str, feature: dict[str, Any]) -> str:
    outcome = world.service.declarations.declare(world.who(party), DeclarationFeatureOf(feature))
    return outcome.declaration.id


def DeclarationFeatureOf(feature: dict[str, Any]) -> Any:
    import json

    from deconflict.core.declarations import DeclarationFeature

    return DeclarationFeature.model_validate_json(json.dumps(feature))


def make_objects(world: World) -> Objects:
    private = declare(world, "alpha", site(41.5, 36.9, hours=None))
    shared = declare(world, "alpha", site(41.0, 36.5, share_with=["bravo"]))
    crossing_outcome = world.service.declarations.declare(
        world.who("bravo"),
        DeclarationFeatureOf(movement([(40.98, 36.49), (41.02, 36.51)], share_with=["alpha"])),
    )
    assert crossing_outcome.advisories, (
        "the crossing must raise an advisory for the matrix to mean anything"
    )
    return Objects(
        private, shared, crossing_outcome.declaration.id, crossing_outcome.advisories[0].id
    )


counter = itertools.count()


def fresh_private(world: World) -> str:
    return declare(world, "alpha", site(41.5, 36.9, hours=None))


RouteCase = tuple[Expect, Callable[[World, Objects], Call]]


def cosignature_call(world: World) -> Call:
    """A fresh witness, registered by the host, cosigning the latest checkpoint."""
    from deconflict.core.record.notes import Checkpoint, Cosigner, cosign, open_checkpoint

    witness = Cosigner.generate(f"witness.example/{next(counter)}")
    world.service.keys.register_witness(world.who(None), witness.verifier_key())
    note = world.service.record.checkpoint()
    checkpoint, _ = open_checkpoint(note, [world.service.record.signer.verifier()])
    line = cosign(Checkpoint.to_body(checkpoint), witness, 1_700_000_000)
    return Call(
        f"/v1/record/checkpoints/{checkpoint.size}/cosignatures", json={"cosignature": line}
    )


def fresh_public_key() -> str:
    from deconflict.core.record.acknowledgements import PartyKey

    return PartyKey.generate().public_key_b64


def fresh_alpha_key(world: World) -> str:
    view = world.service.keys.register(world.who("alpha", Role.leadership), fresh_public_key())
    return view.key_id


def alpha_registration(world: World) -> int:
    """The seq of alpha's party_registered event: only the host and alpha may see it."""
    page = world.service.record.events(world.who("alpha"), 0, 500)
    return next(e.seq for e in page.events if e.kind == "party_registered")


RECORD_MATRIX: dict[tuple[str, str], RouteCase] = {
    ("GET", "/v1/record/key"): (Expect(200, public=True), lambda w, o: Call("/v1/record/key")),
    ("GET", "/v1/record/checkpoint"): (
        Expect(200, public=True),
        lambda w, o: Call("/v1/record/checkpoint"),
    ),
    ("GET", "/v1/record/checkpoints/{size}"): (
        Expect(200, public=True),
        lambda w, o: Call("/v1/record/checkpoints/1"),
    ),
    ("POST", "/v1/record/checkpoints/{size}/cosignatures"): (
        Expect(200, public=True),
        lambda w, o: cosignature_call(w),
    ),
    ("GET", "/v1/record/consistency"): (
        Expect(200, public=True),
        lambda w, o: Call("/v1/record/consistency", params={"from": 1}),
    ),
    ("GET", "/v1/record/witnesses"): (
        Expect(200, public=True),
        lambda w, o: Call("/v1/record/witnesses"),
    ),
    ("POST", "/v1/record/witnesses"): (
        Expect(201, Action.administer),
        lambda w, o: Call(
            "/v1/record/witnesses",
            json={"vkey": Cosigner.generate(f"w.example/{next(counter)}").verifier_key()},
        ),
    ),
    ("GET", "/v1/record/events"): (Expect(200), lambda w, o: Call("/v1/record/events")),
    ("GET", "/v1/record/events/{seq}/inclusion"): (
        Expect(200, visible_to=("host", "alpha")),
        lambda w, o: Call(f"/v1/record/events/{alpha_registration(w)}/inclusion"),
    ),
    ("GET", "/v1/record/bundle"): (Expect(200), lambda w, o: Call("/v1/record/bundle")),
    ("GET", "/v1/record/party-keys"): (Expect(200), lambda w, o: Call("/v1/record/party-keys")),
    ("POST", "/v1/record/party-keys"): (
        Expect(201, Action.manage_keys),
        lambda w, o: Call("/v1/record/party-keys", json={"public_key": fresh_public_key()}),
    ),
    ("POST", "/v1/record/party-keys/{key_id}/revoke"): (
        Expect(200, Action.manage_keys, visible_to=("alpha",)),
        lambda w, o: Call(f"/v1/record/party-keys/{fresh_alpha_key(w)}/revoke"),
    ),
    ("GET", "/v1/record/advisories/{advisory_id}/acknowledgement"): (
        Expect(200, Action.read, visible_to=("alpha", "bravo")),
        lambda w, o: Call(f"/v1/record/advisories/{o.advisory}/acknowledgement"),
    ),
}

MATRIX: dict[tuple[str, str], RouteCase] = {
    ("GET", "/v1/health"): (Expect(200, public=True), lambda w, o: Call("/v1/health")),
    ("GET", "/openapi.json"): (Expect(200, public=True), lambda w, o: Call("/openapi.json")),
    ("GET", "/docs"): (Expect(200, public=True), lambda w, o: Call("/docs")),
    ("GET", "/docs/oauth2-redirect"): (
        Expect(200, public=True),
        lambda w, o: Call("/docs/oauth2-redirect"),
    ),
    ("GET", "/redoc"): (Expect(200, public=True), lambda w, o: Call("/redoc")),
    # The console: the same files and public basemap data for everyone (src/deconflict/web).
    ("GET", "/"): (Expect(200, public=True), lambda w, o: Call("/")),
    ("GET", "/console/config.json"): (
        Expect(200, public=True),
        lambda w, o: Call("/console/config.json"),
    ),
    ("GET", "/console/places.geojson"): (
        Expect(200, public=True),
        lambda w, o: Call("/console/places.geojson", params={"bbox": "40,36,42,37"}),
    ),
    ("GET", "/console/{path:path}"): (
        Expect(200, public=True),
        lambda w, o: Call("/console/app.js"),
    ),
    ("GET", "/v1/me"): (Expect(200), lambda w, o: Call("/v1/me")),
    ("GET", "/v1/parties"): (Expect(200), lambda w, o: Call("/v1/parties")),
    ("POST", "/v1/parties"): (
        Expect(201, Action.administer),
        lambda w, o: Call("/v1/parties", json={"id": f"party-{next(counter)}", "name": "New"}),
    ),
    ("POST", "/v1/parties/{party_id}/members"): (
        Expect(201, Action.administer),
        lambda w, o: Call("/v1/parties/alpha/members", json={"name": "new", "role": "observer"}),
    ),
    ("GET", "/v1/parties/{party_id}/members"): (
        Expect(200, Action.administer),
        lambda w, o: Call("/v1/parties/alpha/members"),
    ),
    ("GET", "/v1/separation-rules"): (Expect(200), lambda w, o: Call("/v1/separation-rules")),
    ("PUT", "/v1/separation-rules"): (
        Expect(200, Action.administer),
        lambda w, o: Call(
            "/v1/separation-rules",
            json={"party_a": "alpha", "party_b": "bravo", "distance_m": 1500},
        ),
    ),
    ("POST", "/v1/declarations"): (
        Expect(201, Action.declare),
        lambda w, o: Call("/v1/declarations", json=site(42.0, 37.0)),
    ),
    ("POST", "/v1/declarations/check"): (
        Expect(200, Action.declare),
        lambda w, o: Call("/v1/declarations/check", json=site(41.0, 36.5)),
    ),
    ("GET", "/v1/declarations"): (Expect(200, Action.read), lambda w, o: Call("/v1/declarations")),
    ("GET", "/v1/map/declarations"): (
        Expect(200, Action.read),
        lambda w, o: Call("/v1/map/declarations"),
    ),
    ("GET", "/v1/declarations/{declaration_id}"): (
        Expect(200, Action.read, visible_to=("alpha",)),
        lambda w, o: Call(f"/v1/declarations/{o.private}"),
    ),
    ("PUT", "/v1/declarations/{declaration_id}"): (
        Expect(200, Action.declare, visible_to=("alpha",)),
        lambda w, o: Call(
            f"/v1/declarations/{fresh_private(w)}",
            json=site(41.6, 36.9, hours=None),
            params={"version": 1},
        ),
    ),
    ("DELETE", "/v1/declarations/{declaration_id}"): (
        Expect(200, Action.declare, visible_to=("alpha",)),
        lambda w, o: Call(f"/v1/declarations/{fresh_private(w)}"),
    ),
    ("POST", "/v1/declarations/{declaration_id}/reconfirm"): (
        Expect(200, Action.declare, visible_to=("alpha",)),
        lambda w, o: Call(f"/v1/declarations/{o.private}/reconfirm"),
    ),
    ("GET", "/v1/advisories"): (Expect(200, Action.read), lambda w, o: Call("/v1/advisories")),
    ("GET", "/v1/map/advisories"): (
        Expect(200, Action.read),
        lambda w, o: Call("/v1/map/advisories"),
    ),
    ("GET", "/v1/advisories/{advisory_id}"): (
        Expect(200, Action.read, visible_to=("alpha", "bravo")),
        lambda w, o: Call(f"/v1/advisories/{o.advisory}"),
    ),
    ("POST", "/v1/advisories/{advisory_id}/acknowledge"): (
        Expect(200, Action.acknowledge, visible_to=("alpha", "bravo")),
        lambda w, o: Call(f"/v1/advisories/{o.advisory}/acknowledge", json={"note": "seen"}),
    ),
    **RECORD_MATRIX,
    **channel_matrix(Expect, Call),  # threads, meetings, incidents, stream, webhooks, report
}


def app_routes(api: TestClient) -> set[tuple[str, str]]:
    """Every (method, path) the application answers, including routes of included routers."""
    routes = set()
    for context in iter_route_contexts(api.app.routes):  # type: ignore[attr-defined]
        for method in (context.methods or {"GET"}) - {"HEAD", "OPTIONS"}:
            routes.add((method, context.path))
    return routes


def test_every_route_is_in_the_matrix(api: TestClient) -> None:
    routes = app_routes(api)
    assert routes - MATRIX.keys() == set(), "add these routes to the authorisation matrix"
    assert MATRIX.keys() - routes == set(), "the matrix names routes the app no longer has"


def expected_status(expect: Expect, party: str, role: Role | None) -> int:
    if expect.public:
        return expect.ok
    if role is None:
        return 401
    if expect.action is not None and role not in _allowed(expect.action):
        return 403
    if expect.visible_to is not None and party not in expect.visible_to:
        return 404
    return expect.ok


def _allowed(action: Action) -> frozenset[Role]:
    from deconflict.core.parties import PERMISSIONS

    return PERMISSIONS[action]


def hidden_ids(objects: Objects, party: str) -> list[str]:
    """Ids that must never appear in any answer to ``party``."""
    if party == "alpha":
        return []
    if party == "bravo":
        return [objects.private]
    return [objects.private, objects.shared, objects.crossing, objects.advisory]


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
def test_route_answers_each_principal_as_the_rules_say(
    api: TestClient, world: World, method: str, path: str
) -> None:
    objects = make_objects(world)
    expect, build = MATRIX[(method, path)]
    failures = []
    for party, role in PRINCIPALS:
        call = build(world, objects)
        headers = (
            {} if role is None else bearer(world.token(None if party == HOST else party, role))
        )
        response = api.request(
            method, call.path, json=call.json, params=call.params, headers=headers
        )
        want = expected_status(expect, party, role)
        if response.status_code != want:
            failures.append(
                f"{party}/{role}: got {response.status_code}, want {want}: {response.text[:200]}"
            )
        if (response.status_code >= 400 and response.status_code != 404) or want == 404:
            assert (
                response.headers["content-type"].startswith("application/problem+json")
                or expect.public
            )
        for hidden in hidden_ids(objects, party) if party in PARTIES else []:
            asked_for_it = hidden in call.path
            if asked_for_it and response.status_code not in (403, 404):
                failures.append(f"{party}/{role}: answer about {hidden} is {response.status_code}")
            if not asked_for_it and hidden in response.text:
                failures.append(f"{party}/{role}: answer reveals {hidden}")
    assert failures == []
