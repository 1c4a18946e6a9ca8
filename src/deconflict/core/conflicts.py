"""The exact pairwise conflict check of DESIGN §3.

:func:`find_encounter` decides whether two activities conflict and, when they do, reports
the closest approach (distance, instants, points, place) and the window during which they
are closer than the required separation. It is the definition the fast engine is measured
against, so it favours being right and readable over being quick; see docs/conflicts.md.

How it works, in short:

1. Cheap rejections first: the activities' time reaches (:attr:`Activity.reach`) and
   altitude bands must overlap.
2. Everything is projected to a local azimuthal equidistant projection centred on the pair
   (:mod:`deconflict.core.geodesy`); routes are first cut into short geodesic pieces.
3. Site/area × site/area: the time windows overlap, so only the planar distance matters.
   Movement × site/area: each route piece is clipped to the instants whose ±τ reach the
   site's window; the closest point then comes from shapely.
   Movement × movement: for a pair of pieces, parametrised by fractions (λ, μ) ∈ [0, 1]², the
   schedule constraint |s(λ) − u(μ)| ≤ τ₁ + τ₂ is a band between two parallel lines, so the
   feasible set is a convex polygon, and the squared distance is a convex quadratic: its
   minimum is either the unconstrained minimiser (if feasible) or on the polygon's boundary,
   both of which have closed forms.
4. The reported distance is recomputed geodesically between the unprojected closest points,
   and the verdict is taken on that distance.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from deconflict.core.declarations import Activity, Kind
from deconflict.core.geodesy import (
    FloatArray,
    LocalProjection,
    LonLat,
    densify_route,
    distance_m,
    midpoint,
    point_along,
)
from deconflict.core.piece_pairs import PiecePair

SEARCH_SLACK = 1.01
"""Pieces are searched up to 1 % (+1 m) beyond S, so that the projection's small distortion
cannot hide an approach whose geodesic distance is below S."""

BUFFER_QUAD_SEGS = 32
"""Quarter-circle resolution of the buffer used for a movement × site/area window."""

TIME_SLACK = 1e-9
"""Relative widening of the schedule band |s − u| ≤ T against rounding (see _widened)."""


@dataclass(frozen=True)
class Encounter:
    """The closest approach of two conflicting activities, as an advisory reports it."""

    distance_m: float
    """Geodesic (WGS 84) distance between ``point_a`` and ``point_b``; below ``separation_m``."""
    separation_m: float
    """S = rule + both buffers: the distance the two had to keep."""
    instant_a: float
    """Epoch seconds on a's schedule of the closest approach (site/area: inside the overlap)."""
    instant_b: float
    point_a: LonLat
    point_b: LonLat
    place: LonLat
    """Geodesic midpoint of ``point_a`` and ``point_b``."""
    window_start: float
    """Earliest instant (on either schedule) taking part in an approach closer than S."""
    window_end: float | None
    """Latest such instant; ``None`` when open-ended (two open-ended sites/areas)."""

    def swapped(self) -> Encounter:
        """The same encounter seen from b's side."""
        return replace(
            self,
            instant_a=self.instant_b,
            instant_b=self.instant_a,
            point_a=self.point_b,
            point_b=self.point_a,
        )


def required_separation(rule_m: float, a: Activity, b: Activity) -> float:
    """S of DESIGN §3: the separation rule for the parties plus both declared buffers."""
    return rule_m + a.buffer_m + b.buffer_m


def find_encounter(a: Activity, b: Activity, rule_m: float) -> Encounter | None:
    """The closest approach of ``a`` and ``b`` if they conflict (DESIGN §3), else ``None``.

    Party ids are not looked at: whether two parties' activities should be compared at all
    is the caller's business. The result is symmetric: ``find_encounter(b, a, r)`` is
    ``find_encounter(a, b, r).swapped()``, exactly, because the work is always done in one
    canonical order.
    """
    if not _times_can_meet(a, b) or not _altitudes_overlap(a, b):
        return None
    separation = required_separation(rule_m, a, b)
    if separation <= 0.0:
        return None
    if _order_key(b) < _order_key(a):
        found = _ordered_encounter(b, a, separation)
        return None if found is None else found.swapped()
    return _ordered_encounter(a, b, separation)


