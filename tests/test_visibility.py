"""DESIGN §4 through the API: each party sees exactly what was shared with it, at the
precision granted, and advisories reach a side only as far as the rules allow."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from shapely.geometry import shape

from deconflict.core.parties import Role
from tests.conftest import bearer
from tests.world import World, movement, site

ROUTE = [(40.98, 36.49), (41.02, 36.51)]


def post(api: TestClient, world: World, party: str, feature: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/declarations", json=feature, headers=bearer(world.token(party)))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def get(api: TestClient, world: World, party: str, path: str, **params: Any) -> Any:
    return api.get(path, params=params, headers=bearer(world.token(party, Role.observer)))


def test_owner_sees_everything_others_see_only_what_was_shared(
    api: TestClient, world: World
) -> None:
    made = post(api, world, "alpha", site(41.0, 36.5, share_with=["bravo"], label="clinic"))
    declaration_id = made["declaration"]["id"]
    own = get(api, world, "alpha", f"/v1/declarations/{declaration_id}").json()
    assert own["geometry"] == {"type": "Point", "coordinates": [41.0, 36.5]}
    assert own["properties"]["share_with"] == ["bravo"]
    shared = get(api, world, "bravo", f"/v1/declarations/{declaration_id}").json()
    assert shared["geometry"] == own["geometry"], "shared without a precision: exact"
    assert "share_with" not in shared["properties"], (
        "whom else it is shared with is the owner's business"
    )
    assert get(api, world, "charlie", f"/v1/declarations/{declaration_id}").status_code == 404
    charlie_list = get(api, world, "charlie", "/v1/declarations").json()
    assert charlie_list["items"] == []


def test_precision_gives_a_coarsened_geometry_that_contains_the_true_one(
    api: TestClient, world: World
) -> None:
    patrol = movement(ROUTE, share_with=["bravo", "charlie"], precision_m={"bravo": 2000})
    made = post(api, world, "alpha", patrol)
    declaration_id = made["declaration"]["id"]
    coarse = get(api, world, "bravo", f"/v1/declarations/{declaration_id}").json()
    exact = get(api, world, "charlie", f"/v1/declarations/{declaration_id}").json()
    assert coarse["properties"]["coarsened_to_m"] == 2000
    assert exact["properties"]["coarsened_to_m"] is None
    assert coarse["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert shape(coarse["geometry"]).covers(shape(exact["geometry"]))
    assert "times" not in coarse["properties"], "vertex times would pin the route down"
    assert coarse["properties"]["start"] == patrol["properties"]["times"][0]
    assert coarse["properties"]["end"] == patrol["properties"]["times"][-1]


def test_bbox_filters_the_geometry_as_the_viewer_sees_it(api: TestClient, world: World) -> None:
    post(api, world, "alpha", site(41.0, 36.5, share_with=["bravo"], precision_m={"bravo": 5000}))
    # A box 3 km east of the true point: outside the true geometry, inside the coarsened one.
    near = "41.03,36.49,41.04,36.51"
    far = "41.5,36.9,41.6,37.0"
    assert len(get(api, world, "bravo", "/v1/declarations", bbox=near).json()["items"]) == 1
    assert len(get(api, world, "alpha", "/v1/declarations", bbox=near).json()["items"]) == 0
    assert get(api, world, "bravo", "/v1/declarations", bbox=far).json()["items"] == []


def test_advisory_shows_the_other_side_at_the_granted_precision(
    api: TestClient, world: World
) -> None:
    post(api, world, "alpha", site(41.0, 36.5, share_with=["bravo"], precision_m={"bravo": 2000}))
    raised = post(api, world, "bravo", movement(ROUTE, share_with=["alpha"]))
    [for_bravo] = raised["advisories"]
    assert for_bravo["disclosure"] == "full"
    assert for_bravo["closest_approach"]["place_precision_m"] == 2000
    assert for_bravo["closest_approach"]["distance_m"] % 2000 == 0
    [for_alpha] = get(api, world, "alpha", "/v1/advisories").json()["items"]
    assert for_alpha["id"] == for_bravo["id"]
    assert for_alpha["closest_approach"]["place_precision_m"] is None, (
        "alpha sees bravo's patrol exactly"
    )
    assert for_alpha["closest_approach"]["distance_m"] < 10


def test_undisclosed_conflict_notice_reveals_only_party_place_and_hour(
    api: TestClient, world: World
) -> None:
    hidden = post(api, world, "alpha", site(41.0, 36.5, disclose_conflicts=True))
    raised = post(api, world, "bravo", movement(ROUTE))
    [notice] = raised["advisories"]
    assert notice["disclosure"] == "undisclosed"
    assert notice["other"] == {"party_id": "alpha", "declaration_id": None, "version": None}
    approach = notice["closest_approach"]
    assert approach["distance_m"] is None
    assert approach["place_precision_m"] == 10_000
    assert approach["instant_own"].endswith(":00:00Z"), "rounded to the hour"
    assert notice["window_start"] is None
    assert (
        hidden["declaration"]["id"]
        not in api.get(
            f"/v1/advisories/{notice['id']}", headers=bearer(world.token("bravo", Role.liaison))
        ).text
    )
    assert get(api, world, "alpha", "/v1/advisories").json()["items"] == [], (
        "bravo's patrol is hidden from alpha"
    )


def test_a_conflict_neither_side_may_see_reaches_nobody(api: TestClient, world: World) -> None:
    post(api, world, "alpha", site(41.0, 36.5))
    raised = post(api, world, "bravo", movement(ROUTE))
    assert raised["advisories"] == []
    for party in ("alpha", "bravo", "charlie"):
        assert get(api, world, party, "/v1/advisories").json()["items"] == []
        assert get(api, world, party, "/v1/map/advisories").json()["features"] == []


def test_map_layers_follow_the_same_rules(api: TestClient, world: World) -> None:
    post(api, world, "alpha", site(41.0, 36.5, share_with="all", precision_m={"charlie": 1000}))
    post(api, world, "alpha", site(41.5, 36.9))
    for party, expected in (("alpha", 2), ("bravo", 1), ("charlie", 1)):
        layer = get(api, world, party, "/v1/map/declarations").json()
        assert layer["type"] == "FeatureCollection"
        assert len(layer["features"]) == expected
    charlie_feature = get(api, world, "charlie", "/v1/map/declarations").json()["features"][0]
    assert charlie_feature["geometry"]["type"] == "Polygon"
