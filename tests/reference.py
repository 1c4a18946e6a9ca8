"""A slow, obviously-correct reference for the conflict semantics of DESIGN §3.

No projection, no geometry library cleverness: movements are sampled densely along their
geodesics (pyproj ``Geod.fwd``), polygon boundaries are sampled densely along their
lon/lat-straight edges, and every distance is a ``Geod.inv``. The minimum over the samples
is an *upper* bound of the true minimum (every sample is a real, feasible position), and it
exceeds the true minimum by at most :attr:`Reference.error_m`, derived below.

Movement × movement: the feasible pairs are the band |s − u| ≤ T. Scheme "a first": for
each sample s of a, b is taken at each of its samples within [s − T, s + T] *and* exactly at
s − T and s + T; scheme "b first" is the mirror image. If the true minimum is at (s*, u*),
the a-sample next to s* is within δa/2 of a(s*) and within Δta/2 in time; b's samples in
the shifted band then include a point within max(δb, vb·Δta)/2 of b(u*) (the band's edge
lies between b(u*) and any sample outside the band). Taking both schemes, the error is at
most (δa + δb + min(vb·Δta, va·Δtb)) / 2, and instantaneous segments (times equal) are
covered because their samples all carry their exact instant. Movement × site: the clipped
route's samples and the boundary's samples are each within half a spacing of the closest
points, so the error is at most (δ + δ_boundary) / 2.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from deconflict.core.declarations import Activity, Kind

GEOD = Geod(ellps="WGS84")
Array = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Trajectory:
    """Samples of a movement: instant, lon, lat, in route order, plus the sampling bounds."""

    t: Array
    lon: Array
    lat: Array
    spacing_m: float  # δ: largest distance between consecutive samples
    step_s: float  # Δt: largest time between consecutive samples
    speed: float  # v: highest speed over the timed segments (m/s)
    segments: list[tuple[float, float, Array, Array]]  # t0, t1, lons, lats of each segment

    def positions_at(self, instant: float) -> tuple[Array, Array]:
        """Every position the movement can occupy at ``instant`` (several on an instantaneous
        segment or at a vertex); empty outside its schedule."""
        lons: list[float] = []
        lats: list[float] = []
        for t0, t1, seg_lon, seg_lat in self.segments:
            if not t0 <= instant <= t1:
                continue
            if t1 == t0:
                lons.extend(seg_lon)
                lats.extend(seg_lat)
                continue
            f = (instant - t0) / (t1 - t0)
            lon, lat = _along(seg_lon[0], seg_lat[0], seg_lon[-1], seg_lat[-1], f)
            lons.append(lon)
            lats.append(lat)
        return np.array(lons), np.array(lats)


def _along(lon1: float, lat1: float, lon2: float, lat2: float, f: float) -> tuple[float, float]:
    az, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    lon, lat, _ = GEOD.fwd(lon1, lat1, az, dist * f)
    return float(lon), float(lat)


def sample_movement(m: Activity, spacing_m: float, max_step_s: float) -> Trajectory:
    """Sample each segment at equal steps of its fraction, so positions and times stay paired."""
    assert m.times is not None
    coords = shapely.get_coordinates(m.geometry)
    ts: list[float] = []
    lons: list[float] = []
    lats: list[float] = []
    segments = []
    spacing = step = speed = 0.0
    for k in range(len(coords) - 1):
        (lon1, lat1), (lon2, lat2) = coords[k], coords[k + 1]
        t0, t1 = float(m.times[k]), float(m.times[k + 1])
        az, _, length = GEOD.inv(lon1, lat1, lon2, lat2)
        n = max(1, math.ceil(length / spacing_m), math.ceil((t1 - t0) / max_step_s))
        f = np.linspace(0.0, 1.0, n + 1)
        seg_lon, seg_lat, _ = GEOD.fwd(
            np.full(n + 1, lon1), np.full(n + 1, lat1), np.full(n + 1, az), length * f
        )
        seg_lon[0], seg_lat[0], seg_lon[-1], seg_lat[-1] = lon1, lat1, lon2, lat2
        seg_t = t0 + (t1 - t0) * f
        segments.append((t0, t1, np.asarray(seg_lon), np.asarray(seg_lat)))
        ts.extend(seg_t)
        lons.extend(seg_lon)
        lats.extend(seg_lat)
        spacing = max(spacing, length / n)
        step = max(step, (t1 - t0) / n)
        if t1 > t0:
            speed = max(speed, length / (t1 - t0))
    return Trajectory(np.array(ts), np.array(lons), np.array(lats), spacing, step, speed, segments)


@dataclass(frozen=True)
class Boundary:
    """A site as the reference sees it: containment test plus densely sampled boundary."""

    shape: BaseGeometry
    lon: Array
    lat: Array
    spacing_m: float

    @classmethod
    def of(cls, shape: BaseGeometry, spacing_m: float) -> Boundary:
        if isinstance(shape, Point):
            return cls(shape, np.array([shape.x]), np.array([shape.y]), 0.0)
        polygons = shape.geoms if isinstance(shape, MultiPolygon) else [shape]
        lons: list[float] = []
        lats: list[float] = []
        spacing = 0.0
        for polygon in polygons:
            assert isinstance(polygon, Polygon)
            for ring in [polygon.exterior, *polygon.interiors]:
                xy = np.asarray(ring.coords)
                for (lon1, lat1), (lon2, lat2) in itertools.pairwise(xy):
                    _, _, length = GEOD.inv(lon1, lat1, lon2, lat2)
                    n = max(1, math.ceil(length / spacing_m))
                    f = np.linspace(0.0, 1.0, n + 1)
                    edge_lon, edge_lat = lon1 + f * (lon2 - lon1), lat1 + f * (lat2 - lat1)
                    _, _, gaps = GEOD.inv(edge_lon[:-1], edge_lat[:-1], edge_lon[1:], edge_lat[1:])
                    spacing = max(spacing, float(np.max(gaps)))
                    lons.extend(edge_lon)
                    lats.extend(edge_lat)
        return cls(shape, np.array(lons), np.array(lats), spacing)

    def distances(self, lon: Array, lat: Array) -> Array:
        """Geodesic distance from each point to the site (0 inside a polygon)."""
        if len(lon) == 0:
            return np.zeros(0)
        i, j = np.meshgrid(np.arange(len(lon)), np.arange(len(self.lon)), indexing="ij")
        _, _, d = GEOD.inv(lon[i.ravel()], lat[i.ravel()], self.lon[j.ravel()], self.lat[j.ravel()])
        best = np.asarray(d).reshape(i.shape).min(axis=1)
        if not isinstance(self.shape, Point):
            best[shapely.intersects_xy(self.shape, lon, lat)] = 0.0
        return np.asarray(best, dtype=np.float64)


@dataclass(frozen=True)
class Reference:
    """The reference's minimum, its sampling error bound and the sampled feasible pairs."""

    distance_m: float
    error_m: float
    step_s: float  # largest time between samples, for comparing windows
    s: Array  # for every feasible sample pair: the instant on a's schedule that counts
    u: Array  # ... and on b's (for a movement × site, the movement's instant twice)
    d: Array  # their distances

    def hull_below(self, limit: float) -> tuple[float, float] | None:
        """The hull of the instants (either schedule) in sample pairs closer than ``limit``."""
        close = self.d < limit
        if not close.any():
            return None
        both = np.concatenate([self.s[close], self.u[close]])
        return float(both.min()), float(both.max())


