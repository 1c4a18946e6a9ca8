"""The bad-input catalogue: every refusal is a 4xx RFC 9457 problem that names the field, and writes nothing.

Each case checks the status, the media type ``application/problem+json``, the problem
fields (type, title, status, detail), the offending field with a reason a person can act
on, and that the refusal left no trace: the event log has not grown and the caller's
list of declarations (every status) is unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from copy import deepcopy
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from deconflict.api.app import create_app
from deconflict.core.geojson import MAX_VERTICES
from deconflict.core.parties import Role
from tests.conftest import bearer
from tests.world import START, World, build_world, iso, movement, site

PROBLEM = "application/problem+json"
ROUTE = [(40.0, 36.0), (40.1, 36.0), (40.2, 36.0)]
SQUARE = [[40.0, 36.0], [40.1, 36.0], [40.1, 36.1], [40.0, 36.1], [40.0, 36.0]]
EVERY_STATUS = {"status": ["active", "cancelled", "expired"]}

# Stand-ins for what JSON cannot carry but a careless client sends anyway; see ``encode``.
NAN, INFINITY, MINUS_INFINITY = "<NaN>", "<Infinity>", "<-Infinity>"
HUGE_INTEGER, HUGE_FLOAT = "<1" + "0" * 400 + ">", "<1e400>"


def encode(body: dict[str, Any]) -> bytes:
    """``body`` as JSON text, with each ``<token>`` string replaced by the bare token (``NaN``, ``1e400``)."""
    text = json.dumps(body)
    for token in (NAN, INFINITY, MINUS_INFINITY, HUGE_INTEGER, HUGE_FLOAT):
        text = text.replace(f'"{token}"', token[1:-1])
    return text.encode()


def changed(feature: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``feature`` with the value at ``path`` (dotted; digits index lists) set."""
    copy = deepcopy(feature)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target: Any = copy
    for part in parents:
        target = target[part]
    target[last] = value
    return copy


def without(feature: dict[str, Any], path: str) -> dict[str, Any]:
    copy = deepcopy(feature)
    *parents, last = path.split(".")
    target: Any = copy
    for part in parents:
        target = target[part]
    del target[last]
    return copy


def area(rings: list[list[list[Any]]], **props: Any) -> dict[str, Any]:
    feature = site(40.0, 36.0, **props)
    feature["properties"]["kind"] = "area"
    feature["geometry"] = {"type": "Polygon", "coordinates": rings}
    return feature


