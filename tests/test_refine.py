"""The ECEF refinement (core/refine.py) against pyproj's exact geodesics.

The truth for a pair of timed segments is the least geodesic distance over the feasible
(λ, μ): positions at fraction λ (μ) of each geodesic's length, under the schedule band. The
reference here finds it with pyproj alone: a nested zoom (outer over λ, inner over μ) that
keeps the best grid point and its two neighbours at each level. Both the inner distance (a
point against a geodesic arc) and the outer profile are unimodal, so the zoom converges to
the global minimum; whatever it returns is a real feasible pair's distance, so it is an
upper bound of the truth, and it is within micrometres of it. So the checks are
``dist − err ≤ ref`` (rigorous) and ``dist + err ≥ ref − 10 µm``.
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
from pyproj import Geod, Proj
from shapely.geometry import LineString, Point, Polygon

from deconflict.core import compiled, refine
from deconflict.core.declarations import Activity, Kind
from deconflict.core.kernels import TIME_SLACK_S
from tests.reference import reference

GEOD = Geod(ellps="WGS84")
Array = np.ndarray[Any, np.dtype[np.float64]]
ZOOM_TOLERANCE_M = 1e-5
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def columns(
    lon0: float,
    lat0: float,
    lon1: float,
    lat1: float,
    t0: float,
    t1: float,
    tol: float,
    seg: bool,
    alt: tuple[float, float] = (-math.inf, math.inf),
) -> tuple[Any, ...]:
    """One element as the column tuple compiled.columns() builds."""
    f = [np.array([x], dtype=np.float64) for x in (lon0, lat0, lon1, lat1, t0, t1, tol, 0.0)]
    band = [np.array([alt[0]]), np.array([alt[1]]), np.array([0.5])]
    ids = [np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)]
    return (*f, *band, *ids, np.array([seg]))


class Geodesic:
    """A timed route segment on the ellipsoid, positions by fraction of its length."""

    def __init__(self, lon0: float, lat0: float, lon1: float, lat1: float) -> None:
        self.start = (lon0, lat0)
        az, _, length = GEOD.inv(lon0, lat0, lon1, lat1)
        self.az, self.length = az, length

    def at(self, fractions: Array) -> tuple[Array, Array]:
        n = len(fractions)
        lon, lat, _ = GEOD.fwd(
            np.full(n, self.start[0]),
            np.full(n, self.start[1]),
            np.full(n, self.az),
            self.length * fractions,
        )
        return np.asarray(lon), np.asarray(lat)


def _zoom(lo: Array, hi: Array, cost: Any, points: int, levels: int) -> tuple[Array, Array]:
    """Per row, the least of ``cost`` over [lo, hi] by zooming on the best grid point."""
    if np.all(hi == lo):  # nothing to search (a point, or a single instant)
        return cost(lo[:, None])[:, 0], lo
    grid = np.linspace(0.0, 1.0, points)
    for _ in range(levels):
        xs = lo[:, None] + (hi - lo)[:, None] * grid[None, :]
        values = cost(xs)
        k = np.argmin(values, axis=1)
        rows = np.arange(len(lo))
        best, where = values[rows, k], xs[rows, k]
        lo = xs[rows, np.maximum(k - 1, 0)]
        hi = xs[rows, np.minimum(k + 1, points - 1)]
    return best, where


def true_minimum(
    a: Geodesic,
    b: Geodesic,
    box: tuple[float, float, float, float],
    delta: float,
    da: float,
    db: float,
    band: float,
) -> float:
    """Least geodesic distance over λ ∈ box[0:2], μ ∈ box[2:4], |Δ + λ da − μ db| ≤ band."""
    l0, l1, m0, m1 = box
    if da > 0:  # λ for which some μ ∈ [m0, m1] meets the band
        l0 = max(l0, (m0 * db - band - delta) / da)
        l1 = min(l1, (m1 * db + band - delta) / da)
    elif not (delta - band <= m1 * db and delta + band >= m0 * db):
        return math.inf
    if l0 > l1:
        return math.inf

    def mu_range(lam: Array) -> tuple[Array, Array]:
        if db > 0:
            base = delta + lam * da
            lo = np.clip((base - band) / db, m0, m1)
            hi = np.clip((base + band) / db, m0, m1)
            return lo, np.maximum(hi, lo)
        return np.full(len(lam), m0), np.full(len(lam), m1)

    def profile(lams: Array) -> Array:
        flat = lams.ravel()
        lon_a, lat_a = a.at(flat)
        lo, hi = mu_range(flat)

        def cost(mus: Array) -> Array:
            lon_b, lat_b = b.at(mus.ravel())
            m = mus.shape[1]
            _, _, d = GEOD.inv(np.repeat(lon_a, m), np.repeat(lat_a, m), lon_b, lat_b)
            return np.asarray(d).reshape(mus.shape)

        best, _ = _zoom(lo, hi, cost, 17, 12)
        return best.reshape(lams.shape)

    best, _ = _zoom(np.array([l0]), np.array([l1]), profile, 17, 12)
    return float(best[0])


def offset(lon: float, lat: float, az: float, dist: float) -> tuple[float, float]:
    x, y, _ = GEOD.fwd(lon, lat, az, dist)
    return float(x), float(y)


def _shares_band(err: float, dist: float, ref: float) -> None:
    assert dist - err <= ref + 1e-7, (dist, err, ref)
    assert dist + err >= ref - ZOOM_TOLERANCE_M, (dist, err, ref)


# --- segment × segment -------------------------------------------------------------------


pair_params = st.fixed_dictionaries(
    {
        "lat": st.floats(-85.0, 85.0),
        "lon": st.floats(-180.0, 180.0),
        "az_a": st.floats(0.0, 360.0),
        "len_a": st.one_of(st.just(0.0), st.floats(1.0, 10_000.0)),
        "along": st.floats(0.0, 1.0),
        "gap_az": st.floats(0.0, 360.0),
        "gap": st.one_of(st.just(0.0), st.floats(0.0, 3_000.0)),
        "az_b": st.floats(0.0, 360.0),
        "len_b": st.one_of(st.just(0.0), st.floats(1.0, 10_000.0)),
        "back": st.floats(0.0, 1.0),
        "da": st.one_of(st.just(0.0), st.floats(60.0, 3600.0)),
        "db": st.one_of(st.just(0.0), st.floats(60.0, 3600.0)),
        "shift": st.floats(-3600.0, 3600.0),
        "tol_a": st.sampled_from([0.0, 60.0, 300.0, 900.0]),
        "tol_b": st.sampled_from([0.0, 60.0, 300.0, 900.0]),
        "strict": st.booleans(),
    }
)


def _segments(p: dict[str, Any]) -> tuple[float, ...]:
    """Segment a, and b passing ``gap`` metres from a point of a (near each other)."""
    lon0, lat0 = p["lon"], p["lat"]
    lon1, lat1 = offset(lon0, lat0, p["az_a"], p["len_a"])
    mid = Geodesic(lon0, lat0, lon1, lat1).at(np.array([p["along"]]))
    near = offset(float(mid[0][0]), float(mid[1][0]), p["gap_az"], p["gap"])
    c = offset(*near, p["az_b"] + 180.0, p["len_b"] * p["back"])
    d = offset(*c, p["az_b"], p["len_b"])
    return lon0, lat0, lon1, lat1, *c, *d


@SETTINGS
@given(p=pair_params)
def test_segments_agree_with_the_geodesic_truth(p: dict[str, Any]) -> None:
    lon0, lat0, lon1, lat1, lon2, lat2, lon3, lat3 = _segments(p)
    t_a, t_b = 1000.0, 1000.0 + p["shift"]
    a = columns(lon0, lat0, lon1, lat1, t_a, t_a + p["da"], p["tol_a"], True)
    b = columns(lon2, lat2, lon3, lat3, t_b, t_b + p["db"], p["tol_b"], True)
    dist, err = refine.evaluate(a, np.zeros(1, np.int64), b, np.zeros(1, np.int64), p["strict"])
    band = p["tol_a"] + p["tol_b"] + (0.0 if p["strict"] else TIME_SLACK_S)
    ref = true_minimum(
        Geodesic(lon0, lat0, lon1, lat1),
        Geodesic(lon2, lat2, lon3, lat3),
        (0.0, 1.0, 0.0, 1.0),
        t_a - t_b,
        p["da"],
        p["db"],
        band,
    )
    old, _ = compiled.evaluate(a, np.zeros(1, np.int64), b, np.zeros(1, np.int64), p["strict"])
    assert math.isinf(dist[0]) == math.isinf(old[0])  # same time semantics as the engine
    if math.isinf(ref):
        assert math.isinf(dist[0])
        return
    _shares_band(float(err[0]), float(dist[0]), ref)
    if ref <= 3_000.0:
        assert err[0] < 0.05  # the whole point: millimetres, not metres


def test_crossing_near_the_pole_and_instantaneous_legs() -> None:
    cases = [  # (a, b, times a, times b, tolerance)
        (
            (10.0, 89.96, 190.0, 89.97),
            (100.0, 89.96, 280.0, 89.96),
            (0.0, 600.0),
            (0.0, 600.0),
            0.0,
        ),
        ((40.0, 36.0, 40.08, 36.0), (40.04, 35.97, 40.04, 36.03), (0.0, 0.0), (50.0, 50.0), 60.0),
        (
            (179.97, -60.0, -179.97, -60.0),
            (180.0, -60.01, 180.0, -59.99),
            (0.0, 9.0),
            (0.0, 9.0),
            0.0,
        ),
    ]
    for (x0, y0, x1, y1), (x2, y2, x3, y3), (ta, tb), (ua, ub), tol in cases:
        a = columns(x0, y0, x1, y1, ta, tb, tol, True)
        b = columns(x2, y2, x3, y3, ua, ub, 0.0, True)
        dist, err = refine.evaluate(a, np.zeros(1, np.int64), b, np.zeros(1, np.int64), True)
        ref = true_minimum(
            Geodesic(x0, y0, x1, y1),
            Geodesic(x2, y2, x3, y3),
            (0.0, 1.0, 0.0, 1.0),
            ta - ua,
            tb - ta,
            ub - ua,
            tol,
        )
        _shares_band(float(err[0]), float(dist[0]), ref)
        assert err[0] < 0.05


def test_positions_run_ahead_of_the_chord() -> None:
    """A route leaving a site, its window clipping it to λ ≥ 1/4: the minimum is at λ = 1/4,
    where the true position runs ~0.4 mm (0.0156 L³/R², 10 km on the equator's meridian)
    ahead of the chord point's foot. The bounds must allow for it (ε in ``hi`` and ``lo``)."""
    for lat, az in ((0.0, 0.0), (0.0, 180.0), (60.0, 90.0)):
        site_lon, site_lat = offset(30.0, lat, az + 180.0, 1000.0)
        end = offset(30.0, lat, az, 10_000.0)
        route = columns(30.0, lat, *end, 0.0, 1000.0, 0.0, True)
        place = columns(site_lon, site_lat, site_lon, site_lat, 250.0, 5000.0, 0.0, False)
        zero = np.zeros(1, np.int64)
        dist, err = refine.evaluate(route, zero, place, zero, True)
        plon, plat = Geodesic(30.0, lat, *end).at(np.array([0.25]))
        _, _, truth = GEOD.inv(float(plon[0]), float(plat[0]), site_lon, site_lat)
        _shares_band(float(err[0]), float(dist[0]), float(truth))


def test_infeasible_pairs_are_infinite() -> None:
    a = columns(40.0, 36.0, 40.05, 36.0, 0.0, 600.0, 60.0, True)
    late = columns(40.0, 36.0, 40.05, 36.0, 800.0, 900.0, 60.0, True)
    high = columns(40.0, 36.0, 40.05, 36.0, 0.0, 600.0, 60.0, True, (1000.0, 2000.0))
    low = columns(40.0, 36.0, 40.05, 36.0, 0.0, 600.0, 60.0, True, (0.0, 500.0))
    point_later = columns(40.0, 36.0, 40.0, 36.0, 700.0, 800.0, 0.0, False)
    zero = np.zeros(1, np.int64)
    for x, y in ((a, late), (high, low), (a, point_later), (point_later, a)):
        for strict in (True, False):
            dist, err = refine.evaluate(x, zero, y, zero, strict)
            assert math.isinf(dist[0])
            assert err[0] == 0.0
    dist, _ = refine.evaluate(a, zero, point_later, zero, False)
    assert math.isinf(dist[0])
    touching = columns(40.05, 36.0, 40.05, 36.0, 660.0, 800.0, 0.0, False)  # 600 + 60
    dist, err = refine.evaluate(a, zero, touching, zero, True)
    assert dist[0] - err[0] <= 1e-7  # a's last instant (at b) is just feasible


# --- segment × point, point × point --------------------------------------------------------


@SETTINGS
@given(p=pair_params, window=st.floats(-3600.0, 3600.0), length=st.floats(0.0, 3600.0))
def test_segment_against_a_point_site(p: dict[str, Any], window: float, length: float) -> None:
    lon0, lat0, lon1, lat1, lon2, lat2, _, _ = _segments(p)
    a = columns(lon0, lat0, lon1, lat1, 0.0, p["da"], p["tol_a"], True)
    site = columns(lon2, lat2, lon2, lat2, window, window + length, 0.0, False)
    zero = np.zeros(1, np.int64)
    s = 0.0 if p["strict"] else TIME_SLACK_S
    for x, y in ((a, site), (site, a)):
        dist, err = refine.evaluate(x, zero, y, zero, p["strict"])
        first, last = window - p["tol_a"] - s, window + length + p["tol_a"] + s
        lo, hi, fits = compiled._clip(0.0, p["da"], first, last)
        if not fits:
            assert math.isinf(dist[0])
            continue
        ref = true_minimum(
            Geodesic(lon0, lat0, lon1, lat1),
            Geodesic(lon2, lat2, lon2, lat2),
            (lo, hi, 0.0, 0.0),
            0.0,
            0.0,
            0.0,
            math.inf,
        )
        _shares_band(float(err[0]), float(dist[0]), ref)
        if ref <= 3_000.0:
            assert err[0] < 0.05


@SETTINGS
@given(
    lat=st.floats(-89.9, 89.9),
    lon=st.floats(-180, 180),
    az=st.floats(0, 360),
    gap=st.floats(0.0, 20_000.0),
)
def test_two_point_sites(lat: float, lon: float, az: float, gap: float) -> None:
    x, y = offset(lon, lat, az, gap)
    a = columns(lon, lat, lon, lat, 0.0, 10.0, 0.0, False)
    b = columns(x, y, x, y, 5.0, math.inf, 0.0, False)
    dist, err = refine.evaluate(a, np.zeros(1, np.int64), b, np.zeros(1, np.int64), True)
    _, _, ref = GEOD.inv(lon, lat, x, y)
    _shares_band(float(err[0]), float(dist[0]), float(ref))
    assert err[0] < 1e-3 + ref**3 / (48 * refine.M_MIN**2)  # the chord's c³/24R² gap, halved


# --- the constants the bound rests on ---------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    lat=st.floats(-90.0, 90.0),
    lon=st.floats(-180, 180),
    az=st.floats(0, 360),
    length=st.floats(100.0, 100_000.0),
)
def test_chord_feet_follow_the_geodesic(lat: float, lon: float, az: float, length: float) -> None:
    """|true position − foot of chord point| ≤ ε(L)/3 and depth ≤ h(L): the safety factor of
    three on PARAM_COEF (measured max 0.016 L³/M²) must never be eaten."""
    x, y = offset(lon, lat, az, length)
    path = Geodesic(lon, lat, x, y)
    fractions = np.linspace(0.0, 1.0, 41)
    plon, plat = path.at(fractions)
    a, _ = refine.site(lon, lat)
    b, _ = refine.site(x, y)
    chord = math.dist(a, b)
    for f, px, py in zip(fractions, plon, plat, strict=True):
        c = tuple(a[k] + f * (b[k] - a[k]) for k in range(3))
        foot = refine._foot(c)
        truth, _ = refine.site(float(px), float(py))
        assert math.dist(foot, truth) <= refine._param(chord) / 3.0 + 1e-6
        assert math.dist(foot, c) <= refine._depth(chord)


