"""The geodesic truth the compiled refinement is checked against: pyproj alone.

Shared by tests/test_refine.py (segments) and tests/test_refine_polygons.py (polygons). The
truth for a pair of timed segments is the least geodesic distance over the feasible (λ, μ):
positions at fraction λ (μ) of each geodesic's length, under the schedule band, found by a
nested zoom (outer over λ, inner over μ) that keeps the best grid point and its two
neighbours at each level. Whatever it returns is a real feasible pair's distance, so it is an
upper bound of the truth, and it is within micrometres of it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pyproj import Geod

GEOD = Geod(ellps="WGS84")
Array = np.ndarray[Any, np.dtype[np.float64]]
ZOOM_TOLERANCE_M = 1e-5


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


def shares_band(err: float, dist: float, ref: float) -> None:
    assert dist - err <= ref + 1e-7, (dist, err, ref)
    assert dist + err >= ref - ZOOM_TOLERANCE_M, (dist, err, ref)
