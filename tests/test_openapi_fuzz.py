"""schemathesis over the OpenAPI spec (DESIGN §8).

0 server errors, 0 responses outside the documented statuses, media types and schemas,
0 schema-violating requests accepted (schemathesis' ``negative_data_rejection``, on by
default with every other built-in check but one, see ``NOT_CHECKED``).

One world per module on a temporary SQLite file, seeded with declarations and advisories
so that lists and maps answer with real items; every generated request, positive and
negative, runs against it with a real member's token. Run time: about a minute.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import positive_data_acceptance

from deconflict.api.app import create_app
from deconflict.core.declarations import DeclarationFeature
from deconflict.core.parties import Role
from deconflict.settings import Settings
from tests.conftest import bearer
from tests.world import START, World, build_world, movement, site

if TYPE_CHECKING:
    from deconflict.service.deconflict import Deconflict

ADMIN_PATHS = r"^/v1/(parties|separation-rules)"
FUZZ_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Not checked: that every schema-valid request is accepted. JSON Schema cannot say what DESIGN §3
# requires (one timestamp per vertex, the geometry types each kind allows, closed rings,
# coordinates in range, a bbox with ordered corners), so the API rightly refuses many
# schema-valid bodies; tests/test_api_input.py covers those rules one by one.
NOT_CHECKED = [positive_data_acceptance]


class ModuleApp:
    """The ASGI app schemathesis talks to: it forwards to the app over this module's world.

    schemathesis needs the spec when pytest collects the tests, before any fixture exists
    (its fixture-based loader does not work with pytest 9). The spec depends on the routes
    only, so until the fixture swaps in the real app, an app without a service serves it:
    it answers /openapi.json and nothing else.
    """

    def __init__(self) -> None:
        no_service = cast("Deconflict", object())
        self.app: Any = create_app(Settings(expiry_interval_s=0), service=no_service)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


MODULE_APP = ModuleApp()
schema = schemathesis.openapi.from_asgi("/openapi.json", MODULE_APP)
# The tests send a real token; left to generate the Authorization header, schemathesis would
# count a case it meant to send without one as invalid input that was accepted. Refusing
# missing and bad tokens is checked by its ignored_auth check and by tests/test_api_input.py.
schema.config.generation.update(with_security_parameters=False)


def _feature(body: dict[str, Any]) -> DeclarationFeature:
    return DeclarationFeature.model_validate_json(json.dumps(body))


def _seed(world: World) -> None:
    """Declarations of every kind and visibility, and advisories between them, to read back."""
    declare = world.service.declarations.declare
    alpha, bravo, charlie = world.who("alpha"), world.who("bravo"), world.who("charlie")
    declare(alpha, _feature(site(40.0, 36.0, share_with=["bravo"], precision_m={"bravo": 5000.0})))
    declare(alpha, _feature(site(40.5, 36.5, hours=None, category="camp", label="open-ended")))
    declare(
        bravo, _feature(movement([(39.9, 36.0), (40.1, 36.0)], share_with="all", buffer_m=50.0))
    )
    declare(charlie, _feature(movement([(40.0, 35.9), (40.0, 36.1)], disclose_conflicts=True)))
    area = site(
        40.2,
        36.2,
        start=START + timedelta(hours=1),
        share_with=["alpha"],
        altitude={"min_m": 0, "max_m": 3000},
    )
    area["properties"]["kind"] = "area"
    area["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[40.1, 36.1], [40.3, 36.1], [40.3, 36.3], [40.1, 36.1]]],
    }
    declare(charlie, _feature(area))


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.sqlite")
    _seed(world)
    spec_only = MODULE_APP.app
    MODULE_APP.app = create_app(world.service.settings, service=world.service)
    yield world
    MODULE_APP.app = spec_only
    world.service.close()


@schema.exclude(path_regex=ADMIN_PATHS).parametrize()
@FUZZ_SETTINGS
def test_as_party_operator(case: Case, fuzz_world: World) -> None:
    case.call_and_validate(headers=bearer(fuzz_world.token("alpha")), excluded_checks=NOT_CHECKED)


@schema.include(path_regex=ADMIN_PATHS).parametrize()
@FUZZ_SETTINGS
def test_as_host_admin(case: Case, fuzz_world: World) -> None:
    case.call_and_validate(headers=bearer(fuzz_world.token(None)), excluded_checks=NOT_CHECKED)


def _call(path: str, method: str, token: str, expected: int = 200, **parts: Any) -> Any:
    """One request built by hand, validated against the spec like a generated one; its JSON body."""
    case = schema[path][method].Case(**parts)
    response = case.call_and_validate(headers=bearer(token), excluded_checks=NOT_CHECKED)
    assert response.status_code == expected, response.text
    return response.json()


def test_real_objects_conform_to_the_spec(fuzz_world: World) -> None:
    """The fuzzer rarely guesses an id, so every read and write of a real object is checked here."""
    operator, liaison = fuzz_world.token("alpha"), fuzz_world.token("alpha", Role.liaison)
    declarations = _call("/v1/declarations", "GET", operator)["items"]
    assert {d["properties"]["party_id"] for d in declarations} == {"alpha", "bravo", "charlie"}
    _call("/v1/map/declarations", "GET", operator, query={"bbox": "39,35,41,37"})
    for declaration in declarations:
        _call(
            "/v1/declarations/{declaration_id}",
            "GET",
            operator,
            path_parameters={"declaration_id": declaration["id"]},
        )

    advisories = _call("/v1/advisories", "GET", operator)["items"]
    assert advisories, "the seeded declarations conflict"
    _call("/v1/map/advisories", "GET", operator)
    for advisory in advisories:
        _call(
            "/v1/advisories/{advisory_id}",
            "GET",
            operator,
            path_parameters={"advisory_id": advisory["id"]},
        )
        _call(
            "/v1/advisories/{advisory_id}/acknowledge",
            "POST",
            liaison,
            path_parameters={"advisory_id": advisory["id"]},
            body={"note": "seen"},
        )

    body = site(41.0, 37.0, label="fuzz")
    declared = _call("/v1/declarations", "POST", operator, expected=201, body=body)["declaration"]
    _call("/v1/declarations/check", "POST", operator, body=body)
    own = {"declaration_id": declared["id"]}
    _call(
        "/v1/declarations/{declaration_id}",
        "PUT",
        operator,
        path_parameters=own,
        query={"version": 1},
        body=body,
    )
    open_ended = _call(
        "/v1/declarations", "POST", operator, expected=201, body=site(41.0, 37.0, hours=None)
    )
    reconfirm = {"declaration_id": open_ended["declaration"]["id"]}
    _call(
        "/v1/declarations/{declaration_id}/reconfirm", "POST", operator, path_parameters=reconfirm
    )
    _call(
        "/v1/declarations/{declaration_id}",
        "DELETE",
        operator,
        path_parameters=own,
        query={"version": 2},
    )
    _call("/v1/me", "GET", operator)
    _call("/v1/separation-rules", "GET", operator)


def test_admin_objects_conform_to_the_spec(fuzz_world: World) -> None:
    host = fuzz_world.token(None)
    _call(
        "/v1/parties",
        "POST",
        host,
        expected=201,
        body={"id": "delta", "name": "Delta", "aliases": ["D"]},
    )
    _call(
        "/v1/parties/{party_id}/members",
        "POST",
        host,
        expected=201,
        path_parameters={"party_id": "delta"},
        body={"name": "delta operator", "role": "operator"},
    )
    members = _call(
        "/v1/parties/{party_id}/members", "GET", host, path_parameters={"party_id": "delta"}
    )
    assert [m["name"] for m in members] == ["delta operator"]
    _call(
        "/v1/separation-rules",
        "PUT",
        host,
        body={"party_a": "alpha", "party_b": "delta", "distance_m": 2500.0},
    )
    assert {p["id"] for p in _call("/v1/parties", "GET", host)} >= {"alpha", "delta"}
    _call("/v1/separation-rules", "GET", host)