# --- against the project's sampling reference ---------------------------------------------------


def test_agrees_with_the_sampling_reference() -> None:
    rng = np.random.default_rng(7)
    for _ in range(3):
        lon, lat = float(rng.uniform(38, 42)), float(rng.uniform(35, 37))
        x, y = offset(lon, lat, float(rng.uniform(0, 360)), 6000.0)
        u, v = offset(lon, lat, float(rng.uniform(0, 360)), 1500.0)
        w, z = offset(u, v, float(rng.uniform(0, 360)), 6000.0)
        t = np.array([0.0, 900.0])
        acts = [
            Activity(
                name,
                1,
                name,
                Kind.movement,
                LineString(coords),
                shift,
                shift + 900.0,
                t + shift,
                tol,
                0.0,
                None,
                None,
            )
            for name, coords, shift, tol in (
                ("a", [(lon, lat), (x, y)], 0.0, 120.0),
                ("b", [(u, v), (w, z)], 400.0, 120.0),
            )
        ]
        ref = reference(acts[0], acts[1], spacing_m=10.0, max_step_s=5.0)
        assert ref is not None
        a = columns(lon, lat, x, y, 0.0, 900.0, 120.0, True)
        b = columns(u, v, w, z, 400.0, 1300.0, 120.0, True)
        dist, err = refine.evaluate(a, np.zeros(1, np.int64), b, np.zeros(1, np.int64), True)
        assert dist[0] - err[0] <= ref.distance_m
        assert dist[0] + err[0] >= ref.distance_m - ref.error_m