def assert_problem(
    response: httpx.Response, status: int, field: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """The response is the RFC 9457 problem for ``status``; with ``field``, its errors name it for ``reason``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    problem = response.json()
    assert problem["type"] == f"https://deconflict.dev/problems/{status}"
    assert problem["status"] == status
    assert isinstance(problem["title"], str)
    assert problem["title"]
    assert isinstance(problem["detail"], str)
    assert problem["detail"]
    if field is not None:
        assert reason is not None
        reasons = {error["field"]: error["reason"] for error in problem["errors"]}
        assert field in reasons, problem["errors"]
        assert reason.lower() in reasons[field].lower(), reasons[field]
    return problem


# --- fixtures -------------------------------------------------------------------------


Ledger = Callable[[], tuple[int, list[Any]]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world for the module (instead of conftest's one per test): each case checks that it
    wrote nothing, so the cases cannot disturb each other, and the catalogue runs in seconds."""
    built = build_world(tmp_path_factory.mktemp("input") / "input.sqlite")
    yield built
    built.service.close()


@pytest.fixture(scope="module")
def api(world: World) -> Iterator[TestClient]:
    app = create_app(world.service.settings, service=world.service)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def headers(world: World) -> dict[str, str]:
    return bearer(world.token("alpha"))


@pytest.fixture
def ledger(world: World, api: TestClient, headers: dict[str, str]) -> Ledger:
    """What a refused request must leave as it was: the number of events, and alpha's list (every status)."""

    def snapshot() -> tuple[int, list[Any]]:
        items: list[Any] = []
        query: dict[str, Any] = {**EVERY_STATUS, "limit": 500}
        while True:
            page = api.get("/v1/declarations", params=query, headers=headers)
            assert page.status_code == 200, page.text
            items += page.json()["items"]
            if page.json()["next_cursor"] is None:
                return world.service.event_count(), items
            query["cursor"] = page.json()["next_cursor"]

    return snapshot


@pytest.fixture
def existing(api: TestClient, headers: dict[str, str]) -> str:
    """The id of one of alpha's declarations, at version 1, for amending."""
    response = api.post("/v1/declarations", json=site(40.0, 36.0), headers=headers)
    assert response.status_code == 201, response.text
    declaration_id: str = response.json()["declaration"]["id"]
    return declaration_id


# --- bodies: POST /v1/declarations and PUT /v1/declarations/{id} -------------------------

PAST = START - timedelta(days=2)
BOWTIE = [[40.0, 36.0], [40.1, 36.1], [40.1, 36.0], [40.0, 36.1], [40.0, 36.0]]
HOLE = [[40.02, 36.02], [40.04, 36.02], [40.04, 36.04], [40.02, 36.04], [40.02, 36.02]]
TOO_LONG = [(40.0 + i * 1e-5, 36.0) for i in range(MAX_VERTICES + 1)]

BAD_BODIES = [
    # coordinates
    pytest.param(site(500, 36), "geometry.coordinates[0]", "outside -180..180", id="longitude-500"),
    pytest.param(
        site(-180.5, 36), "geometry.coordinates[0]", "outside -180..180", id="longitude-below-range"
    ),
    pytest.param(
        site(40, 90.01), "geometry.coordinates[1]", "outside -90..90", id="latitude-above-range"
    ),
    pytest.param(
        movement([(40, 36), (40, -95)]),
        "geometry.coordinates[1][1]",
        "latitude",
        id="route-latitude",
    ),
    pytest.param(
        area([[SQUARE[0], [181, 36.0], *SQUARE[2:]]]),
        "geometry.coordinates[0][1][0]",
        "longitude",
        id="ring-longitude",
    ),
    pytest.param(site(NAN, 36), "geometry.coordinates[0]", "finite", id="nan-longitude"),
    pytest.param(site(40, INFINITY), "geometry.coordinates[1]", "finite", id="infinite-latitude"),
    pytest.param(
        movement([(40, 36), (MINUS_INFINITY, 36)]),
        "geometry.coordinates[1][0]",
        "finite",
        id="route-minus-infinity",
    ),
    pytest.param(
        site(40, 36, altitude_m=0), "properties.altitude_m", "extra", id="unknown-property"
    ),
    pytest.param(
        changed(site(40, 36), "geometry.coordinates", [40, 36, NAN]),
        "geometry.coordinates[2]",
        "finite",
        id="nan-altitude-position",
    ),
    pytest.param(
        site(HUGE_INTEGER, 36), "geometry.coordinates[0]", "finite", id="huge-integer-longitude"
    ),
    pytest.param(
        site(HUGE_FLOAT, 36), "geometry.coordinates[0]", "finite", id="overflowing-float-longitude"
    ),
    pytest.param(site("40", 36), "geometry.coordinates[0]", "number", id="string-longitude"),
    pytest.param(site(True, 36), "geometry.coordinates[0]", "number", id="boolean-longitude"),
    pytest.param(
        changed(site(40, 36), "geometry.coordinates", [40]),
        "geometry.coordinates",
        "position",
        id="short-position",
    ),
    # polygons
    pytest.param(area([BOWTIE]), "geometry.coordinates", "self-intersection", id="bowtie"),
    pytest.param(area([SQUARE[:-1]]), "geometry.coordinates[0]", "not closed", id="unclosed-ring"),
    pytest.param(
        area([SQUARE, HOLE[:-1]]), "geometry.coordinates[1]", "not closed", id="unclosed-hole"
    ),
    pytest.param(
        area([[SQUARE[0], SQUARE[1], SQUARE[0]]]),
        "geometry.coordinates[0]",
        "at least 4",
        id="ring-of-three",
    ),
    pytest.param(area([]), "geometry.coordinates", "at least 1", id="polygon-without-rings"),
    pytest.param(
        changed(
            area([SQUARE]),
            "geometry",
            {"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE]]},
        ),
        "geometry.coordinates",
        "invalid polygon",
        id="overlapping-multipolygon",
    ),
    pytest.param(
        movement(TOO_LONG),
        "geometry.coordinates",
        f"more than {MAX_VERTICES} vertices",
        id="too-many-vertices",
    ),
    # kind and geometry
    pytest.param(
        changed(site(40, 36), "properties.kind", "area"),
        "geometry.type",
        "not point",
        id="area-as-point",
    ),
    pytest.param(
        changed(movement(ROUTE), "geometry", {"type": "Polygon", "coordinates": [SQUARE]}),
        "geometry.type",
        "not polygon",
        id="movement-as-polygon",
    ),
    pytest.param(
        changed(
            site(40, 36), "geometry", {"type": "LineString", "coordinates": [[40, 36], [41, 36]]}
        ),
        "geometry.type",
        "not linestring",
        id="site-as-linestring",
    ),
    pytest.param(
        changed(site(40, 36), "geometry.type", "GeometryCollection"),
        "geometry.type",
        "input should be",
        id="unsupported-geometry-type",
    ),
    pytest.param(
        changed(site(40, 36), "properties.kind", "convoy"),
        "properties.kind",
        "input should be",
        id="unknown-kind",
    ),
    pytest.param(without(site(40, 36), "properties"), "properties", "required", id="no-properties"),
    # times
    pytest.param(
        changed(movement(ROUTE), "properties.times", movement(ROUTE)["properties"]["times"][:2]),
        "properties.times",
        "2 timestamps for 3 vertices",
        id="times-count",
    ),
    pytest.param(
        changed(movement(ROUTE), "properties.times.2", iso(START)),
        "properties.times[2]",
        "back in time",
        id="times-backwards",
    ),
    pytest.param(
        changed(movement(ROUTE), "properties.times.2", "2020-01-20T09:00:00"),
        "properties.times[2]",
        "time zone",
        id="naive-time-in-times",
    ),
    pytest.param(
        changed(site(40, 36), "properties.start", "2020-01-20T07:00:00"),
        "properties.start",
        "time zone",
        id="naive-start",
    ),
    pytest.param(
        changed(site(40, 36), "properties.end", "2020-01-20 19:00"),
        "properties.end",
        "time zone",
        id="naive-end",
    ),
    pytest.param(
        changed(site(40, 36), "properties.start", "tomorrow"),
        "properties.start",
        "datetime",
        id="start-not-a-time",
    ),
    pytest.param(
        site(40, 36, hours=-1), "properties.end", "after properties.start", id="end-before-start"
    ),
    pytest.param(
        site(40, 36, hours=0), "properties.end", "after properties.start", id="end-equals-start"
    ),
    pytest.param(
        site(40, 36, times=[iso(START)]),
        "properties.times",
        "start and end, not times",
        id="site-with-times",
    ),
    pytest.param(
        changed(movement(ROUTE), "properties.start", iso(START)),
        "properties.start",
        "not start/end",
        id="movement-with-start",
    ),
    pytest.param(
        without(movement(ROUTE), "properties.times"),
        "properties.times",
        "one timestamp per vertex",
        id="movement-without-times",
    ),
    pytest.param(
        without(site(40, 36), "properties.start"),
        "properties.start",
        "needs a start",
        id="site-without-start",
    ),
    pytest.param(
        changed(site(40, 36), "properties.end", "9999-12-31T23:00:00-05:00"),
        "properties.end",
        "between",
        id="end-beyond-year-9999",
    ),
    pytest.param(
        site(40, 36, start=PAST, hours=1), "properties.end", "in the past", id="site-in-the-past"
    ),
    pytest.param(
        movement(ROUTE, start=PAST), "properties.times", "in the past", id="movement-in-the-past"
    ),
    # numbers
    pytest.param(
        site(40, 36, buffer_m="5"), "properties.buffer_m", "valid number", id="string-buffer"
    ),
    pytest.param(site(40, 36, buffer_m=NAN), "properties.buffer_m", "finite", id="nan-buffer"),
    pytest.param(
        site(40, 36, buffer_m=-1),
        "properties.buffer_m",
        "greater than or equal to 0",
        id="negative-buffer",
    ),
    pytest.param(
        movement(ROUTE, schedule_tolerance_s=INFINITY),
        "properties.schedule_tolerance_s",
        "finite",
        id="infinite-tolerance",
    ),
    pytest.param(
        site(40, 36, altitude={"min_m": NAN, "max_m": 100}),
        "properties.altitude.min_m",
        "finite",
        id="nan-altitude",
    ),
    pytest.param(
        site(40, 36, altitude={"min_m": 100, "max_m": 50}),
        "properties.altitude",
        "max_m must not be below min_m",
        id="altitude-upside-down",
    ),
    pytest.param(
        site(40, 36, hours=None, reconfirm_every_s=3600.5),
        "properties.reconfirm_every_s",
        "integer",
        id="fractional-reconfirm",
    ),
    pytest.param(
        site(40, 36, disclose_conflicts="true"),
        "properties.disclose_conflicts",
        "boolean",
        id="string-boolean",
    ),
    # sharing
    pytest.param(
        site(40, 36, share_with=["zulu"]),
        "properties.share_with[0]",
        "no party zulu",
        id="share-with-unknown",
    ),
    pytest.param(
        site(40, 36, share_with=["bravo", "Bravo!"]),
        "properties.share_with[1]",
        "not a party id",
        id="share-with-malformed",
    ),
    pytest.param(
        site(40, 36, share_with=["bravo", "bravo"]),
        "properties.share_with[1]",
        "twice",
        id="share-with-twice",
    ),
    pytest.param(
        site(40, 36, share_with="all", precision_m={"zulu": 500}),
        "properties.precision_m.zulu",
        "no party zulu",
        id="precision-for-unknown",
    ),
    pytest.param(
        site(40, 36, share_with=["bravo"], precision_m={"charlie": 500}),
        "properties.precision_m.charlie",
        "not shared with",
        id="precision-for-unshared",
    ),
    pytest.param(
        site(40, 36, share_with=["bravo"], precision_m={"bravo": INFINITY}),
        "properties.precision_m.bravo",
        "finite",
        id="infinite-precision",
    ),
    pytest.param(
        site(40, 36, share_with=["bravo"], precision_m={"bravo": 0}),
        "properties.precision_m",
        "between 0",
        id="zero-precision",
    ),
    # strictness
    pytest.param(
        site(40, 36, colour="red"),
        "properties.colour",
        "extra inputs are not permitted",
        id="extra-property",
    ),
    pytest.param(
        changed(site(40, 36), "crs", {"type": "name"}),
        "crs",
        "extra inputs are not permitted",
        id="extra-member",
    ),
    pytest.param(
        changed(site(40, 36), "type", "FeatureCollection"),
        "type",
        "input should be 'feature'",
        id="not-a-feature",
    ),
]


@pytest.mark.parametrize(("body", "field", "reason"), BAD_BODIES)
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_bad_declaration_is_refused_and_nothing_is_written(
    api: TestClient,
    headers: dict[str, str],
    ledger: Ledger,
    existing: str,
    method: str,
    body: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    url = "/v1/declarations" if method == "POST" else f"/v1/declarations/{existing}?version=1"
    before = ledger()
    response = api.request(
        method, url, content=encode(body), headers={**headers, "Content-Type": "application/json"}
    )
    assert_problem(response, 422, field, reason)
    assert ledger() == before


def test_the_catalogue_differs_from_a_valid_declaration_only_in_its_fault(
    api: TestClient, headers: dict[str, str]
) -> None:
    """The builders the catalogue starts from make declarations the API accepts."""
    for body in (
        site(40, 36),
        movement(ROUTE),
        area([SQUARE, HOLE]),
        site(40, 36, share_with=["bravo"], precision_m={"bravo": 500}),
    ):
        response = api.post(
            "/v1/declarations",
            content=encode(body),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 201, response.text


# --- the body as a whole: JSON, media type, size ---------------------------------------

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("content", "status", "reason"),
    [
        pytest.param(b'{"type": "Feature", "geometry": ', 400, "eof", id="truncated"),
        pytest.param(b"{'type': 'Feature'}", 400, "json", id="single-quotes"),
        pytest.param(b"", 400, "eof", id="empty"),
        pytest.param(b"\xff\xfe{}", 400, "json", id="not-utf8"),
        pytest.param(b"[]", 422, "object", id="array"),
        pytest.param(b"null", 422, "object", id="null"),
    ],
)
def test_body_that_is_not_a_json_object_is_refused(
    api: TestClient,
    headers: dict[str, str],
    ledger: Ledger,
    content: bytes,
    status: int,
    reason: str,
) -> None:
    before = ledger()
    response = api.post("/v1/declarations", content=content, headers={**headers, **JSON})
    assert_problem(response, status, "body", reason)
    assert ledger() == before


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
    ],
)
def test_body_in_another_media_type_is_refused(
    api: TestClient, headers: dict[str, str], ledger: Ledger, content_type: str | None
) -> None:
    before = ledger()
    sent = headers if content_type is None else {**headers, "Content-Type": content_type}
    response = api.post("/v1/declarations", content=json.dumps(site(40, 36)).encode(), headers=sent)
    problem = assert_problem(response, 415)
    assert "application/json" in problem["detail"]
    assert ledger() == before


def test_geojson_media_type_is_accepted(api: TestClient, headers: dict[str, str]) -> None:
    """The counterpart of the 415 cases: RFC 7946's own media type is JSON too."""
    response = api.post(
        "/v1/declarations",
        content=json.dumps(site(40, 36)).encode(),
        headers={**headers, "Content-Type": "application/geo+json"},
    )
    assert response.status_code == 201, response.text


def _oversized(world: World) -> bytes:
    """A syntactically valid declaration one byte over the limit (padding in the label's whitespace)."""
    limit = world.service.settings.max_body_bytes
    text = json.dumps(site(40, 36)).encode()
    return text[:-1] + b" " * (limit + 1 - len(text)) + b"}"


def test_body_over_the_limit_with_content_length_is_refused(
    world: World, api: TestClient, headers: dict[str, str], ledger: Ledger
) -> None:
    content = _oversized(world)
    assert len(content) == world.service.settings.max_body_bytes + 1
    before = ledger()
    response = api.post("/v1/declarations", content=content, headers={**headers, **JSON})
    assert response.request.headers["content-length"] == str(len(content))
    assert_problem(response, 413, "body", "too large")
    assert ledger() == before


def test_chunked_body_over_the_limit_is_refused(
    world: World, api: TestClient, headers: dict[str, str], ledger: Ledger
) -> None:
    content = _oversized(world)

    def chunks() -> Iterator[bytes]:
        for offset in range(0, len(content), 64 * 1024):
            yield content[offset : offset + 64 * 1024]

    before = ledger()
    response = api.post("/v1/declarations", content=chunks(), headers={**headers, **JSON})
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "body", "too large")
    assert ledger() == before


