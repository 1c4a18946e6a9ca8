"""Map, bounding-box and time-window queries: SQL prefilters keep a superset, the view decides.

Storage narrows a bounding box by the footprint (where every party's view of a declaration
lies: GiST-indexed PostGIS geometry on PostgreSQL, plain bound columns on SQLite) and a time
window by the reach (GiST over whole-second ranges on PostgreSQL). The service then tests the
geometry as the viewer sees it. These check, on both backends, that the answer is exactly
what filtering every visible view in Python gives, page by page: nothing a viewer would see
is dropped by the prefilter, and nothing is shown that the view does not meet.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from geoalchemy2.shape import to_shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box, shape

from deconflict.core.declarations import Activity, DeclarationFeature
from deconflict.core.visibility import DeclarationView, view_footprint
from deconflict.service.declarations import DeclarationQuery
from deconflict.storage import queries
from deconflict.storage import tables as t
from tests.backends import backend_params, database
from tests.world import START, World, build_world, movement, site

VIEWERS = ("alpha", "bravo", "charlie")
ROUTE = [(40.98, 36.49), (41.02, 36.51), (41.1, 36.45)]
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
Box = tuple[float, float, float, float]


def feature(value: dict[str, Any]) -> DeclarationFeature:
    return DeclarationFeature.model_validate_json(json.dumps(value))


def at(hours: float) -> Any:
    return START + timedelta(hours=hours)


def populate(world: World) -> None:
    """Declarations at many precisions, some near the edges of the grid and of the world."""
    plans: list[tuple[str, dict[str, Any]]] = [
        ("alpha", site(41.0, 36.5, share_with=["bravo", "charlie"], precision_m={"bravo": 5000})),
        (
            "alpha",
            movement(
                ROUTE,
                start=at(1.0) + timedelta(seconds=0.25),
                schedule_tolerance_s=90.5,
                share_with="all",
                precision_m={"bravo": 500, "charlie": 20_000},
            ),
        ),
        ("alpha", site(41.3, 36.7, start=at(3.5), hours=2)),  # shared with nobody
        ("alpha", site(41.0, 86.0, share_with=["bravo"], precision_m={"bravo": 100})),  # a cap
        ("alpha", site(179.99, -16.0, share_with="all", precision_m={"charlie": 20_000})),
        ("alpha", site(41.2, 36.4, start=at(6), hours=None, share_with=["bravo"])),  # open-ended
        ("alpha", site(41.0, 36.5, share_with=["charlie"], precision_m={"charlie": 1_000_000})),
        (
            "bravo",
            site(41.05, 36.52, start=at(0.5), share_with=["alpha"], precision_m={"alpha": 2000}),
        ),
        (
            "charlie",
            movement([(40.9, 36.6), (40.95, 36.62)], start=at(20), share_with=["alpha", "bravo"]),
        ),
    ]
    for party, value in plans:
        world.service.declarations.declare(world.who(party), feature(value))


@pytest.fixture
def mapped(world: World) -> dict[str, list[DeclarationView]]:
    """The populated world's every visible declaration, per viewer, with no filter at all."""
    populate(world)
    return {party: pages(world, party, DeclarationQuery(limit=500)) for party in VIEWERS}


def pages(world: World, party: str, query: DeclarationQuery) -> list[DeclarationView]:
    """Every item of a query, following ``next_cursor`` from page to page."""
    items: list[DeclarationView] = []
    cursor = 0
    while True:
        page = world.service.declarations.visible(world.who(party), replace(query, cursor=cursor))
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        assert len(page.items) == query.limit
        cursor = int(page.next_cursor)


def ids(views: list[DeclarationView]) -> list[str]:
    return [v.id for v in views]


def meeting(views: list[DeclarationView], bbox: Box) -> list[str]:
    """What the viewer sees meeting the box, by the view alone: the reference answer."""
    area = box(*bbox)
    return [v.id for v in views if shape(v.geometry).intersects(area)]


def clipped(west: float, south: float, east: float, north: float) -> Box:
    """A box the API accepts: within the world, corners ordered."""
    west, east = sorted((min(max(west, -180.0), 180.0), min(max(east, -180.0), 180.0)))
    south, north = sorted((min(max(south, -90.0), 90.0), min(max(north, -90.0), 90.0)))
    return west, south, east, north


