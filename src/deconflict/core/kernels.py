"""Vectorised narrow-phase kernels for the indexed conflict engine.

The broad phase hands over thousands of candidate pairs of *elements* (a route segment, or
the lon/lat box of a site or area part). Calling :func:`~deconflict.core.conflicts.find_encounter`
on each would cost about a millisecond apiece, so these kernels decide, for whole arrays of
pairs at once and in plain numpy, how close each pair can come:

* segment × segment: the closest approach of two timed segments under the schedule band
  |s − u| ≤ T (a convex quadratic over a convex polygon of fractions, solved in closed form
  as in :mod:`deconflict.core.conflicts`, but for all pairs at once);
* segment × box: the segment clipped to the instants the box's window allows, then the
  exact segment–rectangle distance;
* box × box: the rectangle distance.

Coordinates are lon/lat degrees, turned into metres per pair with the local scale of the
WGS 84 ellipsoid at the pair's mean latitude (an equirectangular tangent plane). That is
not the geodesic truth, so every distance comes with an error bound (:func:`error_bound`):
the engine drops a pair only when its distance minus the bound is at least S, so nothing the
exact check would call a conflict is ever dropped, and it calls a pair certain only when
the distance plus the bound is clearly below S.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray[Any, np.dtype[np.float64]]
Mask = np.ndarray[Any, np.dtype[np.bool_]]

WGS84_A = 6_378_137.0
WGS84_E2 = 0.006_694_379_990_14
EARTH_R = 6_371_000.0
DEG = np.pi / 180.0
MAX_LAT = 89.0

METRIC_REL_ERROR = 2e-4
"""Relative error allowed for the tangent plane itself, whose scales are the ellipsoid's exact
radii of curvature at the reference latitude (flatness costs (d/R)², nothing at these
distances); the error that grows with the latitude span is added separately."""

TIME_SLACK_S = 1e-3
"""Time slack when dropping pairs: a millisecond more of schedule band and window."""

BASE_SLACK_M = 1.0
"""Added to every bound, against rounding in the conversions."""


def metres_per_degree(lat: Array) -> tuple[Array, Array]:
    """East-west and north-south metres per degree at these latitudes (WGS 84)."""
    phi = np.radians(np.clip(lat, -MAX_LAT, MAX_LAT))
    s2 = np.sin(phi) ** 2
    w = np.sqrt(1.0 - WGS84_E2 * s2)
    east = WGS84_A / w * np.cos(phi) * DEG
    north = WGS84_A * (1.0 - WGS84_E2) / (w * w * w) * DEG
    return east, north


def segment_slack(lon0: Array, lat0: Array, lon1: Array, lat1: Array) -> Array:
    """How far a geodesic segment may stray from the straight lon/lat segment, generously.

    The geodesic bulges poleward by about L² tan φ / 8R; positions along it are spaced by arc
    length rather than by longitude, which adds a smaller term. L²/4R (1 + |tan φ|) covers
    both at least twice over: under 7 m for a 10 km piece at 36° N, and the exact check
    settles anything inside it.
    """
    lat = np.maximum(np.abs(lat0), np.abs(lat1))
    east, north = metres_per_degree(lat)
    length = np.hypot((lon1 - lon0) * east * 1.01, (lat1 - lat0) * north)
    tan = np.abs(np.tan(np.radians(np.minimum(lat, MAX_LAT))))
    return length * length / (4.0 * EARTH_R) * (1.0 + tan) + 0.5


def error_bound(distance: Array, lats: Array, slack_a: Array, slack_b: Array) -> Array:
    """Bound on |geodesic distance − tangent-plane distance| for pairs of elements.

    ``lats`` is (n, k): every latitude involved in each pair. The scale of the tangent plane
    is exact at the mean latitude and drifts by |tan φ| per radian of latitude away from it.
    """
    span = np.radians(lats.max(axis=1) - lats.min(axis=1))
    worst = np.minimum(np.abs(lats).max(axis=1), MAX_LAT)
    rel = METRIC_REL_ERROR + span * (1.0 + np.abs(np.tan(np.radians(worst))))
    bound: Array = distance * rel + slack_a + slack_b + BASE_SLACK_M
    return bound


def banded_closest(
    wx: Array,
    wy: Array,
    ux: Array,
    uy: Array,
    vx: Array,
    vy: Array,
    delta: Array,
    da: Array,
    db: Array,
    band: Array,
) -> Array:
    """Least distance of a(λ) = w + λu against b(μ) = μv under the schedule band; inf if none.

    Pair k: a's position is ``w + λ u`` at time ``Δ + λ da`` and b's is ``μ v`` at time
    ``μ db`` (both relative to b's start), λ, μ ∈ [0, 1], and the pair counts only where the
    gap Δ + λ da − μ db lies in [−T, T]. The squared distance is convex and the feasible
    set is a convex polygon, so the minimum is the unconstrained minimiser if feasible, or
    lies on one of the six lines bounding the polygon: λ = 0, λ = 1, μ = 0, μ = 1, and the
    two band edges. Each line is parametrised by t, its feasible part is an interval of t
    cut out by the other constraints, and the quadratic along it is minimised in closed form.
    """
    n = len(wx)
    best = np.full(n, np.inf)
    uu = ux * ux + uy * uy
    vv = vx * vx + vy * vy
    uv = ux * vx + uy * vy
    uw = ux * wx + uy * wy
    vw = vx * wx + vy * wy
    det = uu * vv - uv * uv
    regular = det > 1e-12 * uu * vv
    safe = np.where(regular, det, 1.0)
    lam = (uv * vw - uw * vv) / safe
    mu = (uu * vw - uv * uw) / safe
    gap = delta + lam * da - mu * db
    inside = regular & (lam >= 0) & (lam <= 1) & (mu >= 0) & (mu <= 1) & (np.abs(gap) <= band)
    dx = wx + lam * ux - mu * vx
    dy = wy + lam * uy - mu * vy
    best = np.where(inside, dx * dx + dy * dy, best)

    zero, one = np.zeros(n), np.ones(n)
    by_lam = db >= da  # parametrise band edges by λ when μ moves faster in time, else by μ
    timed = (da > 0) | (db > 0)
    safe_db = np.where(db > 0, db, 1.0)
    safe_da = np.where(da > 0, da, 1.0)
    lines: list[tuple[Array, Array, Array, Array, tuple[bool, bool, bool], Mask | None]] = [
        (zero, zero, zero, one, (False, True, True), None),  # λ = 0, t = μ
        (one, zero, zero, one, (False, True, True), None),  # λ = 1
        (zero, one, zero, zero, (True, False, True), None),  # μ = 0, t = λ
        (zero, one, one, zero, (True, False, True), None),  # μ = 1
    ]
    for sign in (1.0, -1.0):
        edge = sign * band
        # by λ: λ = t, μ = (Δ − edge + t da) / db ; by μ: μ = t, λ = (edge − Δ + t db) / da
        l0 = np.where(by_lam, 0.0, (edge - delta) / safe_da)
        l1 = np.where(by_lam, 1.0, db / safe_da)
        m0 = np.where(by_lam, (delta - edge) / safe_db, 0.0)
        m1 = np.where(by_lam, da / safe_db, 1.0)
        lines.append((l0, l1, m0, m1, (True, True, False), timed))
    for l0, l1, m0, m1, (use_lam, use_mu, use_band), valid in lines:
        lo = np.full(n, -np.inf)
        hi = np.full(n, np.inf)
        ok = np.ones(n, dtype=bool) if valid is None else valid.copy()
        constraints: list[tuple[Array, Array]] = []  # k t + r ≤ 0
        if use_lam:
            constraints += [(-l1, -l0), (l1, l0 - 1.0)]
        if use_mu:
            constraints += [(-m1, -m0), (m1, m0 - 1.0)]
        if use_band:
            k = l1 * da - m1 * db
            r = delta + l0 * da - m0 * db
            constraints += [(k, r - band), (-k, -r - band)]
        for k, r in constraints:
            pos, neg = k > 0, k < 0
            bound = -r / np.where(k != 0, k, 1.0)
            hi = np.where(pos, np.minimum(hi, bound), hi)
            lo = np.where(neg, np.maximum(lo, bound), lo)
            ok &= (k != 0) | (r <= 0)
        ok &= lo <= hi
        px = wx + l0 * ux - m0 * vx
        py = wy + l0 * uy - m0 * vy
        qx = l1 * ux - m1 * vx
        qy = l1 * uy - m1 * vy
        qq = qx * qx + qy * qy
        t = np.where(qq > 0, -(px * qx + py * qy) / np.where(qq > 0, qq, 1.0), lo)
        t = np.clip(t, np.where(ok, lo, 0.0), np.where(ok, hi, 0.0))
        ex, ey = px + t * qx, py + t * qy
        best = np.where(ok, np.minimum(best, ex * ex + ey * ey), best)
    root: Array = np.sqrt(best)
    return root


def segment_box(
    px: Array, py: Array, qx: Array, qy: Array, x0: Array, y0: Array, x1: Array, y1: Array
) -> Array:
    """Exact distance from segment p→q to the axis-aligned box [x0, x1] × [y0, y1].

    Zero if the segment enters the box (Liang–Barsky); otherwise the least of the endpoints'
    distances to the box and the corners' distances to the segment, which is exact for a
    segment and a convex polygon that do not meet.
    """
    dx, dy = qx - px, qy - py
    lo, hi = np.zeros(len(px)), np.ones(len(px))
    for p, d, a, b in ((px, dx, x0, x1), (py, dy, y0, y1)):
        moving = d != 0
        safe = np.where(moving, d, 1.0)
        ta, tb = (a - p) / safe, (b - p) / safe
        within = (p >= a) & (p <= b)
        lo = np.where(moving, np.maximum(lo, np.minimum(ta, tb)), np.where(within, lo, np.inf))
        hi = np.where(moving, np.minimum(hi, np.maximum(ta, tb)), np.where(within, hi, -np.inf))
    crosses = lo <= hi
    best = np.minimum(point_box(px, py, x0, y0, x1, y1), point_box(qx, qy, x0, y0, x1, y1))
    dd = dx * dx + dy * dy
    safe_dd = np.where(dd > 0, dd, 1.0)
    for cx, cy in ((x0, y0), (x0, y1), (x1, y0), (x1, y1)):
        t = np.clip(((cx - px) * dx + (cy - py) * dy) / safe_dd, 0.0, 1.0)
        best = np.minimum(best, np.hypot(px + t * dx - cx, py + t * dy - cy))
    return np.where(crosses, 0.0, best)


def point_box(px: Array, py: Array, x0: Array, y0: Array, x1: Array, y1: Array) -> Array:
    """Distance from points to boxes (zero inside)."""
    gx = np.maximum(np.maximum(x0 - px, px - x1), 0.0)
    gy = np.maximum(np.maximum(y0 - py, py - y1), 0.0)
    return np.hypot(gx, gy)


def box_box(
    ax0: Array, ay0: Array, ax1: Array, ay1: Array, bx0: Array, by0: Array, bx1: Array, by1: Array
) -> Array:
    """Distance between axis-aligned boxes (zero if they meet)."""
    gx = np.maximum(np.maximum(bx0 - ax1, ax0 - bx1), 0.0)
    gy = np.maximum(np.maximum(by0 - ay1, ay0 - by1), 0.0)
    return np.hypot(gx, gy)


def clip_fractions(t0: Array, t1: Array, first: Array, last: Array) -> tuple[Array, Array, Mask]:
    """The fractions of segments timed [t0, t1] whose instant lies in [first, last]."""
    span = t1 - t0
    timed = span > 0
    safe = np.where(timed, span, 1.0)
    lo = np.where(timed, np.clip((first - t0) / safe, 0.0, 1.0), 0.0)
    hi = np.where(timed, np.clip((last - t0) / safe, 0.0, 1.0), 1.0)
    ok = (t0 <= last) & (t1 >= first) & (lo <= hi)
    return lo, hi, ok