def test_chunked_body_within_the_limit_is_accepted(
    api: TestClient, headers: dict[str, str]
) -> None:
    """The counterpart of the chunked 413: the limit counts bytes, it does not refuse chunking."""
    content = json.dumps(site(40, 36)).encode()
    response = api.post(
        "/v1/declarations", content=iter([content[:10], content[10:]]), headers={**headers, **JSON}
    )
    assert response.status_code == 201, response.text


# --- authentication ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer ", "Bearer not-a-token", "Basic YWxwaGE6c2VjcmV0", "bearer", "Token dcf_x"],
)
@pytest.mark.parametrize(
    ("method", "url"), [("POST", "/v1/declarations"), ("GET", "/v1/declarations")]
)
def test_missing_or_invalid_token_is_refused(
    api: TestClient, ledger: Ledger, authorization: str | None, method: str, url: str
) -> None:
    before = ledger()
    sent = {**JSON} if authorization is None else {**JSON, "Authorization": authorization}
    body = json.dumps(site(40, 36)).encode() if method == "POST" else None
    response = api.request(method, url, content=body, headers=sent)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert ledger() == before


# --- query and path parameters -----------------------------------------------------------

LISTS = ["/v1/declarations", "/v1/map/declarations"]
PAGED = [*LISTS, "/v1/advisories", "/v1/map/advisories"]


