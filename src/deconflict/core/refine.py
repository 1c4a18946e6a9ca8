"""Millimetre-tight compiled distances for the pairs that survive the cheap bounds.

:mod:`deconflict.core.compiled` measures pairs in a lon/lat tangent plane whose error grows
with segment length and latitude (≈ L²(1 + |tan φ|)/4R, metres for 8 km segments), so at
10⁵ routes thousands of pairs land within that error of S and go to the slow exact check.
Here the same time semantics (schedule band, ±τ clip against a window, overlapping windows)
are evaluated in geocentric (ECEF, WGS 84) coordinates, with an interval [lo, hi] that
provably contains the geodesic minimum; ``dist`` is its middle and ``err`` its half-width.

**Model.** Segment A→B (surface points) is replaced by its chord C(λ) = A + λ(B − A), with
the same fraction λ ↔ instant map as the route. Let F(λ) be the foot of the ellipsoid normal
through C(λ) and P(λ) the true position (fraction λ of the geodesic's length). Then:

* depth: 0 ≤ |C − F| ≤ h(L) = 1.02 L²/(8 M), M = a(1 − e²) the smallest radius of curvature
  on WGS 84: the section through the chord and the normal at F is normal at F and tilted by
  ≤ κL elsewhere, so its curvature is ≤ 1/(M cos κL) (Meusnier) and the chord's sagitta is a
  circle's; measured ≤ 1.00002 L²/8M up to 100 km, anywhere;
* parametrisation: |P(λ) − F(λ)| ≤ ε(L) = 0.05 L³/M². On a sphere F is the radial image of
  the chord, on the great circle, at angle atan2(λ sin σ, 1 − λ + λ cos σ) instead of λσ:
  at most 0.0161 σ³ off. The ellipsoid adds only relative O(e²) corrections; measured
  max 0.01604 L³/M² over 4,000 random lengths (1–100 km), azimuths and latitudes to ±90°;
  the factor 3 is the safety margin (and tests/test_refine.py re-measures it);
* a geodesic (curvature ≤ κ = 1/M as a space curve, Schur's comparison) of length s has
  chord c ≥ (2/κ) sin(κs/2), so c ≤ s ≤ arc(c) = 2M asin(c/2M); the surface normal turns by
  at most κs along it, and the far end lies at most κs²/2 off the tangent plane.

The minimum of the chord distance over the feasible (λ, μ) polygon is the convex problem of
``compiled._banded``, in 3-D. With (λ', μ') the true minimiser, d' = |F_a − F_b| there, and
δ = h_a n_a − h_b n_b (so C_a − C_b = F_a − F_b − δ), three bounds follow:

* upper: U = arc(|F_a − F_b|) + ε_a + ε_b at any feasible (λ, μ): the chord minimiser's and
  the tangent-plane minimiser's; a real pair of positions, so the minimum is below it;
* chord lower: |D − δ| ≤ d + Ψ with Ψ = min(|δ|, |D̂·δ| + |δ|²/2d), |δ| ≤ Δh + H κs,
  |D̂·δ| ≤ Δh κ s²/2d + H κ s (Δh = max depth, H = the smaller segment's depth); hence
  min ≥ D_chord − Ψ − ε_a − ε_b, with Ψ's d-increasing part taken at d' ≤ U + ε_a + ε_b
  and its 1/d part at the tangent-plane lower bound of d'. Good at kilometres, loose at metres
  (a 2 m depth difference seen from 10 m);
* tangent-plane lower: projecting onto the plane ⊥ n₀ (the mean of the endpoint normals)
  removes depth except its tilt: |(C_a − C_b)_t| ≤ d' + h_a θ_a + h_b θ_b, θ the angle
  between n₀ and a normal on the segment (≤ the endpoint's angle + κ arc(L/2 + h)); hence
  min ≥ D_plane − h_a θ_a − h_b θ_b − ε_a − ε_b. Good at metres, slightly loose at kilometres.

lo = max(both lower, 0), hi = U; the tangent plane is skipped where it cannot gain more than
``PLANE_GAIN_M`` (most pairs: d ≫ h). Every bound carries ``ROUND_M`` against float rounding (ECEF
coordinates are ~6.4e6 m, so their differences are good to ~1e-8 m). Example: two 8 km
segments 1 km apart: ε ≈ 0.64 mm each, Ψ ≈ 1 mm, so err ≈ 2–3 mm, against ≈ 7 m for the
tangent plane. Segments longer than ``MAX_SEGMENT_M`` or pairs farther than
``MAX_DISTANCE_M`` (never near S) fall back to ``compiled._pair``, as do polygon boxes. Polygons are measured with the same model in
:mod:`deconflict.core.refine_polygons`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from deconflict.core import compiled
from deconflict.core.kernels import TIME_SLACK_S, WGS84_A, WGS84_E2

Any_ = Any
Vec = tuple[float, float, float]
Box = tuple[float, float, float, float]
Seg = tuple[Vec, Vec, Vec, Vec]
"""A geodesic segment: ECEF start, its normal, ECEF end, its normal (end = start: a point)."""

A2 = WGS84_A * WGS84_A
B2 = A2 * (1.0 - WGS84_E2)
M_MIN = WGS84_A * (1.0 - WGS84_E2)
"""The smallest radius of curvature of WGS 84 (meridian, at the equator): 6,335,439 m."""
KAPPA = 1.0 / M_MIN
DEPTH_FACTOR = 1.02
PARAM_COEF = 0.05
RADIAL_TILT = 0.0035
"""≥ sin of the largest angle between the normal and the radius (0.19243°: 0.0033584)."""
ROUND_M = 1e-4
PLANE_GAIN_M = 1e-3
"""The tangent-plane bound is computed only where it can tighten the chord's by more."""
MAX_SEGMENT_M = 100_000.0
MAX_DISTANCE_M = 1_000_000.0
INF = math.inf


