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
from typing import Any

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
            dx = wx + lam * ux - mu * vx
            dy = wy + lam * uy - mu * vy
            best = dx * dx + dy * dy
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


@njit(cache=True)
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
    ax, ay, bx, by, t0, t1, tol, _, alo, ahi, slack, _, _, seg = a
    cx, cy, dx, dy, u0, u1, tou, _, blo, bhi, slack_b, _, _, seg_b = b
    if t0[i] - tol[i] > u1[j] + tou[j] + s or u0[j] - tou[j] > t1[i] + tol[i] + s:
        return math.inf, 0.0
    if alo[i] > bhi[j] or blo[j] > ahi[i]:
        return math.inf, 0.0
    lat_lo = min(ay[i], by[i], cy[j], dy[j])
    lat_hi = max(ay[i], by[i], cy[j], dy[j])
    east, north = _per_degree((ay[i] + by[i] + cy[j] + dy[j]) / 4.0)
    span = math.radians(lat_hi - lat_lo)
    worst = min(max(abs(lat_lo), abs(lat_hi)), MAX_LAT)
    rel = METRIC_REL_ERROR + span * (1.0 + abs(math.tan(math.radians(worst))))
    fixed = slack[i] + slack_b[j] + BASE_SLACK_M
    x1, y1 = (bx[i] - ax[i]) * east, (by[i] - ay[i]) * north
    p0, q0 = (cx[j] - ax[i]) * east, (cy[j] - ay[i]) * north
    p1, q1 = (dx[j] - ax[i]) * east, (dy[j] - ay[i]) * north
    gx = max(min(p0, p1) - max(0.0, x1), min(0.0, x1) - max(p0, p1), 0.0)
    gy = max(min(q0, q1) - max(0.0, y1), min(0.0, y1) - max(q0, q1), 0.0)
    rough = math.hypot(gx, gy)
    if rough - (rough * rel + fixed) >= limit:
        return math.inf, 0.0
    if seg[i] and seg_b[j]:
        d = _banded(
            -p0,
            -q0,
            x1,
            y1,
            p1 - p0,
            q1 - q0,
            t0[i] - u0[j],
            t1[i] - t0[i],
            u1[j] - u0[j],
            tol[i] + tou[j] + s,
        )
    elif seg[i]:
        lo, hi, fits = _clip(t0[i], t1[i], u0[j] - tol[i] - s, u1[j] + tol[i] + s)
        if not fits:
            return math.inf, 0.0
        d = _segment_box(lo * x1, lo * y1, hi * x1, hi * y1, p0, q0, p1, q1)
    elif seg_b[j]:
        lo, hi, fits = _clip(u0[j], u1[j], t0[i] - tou[j] - s, t1[i] + tou[j] + s)
        if not fits:
            return math.inf, 0.0
        ux, uy = p1 - p0, q1 - q0
        d = _segment_box(p0 + lo * ux, q0 + lo * uy, p0 + hi * ux, q0 + hi * uy, 0.0, 0.0, x1, y1)
    else:
        d = rough
    return d, d * rel + fixed


@njit(cache=True)
def scan(
    q: Any_,
    q_hot: Any_,
    keys_owner: Any_,
    lo: Any_,
    hi: Any_,
    grid_rows: Any_,
    s: Any_,
    s_hot: Any_,
    marks: Any_,
    stamp: int,
    largest: float,
    upper_only: bool,
) -> tuple[Any_, Any_, Any_, Any_]:
    """Walk the grid ranges [lo[k], hi[k]) found for query keys k (owned by query element
    ``keys_owner[k]``) and keep the pairs whose lower bound is below S's upper bound.

    Each row first meets its packed record (:mod:`deconflict.core.prefilter`): times, box,
    party and declaration in one cache line, against the query element's record (whose box
    is already widened by the largest separation). Only rows that pass read the full
    columns. ``marks`` remembers, per store row, the last query element (``stamp + owner``)
    that bounded it, which removes the duplicates a row registered in several cells
    produces (a query element's keys are contiguous). A query element never meets its own
    declaration, and with ``upper_only`` (the self-join) only meets larger slots, so that
    each unordered pair is looked at once. Dead rows have an empty time interval.
    """
    total = 0
    for k in range(len(lo)):
        total += hi[k] - lo[k]
    out_q = np.empty(total, dtype=np.int64)
    out_r = np.empty(total, dtype=np.int64)
    out_d = np.empty(total)
    out_e = np.empty(total)
    n = 0
    qbuf, sbuf = q[7], s[7]
    for k in range(len(lo)):
        i = keys_owner[k]
        q0, q1, qw, qs, qe, qn, qparty, qdecl = (
            q_hot[i, 0],
            q_hot[i, 1],
            q_hot[i, 2],
            q_hot[i, 3],
            q_hot[i, 4],
            q_hot[i, 5],
            q_hot[i, 6],
            q_hot[i, 7],
        )
        for p in range(lo[k], hi[k]):
            j = grid_rows[p]
            if s_hot[j, 0] > q1 or s_hot[j, 1] < q0:
                continue
            if s_hot[j, 2] > qe or s_hot[j, 4] < qw or s_hot[j, 3] > qn or s_hot[j, 5] < qs:
                continue
            decl = s_hot[j, 7]
            if s_hot[j, 6] == qparty or decl == qdecl or (upper_only and decl < qdecl):
                continue
            if marks[j] == stamp + i:
                continue
            marks[j] = stamp + i
            limit = largest + qbuf[i] + sbuf[j]
            d, e = _pair(q, i, s, j, limit)
            if d - e < limit:
                out_q[n], out_r[n], out_d[n], out_e[n] = i, j, d, e
                n += 1
    return out_q[:n], out_r[:n], out_d[:n], out_e[:n]


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