@pytest.mark.parametrize(
    ("urls", "query", "field", "reason"),
    [
        pytest.param(PAGED, "limit=0", "query.limit", "greater than or equal to 1", id="limit-0"),
        pytest.param(
            PAGED, "limit=501", "query.limit", "less than or equal to 500", id="limit-501"
        ),
        pytest.param(PAGED, "limit=ten", "query.limit", "integer", id="limit-not-a-number"),
        pytest.param(PAGED, "cursor=abc", "query.cursor", "not a cursor", id="cursor-letters"),
        pytest.param(PAGED, "cursor=-1", "query.cursor", "not a cursor", id="cursor-negative"),
        pytest.param(
            PAGED, "cursor=%C2%B2", "query.cursor", "not a cursor", id="cursor-superscript-two"
        ),
        pytest.param(
            PAGED, "cursor=" + "9" * 19, "query.cursor", "at most 18", id="cursor-too-long"
        ),
        pytest.param(LISTS, "bbox=1,2,3", "query.bbox", "four", id="bbox-three-numbers"),
        pytest.param(LISTS, "bbox=a,b,c,d", "query.bbox", "four numbers", id="bbox-not-numbers"),
        pytest.param(LISTS, "bbox=nan,0,1,1", "query.bbox", "finite", id="bbox-nan"),
        pytest.param(
            LISTS, "bbox=0,0,200,10", "query.bbox", "within -180..180", id="bbox-out-of-range"
        ),
        pytest.param(
            LISTS, "bbox=0,-91,1,1", "query.bbox", "-90..90", id="bbox-latitude-out-of-range"
        ),
        pytest.param(LISTS, "bbox=10,0,0,10", "query.bbox", "ordered", id="bbox-unordered"),
        pytest.param(
            LISTS, "from=2020-01-20T07:00:00", "query.from", "time zone", id="from-without-zone"
        ),
        pytest.param(LISTS, "to=2020-01-20", "query.to", "rfc 3339", id="to-date-only"),
        pytest.param(LISTS, "from=0.5", "query.from", "rfc 3339", id="from-unix-time"),
        pytest.param(LISTS, "kind=convoy", "query.kind[0]", "input should be", id="unknown-kind"),
        pytest.param(
            LISTS, "status=lost", "query.status[0]", "input should be", id="unknown-status"
        ),
        pytest.param(
            ["/v1/advisories"],
            "status=closed",
            "query.status",
            "input should be",
            id="advisory-status",
        ),
    ],
)
def test_bad_query_parameter_is_refused(
    api: TestClient, headers: dict[str, str], urls: list[str], query: str, field: str, reason: str
) -> None:
    for url in urls:
        assert_problem(api.get(f"{url}?{query}", headers=headers), 422, field, reason)