# --- vectors and the ellipsoid ------------------------------------------------------------


@njit(cache=True, inline="always")
def dot(p: Vec, q: Vec) -> float:
    return p[0] * q[0] + p[1] * q[1] + p[2] * q[2]


@njit(cache=True, inline="always")
def sub(p: Vec, q: Vec) -> Vec:
    return (p[0] - q[0], p[1] - q[1], p[2] - q[2])


@njit(cache=True, inline="always")
def along(p: Vec, t: float, q: Vec) -> Vec:
    """p + t q."""
    return (p[0] + t * q[0], p[1] + t * q[1], p[2] + t * q[2])


@njit(cache=True, inline="always")
def norm(p: Vec) -> float:
    return math.sqrt(dot(p, p))


@njit(cache=True, inline="always")
def _flat(p: Vec, n: Vec) -> Vec:
    """p without its component along the unit vector n."""
    return along(p, -dot(p, n), n)


@njit(cache=True)
def site(lon: float, lat: float) -> tuple[Vec, Vec]:
    """ECEF position of a surface point, and its (geodetic) unit normal."""
    phi, lam = math.radians(lat), math.radians(lon)
    sp, cp, sl, cl = math.sin(phi), math.cos(phi), math.sin(lam), math.cos(lam)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * sp * sp)
    return (n * cp * cl, n * cp * sl, n * (1.0 - WGS84_E2) * sp), (cp * cl, cp * sl, sp)


@njit(cache=True)
def segment(lon0: float, lat0: float, lon1: float, lat1: float) -> Seg:
    pa, na = site(lon0, lat0)
    pb, nb = site(lon1, lat1)
    return pa, na, pb, nb


@njit(cache=True, inline="always")
def _foot(p: Vec) -> Vec:
    """The surface point on the normal through p, for p within metres of the surface.

    Newton on F = (x² + y²)/a² + z²/b² − 1 along ∇F at p: ∇F turns by ~h e²/R between p and
    the foot, so the tangential error is ~1e-9 m, and two steps leave ~1e-12 m of height."""
    x, y, z = p
    for _ in range(2):
        gx, gy, gz = x / A2, y / A2, z / B2
        f = (x * x + y * y) / A2 + z * z / B2 - 1.0
        t = f / (2.0 * (gx * gx + gy * gy + gz * gz))
        x, y, z = x - t * gx, y - t * gy, z - t * gz
    return (x, y, z)