def reference(
    a: Activity,
    b: Activity,
    spacing_m: float = 25.0,
    max_step_s: float = 30.0,
) -> Reference | None:
    """The minimum distance over all feasible instants, or None when there are none."""
    if (
        a.altitude is not None
        and b.altitude is not None
        and (a.altitude[0] > b.altitude[1] or b.altitude[0] > a.altitude[1])
    ):
        return None
    if a.kind is Kind.movement and b.kind is Kind.movement:
        return _movements(
            sample_movement(a, spacing_m, max_step_s),
            sample_movement(b, spacing_m, max_step_s),
            a.tolerance_s + b.tolerance_s,
        )
    if a.kind is Kind.movement:
        return _movement_site(a, b, spacing_m, max_step_s)
    if b.kind is Kind.movement:
        return _movement_site(b, a, spacing_m, max_step_s)
    return _sites(a, b, spacing_m)


def _window(x: Activity) -> tuple[float, float]:
    return x.start, math.inf if x.end is None else x.end


def _sites(a: Activity, b: Activity, spacing_m: float) -> Reference | None:
    start = max(a.start, b.start)
    end = min(_window(a)[1], _window(b)[1])
    if start > end:
        return None
    ba, bb = Boundary.of(a.geometry, spacing_m), Boundary.of(b.geometry, spacing_m)
    if a.geometry.intersects(b.geometry):
        distance = 0.0
    else:
        # The closest points lie on the boundaries; sample both against each other.
        distance = float(bb.distances(ba.lon, ba.lat).min())
    # The window of two sites is the overlap of their windows.
    return Reference(
        distance,
        (ba.spacing_m + bb.spacing_m) / 2,
        0.0,
        np.array([start]),
        np.array([end]),
        np.array([distance]),
    )


