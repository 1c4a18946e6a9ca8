"""Geodesy for the conflict engine: WGS 84 geodesics and a local metric projection.

The conflict semantics (DESIGN §3) are stated on the ellipsoid: a movement travels along the
geodesic between consecutive vertices, and distances are geodesic. Doing every step of a
closest-approach search with geodesic arithmetic would be slow and hard to reason about, so
the engine works in a *local* azimuthal equidistant projection centred on the pair being
checked, where distances are within about 0.1 % of the truth for points up to 500 km from
the centre. Two things keep that projection honest:

* long route segments are first cut into short pieces along the geodesic
  (:func:`densify_route`), so that a straight projected piece follows the projected
  geodesic to within centimetres;
* polygon edges are cut into short pieces in longitude/latitude before projecting
  (:meth:`LocalProjection.geometry`). A GeoJSON edge is a straight line in lon/lat
  (RFC 7946 §3.1.1), which is also what a user sees on a web map; in the projection it is
  a gentle curve, which short pieces follow closely.

The distance finally reported is always recomputed on the ellipsoid (:func:`distance_m`).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import Geod, Proj
from shapely.geometry.base import BaseGeometry

GEOD = Geod(ellps="WGS84")
"""The WGS 84 ellipsoid; every reported distance comes from here."""

MAX_ROUTE_PIECE_M = 10_000.0
"""Longest route piece kept straight in the projection (sagitta below a few cm)."""

MAX_EDGE_PIECE_DEG = 0.05
"""Longest polygon edge piece, in degrees, kept straight in the projection (about 5 km)."""

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
LonLat = tuple[float, float]


def distance_m(p: LonLat, q: LonLat) -> float:
    """Geodesic distance in metres between two lon/lat points."""
    _, _, dist = GEOD.inv(p[0], p[1], q[0], q[1])
    return float(dist)


def point_along(p: LonLat, q: LonLat, fraction: float) -> LonLat:
    """The point ``fraction`` of the way from ``p`` to ``q`` along the geodesic.

    This is where a movement is when it has covered ``fraction`` of the time between two
    vertices: DESIGN §3 interpolates linearly in time along the geodesic.
    """
    if fraction <= 0.0 or p == q:
        return p
    if fraction >= 1.0:
        return q
    azimuth, _, dist = GEOD.inv(p[0], p[1], q[0], q[1])
    lon, lat, _ = GEOD.fwd(p[0], p[1], azimuth, dist * fraction)
    return (float(lon), float(lat))


def midpoint(p: LonLat, q: LonLat) -> LonLat:
    """The geodesic midpoint: the place an advisory names for a closest approach."""
    return point_along(p, q, 0.5)


def densify_route(
    coords: FloatArray,
    times: FloatArray,
    max_piece_m: float = MAX_ROUTE_PIECE_M,
) -> tuple[FloatArray, FloatArray]:
    """Insert vertices along each geodesic segment so that no piece is longer than ``max_piece_m``.

    The inserted vertices are equally spaced along the geodesic, and their times are
    interpolated in proportion, so the densified route is the same movement as the original
    (same position at every instant), only with more vertices. Pauses (equal positions) and
    instantaneous segments (equal times) are kept as they are.
    """
    out_coords: list[tuple[float, float]] = [(float(coords[0, 0]), float(coords[0, 1]))]
    out_times: list[float] = [float(times[0])]
    for k in range(len(coords) - 1):
        lon1, lat1 = float(coords[k, 0]), float(coords[k, 1])
        lon2, lat2 = float(coords[k + 1, 0]), float(coords[k + 1, 1])
        t1, t2 = float(times[k]), float(times[k + 1])
        _, _, length = GEOD.inv(lon1, lat1, lon2, lat2)
        pieces = math.ceil(length / max_piece_m) if length > 0 else 1
        if pieces > 1:
            inner = GEOD.npts(lon1, lat1, lon2, lat2, pieces - 1)
            for n, (lon, lat) in enumerate(inner, start=1):
                out_coords.append((float(lon), float(lat)))
                out_times.append(t1 + (t2 - t1) * n / pieces)
        out_coords.append((lon2, lat2))
        out_times.append(t2)
    return np.array(out_coords, dtype=np.float64), np.array(out_times, dtype=np.float64)


CENTRE_STEP_DEG = 0.05
PROJECTION_CACHE_SIZE = 4096
_per_thread = threading.local()


@dataclass(frozen=True)
class LocalProjection:
    """An azimuthal equidistant projection (metres) centred on the things being compared.

    Distances from the centre are exact; other distances are stretched by at most about
    ``(r / R)² / 6`` for points ``r`` from the centre (0.1 % at 500 km), which is well inside
    the 0.5 % accuracy DESIGN §3 asks for declarations up to 1,000 km across.
    """

    centre: LonLat
    proj: Proj

    @classmethod
    def around(cls, *geometries: BaseGeometry) -> LocalProjection:
        """Centre on the middle of the combined lon/lat bounds (so order does not matter)."""
        bounds = np.array([g.bounds for g in geometries], dtype=np.float64)
        lon = (float(bounds[:, 0].min()) + float(bounds[:, 2].max())) / 2.0
        lat = (float(bounds[:, 1].min()) + float(bounds[:, 3].max())) / 2.0
        return cls.at((lon, lat))

    @classmethod
    def at(cls, centre: LonLat) -> LocalProjection:
        """The projection centred at ``centre`` snapped to a 0.05° grid, reused per thread.

        Building a PROJ object costs about as much as the rest of a pairwise check, and
        nearby pairs can share one: moving the centre by at most ~3.5 km changes the
        distortion bound above by a negligible amount. pyproj objects are not shared
        between threads, hence one cache per thread.
        """
        lon = round(centre[0] / CENTRE_STEP_DEG) * CENTRE_STEP_DEG
        lat = round(centre[1] / CENTRE_STEP_DEG) * CENTRE_STEP_DEG
        cache: dict[LonLat, Proj] = _per_thread.__dict__.setdefault("projections", {})
        proj = cache.get((lon, lat))
        if proj is None:
            if len(cache) >= PROJECTION_CACHE_SIZE:
                cache.clear()
            proj = Proj(proj="aeqd", lon_0=lon, lat_0=lat, ellps="WGS84", units="m")
            cache[(lon, lat)] = proj
        return cls((lon, lat), proj)

    def to_xy(self, lonlat: FloatArray) -> FloatArray:
        """Project an (n, 2) array of lon/lat to an (n, 2) array of metres."""
        x, y = self.proj(lonlat[:, 0], lonlat[:, 1])
        return np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])

    def to_lonlat(self, xy: FloatArray) -> FloatArray:
        """Inverse of :meth:`to_xy`."""
        lon, lat = self.proj(xy[:, 0], xy[:, 1], inverse=True)
        return np.column_stack(
            [np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)]
        )

    def point_to_lonlat(self, x: float, y: float) -> LonLat:
        lonlat = self.to_lonlat(np.array([[x, y]], dtype=np.float64))
        return (float(lonlat[0, 0]), float(lonlat[0, 1]))

    def geometry(self, geometry: BaseGeometry) -> BaseGeometry:
        """Project a site or area, first cutting its lon/lat-straight edges into short pieces."""
        dense = shapely.segmentize(geometry, MAX_EDGE_PIECE_DEG)
        return shapely.transform(dense, self.to_xy)