@njit(cache=True, inline="always")
def arc_length(c: float) -> float:
    """Longest geodesic whose chord is c (Schur, curvature ≤ 1/M_MIN)."""
    return 2.0 * M_MIN * math.asin(min(1.0, c / (2.0 * M_MIN)))


@njit(cache=True, inline="always")
def chord_depth(length: float) -> float:
    return DEPTH_FACTOR * length * length / (8.0 * M_MIN)


@njit(cache=True, inline="always")
def param_error(length: float) -> float:
    return PARAM_COEF * length * length * length / (M_MIN * M_MIN)


@njit(cache=True, inline="always")
def _angle(n: Vec, m: Vec) -> float:
    """Angle between unit vectors (rounding-safe)."""
    return 2.0 * math.asin(min(1.0, 0.5 * norm(sub(n, m)))) + 1e-12


# --- the convex problem ---------------------------------------------------------------------


@njit(cache=True, inline="always")
def _cut(
    c0: float, c1: float, low: float, high: float, t0: float, t1: float
) -> tuple[float, float]:
    """[t0, t1] ∩ {t : low ≤ c0 + c1 t ≤ high} (empty as t0 > t1)."""
    if c1 > 0.0:
        return max(t0, (low - c0) / c1), min(t1, (high - c0) / c1)
    if c1 < 0.0:
        return max(t0, (high - c0) / c1), min(t1, (low - c0) / c1)
    if c0 < low or c0 > high:
        return INF, -INF
    return t0, t1


@njit(cache=True)
def _edge(
    w: Vec, u: Vec, v: Vec, line: Box, box: Box, timing: Box, on_band: bool
) -> tuple[float, float, float]:
    """Least |w + λu − μv|² along the line λ = a0 + a1 t, μ = b0 + b1 t (``line``) of the
    feasible set.

    The line's own constraint is not re-applied (``on_band``: a band edge; a box edge has
    c1 = 0 and passes exactly), so rounding cannot empty a feasible set that is a line."""
    a0, a1, b0, b1 = line
    delta, da, db, band = timing
    t0, t1 = _cut(a0, a1, box[0], box[1], -INF, INF)
    t0, t1 = _cut(b0, b1, box[2], box[3], t0, t1)
    if not on_band:
        t0, t1 = _cut(delta + a0 * da - b0 * db, a1 * da - b1 * db, -band, band, t0, t1)
    if not t0 <= t1:
        return INF, 0.0, 0.0
    p = along(along(w, a0, u), -b0, v)
    q = along((a1 * u[0], a1 * u[1], a1 * u[2]), -b1, v)
    qq = dot(q, q)
    t = t0 if qq == 0.0 else min(max(-dot(p, q) / qq, t0), t1)
    e = along(p, t, q)
    return dot(e, e), a0 + a1 * t, b0 + b1 * t


@njit(cache=True)
def least_squared(w: Vec, u: Vec, v: Vec, box: Box, timing: Box) -> tuple[float, float, float]:
    """(d², λ, μ): least |w + λu − μv|² over λ ∈ [box0, box1], μ ∈ [box2, box3] and the
    schedule band |Δ + λ da − μ db| ≤ band, timing = (Δ, da, db, band) (band = inf: none);
    d² = inf if infeasible.

    Convex quadratic over a convex polygon: the free minimiser if feasible, else the best
    point of the (at most six) lines bounding the polygon."""
    delta, da, db, band = timing
    best, bl, bm = INF, 0.0, 0.0
    uu, vv, uv = dot(u, u), dot(v, v), dot(u, v)
    uw, vw = dot(u, w), dot(v, w)
    det = uu * vv - uv * uv
    if det > 1e-12 * uu * vv:
        lam = (uv * vw - uw * vv) / det
        mu = (uu * vw - uv * uw) / det
        gap = delta + lam * da - mu * db
        if box[0] <= lam <= box[1] and box[2] <= mu <= box[3] and abs(gap) <= band:
            e = along(along(w, lam, u), -mu, v)
            best, bl, bm = dot(e, e), lam, mu
    for k in range(4):  # λ fixed (μ = t), then μ fixed (λ = t)
        line = (box[k], 0.0, 0.0, 1.0) if k < 2 else (0.0, 1.0, box[k], 0.0)
        d2, lam, mu = _edge(w, u, v, line, box, timing, False)
        if d2 < best:
            best, bl, bm = d2, lam, mu
    if band < INF and (da > 0.0 or db > 0.0):
        for side in (band, -band):  # Δ + λ da − μ db = side
            if db >= da:
                line = (0.0, 1.0, (delta - side) / db, da / db)
            else:
                line = ((side - delta) / da, db / da, 0.0, 1.0)
            d2, lam, mu = _edge(w, u, v, line, box, timing, True)
            if d2 < best:
                best, bl, bm = d2, lam, mu
    return best, bl, bm