# --- polygons --------------------------------------------------------------------------------


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
    dist, err = refine.segment_polygon((*start, *end), times, (50.0, 1e9), xs, ys, starts)
    mid = Geodesic(*start, *end).at(np.array([0.5]))
    half = LineString([(float(mid[0][0]), float(mid[1][0])), end])
    ref = aeqd_distance(polygon, half, (lon, lat))
    assert abs(dist - ref) <= err + 0.02 + 1e-5 * ref
    assert err < 0.05
    point_d, point_e = refine.point_polygon(*end, xs, ys, starts)
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
    dist, err = refine.segment_polygon(
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
    _shares_band(err, dist, truth)
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
        dist, err = refine.segment_polygon((*ends[0], *ends[1]), TIMES, (0.0, 1.0), xs, ys, starts)
        if zero:
            assert dist == 0.0
            assert err < 0.01
        else:
            ref = aeqd_distance(polygon, LineString(ends), (lon, lat))
            assert ref > 100.0
            assert abs(dist - ref) <= err + 0.02
    late = refine.segment_polygon((*inside[0], *inside[1]), TIMES, (5.0, 9.0), xs, ys, starts)
    assert math.isinf(late[0])
    # polygon × polygon: apart, overlapping, one in the other's hole
    square = Polygon([offset(lon + 0.06, lat, az, 500.0) for az in (0, 90, 180, 270)])
    small = Polygon([offset(lon, lat, az, 200.0) for az in (0, 90, 180, 270)])
    for other, expect in ((square, None), (Polygon(shell), 0.0), (small, None)):
        qx, qy, qs = rings_of(other)
        dist, err = refine.polygon_polygon(xs, ys, starts, qx, qy, qs)
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
    dist, err, lower = refine.segment_polygon_many(
        q, qi, place, np.zeros(5, np.int64), part, part_rings, ring_start, xs, ys, never
    )
    for k in range(5):
        i, p = int(qi[k]), int(part[k])
        ends = (q[0][i], q[1][i], q[2][i], q[3][i])
        one = refine.segment_polygon(ends, (0.0, 600.0, 60.0, 0.0), (300.0, 1000.0), *parts[p])
        assert (dist[k], err[k]) == pytest.approx(one, abs=1e-9)
        times = (0.0, 600.0, 60.0, TIME_SLACK_S)
        d, e = refine.segment_polygon(ends, times, (300.0, 1000.0), *parts[p])
        assert lower[k] == pytest.approx(d - e, abs=1e-9)
    # A verdict stops measuring a declaration at its first certain pair: with pairs 0-1 of
    # one declaration and 2-4 of another, and the second already settled, only pair 0 is
    # measured when every finite distance is certain.
    groups, settled = np.array([0, 0, 1, 1, 1]), np.array([False, True])
    always = (groups, settled, np.full(5, np.inf), np.ones(5))
    early, early_err, early_lower = refine.segment_polygon_many(
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
    quick, quick_err, quick_lower = refine.segment_polygon_many(
        q, qi, place, np.zeros(5, np.int64), part, part_rings, ring_start, xs, ys, alone
    )
    assert (quick - quick_err <= dist + err + 1e-9).all()
    assert (quick + quick_err >= dist - err - 1e-9).all()
    assert (quick_lower <= dist + err + 1e-9).all()
    assert (quick_err > err + 1e-6).any()  # the shortcut was taken somewhere


@pytest.mark.parametrize("strict", [True, False])
def test_polygon_boxes_fall_back_to_the_tangent_plane(strict: bool) -> None:
    box = columns(40.0, 36.0, 40.01, 36.01, 0.0, 100.0, 0.0, False)
    seg = columns(40.02, 36.0, 40.03, 36.02, 0.0, 100.0, 0.0, True)
    zero = np.zeros(1, np.int64)
    for x, y in ((box, seg), (seg, box), (box, box)):
        mine = refine.evaluate(x, zero, y, zero, strict)
        old = compiled.evaluate(x, zero, y, zero, strict)
        assert np.array_equal(mine[0], old[0])
        assert np.array_equal(mine[1], old[1])