def test_an_issued_cursor_is_accepted(api: TestClient, headers: dict[str, str]) -> None:
    """The counterpart of the cursor cases: the cursor a page hands out opens the next one."""
    for longitude in (40.0, 40.1):
        assert (
            api.post("/v1/declarations", json=site(longitude, 36), headers=headers).status_code
            == 201
        )
    first = api.get("/v1/declarations?limit=1", headers=headers).json()
    second = api.get(f"/v1/declarations?limit=1&cursor={first['next_cursor']}", headers=headers)
    assert second.status_code == 200, second.text
    assert [d["id"] for d in second.json()["items"]] != [d["id"] for d in first["items"]]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/declarations/a%20b"),
        ("DELETE", "/v1/declarations/" + "x" * 65),
        ("GET", "/v1/advisories/a.b"),
    ],
)
def test_malformed_path_id_is_refused(
    api: TestClient, headers: dict[str, str], ledger: Ledger, method: str, path: str
) -> None:
    before = ledger()
    field = "path.advisory_id" if "advisories" in path else "path.declaration_id"
    assert_problem(api.request(method, path, headers=headers), 422, field, "string should")
    assert ledger() == before


# --- versions and states -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "reason"),
    [("", "required"), ("?version=0", "greater than or equal to 1"), ("?version=one", "integer")],
)
def test_amend_needs_a_version(
    api: TestClient, headers: dict[str, str], ledger: Ledger, existing: str, query: str, reason: str
) -> None:
    before = ledger()
    response = api.put(f"/v1/declarations/{existing}{query}", json=site(41, 36), headers=headers)
    assert_problem(response, 422, "query.version", reason)
    assert ledger() == before