# --- the interval ---------------------------------------------------------------------------


@njit(cache=True)
def _upper(a: Vec, u: Vec, lam: float, c: Vec, v: Vec, mu: float) -> float:
    """Distance between the feet of the chord points at (λ, μ), as an upper geodesic bound."""
    fa = a if lam == 0.0 or dot(u, u) == 0.0 else _foot(along(a, lam, u))
    fb = c if mu == 0.0 or dot(v, v) == 0.0 else _foot(along(c, mu, v))
    return arc_length(norm(sub(fa, fb)))


@njit(cache=True)
def _psi(ha: float, hb: float, d_lo: float, d_hi: float) -> float:
    """How much more than d' the chord distance can be (module docstring)."""
    dh, hh = max(ha, hb), min(ha, hb)
    s = arc_length(d_hi)
    whole = dh + hh * KAPPA * s
    if d_lo <= 0.0:
        return whole
    fine = dh * KAPPA * s * s / (2.0 * max(d_hi, 1e-300)) + hh * KAPPA * s
    return min(whole, fine + whole * whole / (2.0 * d_lo))


@njit(cache=True)
def interval(sa: Seg, sb: Seg, box: Box, timing: Box) -> tuple[float, float, float]:
    """(lo, hi, chord distance) bounding the least geodesic distance between positions λ of
    segment ``sa`` and μ of ``sb`` over the feasible set of :func:`least_squared`; all inf if
    infeasible."""
    a, na, b, nb = sa
    c, nc, d, nd = sb
    u, v, w = sub(b, a), sub(d, c), sub(a, c)
    la, lb = norm(u), norm(v)
    ha, hb, ea, eb = chord_depth(la), chord_depth(lb), param_error(la), param_error(lb)
    d2c, lc, mc = least_squared(w, u, v, box, timing)
    if d2c == INF:
        return INF, INF, INF
    dc = math.sqrt(d2c)
    slack = 1.001 * (ea + eb) + ROUND_M
    hi = _upper(a, u, lc, c, v, mc) + slack
    if ha == 0.0 and hb == 0.0:  # two points or a pause: no depth, chord is exact
        return max(dc - slack, 0.0), hi, dc
    crude = dc - ha - hb - ROUND_M  # d' ≥ this, as |δ| ≤ h_a + h_b
    psi = _psi(ha, hb, max(crude, 0.0), hi + ea + eb)
    low = dc - psi - ea - eb - ROUND_M
    n0 = along(along(na, 1.0, nb), 1.0, along(nc, 1.0, nd))
    n0 = along((0.0, 0.0, 0.0), 1.0 / norm(n0), n0)
    turn_a = KAPPA * 0.5 * la + max(norm(sub(n0, na)), norm(sub(n0, nb)))
    turn_b = KAPPA * 0.5 * lb + max(norm(sub(n0, nc)), norm(sub(n0, nd)))
    if psi <= ha * turn_a + hb * turn_b + PLANE_GAIN_M:  # the plane would not gain: skip it
        return max(low, 0.0), hi, dc
    theta_a = max(_angle(n0, na), _angle(n0, nb)) + KAPPA * arc_length(0.5 * la + ha)
    theta_b = max(_angle(n0, nc), _angle(n0, nd)) + KAPPA * arc_length(0.5 * lb + hb)
    d2o, lo_, mo_ = least_squared(_flat(w, n0), _flat(u, n0), _flat(v, n0), box, timing)
    if d2o < INF:  # (rounding may lose a measure-zero feasible set in one of the solves)
        hi = min(hi, _upper(a, u, lo_, c, v, mo_) + slack)
        plane = math.sqrt(d2o) - ha * theta_a - hb * theta_b - ROUND_M  # d' ≥ this
        psi = _psi(ha, hb, max(plane, crude, 0.0), hi + ea + eb)
        low = max(dc - psi - ea - eb - ROUND_M, plane - ea - eb)
    return max(low, 0.0), hi, dc