def _ordered_encounter(a: Activity, b: Activity, separation: float) -> Encounter | None:
    projection = LocalProjection.around(a.geometry, b.geometry)
    if a.kind is Kind.movement and b.kind is Kind.movement:
        return _movement_movement(a, b, separation, projection)
    if a.kind is Kind.movement:
        return _movement_place(a, b, separation, projection)
    if b.kind is Kind.movement:
        found = _movement_place(b, a, separation, projection)
        return None if found is None else found.swapped()
    return _place_place(a, b, separation, projection)


# --- quick rejections and ordering ---------------------------------------------------------


def _times_can_meet(a: Activity, b: Activity) -> bool:
    """Closed intervals: touching at one instant counts, which errs on the side of safety.

    For a movement the reach already includes its tolerance, so overlapping reaches is
    exactly "some instants with |s − u| ≤ τ₁ + τ₂" (or "[u − τ, u + τ] meets the window").
    """
    a_first, a_last = a.reach
    b_first, b_last = b.reach
    # A microsecond of slack so that rounding in start − τ cannot drop an exact touch; the
    # exact checks that follow decide.
    return a_first <= b_last + 1e-6 and b_first <= a_last + 1e-6


def _altitudes_overlap(a: Activity, b: Activity) -> bool:
    """Bands are closed; a missing band is "from the surface up", which meets any band."""
    if a.altitude is None or b.altitude is None:
        return True
    return a.altitude[0] <= b.altitude[1] and b.altitude[0] <= a.altitude[1]


def _order_key(x: Activity) -> tuple[str, str, str, int, float, float, float, bytes, bytes]:
    """A total order on activities, used only to make the computation order-independent."""
    times = b"" if x.times is None else x.times.tobytes()
    end = math.inf if x.end is None else x.end
    return (
        x.kind.value,
        x.declaration_id,
        x.party_id,
        x.version,
        x.start,
        end,
        x.tolerance_s,
        x.geometry.wkb,
        times,
    )


def _window(x: Activity) -> tuple[float, float]:
    return (x.start, math.inf if x.end is None else x.end)


def _finite_or_none(value: float) -> float | None:
    return None if math.isinf(value) else value


# --- site/area × site/area -----------------------------------------------------------------


def _place_place(
    a: Activity,
    b: Activity,
    separation: float,
    projection: LocalProjection,
) -> Encounter | None:
    a_start, a_end = _window(a)
    b_start, b_end = _window(b)
    start, end = max(a_start, b_start), min(a_end, b_end)
    if start > end:
        return None
    shape_a, shape_b = projection.geometry(a.geometry), projection.geometry(b.geometry)
    if shape_a.distance(shape_b) >= separation * SEARCH_SLACK + 1.0:
        return None
    if shape_a.intersects(shape_b):
        common = shape_a.intersection(shape_b).representative_point()
        point_a = point_b = projection.point_to_lonlat(common.x, common.y)
    else:
        near_a, near_b = nearest_points(shape_a, shape_b)
        point_a = _unproject(a.geometry, near_a, projection)
        point_b = _unproject(b.geometry, near_b, projection)
    distance = distance_m(point_a, point_b)
    if distance >= separation:
        return None
    return Encounter(
        distance,
        separation,
        start,
        start,
        point_a,
        point_b,
        midpoint(point_a, point_b),
        start,
        _finite_or_none(end),
    )


def _unproject(original: BaseGeometry, near: Point, projection: LocalProjection) -> LonLat:
    """A projected nearest point back in lon/lat; a Point site keeps its exact coordinates."""
    if isinstance(original, Point):
        return (float(original.x), float(original.y))
    return projection.point_to_lonlat(near.x, near.y)


