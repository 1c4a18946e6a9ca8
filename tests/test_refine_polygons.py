"""The route × polygon refinement (core/refine_polygons.py) against pyproj and shapely.

Each kernel answer is an interval [dist − err, dist + err] that must hold the geodesic
distance from a timed route segment (or point) to a polygon's rings, zero inside it: checked
against shapely in an azimuthal equidistant projection about the polygon and against the
geodesic truth of tests/geodesic_truth.py edge by edge.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Proj
from shapely.geometry import LineString, Point, Polygon

from deconflict.core import refine_polygons
from deconflict.core.kernels import TIME_SLACK_S
from tests.geodesic_truth import GEOD, Array, Geodesic, columns, offset, shares_band, true_minimum


def star(rng: np.random.Generator, lon: float, lat: float, radius: float, n: int) -> list[Any]:
    angles = np.sort(rng.uniform(0, 360, n))
    reach = rng.uniform(0.4, 1.0, n) * radius
    return [offset(lon, lat, float(a), float(r)) for a, r in zip(angles, reach, strict=True)]


def rings_of(polygon: Polygon) -> tuple[Array, Array, Any]:
    rings = [polygon.exterior, *polygon.interiors]
    xy = [np.asarray(r.coords) for r in rings]
    starts = np.cumsum([0] + [len(c) for c in xy]).astype(np.int64)
    allxy = np.concatenate(xy)
    return allxy[:, 0].copy(), allxy[:, 1].copy(), starts


def aeqd_distance(
    polygon: Polygon, other: Any, centre: tuple[float, float], line: Any = None
) -> float:
    """Shapely distance in an azimuthal equidistant projection, with geodesic edges (to
    ``line`` instead of ``polygon`` if given)."""
    proj = Proj(proj="aeqd", lon_0=centre[0], lat_0=centre[1], ellps="WGS84", units="m")

    def dense(coords: Array) -> Array:
        out = [coords[0]]
        for (x0, y0), (x1, y1) in itertools.pairwise(coords):
            _, _, length = GEOD.inv(x0, y0, x1, y1)
            pieces = max(1, math.ceil(length / 20.0))
            if pieces > 1:
                out += [np.array(p) for p in GEOD.npts(x0, y0, x1, y1, pieces - 1)]
            out.append(np.array([x1, y1]))
        xy = np.array(out)
        x, y = proj(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    if line is not None:
        flat: Any = LineString(dense(np.asarray(line.coords)))
    else:
        shell = dense(np.asarray(polygon.exterior.coords))
        flat = Polygon(shell, [dense(np.asarray(h.coords)) for h in polygon.interiors])
    coords = np.asarray(shapely.get_coordinates(other))
    if len(coords) == 1:
        x, y = proj(coords[:, 0], coords[:, 1])
        return float(flat.distance(Point(float(x[0]), float(y[0]))))
    return float(flat.distance(LineString(dense(coords))))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), lat=st.floats(-80.0, 80.0), hole=st.booleans())
def test_segment_polygon_matches_shapely(seed: int, lat: float, hole: bool) -> None:
    rng = np.random.default_rng(seed)
    lon = float(rng.uniform(-180, 180))
    shell = star(rng, lon, lat, float(rng.uniform(300, 3000)), int(rng.integers(4, 12)))
    holes = [star(rng, lon, lat, 150.0, 5)] if hole else []
    polygon = Polygon(shell, holes)
    if not polygon.is_valid:
        return
    xs, ys, starts = rings_of(polygon)
    start = offset(lon, lat, float(rng.uniform(0, 360)), float(rng.uniform(0, 5000)))
    end = offset(*start, float(rng.uniform(0, 360)), float(rng.uniform(0, 10_000)))
    # window: the second half of the segment's instants only (tolerance 0)
    times = (0.0, 100.0, 0.0, 0.0)  # t0, t1, tolerance, slack
    dist, err = refine_polygons.segment_polygon((*start, *end), times, (50.0, 1e9), xs, ys, starts)
    mid = Geodesic(*start, *end).at(np.array([0.5]))
    half = LineString([(float(mid[0][0]), float(mid[1][0])), end])
    ref = aeqd_distance(polygon, half, (lon, lat))
    assert abs(dist - ref) <= err + 0.02 + 1e-5 * ref
    assert err < 0.05
    point_d, point_e = refine_polygons.point_polygon(*end, xs, ys, starts)
    assert abs(point_d - aeqd_distance(polygon, Point(end), (lon, lat))) <= point_e + 0.02


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), lat=st.floats(-85.0, 85.0))
def test_segment_polygon_bounds_hold_against_geodesic_edges(seed: int, lat: float) -> None:
    """Millimetre check: outside the polygon, the truth is the least true_minimum() over its
    edges (only edges within a metre of the nearest in the projection need asking)."""
    rng = np.random.default_rng(seed)
    lon = float(rng.uniform(-180, 180))
    polygon = Polygon(star(rng, lon, lat, float(rng.uniform(300, 3000)), int(rng.integers(4, 8))))
    if not polygon.is_valid:
        return
    xs, ys, starts = rings_of(polygon)
    start = offset(lon, lat, float(rng.uniform(0, 360)), float(rng.uniform(0, 4000)))
    end = offset(*start, float(rng.uniform(0, 360)), float(rng.uniform(0, 10_000)))
    w0 = float(rng.uniform(0.0, 100.0))
    window = (w0, w0 + float(rng.uniform(0.0, 100.0)))
    dist, err = refine_polygons.segment_polygon(
        (*start, *end), (0.0, 100.0, 0.0, 0.0), window, xs, ys, starts
    )
    lo, hi = w0 / 100.0, min(1.0, window[1] / 100.0)
    path = Geodesic(*start, *end)
    plon, plat = path.at(np.array([lo, hi]))
    clipped = LineString(np.column_stack([plon, plat]))
    near = aeqd_distance(polygon, clipped, (lon, lat))
    if near == 0.0:
        assert dist - err <= 1e-7
        return
    ring = np.asarray(polygon.exterior.coords)
    edges = [LineString(ring[k : k + 2]) for k in range(len(ring) - 1)]
    by_edge = [aeqd_distance(Polygon(), e, (lon, lat), clipped) for e in edges]
    truth = min(
        true_minimum(path, Geodesic(*ring[k], *ring[k + 1]), (lo, hi, 0.0, 1.0), 0, 0, 0, math.inf)
        for k in range(len(edges))
        if by_edge[k] <= min(by_edge) + 1.0
    )
    shares_band(err, dist, truth)
    assert err < 0.05


TIMES = (0.0, 1.0, 0.0, 0.0)  # t0, t1, tolerance, slack


def test_containment_holes_and_crossings() -> None:
    lon, lat = 40.0, 36.0
    shell = [offset(lon, lat, az, 3000.0) for az in (45, 135, 225, 315)]
    hole = [offset(lon, lat, az, 800.0) for az in (45, 135, 225, 315)]
    polygon = Polygon(shell, [hole])
    xs, ys, starts = rings_of(polygon)
    inside = offset(lon, lat, 0.0, 1500.0), offset(lon, lat, 90.0, 1500.0)
    in_hole = offset(lon, lat, 0.0, 100.0), offset(lon, lat, 180.0, 100.0)
    across = offset(lon, lat, 270.0, 9000.0), offset(lon, lat, 260.0, 1500.0)
    outside = offset(lon, lat, 0.0, 5000.0), offset(lon, lat, 90.0, 5000.0)
    for ends, zero in ((inside, True), (in_hole, False), (across, True), (outside, False)):
        dist, err = refine_polygons.segment_polygon(
            (*ends[0], *ends[1]), TIMES, (0.0, 1.0), xs, ys, starts
        )
        if zero:
            assert dist == 0.0
            assert err < 0.01
        else:
            ref = aeqd_distance(polygon, LineString(ends), (lon, lat))
            assert ref > 100.0
            assert abs(dist - ref) <= err + 0.02
    late = refine_polygons.segment_polygon(
        (*inside[0], *inside[1]), TIMES, (5.0, 9.0), xs, ys, starts
    )
    assert math.isinf(late[0])
    # polygon × polygon: apart, overlapping, one in the other's hole
    square = Polygon([offset(lon + 0.06, lat, az, 500.0) for az in (0, 90, 180, 270)])
    small = Polygon([offset(lon, lat, az, 200.0) for az in (0, 90, 180, 270)])
    for other, expect in ((square, None), (Polygon(shell), 0.0), (small, None)):
        qx, qy, qs = rings_of(other)
        dist, err = refine_polygons.polygon_polygon(xs, ys, starts, qx, qy, qs)
        ref = aeqd_distance(polygon, other.exterior, (lon, lat)) if expect is None else 0.0
        assert abs(dist - ref) <= err + 0.02 + 1e-5 * ref


def test_batch_matches_single_calls() -> None:
    rng = np.random.default_rng(11)
    polygons = [Polygon(star(rng, 40.0 + 0.05 * k, 36.0, 1500.0, 7)) for k in range(3)]
    polygons = [p if p.is_valid else p.convex_hull for p in polygons]
    parts = [rings_of(p) for p in polygons]
    xs = np.concatenate([p[0] for p in parts])
    ys = np.concatenate([p[1] for p in parts])
    sizes = [len(p[0]) for p in parts]
    ring_start = np.cumsum([0, *sizes]).astype(np.int64)
    part_rings = np.arange(len(parts) + 1, dtype=np.int64)
    segs = [
        columns(39.98 + 0.03 * k, 35.99, 40.03 + 0.03 * k, 36.01, 0.0, 600.0, 60.0, True)
        for k in range(4)
    ]
    q = tuple(np.concatenate([s[f] for s in segs]) for f in range(14))
    place = columns(0.0, 0.0, 1.0, 1.0, 300.0, 1000.0, 0.0, False)
    qi = np.array([0, 1, 2, 3, 1], dtype=np.int64)
    part = np.array([0, 1, 2, 0, 2], dtype=np.int64)
    never = (np.arange(5), np.zeros(5, dtype=bool), np.full(5, -np.inf), np.ones(5))
    dist, err, lower = refine_polygons.segment_polygon_many(
        q, qi, place, np.zeros(5, np.int64), part, part_rings, ring_start, xs, ys, never
    )
    for k in range(5):
        i, p = int(qi[k]), int(part[k])
        ends = (q[0][i], q[1][i], q[2][i], q[3][i])
        one = refine_polygons.segment_polygon(
            ends, (0.0, 600.0, 60.0, 0.0), (300.0, 1000.0), *parts[p]
        )
        assert (dist[k], err[k]) == pytest.approx(one, abs=1e-9)
        times = (0.0, 600.0, 60.0, TIME_SLACK_S)
        d, e = refine_polygons.segment_polygon(ends, times, (300.0, 1000.0), *parts[p])
        assert lower[k] == pytest.approx(d - e, abs=1e-9)
    # A verdict stops measuring a declaration at its first certain pair: with pairs 0-1 of
    # one declaration and 2-4 of another, and the second already settled, only pair 0 is
    # measured when every finite distance is certain.
    groups, settled = np.array([0, 0, 1, 1, 1]), np.array([False, True])
    always = (groups, settled, np.full(5, np.inf), np.ones(5))
    early, early_err, early_lower = refine_polygons.segment_polygon_many(
        q, qi, place, np.zeros(5, np.int64), part, part_rings, ring_start, xs, ys, always
    )
    assert early[0] - early_err[0] <= dist[0] + err[0]
    assert early[0] + early_err[0] >= dist[0] - err[0]
    assert early_lower[0] <= dist[0] + err[0]
    assert np.isinf(early[1:]).all()
    assert np.isinf(early_lower[1:]).all()
    assert settled.all()
    # Each pair its own declaration, none settled: a pair certain on the first sweep's
    # upper bound skips the refinement. Its interval is wider but still holds the distance.
    alone = (np.arange(5), np.zeros(5, dtype=bool), np.full(5, np.inf), np.ones(5))
    quick, quick_err, quick_lower = refine_polygons.segment_polygon_many(
        q, qi, place, np.zeros(5, np.int64), part, part_rings, ring_start, xs, ys, alone
    )
    assert (quick - quick_err <= dist + err + 1e-9).all()
    assert (quick + quick_err >= dist - err - 1e-9).all()
    assert (quick_lower <= dist + err + 1e-9).all()
    assert (quick_err > err + 1e-6).any()  # the shortcut was taken somewhere