def test_stale_version_is_refused(
    api: TestClient, headers: dict[str, str], ledger: Ledger, existing: str
) -> None:
    amended = api.put(f"/v1/declarations/{existing}?version=1", json=site(41, 36), headers=headers)
    assert amended.status_code == 200, amended.text
    before = ledger()
    for response in (
        api.put(f"/v1/declarations/{existing}?version=1", json=site(42, 36), headers=headers),
        api.delete(f"/v1/declarations/{existing}?version=1", headers=headers),
    ):
        problem = assert_problem(response, 409)
        assert "version 2, not 1" in problem["detail"]
    assert ledger() == before


def test_cancelled_declaration_cannot_be_amended_cancelled_or_reconfirmed(
    api: TestClient, headers: dict[str, str], ledger: Ledger, existing: str
) -> None:
    assert api.delete(f"/v1/declarations/{existing}?version=1", headers=headers).status_code == 200
    before = ledger()
    for response in (
        api.put(f"/v1/declarations/{existing}?version=1", json=site(42, 36), headers=headers),
        api.delete(f"/v1/declarations/{existing}", headers=headers),
        api.delete(f"/v1/declarations/{existing}?version=1", headers=headers),
        api.post(f"/v1/declarations/{existing}/reconfirm", headers=headers),
    ):
        problem = assert_problem(response, 409)
        assert "cancelled" in problem["detail"]
    assert ledger() == before


