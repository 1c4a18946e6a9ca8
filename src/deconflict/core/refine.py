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
``MAX_DISTANCE_M`` (never near S) fall back to ``compiled._pair``, as do polygon boxes.

**Polygons.** Edges are geodesics between consecutive vertices (what find_encounter does for
edges shorter than its 0.05° densification step; segmentize longer lon/lat-straight edges
first). The interior test uses a gnomonic projection about the polygon's centre (central
projection: a chord's radial image is a straight segment there); a radial image lies within
h sin 0.1925° + ε of the true geodesic, which bounds the test's own error.
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
def _dot(p: Vec, q: Vec) -> float:
    return p[0] * q[0] + p[1] * q[1] + p[2] * q[2]


@njit(cache=True, inline="always")
def _sub(p: Vec, q: Vec) -> Vec:
    return (p[0] - q[0], p[1] - q[1], p[2] - q[2])


@njit(cache=True, inline="always")
def _along(p: Vec, t: float, q: Vec) -> Vec:
    """p + t q."""
    return (p[0] + t * q[0], p[1] + t * q[1], p[2] + t * q[2])


@njit(cache=True, inline="always")
def _norm(p: Vec) -> float:
    return math.sqrt(_dot(p, p))


@njit(cache=True, inline="always")
def _flat(p: Vec, n: Vec) -> Vec:
    """p without its component along the unit vector n."""
    return _along(p, -_dot(p, n), n)


@njit(cache=True)
def site(lon: float, lat: float) -> tuple[Vec, Vec]:
    """ECEF position of a surface point, and its (geodetic) unit normal."""
    phi, lam = math.radians(lat), math.radians(lon)
    sp, cp, sl, cl = math.sin(phi), math.cos(phi), math.sin(lam), math.cos(lam)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * sp * sp)
    return (n * cp * cl, n * cp * sl, n * (1.0 - WGS84_E2) * sp), (cp * cl, cp * sl, sp)


@njit(cache=True)
def _segment(lon0: float, lat0: float, lon1: float, lat1: float) -> Seg:
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
def _arc(c: float) -> float:
    """Longest geodesic whose chord is c (Schur, curvature ≤ 1/M_MIN)."""
    return 2.0 * M_MIN * math.asin(min(1.0, c / (2.0 * M_MIN)))


@njit(cache=True, inline="always")
def _depth(length: float) -> float:
    return DEPTH_FACTOR * length * length / (8.0 * M_MIN)


@njit(cache=True, inline="always")
def _param(length: float) -> float:
    return PARAM_COEF * length * length * length / (M_MIN * M_MIN)


@njit(cache=True, inline="always")
def _angle(n: Vec, m: Vec) -> float:
    """Angle between unit vectors (rounding-safe)."""
    return 2.0 * math.asin(min(1.0, 0.5 * _norm(_sub(n, m)))) + 1e-12


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
    p = _along(_along(w, a0, u), -b0, v)
    q = _along((a1 * u[0], a1 * u[1], a1 * u[2]), -b1, v)
    qq = _dot(q, q)
    t = t0 if qq == 0.0 else min(max(-_dot(p, q) / qq, t0), t1)
    e = _along(p, t, q)
    return _dot(e, e), a0 + a1 * t, b0 + b1 * t