@st.composite
def boxes_near(draw: st.DrawFn, views: list[DeclarationView]) -> Box:
    """Boxes around one view's edges, from touching them to overlapping or just missing."""
    view = draw(st.sampled_from(views))
    west, south, east, north = shape(view.geometry).bounds
    span = max(east - west, north - south, 1e-6)
    lon = draw(st.sampled_from([west, east, (west + east) / 2])) + span * draw(
        st.sampled_from([0.0, 1e-9, -1e-9]) | st.floats(-0.6, 0.6)
    )
    lat = draw(st.sampled_from([south, north, (south + north) / 2])) + span * draw(
        st.sampled_from([0.0, 1e-9, -1e-9]) | st.floats(-0.6, 0.6)
    )
    width = span * draw(st.sampled_from([0.0]) | st.floats(1e-6, 2.0))
    height = span * draw(st.sampled_from([0.0]) | st.floats(1e-6, 2.0))
    return clipped(lon, lat, lon + width, lat + height)


@PROPERTY
@given(data=st.data())
def test_a_bbox_gives_exactly_the_views_that_meet_it_on_every_page(
    world: World, mapped: dict[str, list[DeclarationView]], data: st.DataObject
) -> None:
    party = data.draw(st.sampled_from(VIEWERS))
    views = mapped[party]
    anywhere = st.tuples(
        st.floats(-180, 180), st.floats(-90, 90), st.floats(-180, 180), st.floats(-90, 90)
    ).map(lambda c: clipped(*c))
    bbox = data.draw(boxes_near(views) | anywhere)
    limit = data.draw(st.integers(1, 3))
    got = pages(world, party, DeclarationQuery(bbox=box(*bbox), limit=limit))
    assert ids(got) == meeting(views, bbox)


@pytest.mark.parametrize(
    ("gap", "seen_by"),
    [
        (0.0, ["bravo"]),  # touching the coarsened view's east edge: it meets the box
        (1e-9, []),  # a hair beyond it: no view meets the box
    ],
)
def test_a_box_beyond_the_true_geometry_finds_only_the_coarsened_view(
    world: World, gap: float, seen_by: list[str]
) -> None:
    made = world.service.declarations.declare(
        world.who("alpha"),
        feature(site(41.0, 36.5, share_with=["bravo", "charlie"], precision_m={"bravo": 5000})),
    )
    coarse = world.service.declarations.get(world.who("bravo"), made.declaration.id)
    east = shape(coarse.geometry).bounds[2]
    bbox = box(east + gap, 36.49, east + gap + 0.01, 36.51)
    for party in VIEWERS:
        found = pages(world, party, DeclarationQuery(bbox=bbox))
        assert ids(found) == ([made.declaration.id] if party in seen_by else []), party


def test_a_box_on_the_true_geometry_finds_it_for_whoever_may_see_it(world: World) -> None:
    shared = world.service.declarations.declare(
        world.who("alpha"),
        feature(site(41.0, 36.5, share_with=["bravo"], precision_m={"bravo": 50_000})),
    )
    world.service.declarations.declare(world.who("alpha"), feature(site(41.0, 36.5)))  # unshared
    tiny = box(40.9999999, 36.4999999, 41.0000001, 36.5000001)
    assert ids(pages(world, "bravo", DeclarationQuery(bbox=tiny))) == [shared.declaration.id]
    assert len(pages(world, "alpha", DeclarationQuery(bbox=tiny))) == 2
    assert pages(world, "charlie", DeclarationQuery(bbox=tiny)) == [], "not shared: not found"


def reach(world: World, declaration_id: str) -> tuple[float, float]:
    with world.service.db.connect() as conn:
        stored = queries.declaration(conn, declaration_id)
    assert stored is not None
    return Activity.of(stored.id, 1, stored.party_id, stored.feature).reach


@PROPERTY
@given(data=st.data())
def test_a_time_window_gives_exactly_what_can_be_active_in_it(
    world: World, mapped: dict[str, list[DeclarationView]], data: st.DataObject
) -> None:
    party = data.draw(st.sampled_from(VIEWERS))
    views = mapped[party]
    windows = {v.id: reach(world, v.id) for v in views}
    edges = sorted({x for w in windows.values() for x in w if math.isfinite(x)})
    instant = st.sampled_from(edges).flatmap(
        lambda x: st.sampled_from([x, x - 0.3, x + 0.3, x - 1.0, x + 1.0, x + 0.75])
    )
    time_from = data.draw(st.none() | instant)
    time_to = data.draw(st.none() | instant)
    expected = [
        v.id
        for v in views
        if (time_to is None or windows[v.id][0] <= time_to)
        and (time_from is None or windows[v.id][1] >= time_from)
    ]
    query = DeclarationQuery(
        time_from=time_from, time_to=time_to, limit=data.draw(st.integers(1, 3))
    )
    assert ids(pages(world, party, query)) == expected