# --- routes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    """A movement cut into short geodesic pieces, in lon/lat and in the projection.

    Piece ``k`` runs from vertex ``k`` to vertex ``k + 1``; its position at fraction λ is
    ``xy[k] + λ (xy[k+1] − xy[k])`` at time ``times[k] + λ (times[k+1] − times[k])``.
    Times are relative to ``origin`` to keep the arithmetic well conditioned.
    """

    lonlat: FloatArray
    xy: FloatArray
    times: FloatArray
    origin: float
    tolerance_s: float

    @classmethod
    def of(cls, movement: Activity, projection: LocalProjection, origin: float) -> _Route:
        assert movement.times is not None
        coords = np.asarray(shapely.get_coordinates(movement.geometry), dtype=np.float64)
        lonlat, times = densify_route(coords, movement.times)
        return cls(lonlat, projection.to_xy(lonlat), times - origin, origin, movement.tolerance_s)

    @property
    def pieces(self) -> int:
        return len(self.times) - 1

    def instant(self, k: int, fraction: float) -> float:
        """Absolute epoch seconds at fraction λ of piece k."""
        t0, t1 = float(self.times[k]), float(self.times[k + 1])
        return self.origin + t0 + fraction * (t1 - t0)

    def position(self, k: int, fraction: float) -> LonLat:
        """Lon/lat at fraction λ of piece k, along the geodesic."""
        p = (float(self.lonlat[k, 0]), float(self.lonlat[k, 1]))
        q = (float(self.lonlat[k + 1, 0]), float(self.lonlat[k + 1, 1]))
        return point_along(p, q, fraction)

    def time_clip(self, k: int, first: float, last: float) -> tuple[float, float] | None:
        """The fractions of piece k whose (relative) time lies in [first, last], if any."""
        t0, t1 = float(self.times[k]), float(self.times[k + 1])
        if t1 < first or t0 > last:
            return None
        if t1 == t0:
            return (0.0, 1.0)
        lo = max(0.0, (first - t0) / (t1 - t0))
        hi = min(1.0, (last - t0) / (t1 - t0))
        return (lo, hi) if lo <= hi else None


# --- movement × site/area ------------------------------------------------------------------


def _movement_place(
    m: Activity,
    place: Activity,
    separation: float,
    projection: LocalProjection,
) -> Encounter | None:
    """Instants u of the movement whose [u − τ, u + τ] meets the site's window are feasible."""
    route = _Route.of(m, projection, origin=m.start)
    window_start, window_end = _window(place)
    reach = _widened(m.tolerance_s, route)  # see _widened: keeps exact touches
    first = window_start - reach - route.origin
    last = window_end + reach - route.origin
    shape = projection.geometry(place.geometry)
    limit = separation * SEARCH_SLACK + 1.0

    best: tuple[float, int, float] | None = None  # projected distance, piece, fraction
    close: list[tuple[int, float, float, BaseGeometry]] = []
    for k, lo, hi, piece in _clipped_pieces(route, first, last):
        gap = float(piece.distance(shape))
        if gap >= limit:
            continue
        close.append((k, lo, hi, piece))
        if best is None or gap < best[0]:
            best = (gap, k, _closest_fraction(route, k, lo, hi, piece, shape, gap))
    if best is None:
        return None

    gap, k, fraction = best
    point_m = route.position(k, fraction)
    if gap == 0.0:
        point_p = point_m
    else:
        _, near = nearest_points(_route_point_xy(route, k, fraction), shape)
        point_p = _unproject(place.geometry, near, projection)
    distance = distance_m(point_m, point_p)
    if distance >= separation:
        return None
    instant = route.instant(k, fraction)
    span_start, span_end = _movement_place_window(route, close, shape, separation)
    return Encounter(
        distance,
        separation,
        instant,
        min(max(instant, window_start), window_end),
        point_m,
        point_p,
        midpoint(point_m, point_p),
        min(span_start, instant),
        max(span_end, instant),
    )


