"""Millimetre-tight compiled distances from route segments and points to polygons.

The geocentric model of :mod:`deconflict.core.refine` (chords, their depth and
parametrisation bounds, the interval [lo, hi] that contains the geodesic minimum) applied to a
polygon part: the distance to its rings, edge by edge, or zero where the route enters it.
A check meets these pairs wherever a route comes near a declared area or site polygon, so the
kernel stops as soon as the answer is certain and converts each part once for all the route
segments near it.

Edges are geodesics between consecutive vertices (what find_encounter does for
edges shorter than its 0.05° densification step; segmentize longer lon/lat-straight edges
first). The interior test uses a gnomonic projection about the polygon's centre (central
projection: a chord's radial image is a straight segment there); a radial image lies within
h sin 0.1925° + ε of the true geodesic, which bounds the test's own error.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from deconflict.core import compiled
from deconflict.core.kernels import TIME_SLACK_S
from deconflict.core.refine import (
    INF,
    RADIAL_TILT,
    ROUND_M,
    Any_,
    Box,
    Seg,
    Vec,
    along,
    arc_length,
    chord_depth,
    dot,
    interval,
    is_point,
    least_squared,
    norm,
    param_error,
    segment,
    site,
    sub,
)


@njit(cache=True, inline="always")
def _gnomonic(p: Vec, frame: tuple[Vec, Vec, Vec]) -> tuple[float, float, bool]:
    """Central projection onto the plane tangent at the frame's centre; False if behind."""
    z = dot(p, frame[0])
    if z <= 0.1 * norm(p):
        return 0.0, 0.0, False
    return dot(p, frame[1]) / z, dot(p, frame[2]) / z, True


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
    c = along((0.0, 0.0, 0.0), 1.0 / math.sqrt(cx * cx + cy * cy + cz * cz), (cx, cy, cz))
    e = (-c[1], c[0], 0.0) if abs(c[2]) < 0.9 else (0.0, -c[2], c[1])
    e1 = along((0.0, 0.0, 0.0), 1.0 / norm(e), e)
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
    return chord_depth(length) * RADIAL_TILT + param_error(length)


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
    u = sub(sa[2], sa[0])
    lu = norm(u)
    rings = poly[2]
    edges = 0.0
    for r in range(len(rings) - 1):
        for k in range(rings[r], rings[r + 1]):
            e = sub(_corner(poly, k)[0], _corner(poly, _next(rings, r, k))[0])
            edges = max(edges, _radial_error(norm(e)))
    cont = 1.01 * (_radial_error(lu) + edges) + ROUND_M  # error of the interior test
    x0, y0, ok0 = _gnomonic(along(sa[0], lo, u), poly[3])
    x1, y1, ok1 = _gnomonic(along(sa[0], hi, u), poly[3])
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
                v = sub(q, p)
                d2, _, _ = least_squared(sub(sa[0], p), u, v, box, (0.0, 0.0, 0.0, INF))
                # chord points lie within depth + ε of the true positions (module docstring)
                spread = (
                    chord_depth(lu)
                    + chord_depth(norm(v))
                    + param_error(lu)
                    + param_error(norm(v))
                    + ROUND_M
                )
                if sweep == 0:
                    best_hi = min(best_hi, arc_length(math.sqrt(d2) + spread) + ROUND_M)
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
    return _to_polygon(segment(seg[0], seg[1], seg[2], seg[3]), lo, hi, poly)


@njit(cache=True)
def point_polygon(
    lon: float, lat: float, xs: Any_, ys: Any_, ring_start: Any_
) -> tuple[float, float]:
    """(distance, error) from a point to a polygon (0 inside)."""
    poly = _part(xs, ys, ring_start, 0, len(ring_start) - 1)
    return _to_polygon(segment(lon, lat, lon, lat), 0.0, 0.0, poly)


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
    of xs, ys), with the strict time semantics of :func:`deconflict.core.refine.evaluate`; and the lower bound
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
        if not (seg[i] or is_point(q, i)):
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
        sa = segment(ax[i], ay[i], bx[i], by[i])
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