@njit(cache=True)
def _least(w: Vec, u: Vec, v: Vec, box: Box, timing: Box) -> tuple[float, float, float]:
    """(d², λ, μ): least |w + λu − μv|² over λ ∈ [box0, box1], μ ∈ [box2, box3] and the
    schedule band |Δ + λ da − μ db| ≤ band, timing = (Δ, da, db, band) (band = inf: none);
    d² = inf if infeasible.

    Convex quadratic over a convex polygon: the free minimiser if feasible, else the best
    point of the (at most six) lines bounding the polygon."""
    delta, da, db, band = timing
    best, bl, bm = INF, 0.0, 0.0
    uu, vv, uv = _dot(u, u), _dot(v, v), _dot(u, v)
    uw, vw = _dot(u, w), _dot(v, w)
    det = uu * vv - uv * uv
    if det > 1e-12 * uu * vv:
        lam = (uv * vw - uw * vv) / det
        mu = (uu * vw - uv * uw) / det
        gap = delta + lam * da - mu * db
        if box[0] <= lam <= box[1] and box[2] <= mu <= box[3] and abs(gap) <= band:
            e = _along(_along(w, lam, u), -mu, v)
            best, bl, bm = _dot(e, e), lam, mu
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
    fa = a if lam == 0.0 or _dot(u, u) == 0.0 else _foot(_along(a, lam, u))
    fb = c if mu == 0.0 or _dot(v, v) == 0.0 else _foot(_along(c, mu, v))
    return _arc(_norm(_sub(fa, fb)))


@njit(cache=True)
def _psi(ha: float, hb: float, d_lo: float, d_hi: float) -> float:
    """How much more than d' the chord distance can be (module docstring)."""
    dh, hh = max(ha, hb), min(ha, hb)
    s = _arc(d_hi)
    whole = dh + hh * KAPPA * s
    if d_lo <= 0.0:
        return whole
    fine = dh * KAPPA * s * s / (2.0 * max(d_hi, 1e-300)) + hh * KAPPA * s
    return min(whole, fine + whole * whole / (2.0 * d_lo))


@njit(cache=True)
def interval(sa: Seg, sb: Seg, box: Box, timing: Box) -> tuple[float, float, float]:
    """(lo, hi, chord distance) bounding the least geodesic distance between positions λ of
    segment ``sa`` and μ of ``sb`` over the feasible set of :func:`_least`; all inf if
    infeasible."""
    a, na, b, nb = sa
    c, nc, d, nd = sb
    u, v, w = _sub(b, a), _sub(d, c), _sub(a, c)
    la, lb = _norm(u), _norm(v)
    ha, hb, ea, eb = _depth(la), _depth(lb), _param(la), _param(lb)
    d2c, lc, mc = _least(w, u, v, box, timing)
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
    n0 = _along(_along(na, 1.0, nb), 1.0, _along(nc, 1.0, nd))
    n0 = _along((0.0, 0.0, 0.0), 1.0 / _norm(n0), n0)
    turn_a = KAPPA * 0.5 * la + max(_norm(_sub(n0, na)), _norm(_sub(n0, nb)))
    turn_b = KAPPA * 0.5 * lb + max(_norm(_sub(n0, nc)), _norm(_sub(n0, nd)))
    if psi <= ha * turn_a + hb * turn_b + PLANE_GAIN_M:  # the plane would not gain: skip it
        return max(low, 0.0), hi, dc
    theta_a = max(_angle(n0, na), _angle(n0, nb)) + KAPPA * _arc(0.5 * la + ha)
    theta_b = max(_angle(n0, nc), _angle(n0, nd)) + KAPPA * _arc(0.5 * lb + hb)
    d2o, lo_, mo_ = _least(_flat(w, n0), _flat(u, n0), _flat(v, n0), box, timing)
    if d2o < INF:  # (rounding may lose a measure-zero feasible set in one of the solves)
        hi = min(hi, _upper(a, u, lo_, c, v, mo_) + slack)
        plane = math.sqrt(d2o) - ha * theta_a - hb * theta_b - ROUND_M  # d' ≥ this
        psi = _psi(ha, hb, max(plane, crude, 0.0), hi + ea + eb)
        low = max(dc - psi - ea - eb - ROUND_M, plane - ea - eb)
    return max(low, 0.0), hi, dc


# --- element pairs ---------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _is_point(cols: Any_, i: int) -> bool:
    return not cols[13][i] and cols[0][i] == cols[2][i] and cols[1][i] == cols[3][i]