def test_another_partys_declaration_cannot_be_amended(
    world: World, api: TestClient, ledger: Ledger, existing: str
) -> None:
    before = ledger()
    response = api.put(
        f"/v1/declarations/{existing}?version=1",
        json=site(42, 36),
        headers=bearer(world.token("bravo")),
    )
    assert_problem(response, 404)
    assert ledger() == before


# --- the other bodies: acknowledgements and the host administrator's -------------------------


@pytest.mark.parametrize(
    ("content", "field", "reason"),
    [
        pytest.param(b'{"note": 5}', "note", "valid string", id="number-note"),
        pytest.param(b'{"note": "seen", "by": "me"}', "by", "extra", id="extra-member"),
        pytest.param(
            json.dumps({"note": "x" * 5000}).encode(), "note", "at most", id="note-too-long"
        ),
        pytest.param(b'{"note": "seen"', "body", "eof", id="truncated"),
    ],
)
def test_bad_acknowledgement_is_refused(
    world: World,
    api: TestClient,
    headers: dict[str, str],
    ledger: Ledger,
    content: bytes,
    field: str,
    reason: str,
) -> None:
    theirs = api.post(
        "/v1/declarations",
        json=site(40, 36, share_with=["alpha"]),
        headers=bearer(world.token("bravo")),
    )
    assert theirs.status_code == 201, theirs.text
    mine = api.post("/v1/declarations", json=site(40, 36), headers=headers)
    [advisory] = [
        a
        for a in mine.json()["advisories"]
        if a["other"]["declaration_id"] == theirs.json()["declaration"]["id"]
    ]
    before = ledger()
    response = api.post(
        f"/v1/advisories/{advisory['id']}/acknowledge",
        content=content,
        headers={**bearer(world.token("alpha", Role.liaison)), **JSON},
    )
    assert_problem(response, 400 if field == "body" else 422, field, reason)
    assert ledger() == before


@pytest.mark.parametrize(
    ("url", "body", "field", "reason"),
    [
        pytest.param(
            "/v1/parties", {"id": "Echo!", "name": "Echo"}, "id", "pattern", id="party-id"
        ),
        pytest.param(
            "/v1/parties", {"id": "echo", "name": ""}, "name", "at least 1", id="party-name-empty"
        ),
        pytest.param(
            "/v1/parties",
            {"id": "echo", "name": "Echo", "flag": "x"},
            "flag",
            "extra",
            id="party-extra",
        ),
        pytest.param(
            "/v1/parties/alpha/members",
            {"name": "x", "role": "king"},
            "role",
            "input should be",
            id="member-role",
        ),
        pytest.param(
            "/v1/separation-rules",
            {"party_a": "alpha", "party_b": "bravo", "distance_m": "5"},
            "distance_m",
            "valid number",
            id="rule-string-distance",
        ),
        pytest.param(
            "/v1/separation-rules",
            {"party_a": "alpha", "party_b": "bravo", "distance_m": NAN},
            "distance_m",
            "finite",
            id="rule-nan-distance",
        ),
        pytest.param(
            "/v1/separation-rules",
            {"party_a": "alpha", "party_b": "bravo", "distance_m": 1e9},
            "distance_m",
            "less than or equal",
            id="rule-huge-distance",
        ),
    ],
)
def test_bad_admin_body_is_refused(
    world: World,
    api: TestClient,
    ledger: Ledger,
    url: str,
    body: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    before = ledger()
    method = "PUT" if url == "/v1/separation-rules" else "POST"
    response = api.request(
        method, url, content=encode(body), headers={**bearer(world.token(None)), **JSON}
    )
    assert_problem(response, 422, field, reason)
    assert ledger() == before