def _clipped_pieces(
    route: _Route,
    first: float,
    last: float,
) -> Iterator[tuple[int, float, float, BaseGeometry]]:
    """Each piece's time-feasible part, as a projected line (or a point, for a pause)."""
    for k in range(route.pieces):
        clip = route.time_clip(k, first, last)
        if clip is None:
            continue
        lo, hi = clip
        p, q = _xy_at(route, k, lo), _xy_at(route, k, hi)
        piece: BaseGeometry = Point(p) if p == q else LineString([p, q])
        yield k, lo, hi, piece


def _xy_at(route: _Route, k: int, fraction: float) -> tuple[float, float]:
    start, end = route.xy[k], route.xy[k + 1]
    return (
        float(start[0] + fraction * (end[0] - start[0])),
        float(start[1] + fraction * (end[1] - start[1])),
    )


def _route_point_xy(route: _Route, k: int, fraction: float) -> Point:
    return Point(_xy_at(route, k, fraction))


def _fraction_of(route: _Route, k: int, x: float, y: float, lo: float, hi: float) -> float:
    """The fraction of piece k nearest to the projected point (x, y), kept within [lo, hi]."""
    start, end = route.xy[k], route.xy[k + 1]
    dx, dy = float(end[0] - start[0]), float(end[1] - start[1])
    length2 = dx * dx + dy * dy
    if length2 == 0.0:
        return lo
    fraction = ((x - float(start[0])) * dx + (y - float(start[1])) * dy) / length2
    return min(max(fraction, lo), hi)


def _closest_fraction(
    route: _Route,
    k: int,
    lo: float,
    hi: float,
    piece: BaseGeometry,
    shape: BaseGeometry,
    gap: float,
) -> float:
    """Where on the clipped piece the approach is closest; the earliest point if it touches."""
    if gap == 0.0:
        inside = np.asarray(shapely.get_coordinates(piece.intersection(shape)), dtype=np.float64)
        if len(inside):
            return min(_fraction_of(route, k, float(x), float(y), lo, hi) for x, y in inside)
    near, _ = nearest_points(piece, shape)
    return _fraction_of(route, k, near.x, near.y, lo, hi)


def _movement_place_window(
    route: _Route,
    close: list[tuple[int, float, float, BaseGeometry]],
    shape: BaseGeometry,
    separation: float,
) -> tuple[float, float]:
    """The hull of the feasible instants at which the route is closer than S to the site.

    The set of points closer than S is the site buffered by S. The buffer is a polygon whose
    vertices lie on the true offset curve; enlarging the radius by 1/cos(π/4n) makes it
    enclose the true set, so the window errs on the wide (safe) side by a few parts in 10⁴.
    """
    radius = separation / math.cos(math.pi / (4 * BUFFER_QUAD_SEGS))
    zone = shape.buffer(radius, quad_segs=BUFFER_QUAD_SEGS)
    earliest, latest = math.inf, -math.inf
    for k, lo, hi, piece in close:
        inside = piece.intersection(zone)
        if inside.is_empty:
            continue
        coords = np.asarray(shapely.get_coordinates(inside), dtype=np.float64)
        fractions = [_fraction_of(route, k, float(x), float(y), lo, hi) for x, y in coords]
        if isinstance(piece, Point):
            fractions = [lo, hi]
        earliest = min(earliest, route.instant(k, min(fractions)))
        latest = max(latest, route.instant(k, max(fractions)))
    return earliest, latest


# --- movement × movement -------------------------------------------------------------------