@njit(cache=True)
def _pair(a: Any_, i: int, b: Any_, j: int, s: float) -> tuple[float, float]:
    """(distance, error) of element i of ``a`` against element j of ``b``, as
    ``compiled._pair`` with ``limit`` = inf, but in ECEF for segments and point sites."""
    ax, ay, bx, by, t0, t1, tol, _, alo, ahi, _, _, _, seg = a
    cx, cy, dx, dy, u0, u1, tou, _, blo, bhi, _, _, _, seg_b = b
    if not (seg[i] or _is_point(a, i)) or not (seg_b[j] or _is_point(b, j)):
        return compiled._pair(a, i, b, j, INF, s)
    if t0[i] - tol[i] > u1[j] + tou[j] + s or u0[j] - tou[j] > t1[i] + tol[i] + s:
        return INF, 0.0
    if alo[i] > bhi[j] or blo[j] > ahi[i]:
        return INF, 0.0
    sa, sb = _segment(ax[i], ay[i], bx[i], by[i]), _segment(cx[j], cy[j], dx[j], dy[j])
    if _norm(_sub(sa[2], sa[0])) > MAX_SEGMENT_M or _norm(_sub(sb[2], sb[0])) > MAX_SEGMENT_M:
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


# --- polygons --------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _gnomonic(p: Vec, frame: tuple[Vec, Vec, Vec]) -> tuple[float, float, bool]:
    """Central projection onto the plane tangent at the frame's centre; False if behind."""
    z = _dot(p, frame[0])
    if z <= 0.1 * _norm(p):
        return 0.0, 0.0, False
    return _dot(p, frame[1]) / z, _dot(p, frame[2]) / z, True


@njit(cache=True)
def _part(xs: Any_, ys: Any_, ring_start: Any_, r0: int, r1: int) -> Any_:
    """One polygon, rings [r0, r1): ECEF vertices and normals, ring offsets from 0, the
    gnomonic frame about the exterior's centre (c, e1, e2) and gnomonic coordinates."""
    first, last = ring_start[r0], ring_start[r1]
    pos = np.empty((last - first, 3))
    nor = np.empty((last - first, 3))
    cx = cy = cz = 0.0
    for k in range(last - first):
        p, n = site(xs[first + k], ys[first + k])
        pos[k, 0], pos[k, 1], pos[k, 2] = p
        nor[k, 0], nor[k, 1], nor[k, 2] = n
        if k < ring_start[r0 + 1] - first:
            cx, cy, cz = cx + p[0], cy + p[1], cz + p[2]
    c = _along((0.0, 0.0, 0.0), 1.0 / math.sqrt(cx * cx + cy * cy + cz * cz), (cx, cy, cz))
    e = (-c[1], c[0], 0.0) if abs(c[2]) < 0.9 else (0.0, -c[2], c[1])
    e1 = _along((0.0, 0.0, 0.0), 1.0 / _norm(e), e)
    e2 = (c[1] * e1[2] - c[2] * e1[1], c[2] * e1[0] - c[0] * e1[2], c[0] * e1[1] - c[1] * e1[0])
    frame = (c, e1, e2)
    gx = np.empty(last - first)
    gy = np.empty(last - first)
    for k in range(last - first):
        gx[k], gy[k], ok = _gnomonic((pos[k, 0], pos[k, 1], pos[k, 2]), frame)
        if not ok:
            raise ValueError("polygon spans more than a hemisphere around its centre")
    return pos, nor, ring_start[r0 : r1 + 1] - first, frame, gx, gy


@njit(cache=True, inline="always")
def _corner(poly: Any_, k: int) -> tuple[Vec, Vec]:
    pos, nor = poly[0], poly[1]
    return (pos[k, 0], pos[k, 1], pos[k, 2]), (nor[k, 0], nor[k, 1], nor[k, 2])