# --- the projection and its indexes -----------------------------------------------------


def footprints(world: World) -> list[tuple[Any, ...]]:
    """Each declaration's footprint (as text on PostgreSQL; NULL on SQLite) and bounds."""
    d = t.declarations
    with world.service.db.connect() as conn:
        geometry = (
            sa.func.ST_AsEWKT(d.c.footprint)
            if conn.dialect.name == "postgresql"
            else sa.cast(d.c.footprint, sa.Text)
        )
        columns = [d.c.id, geometry, d.c.min_lon, d.c.min_lat, d.c.max_lon, d.c.max_lat]
        return [tuple(row) for row in conn.execute(sa.select(*columns).order_by(d.c.id))]


def test_rebuild_reproduces_the_footprint(world: World) -> None:
    populate(world)
    before = footprints(world)
    with world.service.db.begin() as conn:
        conn.execute(t.declarations.update().values(footprint=None, min_lon=0.0, max_lat=0.0))
    assert footprints(world) != before
    world.service.rebuild()
    assert footprints(world) == before


def test_the_footprint_is_the_view_footprint_of_the_current_version(world: World) -> None:
    made = world.service.declarations.declare(
        world.who("alpha"), feature(site(41.0, 36.5, share_with=["bravo"]))
    )
    amended = feature(site(41.4, 36.2, share_with=["bravo"], precision_m={"bravo": 3000}))
    world.service.declarations.amend(world.who("alpha"), made.declaration.id, 1, amended)
    expected = view_footprint(amended)
    d = t.declarations
    with world.service.db.connect() as conn:
        row = conn.execute(sa.select(d).where(d.c.id == made.declaration.id)).one()
    assert (row.min_lon, row.min_lat, row.max_lon, row.max_lat) == expected.bounds
    if world.service.db.dialect.name == "postgresql":
        assert to_shape(row.footprint).equals_exact(expected, 0.0)
    else:
        assert row.footprint is None, "SQLite has no PostGIS: the column stays empty"


@pytest.fixture(params=backend_params()[1:])
def postgres_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with database(request.param, tmp_path) as url:
        built = build_world(tmp_path / "test.sqlite", database_url=url)
        yield built
        built.service.close()


def plan(world: World, query: DeclarationQuery) -> str:
    """PostgreSQL's plan for the declarations query ``visible`` runs, seq scans discouraged.

    The table is tiny, so left to itself the planner would rightly read it whole; with
    sequential scans priced out, the plan shows which index it takes for the filter.
    """
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM declarations" in statement and "declaration_shares" in statement:
            statements.append((statement, parameters))

    sa.event.listen(world.service.db, "before_cursor_execute", record)
    try:
        world.service.declarations.visible(world.who("bravo"), query)
    finally:
        sa.event.remove(world.service.db, "before_cursor_execute", record)
    statement, parameters = statements[0]
    with world.service.db.connect() as conn, conn.begin():
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars()
        return "\n".join(rows)


def test_postgresql_answers_a_bbox_from_the_gist_index(postgres_world: World) -> None:
    populate(postgres_world)
    with postgres_world.service.db.begin() as conn:
        conn.exec_driver_sql("ANALYZE declarations")
    chosen = plan(postgres_world, DeclarationQuery(bbox=box(40.9, 36.4, 41.1, 36.6)))
    assert "Index Cond: (footprint && " in chosen, chosen
    assert "ix_declarations_footprint" in chosen, chosen


def test_postgresql_answers_a_time_window_from_the_gist_index(postgres_world: World) -> None:
    populate(postgres_world)
    with postgres_world.service.db.begin() as conn:
        conn.exec_driver_sql("ANALYZE declarations")
    start = at(2).timestamp()
    chosen = plan(postgres_world, DeclarationQuery(time_from=start, time_to=start + 3600))
    assert "ix_declarations_reach" in chosen, chosen