# --- element pairs ---------------------------------------------------------------------------


@njit(cache=True, inline="always")
def is_point(cols: Any_, i: int) -> bool:
    return not cols[13][i] and cols[0][i] == cols[2][i] and cols[1][i] == cols[3][i]


@compiled.reading
def _pair(a: Any_, i: int, b: Any_, j: int, s: float) -> tuple[float, float]:
    """(distance, error) of element i of ``a`` against element j of ``b``, as
    ``compiled._pair`` with ``limit`` = inf, but in ECEF for segments and point sites."""
    ax, ay, bx, by, t0, t1, tol, _, alo, ahi, _, _, _, seg = a
    cx, cy, dx, dy, u0, u1, tou, _, blo, bhi, _, _, _, seg_b = b
    if not (seg[i] or is_point(a, i)) or not (seg_b[j] or is_point(b, j)):
        return compiled._pair(a, i, b, j, INF, s)
    if t0[i] - tol[i] > u1[j] + tou[j] + s or u0[j] - tou[j] > t1[i] + tol[i] + s:
        return INF, 0.0
    if alo[i] > bhi[j] or blo[j] > ahi[i]:
        return INF, 0.0
    sa, sb = segment(ax[i], ay[i], bx[i], by[i]), segment(cx[j], cy[j], dx[j], dy[j])
    if norm(sub(sa[2], sa[0])) > MAX_SEGMENT_M or norm(sub(sb[2], sb[0])) > MAX_SEGMENT_M:
        return compiled._pair(a, i, b, j, INF, s)
    timing = (0.0, 0.0, 0.0, INF)
    if seg[i] and seg_b[j]:
        box = (0.0, 1.0, 0.0, 1.0)
        timing = (t0[i] - u0[j], t1[i] - t0[i], u1[j] - u0[j], tol[i] + tou[j] + s)
    elif seg[i]:
        lo, hi, fits = compiled._clip(t0[i], t1[i], u0[j] - tol[i] - s, u1[j] + tol[i] + s)
        if not fits:
            return INF, 0.0
        box = (lo, hi, 0.0, 0.0)
    elif seg_b[j]:
        lo, hi, fits = compiled._clip(u0[j], u1[j], t0[i] - tou[j] - s, t1[i] + tou[j] + s)
        if not fits:
            return INF, 0.0
        box = (0.0, 0.0, lo, hi)
    else:
        box = (0.0, 0.0, 0.0, 0.0)
    low, high, dc = interval(sa, sb, box, timing)
    if low == INF:
        return INF, 0.0
    if dc > MAX_DISTANCE_M:
        return compiled._pair(a, i, b, j, INF, s)
    return 0.5 * (low + high), 0.5 * (high - low)


@njit(cache=True)
def evaluate(q: Any_, qi: Any_, s: Any_, rows: Any_, strict: bool) -> tuple[Any_, Any_]:
    """(distance, error) for the pairs (q[qi[k]], s[rows[k]]): ``compiled.evaluate``'s
    contract, with errors of millimetres wherever both elements are exact."""
    dist = np.empty(len(qi))
    err = np.empty(len(qi))
    slack = 0.0 if strict else TIME_SLACK_S
    for k in range(len(qi)):
        dist[k], err[k] = _pair(q, qi[k], s, rows[k], slack)
    return dist, err