@njit(cache=True, inline="always")
def _orient(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


@njit(cache=True)
def _crosses(p: tuple[float, float], q: tuple[float, float], poly: Any_, r: int, s: int) -> bool:
    """The closed 2-D segment p–q meets the gnomonic edge r–s."""
    rx, ry, sx, sy = poly[4][r], poly[5][r], poly[4][s], poly[5][s]
    d1, d2 = _orient(rx, ry, sx, sy, p[0], p[1]), _orient(rx, ry, sx, sy, q[0], q[1])
    d3, d4 = _orient(p[0], p[1], q[0], q[1], rx, ry), _orient(p[0], p[1], q[0], q[1], sx, sy)
    if d1 * d2 < 0.0 and d3 * d4 < 0.0:
        return True
    for d, ax, ay, bx, by, cx, cy in (
        (d1, rx, ry, sx, sy, p[0], p[1]),
        (d2, rx, ry, sx, sy, q[0], q[1]),
        (d3, p[0], p[1], q[0], q[1], rx, ry),
        (d4, p[0], p[1], q[0], q[1], sx, sy),
    ):  # touching: collinear and within the other's extent
        if d == 0.0 and min(ax, bx) <= cx <= max(ax, bx) and min(ay, by) <= cy <= max(ay, by):
            return True
    return False


@njit(cache=True)
def _contains(x: float, y: float, poly: Any_) -> bool:
    """Even-odd rule over all rings (exterior and holes) in the gnomonic plane."""
    rings, gx, gy = poly[2], poly[4], poly[5]
    inside = False
    for r in range(len(rings) - 1):
        first, n = rings[r], rings[r + 1] - rings[r]
        for k in range(n):
            x1, y1 = gx[first + k], gy[first + k]
            x2, y2 = gx[first + (k + 1) % n], gy[first + (k + 1) % n]
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
    return inside


@njit(cache=True, inline="always")
def _radial_error(length: float) -> float:
    """How far a chord's radial image (what the gnomonic sees) is from its geodesic."""
    return _depth(length) * RADIAL_TILT + _param(length)


@njit(cache=True, inline="always")
def _next(rings: Any_, r: int, k: int) -> int:
    """The vertex after k on ring r (rings are closed implicitly, or explicitly: both work)."""
    return rings[r] if k + 1 == rings[r + 1] else k + 1


@njit(cache=True)
def _to_polygon(
    sa: Seg, lo: float, hi: float, poly: Any_, separation: float = -INF, factor: float = 1.0
) -> tuple[float, float]:
    """(distance, error) from the part λ ∈ [lo, hi] of segment ``sa`` to polygon ``poly``.

    A verdict only needs to know that the distance is certainly below its ``separation``
    (:func:`deconflict.core.compiled.certainly_within`).
    When the quick upper bound of the first sweep already says so, the interval refinement
    of the second is skipped and (upper / 2, upper / 2) returned: a wider interval, but one
    that still holds the distance and makes the same decision."""
    u = _sub(sa[2], sa[0])
    lu = _norm(u)
    rings = poly[2]
    edges = 0.0
    for r in range(len(rings) - 1):
        for k in range(rings[r], rings[r + 1]):
            e = _sub(_corner(poly, k)[0], _corner(poly, _next(rings, r, k))[0])
            edges = max(edges, _radial_error(_norm(e)))
    cont = 1.01 * (_radial_error(lu) + edges) + ROUND_M  # error of the interior test
    x0, y0, ok0 = _gnomonic(_along(sa[0], lo, u), poly[3])
    x1, y1, ok1 = _gnomonic(_along(sa[0], hi, u), poly[3])
    if ok0 and ok1:  # (a segment behind the centre's horizon cannot be inside)
        if _contains(x0, y0, poly) or _contains(x1, y1, poly):
            return 0.0, cont
        for r in range(len(rings) - 1):
            for k in range(rings[r], rings[r + 1]):
                if _crosses((x0, y0), (x1, y1), poly, k, _next(rings, r, k)):
                    return 0.0, cont
    best_lo, best_hi = INF, INF
    box = (lo, hi, 0.0, 1.0)
    for sweep in range(2):  # 0: a quick upper bound; 1: refine every edge that could beat it
        if sweep == 1 and compiled.certainly_within(best_hi, 0.0, factor, separation):
            return 0.5 * best_hi, 0.5 * best_hi
        for r in range(len(rings) - 1):
            for k in range(rings[r], rings[r + 1]):
                p, np_ = _corner(poly, k)
                q, nq = _corner(poly, _next(rings, r, k))
                v = _sub(q, p)
                d2, _, _ = _least(_sub(sa[0], p), u, v, box, (0.0, 0.0, 0.0, INF))
                # chord points lie within depth + ε of the true positions (module docstring)
                spread = _depth(lu) + _depth(_norm(v)) + _param(lu) + _param(_norm(v)) + ROUND_M
                if sweep == 0:
                    best_hi = min(best_hi, _arc(math.sqrt(d2) + spread) + ROUND_M)
                elif math.sqrt(d2) - spread < best_hi:
                    low, high, _ = interval(sa, (p, np_, q, nq), box, (0.0, 0.0, 0.0, INF))
                    best_lo, best_hi = min(best_lo, low), min(best_hi, high)
    if best_lo <= cont:  # the interior test could have missed by this much
        best_lo = 0.0
    return 0.5 * (best_lo + best_hi), 0.5 * (best_hi - best_lo)


@njit(cache=True)
def segment_polygon(
    seg: Box, times: Box, window: tuple[float, float], xs: Any_, ys: Any_, ring_start: Any_
) -> tuple[float, float]:
    """(distance, error) from a route segment seg = (lon0, lat0, lon1, lat1), timed
    times = (t0, t1, tolerance, time slack), clipped to the instants whose ±tolerance (+
    slack) meet ``window`` = (start, end), to one polygon whose ring k has the vertices
    ring_start[k]..ring_start[k + 1] of (xs, ys), exterior first. 0 if it enters the
    interior; inf if the times never meet."""
    t0, t1, tol, s = times
    lo, hi, fits = compiled._clip(t0, t1, window[0] - tol - s, window[1] + tol + s)
    if not fits:
        return INF, 0.0
    poly = _part(xs, ys, ring_start, 0, len(ring_start) - 1)
    return _to_polygon(_segment(seg[0], seg[1], seg[2], seg[3]), lo, hi, poly)


@njit(cache=True)
def point_polygon(
    lon: float, lat: float, xs: Any_, ys: Any_, ring_start: Any_
) -> tuple[float, float]:
    """(distance, error) from a point to a polygon (0 inside)."""
    poly = _part(xs, ys, ring_start, 0, len(ring_start) - 1)
    return _to_polygon(_segment(lon, lat, lon, lat), 0.0, 0.0, poly)


@njit(cache=True)
def polygon_polygon(
    xs1: Any_, ys1: Any_, rs1: Any_, xs2: Any_, ys2: Any_, rs2: Any_
) -> tuple[float, float]:
    """(distance, error) between two polygons (0 if they overlap): 2's first vertex against
    1 (is 2 inside 1?), then the least distance of 1's edges to 2 (which finds crossings and
    1 inside 2)."""
    one = _part(xs1, ys1, rs1, 0, len(rs1) - 1)
    two = _part(xs2, ys2, rs2, 0, len(rs2) - 1)
    p, n = _corner(two, 0)
    x, y, ok = _gnomonic(p, one[3])
    if ok and _contains(x, y, one):
        return _to_polygon((p, n, p, n), 0.0, 0.0, one)
    best_lo, best_hi = INF, INF
    rings = one[2]
    for r in range(len(rings) - 1):
        for k in range(rings[r], rings[r + 1]):
            p, np_ = _corner(one, k)
            q, nq = _corner(one, _next(rings, r, k))
            d, e = _to_polygon((p, np_, q, nq), 0.0, 1.0, two)
            best_lo, best_hi = min(best_lo, d - e), min(best_hi, d + e)
    best_lo = max(best_lo, 0.0)
    return 0.5 * (best_lo + best_hi), 0.5 * (best_hi - best_lo)


@njit(cache=True, inline="always")
def _window_cut(q: Any_, i: int, s: Any_, j: int, slack: float) -> tuple[float, float, bool]:
    """The stretch (as fractions) of query segment i that element j's window, widened by
    i's tolerance and ``slack``, lets near it; a point site only needs the windows to meet."""
    t0, t1, tol, seg = q[4], q[5], q[6], q[13]
    u0, u1 = s[4], s[5]
    if not seg[i]:
        return 0.0, 0.0, not (t0[i] > u1[j] + slack or u0[j] > t1[i] + slack)
    return compiled._clip(t0[i], t1[i], u0[j] - tol[i] - slack, u1[j] + tol[i] + slack)


@njit(cache=True)
def segment_polygon_many(
    q: Any_, qi: Any_, s: Any_, rows: Any_, part: Any_, part_rings: Any_, rings: Any_,
    xs: Any_, ys: Any_, settle: Any_,
) -> tuple[Any_, Any_, Any_]:  # fmt: skip
    """(distance, error) of route segments or point sites q[qi[k]] against the polygon part
    whose window and altitude band are those of element s[rows[k]] and whose rings are
    part_rings[part[k]]..part_rings[part[k] + 1] (ring r: vertices rings[r]..rings[r + 1]
    of xs, ys), with the strict time semantics of :func:`evaluate`; and the lower bound
    (distance − error) with the time slack, for dropping. Both in one visit: the slack
    changes the segment's cut only when a window edge falls inside it, and otherwise the
    second answer is the first's. q boxes get ``compiled._pair``'s answers. Consecutive
    pairs on the same part share its conversion, so sort by part.

    ``settle`` = (group, settled, separation, factor) lets a verdict stop early: once a
    pair of group ``group[k]`` (its declaration) is certain
    (:func:`deconflict.core.compiled.certainly_within`), ``settled[group]`` is set
    and the group's later pairs are left unmeasured (infinite), since one certain pair
    makes the declaration a conflict. Groups already settled on entry are skipped too."""
    dist = np.full(len(qi), INF)
    err = np.zeros(len(qi))
    lower = np.full(len(qi), INF)
    if len(qi) == 0:
        return dist, err, lower
    ax, ay, bx, by, _, _, _, _, alo, ahi, _, _, _, seg = q
    blo, bhi = s[8], s[9]
    group, settled, separation, factor = settle
    current = part[0]
    poly = _part(xs, ys, rings, part_rings[current], part_rings[current + 1])
    for k in range(len(qi)):
        i, j = qi[k], rows[k]
        if settled[group[k]]:
            continue
        if not (seg[i] or _is_point(q, i)):
            dist[k], err[k] = compiled._pair(q, i, s, j, INF, 0.0)
            d, e = compiled._pair(q, i, s, j, INF, TIME_SLACK_S)
            lower[k] = d - e
            continue
        if alo[i] > bhi[j] or blo[j] > ahi[i]:
            continue
        lo, hi, fits = _window_cut(q, i, s, j, 0.0)
        lo_w, hi_w, fits_w = _window_cut(q, i, s, j, TIME_SLACK_S)
        if not fits_w:  # (the widened cut contains the strict one)
            continue
        if part[k] != current:
            current = part[k]
            poly = _part(xs, ys, rings, part_rings[current], part_rings[current + 1])
        sa = _segment(ax[i], ay[i], bx[i], by[i])
        if fits:  # strictly first: a certain pair needs nothing more
            d, e = _to_polygon(sa, lo, hi, poly, separation[k], factor[k])
            dist[k], err[k] = d, e
            if compiled.certainly_within(d, e, factor[k], separation[k]):
                settled[group[k]] = True
                lower[k] = d - e
                continue
            if lo == lo_w and hi == hi_w:
                lower[k] = d - e
                continue
        d, e = _to_polygon(sa, lo_w, hi_w, poly)
        lower[k] = d - e
    return dist, err, lower