def _movement_site(
    m: Activity,
    site: Activity,
    spacing_m: float,
    max_step_s: float,
) -> Reference | None:
    """Feasible instants u: [u − τ, u + τ] meets the site's window, i.e. u in [w0 − τ, w1 + τ]."""
    path = sample_movement(m, spacing_m, max_step_s)
    w0, w1 = _window(site)
    first, last = w0 - m.tolerance_s, w1 + m.tolerance_s
    keep = (path.t >= first) & (path.t <= last)
    t, lon, lat = [path.t[keep]], [path.lon[keep]], [path.lat[keep]]
    for edge in (first, last):
        e_lon, e_lat = path.positions_at(edge)
        t.append(np.full(len(e_lon), edge))
        lon.append(e_lon)
        lat.append(e_lat)
    times = np.concatenate(t)
    if len(times) == 0:
        return None
    boundary = Boundary.of(site.geometry, spacing_m)
    d = boundary.distances(np.concatenate(lon), np.concatenate(lat))
    # The advisory window of a movement × site lies on the movement's schedule only.
    return Reference(
        float(d.min()), (path.spacing_m + boundary.spacing_m) / 2, path.step_s, times, times, d
    )


def _movements(pa: Trajectory, pb: Trajectory, tolerance: float) -> Reference | None:
    s1, u1, d1 = _one_way(pa, pb, tolerance)
    u2, s2, d2 = _one_way(pb, pa, tolerance)
    d = np.concatenate([d1, d2])
    if len(d) == 0:
        return None
    error = (pa.spacing_m + pb.spacing_m + min(pb.speed * pa.step_s, pa.speed * pb.step_s)) / 2
    return Reference(
        float(d.min()),
        error,
        max(pa.step_s, pb.step_s),
        np.concatenate([s1, s2]),
        np.concatenate([u1, u2]),
        d,
    )


def _one_way(pa: Trajectory, pb: Trajectory, tolerance: float) -> tuple[Array, Array, Array]:
    """Scheme "a first": each a-sample against b's samples in its band and b at the band's edges."""
    lo = np.searchsorted(pb.t, pa.t - tolerance, side="left")
    hi = np.searchsorted(pb.t, pa.t + tolerance, side="right")
    counts = hi - lo
    ia = np.repeat(np.arange(len(pa.t)), counts)
    ranges = [np.arange(x, y) for x, y in zip(lo, hi, strict=True)]
    ib = np.concatenate(ranges).astype(int) if ranges else np.zeros(0, dtype=int)
    s, u = [pa.t[ia]], [pb.t[ib]]
    lon_a, lat_a = [pa.lon[ia]], [pa.lat[ia]]
    lon_b, lat_b = [pb.lon[ib]], [pb.lat[ib]]
    for k, instant in enumerate(pa.t):
        for edge in (instant - tolerance, instant + tolerance):
            e_lon, e_lat = pb.positions_at(edge)
            n = len(e_lon)
            s.append(np.full(n, instant))
            u.append(np.full(n, edge))
            lon_a.append(np.full(n, pa.lon[k]))
            lat_a.append(np.full(n, pa.lat[k]))
            lon_b.append(e_lon)
            lat_b.append(e_lat)
    la, pa_lat = np.concatenate(lon_a), np.concatenate(lat_a)
    lb, pb_lat = np.concatenate(lon_b), np.concatenate(lat_b)
    if len(la) == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    _, _, d = GEOD.inv(la, pa_lat, lb, pb_lat)
    return np.concatenate(s), np.concatenate(u), np.asarray(d, dtype=np.float64)