def _movement_movement(
    a: Activity,
    b: Activity,
    separation: float,
    projection: LocalProjection,
) -> Encounter | None:
    origin = min(a.start, b.start)
    ra, rb = _Route.of(a, projection, origin), _Route.of(b, projection, origin)
    tolerance = _widened(ra.tolerance_s + rb.tolerance_s, ra, rb)
    limit = separation * SEARCH_SLACK + 1.0

    best: tuple[float, int, int, float, float] | None = None  # d², i, j, λ, μ
    close: list[tuple[int, int, PiecePair, float, float]] = []
    for i, j in _candidate_pairs(ra, rb, tolerance, limit):
        pair = _piece_pair(ra, i, rb, j, tolerance)
        found = pair.closest()
        if found is None or found[0] >= limit * limit:
            continue
        d2, lam, mu = found
        close.append((i, j, pair, lam, mu))
        if best is None or d2 < best[0]:
            best = (d2, i, j, lam, mu)
    if best is None:
        return None

    _, i, j, lam, mu = best
    point_a, point_b = ra.position(i, lam), rb.position(j, mu)
    distance = distance_m(point_a, point_b)
    if distance >= separation:
        return None
    instant_a, instant_b = ra.instant(i, lam), rb.instant(j, mu)
    earliest, latest = min(instant_a, instant_b), max(instant_a, instant_b)
    for i, j, pair, lam, mu in close:
        if pair.squared(lam, mu) >= separation * separation:
            continue
        corners = pair.polygon()
        lams, mus = [c[0] for c in corners], [c[1] for c in corners]
        limit2 = separation * separation
        lam_lo, lam_hi = pair.fraction_range(lam, (min(lams), max(lams)), limit2)
        mu_lo, mu_hi = pair.swapped().fraction_range(mu, (min(mus), max(mus)), limit2)
        earliest = min(earliest, ra.instant(i, lam_lo), rb.instant(j, mu_lo))
        latest = max(latest, ra.instant(i, lam_hi), rb.instant(j, mu_hi))
    return Encounter(
        distance,
        separation,
        instant_a,
        instant_b,
        point_a,
        point_b,
        midpoint(point_a, point_b),
        earliest,
        latest,
    )


def _widened(tolerance: float, *routes: _Route) -> float:
    """The schedule band T, widened by a billionth of the (relative) times involved.

    With no tolerance (T = 0) or an instantaneous piece, the feasible set of a piece pair is a
    line or a point, which rounding in the clipping could lose altogether; the slack keeps
    such exact touches, at no cost that matters (below a millisecond in a week).
    """
    span = max(float(np.max(np.abs(r.times))) for r in routes)
    return tolerance + TIME_SLACK * max(1.0, span, tolerance)


def _piece_pair(ra: _Route, i: int, rb: _Route, j: int, tolerance: float) -> PiecePair:
    a0, a1, b0, b1 = ra.xy[i], ra.xy[i + 1], rb.xy[j], rb.xy[j + 1]
    return PiecePair(
        w=(float(a0[0] - b0[0]), float(a0[1] - b0[1])),
        u=(float(a1[0] - a0[0]), float(a1[1] - a0[1])),
        v=(float(b1[0] - b0[0]), float(b1[1] - b0[1])),
        delta=float(ra.times[i] - rb.times[j]),
        da=float(ra.times[i + 1] - ra.times[i]),
        db=float(rb.times[j + 1] - rb.times[j]),
        tolerance=tolerance,
    )


def _candidate_pairs(
    ra: _Route,
    rb: _Route,
    tolerance: float,
    limit: float,
) -> Iterator[tuple[int, int]]:
    """Piece pairs whose times can meet and whose bounding boxes are closer than ``limit``."""
    a_t0, a_t1 = ra.times[:-1, None], ra.times[1:, None]
    b_t0, b_t1 = rb.times[None, :-1], rb.times[None, 1:]
    in_time = (a_t0 - tolerance <= b_t1) & (b_t0 <= a_t1 + tolerance)
    a_lo, a_hi = np.minimum(ra.xy[:-1], ra.xy[1:]), np.maximum(ra.xy[:-1], ra.xy[1:])
    b_lo, b_hi = np.minimum(rb.xy[:-1], rb.xy[1:]), np.maximum(rb.xy[:-1], rb.xy[1:])
    gap = np.maximum(
        0.0, np.maximum(b_lo[None, :, :] - a_hi[:, None, :], a_lo[:, None, :] - b_hi[None, :, :])
    )
    near = np.hypot(gap[:, :, 0], gap[:, :, 1]) < limit
    for i, j in zip(*np.nonzero(in_time & near), strict=True):
        yield int(i), int(j)