@njit(cache=True)
def _grow(a: Any_, n: int) -> Any_:
    bigger = np.empty(max(16, 2 * n), dtype=a.dtype)
    bigger[:n] = a[:n]
    return bigger


@njit(cache=True, inline="always")
def _part_box(
    x0: float, y0: float, x1: float, y1: float, t0: float, t1: float, lo: float, hi: float
) -> tuple[float, float, float, float, bool]:
    """Box of the part of segment (x0, y0) → (x1, y1), timed t0 → t1, within [lo, hi]."""
    if t1 < lo or t0 > hi:
        return 0.0, 0.0, 0.0, 0.0, False
    if t1 <= t0:
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1), True
    f0 = min(max((lo - t0) / (t1 - t0), 0.0), 1.0)
    f1 = min(max((hi - t0) / (t1 - t0), 0.0), 1.0)
    ax, ay = x0 + f0 * (x1 - x0), y0 + f0 * (y1 - y0)
    bx, by = x0 + f1 * (x1 - x0), y0 + f1 * (y1 - y0)
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by), True


@njit(cache=True)
def group_join(
    keys: Any_,
    rows: Any_,
    hot: Any_,
    near: Any_,
    corners: Any_,
    s: Any_,
    largest: float,
    nx: int,
    ny: int,
) -> tuple[Any_, Any_, Any_, Any_]:
    """All pairs within each group of equal keys of a grid whose boxes were widened by half
    the separation, so that any two elements closer than S share a key.

    ``hot``, ``near`` and ``corners`` are gathered in the order of ``keys``/``rows`` (entry
    p belongs to row ``rows[p]``): each row's packed record (:mod:`deconflict.core.prefilter`),
    the same with the box widened by the largest separation, and the lowest (cx, cy, bucket)
    corner of its keys. A pair is bounded only if one's ``near`` box meets the other's box
    and their times overlap, tests that read contiguous memory. A pair sharing several keys
    is kept only under the lowest corner of their common range (the reference key), so it is
    looked at exactly once and nothing is allocated per duplicate.
    """
    ax, ay, bx, by, t0, t1, tol, sbuf, _, _, _, _, _, seg = s
    cap = 1024
    out_i = np.empty(cap, dtype=np.int64)
    out_j = np.empty(cap, dtype=np.int64)
    out_d = np.empty(cap)
    out_e = np.empty(cap)
    n = 0
    g0 = 0
    total = len(keys)
    while g0 < total:
        key = keys[g0]
        g1 = g0
        while g1 < total and keys[g1] == key:
            g1 += 1
        for p in range(g0, g1):
            q0, q1, qw, qs, qe, qn, qparty, qdecl = (
                near[p, 0],
                near[p, 1],
                near[p, 2],
                near[p, 3],
                near[p, 4],
                near[p, 5],
                near[p, 6],
                near[p, 7],
            )
            for r in range(p + 1, g1):
                if hot[r, 0] > q1 or hot[r, 1] < q0:
                    continue
                if hot[r, 2] > qe or hot[r, 4] < qw or hot[r, 3] > qn or hot[r, 5] < qs:
                    continue
                if hot[r, 7] == qdecl or hot[r, 6] == qparty:
                    continue
                cx = max(corners[p, 0], corners[r, 0])
                cy = max(corners[p, 1], corners[r, 1])
                ref = (max(corners[p, 2], corners[r, 2]) * ny + cy) * nx + cx
                if ref != key:
                    continue
                i, j = rows[p], rows[r]
                if seg[i] and seg[j]:
                    band = tol[i] + tol[j] + TIME_SLACK_S
                    wi, si, ei, ni, ok_i = _part_box(
                        ax[i], ay[i], bx[i], by[i], t0[i], t1[i], t0[j] - band, t1[j] + band
                    )
                    wj, sj, ej, nj, ok_j = _part_box(
                        ax[j], ay[j], bx[j], by[j], t0[j], t1[j], t0[i] - band, t1[i] + band
                    )
                    if not (ok_i and ok_j):
                        continue
                    # near[p] widens i's box by S's rule part, i's buffer and slack; hot[r]
                    # widens j's by j's buffer and slack: together, all a pair may be apart.
                    dlon = (
                        max(
                            min(ax[i], bx[i]) * 1e6 - near[p, 2],
                            near[p, 4] - max(ax[i], bx[i]) * 1e6,
                        )
                        + max(
                            min(ax[j], bx[j]) * 1e6 - hot[r, 2], hot[r, 4] - max(ax[j], bx[j]) * 1e6
                        )
                        + 2.0
                    ) * 1e-6
                    dlat = (
                        max(
                            min(ay[i], by[i]) * 1e6 - near[p, 3],
                            near[p, 5] - max(ay[i], by[i]) * 1e6,
                        )
                        + max(
                            min(ay[j], by[j]) * 1e6 - hot[r, 3], hot[r, 5] - max(ay[j], by[j]) * 1e6
                        )
                        + 2.0
                    ) * 1e-6
                    if wj > ei + dlon or ej < wi - dlon or sj > ni + dlat or nj < si - dlat:
                        continue
                limit = largest + sbuf[i] + sbuf[j]
                d, e = _pair(s, i, s, j, limit)
                if d - e < limit:
                    if n == len(out_i):
                        out_i, out_j = _grow(out_i, n), _grow(out_j, n)
                        out_d, out_e = _grow(out_d, n), _grow(out_e, n)
                    out_i[n], out_j[n], out_d[n], out_e[n] = i, j, d, e
                    n += 1
        g0 = g1
    return out_i[:n], out_j[:n], out_d[:n], out_e[:n]
