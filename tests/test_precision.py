"""Precision coarsening (DESIGN §4, rule 2): containment, the grid, and what cannot leak.

The ground-distance checks here deliberately use a different method from the module: a
pyproj azimuthal equidistant projection and geodesics, rather than cell units.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import affinity
from shapely.geometry import (
    GeometryCollection,
    LineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
)
from shapely.geometry.base import BaseGeometry

from deconflict.core.precision import (
    DEFAULT_UNDISCLOSED_STEP_S,
    Grid,
    coarsen,
    coarsen_point,
    coarsen_window,
    coarsened_bounds,
    grid_for,
    lat_step,
    lon_step,
    round_distance,
    round_instant,
)

GEOD = pyproj.Geod(ellps="WGS84")
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Mostly northeast Syria; some near the equator (both sides) and around ±70°.
CENTRES = [(41.0, 36.5)] * 5 + [(10.0, 0.05), (-60.0, -0.4), (25.0, 70.0), (-150.0, -70.0)]


# --- strategies -----------------------------------------------------------------------


@st.composite
def placements(draw: st.DrawFn) -> tuple[float, float, float, float]:
    """(lon, lat, precision_m, size_m): where, how coarse, and how big the shape is."""
    lon0, lat0 = draw(st.sampled_from(CENTRES))
    lon = lon0 + draw(st.floats(-0.5, 0.5))
    lat = lat0 + draw(st.floats(-0.5, 0.5))
    # Log-uniform from 50 m to 20 km.
    precision = 50.0 * 400.0 ** draw(st.floats(0.0, 1.0))
    # Shapes from far smaller than a cell to fifty cells, capped at 150 km.
    size = min(precision * 10.0 ** draw(st.floats(-2.0, 1.7)), 150_000.0)
    return lon, lat, precision, size


def _offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    """A point a given number of metres east and north (flat approximation, fine for tests)."""
    dlat = north_m / 110_950.0
    dlon = east_m / (111_320.0 * math.cos(math.radians(lat)))
    return lon + dlon, lat + dlat


@st.composite
def points(draw: st.DrawFn) -> tuple[BaseGeometry, float]:
    lon, lat, precision, _ = draw(placements())
    return Point(lon, lat), precision


@st.composite
def lines(draw: st.DrawFn) -> tuple[BaseGeometry, float]:
    lon, lat, precision, size = draw(placements())
    n = draw(st.integers(2, 25))
    coords = [(lon, lat)]
    for _ in range(n - 1):
        bearing = draw(st.floats(0.0, 2 * math.pi))
        step = size * draw(st.floats(0.0, 1.0)) / math.sqrt(n)
        coords.append(_offset(*coords[-1], step * math.cos(bearing), step * math.sin(bearing)))
    return LineString(coords), precision


def _star(draw: st.DrawFn, lon: float, lat: float, size: float) -> Polygon:
    """A star-shaped (hence simple) polygon around (lon, lat), sometimes with a hole."""
    n = draw(st.integers(3, 14))
    # Jittered even spacing: angles increase and no gap reaches 180°, so the star is simple.
    angles = [2 * math.pi * (k + draw(st.floats(0.0, 0.4))) / n for k in range(n)]
    radii = [size * draw(st.floats(0.2, 1.0)) for _ in range(n)]
    shell = [
        _offset(lon, lat, r * math.cos(a), r * math.sin(a))
        for a, r in zip(angles, radii, strict=True)
    ]
    polygon = Polygon(shell)
    if draw(st.booleans()):
        hole_r = size * 0.1
        hole = [_offset(lon, lat, hole_r * math.cos(a), hole_r * math.sin(a)) for a in (0, 2, 4)]
        holed = Polygon(shell, [hole])
        if holed.is_valid:
            polygon = holed
    return polygon


@st.composite
def polygons(draw: st.DrawFn) -> tuple[BaseGeometry, float]:
    lon, lat, precision, size = draw(placements())
    polygon = _star(draw, lon, lat, size)
    assert polygon.is_valid
    return polygon, precision


@st.composite
def multipolygons(draw: st.DrawFn) -> tuple[BaseGeometry, float]:
    lon, lat, precision, size = draw(placements())
    gap = size * draw(st.floats(2.1, 6.0))
    first = _star(draw, lon, lat, size)
    second = _star(draw, *_offset(lon, lat, gap, 0.0), size)
    multi = MultiPolygon([first, second])
    return (multi if multi.is_valid else first), precision


geometries = st.one_of(points(), lines(), polygons(), multipolygons())


# --- independent checks -----------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _local_projection(lon: float, lat: float) -> tuple[pyproj.Transformer, pyproj.Transformer]:
    local = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +ellps=WGS84 +units=m")
    forward = pyproj.Transformer.from_crs("EPSG:4326", local, always_xy=True)
    back = pyproj.Transformer.from_crs(local, "EPSG:4326", always_xy=True)
    return forward, back


def _ground_neighbourhood(geometry: BaseGeometry, distance_m: float) -> BaseGeometry:
    """Everything within ``distance_m`` of ``geometry`` on the ground, approximated from inside.

    Built in an azimuthal equidistant projection centred on the geometry; the circle is
    approximated by inscribed chords and densified before going back to lon/lat.
    """
    centre = geometry.centroid
    # Centred within a few km of the geometry (rounded, so that transformers can be reused).
    forward, back = _local_projection(round(centre.x, 1), round(centre.y, 1))
    if geometry.length == 0:  # a point, or a line that never moves
        geometry = Point(shapely.get_coordinates(geometry)[0])
    dense = shapely.segmentize(geometry, 0.01)
    projected = shapely.transform(
        dense, lambda xy: np.column_stack(forward.transform(xy[:, 0], xy[:, 1]))
    )
    grown = shapely.segmentize(projected.buffer(distance_m, quad_segs=8), max(distance_m / 8, 5.0))
    return shapely.transform(grown, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))


def _grid(geometry: BaseGeometry, precision: float) -> Grid:
    """The grid coarsen uses, for geometries that do not turn into a polar cap."""
    grid = grid_for(geometry, precision)
    assert grid is not None
    return grid


def _assert_on_grid(result: BaseGeometry, grid: Grid) -> None:
    xy = shapely.get_coordinates(result)
    units = xy / np.array([grid.dlon, grid.dlat])
    assert np.max(np.abs(units - np.round(units))) < 1e-6


def _assert_cells_at_least(result: BaseGeometry, grid: Grid) -> None:
    """Cells are >= p wide where narrowest (highest |lat|) and tall where shortest (lowest)."""
    lats = shapely.get_coordinates(result)[:, 1]
    worst_width_lat = float(lats[np.argmax(np.abs(lats))])
    _, _, width = GEOD.inv(0.0, worst_width_lat, grid.dlon, worst_width_lat)
    assert width >= grid.precision_m
    low = float(lats[np.argmin(np.abs(lats))])
    _, _, height = GEOD.inv(0.0, low, 0.0, low + math.copysign(grid.dlat, low or 1.0))
    assert height >= grid.precision_m


# --- properties -------------------------------------------------------------------------


@PROPERTY
@given(geometries)
def test_coarsened_contains_original_and_a_margin_of_p(case: tuple[BaseGeometry, float]) -> None:
    geometry, precision = case
    result = coarsen(geometry, precision)
    assert result.geom_type in ("Polygon", "MultiPolygon")
    assert result.is_valid
    assert result.covers(geometry)
    assert result.covers(_ground_neighbourhood(geometry, 0.98 * precision))


@PROPERTY
@given(geometries)
def test_every_vertex_is_on_a_grid_of_cells_at_least_p(case: tuple[BaseGeometry, float]) -> None:
    geometry, precision = case
    result = coarsen(geometry, precision)
    grid = _grid(geometry, precision)
    assert grid.precision_m == precision
    assert grid.dlat == lat_step(precision)
    assert grid.dlon == lon_step(precision, grid.band_deg)
    # The band covers every latitude the result reaches.
    assert np.max(np.abs(shapely.get_coordinates(result)[:, 1])) <= grid.band_deg
    _assert_on_grid(result, grid)
    _assert_cells_at_least(result, grid)


@PROPERTY
@given(geometries)
def test_coarsening_is_deterministic(case: tuple[BaseGeometry, float]) -> None:
    geometry, precision = case
    first = coarsen(geometry, precision)
    again = coarsen(shapely.from_wkb(shapely.to_wkb(geometry)), precision)
    assert first.wkb == again.wkb


@PROPERTY
@given(points(), st.floats(0.0, 0.999), st.floats(0.0, 0.999))
def test_a_point_moved_within_its_cell_gives_the_identical_result(
    case: tuple[BaseGeometry, float], fx: float, fy: float
) -> None:
    point, precision = case
    grid = _grid(point, precision)
    west, south, east, north = grid.cell_bounds(*grid.cell_of(point.x, point.y))
    moved = Point(west + fx * (east - west), south + fy * (north - south))
    assert grid.cell_of(moved.x, moved.y) == grid.cell_of(point.x, point.y)
    assert coarsen(moved, precision).wkb == coarsen(point, precision).wkb


@PROPERTY
@given(lines(), st.data())
def test_a_line_whose_vertices_move_within_their_cells_gives_the_identical_result(
    case: tuple[BaseGeometry, float], data: st.DataObject
) -> None:
    # The guard against a "vernier" leak: the result must depend only on the cells.
    line, precision = case
    grid = _grid(line, precision)
    moved = []
    for x, y in shapely.get_coordinates(line):
        west, south, east, north = grid.cell_bounds(*grid.cell_of(x, y))
        fx, fy = data.draw(st.floats(0.0, 0.999)), data.draw(st.floats(0.0, 0.999))
        moved.append((west + fx * (east - west), south + fy * (north - south)))
    assert coarsen(LineString(moved), precision).wkb == coarsen(line, precision).wkb


def test_a_point_moved_a_few_metres_within_its_cell_reveals_nothing() -> None:
    precision = 1_000.0
    grid = _grid(Point(41.0, 36.5), precision)
    cell = grid.cell_of(41.0, 36.5)
    lon, lat = grid.cell_centre(*cell)
    here = coarsen(Point(lon, lat), precision)
    for east, north in [(3.0, 0.0), (0.0, -4.0), (-5.0, 5.0), (200.0, 300.0)]:
        moved = _offset(lon, lat, east, north)
        assert grid.cell_of(*moved) == cell
        assert coarsen(Point(*moved), precision).wkb == here.wkb
    # ... while a move into the next cell does change it: the test above can fail.
    assert coarsen(Point(lon + grid.dlon, lat), precision).wkb != here.wkb


def test_the_grid_is_global_not_anchored_on_the_geometry() -> None:
    # One cell east, the result is the same shape exactly one cell east: the grid is fixed
    # in the world, so its origin cannot give away where the geometry is.
    precision = 500.0
    grid = Grid.for_band(precision, 37)
    lon, lat = grid.cell_centre(*grid.cell_of(41.0, 36.5))
    here = coarsen(Point(lon, lat), precision)
    there = coarsen(Point(lon + grid.dlon, lat), precision)
    assert (
        grid_for(Point(lon, lat), precision)
        == grid
        == grid_for(Point(lon + grid.dlon, lat), precision)
    )
    assert shapely.equals_exact(affinity.translate(here, grid.dlon), there, tolerance=1e-9)
    assert not shapely.equals_exact(here, there, tolerance=1e-9)


def test_the_grid_depends_only_on_precision_and_latitude_band() -> None:
    near_hasakah = _grid(Point(40.75, 36.5), 2_000.0)
    near_tel_tamr = _grid(LineString([(40.3, 36.6), (40.4, 36.7)]), 2_000.0)
    assert near_hasakah.band_deg == near_tel_tamr.band_deg == 37
    assert near_hasakah == near_tel_tamr


def test_a_300_km_route_keeps_a_modest_number_of_vertices() -> None:
    # From near Tel Tamr eastwards, meandering: about 300 km, drawn with 40 vertices.
    route = LineString([(40.3 + 0.07 * k, 36.65 + 0.15 * math.sin(k / 2)) for k in range(40)])
    assert 250_000 < GEOD.geometry_length(route) < 350_000
    for precision in (50.0, 1_000.0, 20_000.0):
        result = coarsen(route, precision)
        assert len(shapely.get_coordinates(result)) < 400
        assert result.covers(route)


def test_a_finely_drawn_route_is_simplified_but_still_contained() -> None:
    # 5,000 vertices 60 m apart, wobbling by tens of metres, as from a GPS track.
    rng = np.random.default_rng(7)
    k = np.arange(5_000)
    lon = 40.3 + k * 0.00067 + rng.normal(0.0, 0.0002, k.size)
    lat = 36.6 + 0.1 * np.sin(k / 700.0) + rng.normal(0.0, 0.0002, k.size)
    track = LineString(np.column_stack([lon, lat]))
    result = coarsen(track, 50.0)
    assert result.covers(track)
    assert result.covers(_ground_neighbourhood(track, 49.0))
    assert len(shapely.get_coordinates(result)) < 1_000


@pytest.mark.parametrize(
    "geometry",
    [
        MultiPoint([(41.0, 36.5), (41.2, 36.6)]),
        GeometryCollection([Point(41.0, 36.5), LineString([(41.1, 36.5), (41.2, 36.55)])]),
        LineString([(10.0, -0.3), (10.2, 0.4)]),  # crosses the equator
        Polygon([(41.0, 36.5), (41.0001, 36.5), (41.0, 36.5001)]),  # far smaller than a cell
        Polygon(
            [(40.0, 36.0), (41.0, 36.0), (41.0, 37.0), (40.0, 37.0)],
            [[(40.2, 36.2), (40.8, 36.2), (40.8, 36.8), (40.2, 36.8)]],
        ),
    ],
)
def test_other_kinds_are_coarsened_to_polygons_that_contain_them(geometry: BaseGeometry) -> None:
    result = coarsen(geometry, 1_000.0)
    assert result.geom_type in ("Polygon", "MultiPolygon")
    assert result.is_valid
    assert result.covers(geometry)
    _assert_on_grid(result, _grid(geometry, 1_000.0))


def test_a_large_hole_survives_coarsening() -> None:
    # A frame 100 km across with a 60 km hole: the hole is far larger than the cells, so Q
    # still sees that the middle is free.
    frame = Polygon(
        [(40.0, 36.0), (41.0, 36.0), (41.0, 37.0), (40.0, 37.0)],
        [[(40.2, 36.2), (40.8, 36.2), (40.8, 36.8), (40.2, 36.8)]],
    )
    result = coarsen(frame, 1_000.0)
    assert not result.covers(Point(40.5, 36.5))


@pytest.mark.parametrize(
    ("geometry", "precision"),
    [
        (Point(41.0, 36.5), 0.0),
        (Point(41.0, 36.5), -5.0),
        (Point(41.0, 36.5), math.nan),
        (Point(41.0, 36.5), math.inf),
        (Point(), 100.0),
        (Point(181.0, 36.5), 100.0),
        (Point(41.0, 90.5), 100.0),
        (Point(41.0, math.nan), 100.0),
    ],
)
def test_refuses_what_cannot_be_coarsened(geometry: BaseGeometry, precision: float) -> None:
    with pytest.raises(ValueError):
        coarsen(geometry, precision)


def test_a_very_coarse_precision_still_gives_a_grid_shape_at_mid_latitudes() -> None:
    point = Point(41.0, 36.5)
    result = coarsen(point, 500_000.0)
    assert result.covers(point)
    assert result.covers(_ground_neighbourhood(point, 490_000.0))
    _assert_on_grid(result, _grid(point, 500_000.0))


@pytest.mark.parametrize(
    ("geometry", "precision", "whole_world"),
    [
        (Point(41.0, 86.0), 100.0, False),
        (Point(-20.0, 84.98), 1_000.0, False),  # only the margin would pass 85°
        (LineString([(10.0, -84.5), (11.0, -84.9)]), 5_000.0, False),
        (Point(41.0, 60.0), 1_000_000.0, False),
        (LineString([(0.0, -60.0), (0.0, 60.0)]), 1_000_000.0, True),
    ],
)
def test_near_the_poles_the_result_is_a_polar_cap_from_a_grid_row(
    geometry: BaseGeometry, precision: float, whole_world: bool
) -> None:
    result = coarsen(geometry, precision)
    assert grid_for(geometry, precision) is None
    assert result.is_valid
    assert result.covers(geometry)
    west, south, east, north = result.bounds
    assert (west, east) == (-180.0, 180.0)
    assert (south == -90.0 and north == 90.0) is whole_world
    # The edge that is not a pole is a row edge of the grid.
    edge = south if north == 90.0 else north
    rows = edge / lat_step(precision)
    assert whole_world or abs(rows - round(rows)) < 1e-9


def test_a_polar_cap_depends_only_on_the_row() -> None:
    dlat = lat_step(100.0)
    row_south = math.floor(86.0 / dlat) * dlat
    cap = coarsen(Point(41.0, 86.0), 100.0)
    assert coarsen(Point(-150.0, row_south + 0.3 * dlat), 100.0).wkb == cap.wkb
    assert coarsen(Point(41.0, row_south - 0.5 * dlat), 100.0).wkb != cap.wkb


# --- coarsened_bounds: where storage may look for a coarsened view --------------------


def _assert_bounds_contain(geometry: BaseGeometry, precision: float) -> None:
    west, south, east, north = coarsened_bounds(geometry, precision)
    result_west, result_south, result_east, result_north = coarsen(geometry, precision).bounds
    assert west <= result_west
    assert south <= result_south
    assert result_east <= east
    assert result_north <= north


@PROPERTY
@given(geometries)
def test_coarsened_bounds_contain_the_coarsened_shape(case: tuple[BaseGeometry, float]) -> None:
    _assert_bounds_contain(*case)


@pytest.mark.parametrize(
    ("geometry", "precision"),
    [
        # Simplified with the largest tolerance, where the growth radius is widest.
        (LineString([(40.3 + 0.0007 * k, 36.6 + 0.01 * math.sin(k)) for k in range(3_000)]), 50.0),
        (Point(41.0, 86.0), 100.0),  # a polar cap
        (LineString([(0.0, -60.0), (0.0, 60.0)]), 1_000_000.0),  # the whole world
        (Point(41.0, 36.5), 1_000_000.0),  # the largest precision allowed
        (Point(179.99, -16.0), 20_000.0),  # reaches past 180°
        (Polygon([(41.0, 36.5), (41.0001, 36.5), (41.0, 36.5001)]), 0.5),  # tiny cells
    ],
)
def test_coarsened_bounds_hold_at_the_extremes(geometry: BaseGeometry, precision: float) -> None:
    _assert_bounds_contain(geometry, precision)


# --- coarsen_point, round_distance, round_instant, coarsen_window ----------------------


def test_coarsen_point_gives_the_centre_of_the_cell() -> None:
    precision = 1_000.0
    lon, lat = coarsen_point(41.0, 36.5, precision)
    grid = Grid.for_band(precision, 37)
    i, j = grid.cell_of(41.0, 36.5)
    assert (lon, lat) == grid.cell_centre(i, j)
    west, south, east, north = grid.cell_bounds(i, j)
    assert west < 41.0 < east
    assert south < 36.5 < north
    _, _, distance = GEOD.inv(41.0, 36.5, lon, lat)
    assert distance <= precision  # at most half a (slightly oversized) cell diagonal


@given(
    st.floats(-179.0, 179.0),
    st.floats(-80.0, 80.0),
    st.floats(50.0, 20_000.0),
    st.floats(0.0, 0.999),
    st.floats(0.0, 0.999),
)
@settings(max_examples=200, deadline=None)
def test_coarsen_point_is_the_same_for_every_point_of_its_cell(
    lon: float, lat: float, precision: float, fx: float, fy: float
) -> None:
    # The cell's grid is sized for the poleward edge of its own row.
    dlat = lat_step(precision)
    j = math.floor(lat / dlat)
    band = max(1, math.ceil(max(abs(j * dlat), abs((j + 1) * dlat))))
    grid = Grid.for_band(precision, band)
    i, _ = grid.cell_of(lon, lat)
    assert coarsen_point(lon, lat, precision) == grid.cell_centre(i, j)
    west, south, east, north = grid.cell_bounds(i, j)
    elsewhere = (west + fx * (east - west), south + fy * (north - south))
    assert coarsen_point(*elsewhere, precision) == grid.cell_centre(i, j)
    poleward = north if abs(north) > abs(south) else south
    _, _, width = GEOD.inv(west, poleward, east, poleward)
    _, _, height = GEOD.inv(west, south, west, north)
    assert min(width, height) >= precision


def test_coarsen_point_near_a_pole_tells_only_the_row() -> None:
    dlat = lat_step(1_000.0)
    lon, lat = coarsen_point(41.0, 88.0, 1_000.0)
    assert lon == 0.0
    assert abs(lat / dlat - 0.5 - round(lat / dlat - 0.5)) < 1e-9
    assert coarsen_point(-120.0, lat, 1_000.0) == (lon, lat)
    assert coarsen_point(41.0, 89.9, 1_000_000.0) == coarsen_point(-100.0, 82.0, 1_000_000.0)
    # The middle of a row that reaches past the pole is kept on the globe.
    assert coarsen_point(41.0, 89.5, 1_400_000.0) == (0.0, 90.0)


def test_coarsen_point_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        coarsen_point(41.0, 91.0, 1_000.0)
    with pytest.raises(ValueError):
        coarsen_point(41.0, 36.5, 0.0)


@pytest.mark.parametrize(
    ("distance", "precision", "expected"),
    [
        (1_990.0, 1_000.0, 1_000.0),
        (2_000.0, 1_000.0, 2_000.0),
        (999.9, 1_000.0, 0.0),
        (0.0, 50.0, 0.0),
        (12_345.6, 10_000.0, 10_000.0),
        (1.0, 0.1, 1.0),
    ],
)
def test_round_distance_rounds_down_to_a_multiple(
    distance: float, precision: float, expected: float
) -> None:
    assert round_distance(distance, precision) == pytest.approx(expected)


@given(st.floats(0.0, 1e7), st.floats(0.5, 1e5))
def test_round_distance_never_reports_more_or_finer(distance: float, precision: float) -> None:
    rounded = round_distance(distance, precision)
    assert rounded <= distance
    assert distance - rounded < precision * (1 + 1e-9)
    assert abs(rounded / precision - round(rounded / precision)) < 1e-6


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_round_distance_refuses_nonsense(bad: float) -> None:
    with pytest.raises(ValueError):
        round_distance(bad, 100.0)


def test_round_instant_floors_to_the_hour_by_default() -> None:
    assert DEFAULT_UNDISCLOSED_STEP_S == 3_600
    t = 1_579_510_800.0  # 2020-01-20T09:00:00Z
    assert round_instant(t) == t
    assert round_instant(t + 3_599.9) == t
    assert round_instant(t + 3_600.0) == t + 3_600.0
    assert round_instant(t + 61.0, 60) == t + 60.0
    assert round_instant(-1.0) == -3_600.0  # before 1970 still floors


@pytest.mark.parametrize("step", [0, -60, 1.5, True])
def test_round_instant_refuses_a_bad_step(step: object) -> None:
    with pytest.raises(ValueError):
        round_instant(1_579_510_800.0, step)  # type: ignore[arg-type]


def test_coarsen_window_contains_the_real_window_in_whole_steps() -> None:
    t = 1_579_510_800.0
    assert coarsen_window(t + 600.0, t + 4_000.0, 3_600) == (t, t + 7_200.0)
    assert coarsen_window(t, t + 3_600.0, 3_600) == (t, t + 3_600.0)
    with pytest.raises(ValueError):
        coarsen_window(t + 1.0, t, 3_600)
