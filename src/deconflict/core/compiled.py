"""The narrow phase compiled with numba: the same arithmetic as :mod:`deconflict.core.kernels`.

Profiling the numpy kernels showed the time going to a few hundred numpy calls per batch
and to the candidate arrays themselves (gathering 15 columns for millions of pairs, then
deduplicating them with ``np.unique``), not to arithmetic. Here one compiled loop walks the
grid's row ranges directly, skips dead, same-party, same-declaration and duplicate rows,
and keeps only the pairs whose lower bound is below S, so nothing proportional to the
candidate count is ever allocated except the output. The numpy kernels stay as the readable
definition and for the strict (certainty) pass over the few survivors; tests compare the two.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numba import njit

from deconflict.core.kernels import (
    BASE_SLACK_M,
    DEG,
    MAX_LAT,
    METRIC_REL_ERROR,
    TIME_SLACK_S,
    WGS84_A,
    WGS84_E2,
)

Any_ = Any

T = TypeVar("T", bound=Callable[..., Any])


def reading(kernel: T) -> T:
    """Compile a kernel that only reads the arrays it is given and allocates none, without
    numba's reference counting.

    numba counts references to every array it takes out of a tuple of columns (a call into
    its runtime at each ``a[4]``, and another to let go), and a pair's bound takes some
    thirty such columns: measured on the pairs of a check at a million declarations, a
    pair's two bounds took 775 ns with the counting and 146 ns without. The arrays a reading
    kernel sees are its caller's, alive for the whole call, so the counts guard nothing; a
    kernel that tried to allocate fails to compile rather than leak.
    """
    compile_without_counts = cast(Any, njit)(cache=True, _nrt=False)  # (not in numba's stubs)
    compiled: T = compile_without_counts(kernel)
    return compiled


@njit(cache=True, inline="always")
def _per_degree(lat: float) -> tuple[float, float]:
    phi = math.radians(min(max(lat, -MAX_LAT), MAX_LAT))
    s2 = math.sin(phi) ** 2
    w = math.sqrt(1.0 - WGS84_E2 * s2)
    return WGS84_A / w * math.cos(phi) * DEG, WGS84_A * (1.0 - WGS84_E2) / (w * w * w) * DEG


@njit(cache=True, inline="always")
def _point_box(px: float, py: float, x0: float, y0: float, x1: float, y1: float) -> float:
    gx = max(x0 - px, px - x1, 0.0)
    gy = max(y0 - py, py - y1, 0.0)
    return math.hypot(gx, gy)


@njit(cache=True)
def _segment_box(
    px: float, py: float, qx: float, qy: float, x0: float, y0: float, x1: float, y1: float
) -> float:
    dx, dy = qx - px, qy - py
    lo, hi = 0.0, 1.0
    for p, d, a, b in ((px, dx, x0, x1), (py, dy, y0, y1)):
        if d != 0.0:
            ta, tb = (a - p) / d, (b - p) / d
            lo = max(lo, min(ta, tb))
            hi = min(hi, max(ta, tb))
        elif p < a or p > b:
            lo, hi = 1.0, 0.0
    if lo <= hi:
        return 0.0
    best = min(_point_box(px, py, x0, y0, x1, y1), _point_box(qx, qy, x0, y0, x1, y1))
    dd = dx * dx + dy * dy
    for cx, cy in ((x0, y0), (x0, y1), (x1, y0), (x1, y1)):
        t = 0.0 if dd == 0.0 else min(max(((cx - px) * dx + (cy - py) * dy) / dd, 0.0), 1.0)
        best = min(best, math.hypot(px + t * dx - cx, py + t * dy - cy))
    return best


@njit(cache=True, inline="always")
def _cut(k: float, r: float, lo: float, hi: float) -> tuple[float, float]:
    """Apply k t + r ≤ 0 to the interval [lo, hi] (emptied as lo > hi)."""
    if k > 0:
        return lo, min(hi, -r / k)
    if k < 0:
        return max(lo, -r / k), hi
    if r > 0:
        return 1.0, 0.0
    return lo, hi


@njit(cache=True)
def _line_min(
    wx: float,
    wy: float,
    ux: float,
    uy: float,
    vx: float,
    vy: float,
    delta: float,
    da: float,
    db: float,
    band: float,
    l0: float,
    l1: float,
    m0: float,
    m1: float,
    use_lam: bool,
    use_mu: bool,
    use_band: bool,
) -> float:
    """Least squared distance along one boundary line of the feasible polygon (inf if none)."""
    lo, hi = -math.inf, math.inf
    if use_lam:
        lo, hi = _cut(-l1, -l0, lo, hi)
        lo, hi = _cut(l1, l0 - 1.0, lo, hi)
    if use_mu:
        lo, hi = _cut(-m1, -m0, lo, hi)
        lo, hi = _cut(m1, m0 - 1.0, lo, hi)
    if use_band:
        k = l1 * da - m1 * db
        r = delta + l0 * da - m0 * db
        lo, hi = _cut(k, r - band, lo, hi)
        lo, hi = _cut(-k, -r - band, lo, hi)
    if lo > hi:
        return math.inf
    px = wx + l0 * ux - m0 * vx
    py = wy + l0 * uy - m0 * vy
    qx = l1 * ux - m1 * vx
    qy = l1 * uy - m1 * vy
    qq = qx * qx + qy * qy
    t = lo if qq <= 0 else -(px * qx + py * qy) / qq
    t = min(max(t, lo), hi)
    ex, ey = px + t * qx, py + t * qy
    return ex * ex + ey * ey


@njit(cache=True)
def _banded(
    wx: float,
    wy: float,
    ux: float,
    uy: float,
    vx: float,
    vy: float,
    delta: float,
    da: float,
    db: float,
    band: float,
) -> float:
    """Scalar twin of :func:`deconflict.core.kernels.banded_closest`."""
    best = math.inf
    uu = ux * ux + uy * uy
    vv = vx * vx + vy * vy
    uv = ux * vx + uy * vy
    uw = ux * wx + uy * wy
    vw = vx * wx + vy * wy
    det = uu * vv - uv * uv
    if det > 1e-12 * uu * vv:
        lam = (uv * vw - uw * vv) / det
        mu = (uu * vw - uv * uw) / det
        gap = delta + lam * da - mu * db
        if 0 <= lam <= 1 and 0 <= mu <= 1 and abs(gap) <= band:
            # A convex function's unconstrained minimum, when feasible, is the least over
            # the feasible polygon too: its edges cannot do better.
            dx = wx + lam * ux - mu * vx
            dy = wy + lam * uy - mu * vy
            return math.sqrt(dx * dx + dy * dy)
    w = (wx, wy, ux, uy, vx, vy, delta, da, db, band)
    for l0, m0, edge in ((0.0, 0.0, 0), (1.0, 0.0, 0), (0.0, 0.0, 1), (0.0, 1.0, 1)):
        if edge == 0:  # λ fixed, t = μ
            d2 = _line_min(
                w[0],
                w[1],
                w[2],
                w[3],
                w[4],
                w[5],
                w[6],
                w[7],
                w[8],
                w[9],
                l0,
                0.0,
                0.0,
                1.0,
                False,
                True,
                True,
            )
        else:  # μ fixed, t = λ
            d2 = _line_min(
                w[0],
                w[1],
                w[2],
                w[3],
                w[4],
                w[5],
                w[6],
                w[7],
                w[8],
                w[9],
                0.0,
                1.0,
                m0,
                0.0,
                True,
                False,
                True,
            )
        best = min(best, d2)
    if da > 0 or db > 0:
        for sign in (1.0, -1.0):
            edge_t = sign * band
            if db >= da:
                l0, l1, m0, m1 = 0.0, 1.0, (delta - edge_t) / db, da / db
            else:
                l0, l1, m0, m1 = (edge_t - delta) / da, db / da, 0.0, 1.0
            d2 = _line_min(
                wx, wy, ux, uy, vx, vy, delta, da, db, band, l0, l1, m0, m1, True, True, False
            )
            best = min(best, d2)
    return math.sqrt(best)


@njit(cache=True)
def _clip(t0: float, t1: float, first: float, last: float) -> tuple[float, float, bool]:
    if t0 > last or t1 < first:
        return 0.0, 0.0, False
    if t1 <= t0:
        return 0.0, 1.0, True
    lo = min(max((first - t0) / (t1 - t0), 0.0), 1.0)
    hi = min(max((last - t0) / (t1 - t0), 0.0), 1.0)
    return lo, hi, lo <= hi


@njit(cache=True, inline="always")
def _time_apart(a: Any_, i: int, b: Any_, j: int, s: float) -> bool:
    """Whether i's and j's time intervals, widened by both tolerances and ``s``, miss."""
    t0, t1, tol, u0, u1, tou = a[4], a[5], a[6], b[4], b[5], b[6]
    return bool(t0[i] - tol[i] > u1[j] + tou[j] + s or u0[j] - tou[j] > t1[i] + tol[i] + s)


@njit(cache=True, inline="always")
def _plane(a: Any_, i: int, b: Any_, j: int) -> tuple[float, ...]:
    """The pair in a local plane around its mean latitude, i's start at the origin: i's far
    end (x1, y1), j's ends (p0, q0) and (p1, q1), the box gap ``rough``, the relative
    error ``rel`` of the plane, and the ``fixed`` error (both slacks and the base)."""
    ax, ay, bx, by, cx, cy, dx, dy = a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]
    lat_lo = min(ay[i], by[i], cy[j], dy[j])
    lat_hi = max(ay[i], by[i], cy[j], dy[j])
    east, north = _per_degree((ay[i] + by[i] + cy[j] + dy[j]) / 4.0)
    span = math.radians(lat_hi - lat_lo)
    worst = min(max(abs(lat_lo), abs(lat_hi)), MAX_LAT)
    rel = METRIC_REL_ERROR + span * (1.0 + abs(math.tan(math.radians(worst))))
    fixed = a[10][i] + b[10][j] + BASE_SLACK_M
    x1, y1 = (bx[i] - ax[i]) * east, (by[i] - ay[i]) * north
    p0, q0 = (cx[j] - ax[i]) * east, (cy[j] - ay[i]) * north
    p1, q1 = (dx[j] - ax[i]) * east, (dy[j] - ay[i]) * north
    gx = max(min(p0, p1) - max(0.0, x1), min(0.0, x1) - max(p0, p1), 0.0)
    gy = max(min(q0, q1) - max(0.0, y1), min(0.0, y1) - max(q0, q1), 0.0)
    return x1, y1, p0, q0, p1, q1, math.hypot(gx, gy), rel, fixed


@njit(cache=True, inline="always")
def _measure(a: Any_, i: int, b: Any_, j: int, plane: tuple[float, ...], s: float) -> float:
    """The planar distance of a pair already set in its plane, with time slack ``s``."""
    t0, t1, tol, seg = a[4], a[5], a[6], a[13]
    u0, u1, tou, seg_b = b[4], b[5], b[6], b[13]
    x1, y1, p0, q0, p1, q1, rough = (
        plane[0],
        plane[1],
        plane[2],
        plane[3],
        plane[4],
        plane[5],
        plane[6],
    )
    if seg[i] and seg_b[j]:
        return _banded(
            -p0, -q0, x1, y1, p1 - p0, q1 - q0,
            t0[i] - u0[j], t1[i] - t0[i], u1[j] - u0[j], tol[i] + tou[j] + s,
        )  # fmt: skip
    if seg[i]:
        lo, hi, fits = _clip(t0[i], t1[i], u0[j] - tol[i] - s, u1[j] + tol[i] + s)
        if not fits:
            return math.inf
        return _segment_box(lo * x1, lo * y1, hi * x1, hi * y1, p0, q0, p1, q1)
    if seg_b[j]:
        lo, hi, fits = _clip(u0[j], u1[j], t0[i] - tou[j] - s, t1[i] + tou[j] + s)
        if not fits:
            return math.inf
        ux, uy = p1 - p0, q1 - q0
        return _segment_box(
            p0 + lo * ux, q0 + lo * uy, p0 + hi * ux, q0 + hi * uy, 0.0, 0.0, x1, y1
        )
    return rough


@njit(cache=True, inline="always")
def _slack_free(a: Any_, i: int, b: Any_, j: int) -> bool:
    """Whether the time slack cannot change the pair's measure: no segment has its time
    cut (a row whose time, strictly, already covers the whole of the other's)."""
    t0, t1, tol, seg = a[4], a[5], a[6], a[13]
    u0, u1, tou, seg_b = b[4], b[5], b[6], b[13]
    if seg[i] and seg_b[j]:
        return False
    if seg[i]:
        return bool(u0[j] - tol[i] <= t0[i] and u1[j] + tol[i] >= t1[i])
    if seg_b[j]:
        return bool(t0[i] - tou[j] <= u0[j] and t1[i] + tou[j] >= u1[j])
    return True


CERTAIN_MARGIN_M = 0.1
"""Added to a pair's stretched upper bound before it is compared with S (rounding)."""


@njit(cache=True)
def certain_factor_of(west: float, south: float, east: float, north: float) -> float:
    """find_encounter's own projection stretch for a pair whose combined lon/lat box is
    this (see :func:`deconflict.core.narrow.certain_factor`), the ``factor`` of
    :func:`certainly_within`."""
    per_east, per_north = _per_degree((south + north) / 2.0)
    r = 0.5 * math.hypot((east - west) * per_east, (north - south) * per_north) * 1.01 + 1000.0
    return 1.0 + 3.0 * (r / 6_356_000.0) ** 2 / 6.0


@njit(cache=True, inline="always")
def certainly_within(distance: float, error: float, factor: float, separation: float) -> bool:
    """Whether a pair measured at ``distance`` ± ``error`` is a conflict to find_encounter
    for certain: its upper bound, stretched by ``factor`` (find_encounter's own projection
    error, :func:`deconflict.core.narrow.certain_factor`) plus :data:`CERTAIN_MARGIN_M`, is
    below ``separation``. Every place that calls a pair certain asks this."""
    return distance < math.inf and (distance + error) * factor + CERTAIN_MARGIN_M < separation


@njit(cache=True, inline="always")
def _slack_bound(
    a: Any_, i: int, b: Any_, j: int, limit: float, s: float
) -> tuple[float, float, tuple[float, ...]]:
    """(distance, error, plane) with time slack ``s``, the distance inf when the pair is
    infeasible or its boxes alone are at least ``limit`` apart after the error."""
    none = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    if _time_apart(a, i, b, j, s) or a[8][i] > b[9][j] or b[8][j] > a[9][i]:
        return math.inf, 0.0, none
    plane = _plane(a, i, b, j)
    rough, rel, fixed = plane[6], plane[7], plane[8]
    if rough - (rough * rel + fixed) >= limit:
        return math.inf, 0.0, none
    d = _measure(a, i, b, j, plane, s)
    if d == math.inf:
        return math.inf, 0.0, none
    return d, d * rel + fixed, plane


@reading
def _pair(
    a: Any_,
    i: int,
    b: Any_,
    j: int,
    limit: float,
    s: float = TIME_SLACK_S,
) -> tuple[float, float]:
    """(distance, error) of element i of ``a`` against element j of ``b``; inf if infeasible or
    if their boxes alone are at least ``limit`` apart after the error. ``s`` is the time
    slack: TIME_SLACK_S when dropping pairs, 0 when calling them certain."""
    d, e, _ = _slack_bound(a, i, b, j, limit, s)
    return d, e


@reading
def _pair_both(a: Any_, i: int, b: Any_, j: int, limit: float) -> tuple[float, float, float, float]:
    """:func:`_pair` with the time slack and ``limit``, then, if its lower bound is below
    ``limit``, strictly (no slack, no limit), from one setup: the two differ only where a
    segment's time is cut, and are equal where it is not. (inf, 0, inf, 0) when dropped."""
    d, e, plane = _slack_bound(a, i, b, j, limit, TIME_SLACK_S)
    if not d - e < limit:  # (also when d is inf)
        return d, e, math.inf, 0.0
    if _time_apart(a, i, b, j, 0.0):
        return d, e, math.inf, 0.0
    if _slack_free(a, i, b, j):
        return d, e, d, e
    sd = _measure(a, i, b, j, plane, 0.0)
    if sd == math.inf:
        return d, e, math.inf, 0.0
    return d, e, sd, sd * plane[7] + plane[8]


@njit(cache=True)
def expand_keys(
    cx0: Any_, cx1: Any_, cy0: Any_, cy1: Any_, b0: Any_, b1: Any_, nx: int, ny: int
) -> tuple[Any_, Any_]:
    """Every (bucket, cy, cx) key in each element's ranges, and the element it belongs to.

    The numpy formulation of the same thing (repeat, cumsum, divmod over the total) cost
    more than the whole compiled scan for a single query; two plain loops do not.
    """
    total = 0
    for e in range(len(cx0)):
        if cx1[e] >= cx0[e] and cy1[e] >= cy0[e] and b1[e] >= b0[e]:
            total += (cx1[e] - cx0[e] + 1) * (cy1[e] - cy0[e] + 1) * (b1[e] - b0[e] + 1)
    keys = np.empty(total, dtype=np.int64)
    owner = np.empty(total, dtype=np.int64)
    n = 0
    for e in range(len(cx0)):
        for b in range(b0[e], b1[e] + 1):
            for cy in range(cy0[e], cy1[e] + 1):
                base = (b * ny + cy) * nx
                for cx in range(cx0[e], cx1[e] + 1):
                    keys[n] = base + cx
                    owner[n] = e
                    n += 1
    return keys, owner


@njit(cache=True)
def evaluate(q: Any_, qi: Any_, s: Any_, rows: Any_, strict: bool) -> tuple[Any_, Any_]:
    """(distance, error) for explicit pairs (q[qi[k]], s[rows[k]]); the strict pass."""
    dist = np.empty(len(qi))
    err = np.empty(len(qi))
    slack = 0.0 if strict else TIME_SLACK_S
    for k in range(len(qi)):
        dist[k], err[k] = _pair(q, qi[k], s, rows[k], math.inf, slack)
    return dist, err


def columns(e: Any_) -> tuple[Any_, ...]:
    """The columns :func:`_pair` reads, in its order (``exact`` is not needed)."""
    return (
        e.ax,
        e.ay,
        e.bx,
        e.by,
        e.t0,
        e.t1,
        e.tol,
        e.buf,
        e.alo,
        e.ahi,
        e.slack,
        e.party,
        e.decl,
        e.seg,
    )
