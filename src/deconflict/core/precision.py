"""Coarsening what a party shares at a stated precision (DESIGN §4, rule 2).

When party P shares a declaration with Q at ``precision_m[Q] = p``, Q must be able to keep
clear of the real activity without learning where it is to better than ``p``. Two promises
follow, and everything in this module serves one of them:

* **Containment.** The coarsened geometry contains the true geometry, and with a margin:
  every point within ``p`` metres on the ground of the true geometry is inside it. Avoiding
  what Q sees therefore avoids the real thing.
* **Nothing finer than p.** The result depends on the true geometry *only* through the
  grid cells its vertices fall in (cells at least ``p`` on the ground, on a fixed global
  grid anchored at 0°, 0°) and their order. Moving any vertex anywhere inside its cell
  gives the identical result, byte for byte.

Why not "buffer the true geometry, then snap the buffer's vertices to the grid"? Each
buffer vertex is the true position plus a different fixed offset; snapping each one to the
grid tells Q which cell it fell in, and the cells of many offsets, intersected, pin the true
position down like a vernier scale, to a small fraction of ``p``. So the order here is the
other way round: first replace every true vertex by the centre of its grid cell (after that
nothing finer than the cell is left to leak), then grow the quantised shape by enough to
cover wherever the true vertices could have been plus the margin ``p``, and finally snap
the outline to the grid nodes so that the published vertices carry no extra digits.

The growing is done in *cell units* (longitude divided by the cell width in degrees,
latitude by the cell height), where a cell is the unit square. In that plane, straight
lon/lat segments stay straight (so containment is exact for shapely's planar lon/lat
geometry, with no projection round trip or densification), and since every cell is at
least ``p`` wide and high on the ground, a ground distance ``d`` is at most ``d / p`` cell
units. Distances there are what the margins below are stated in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPoint, Polygon
from shapely.geometry.base import BaseGeometry

FloatArray = npt.NDArray[np.float64]

WGS84_A: Final = 6_378_137.0
"""Semi-major axis of the WGS 84 ellipsoid, metres."""
WGS84_E2: Final = 6.694_379_990_141_317e-3
"""First eccentricity squared of the WGS 84 ellipsoid."""

METRES_PER_DEGREE_LAT_MIN: Final = 110_574.0
"""A lower bound of the length of one degree of latitude on WGS 84 (110,574.27 m at the
equator, growing to 111,694 m at the poles). Dividing by it makes every cell at least the
precision tall, wherever it is."""

MAX_BAND_DEG: Final = 85
"""Grid cells serve latitudes up to this band. Towards the poles a degree of longitude
shrinks to nothing and lon/lat cells stop making sense, so a shape whose coarsened form
would reach beyond it is shown as a polar cap instead (see :func:`coarsen`)."""

GRID_SAFETY: Final = 1.001
"""Cells are made 0.1 % larger than the precision. The width of a cell is guaranteed along
its parallel; the geodesic between its corners is a hair shorter (under 0.01 % for 20 km
cells at 85°), and float rounding should never be what makes a cell too small."""

QUAD_SEGS: Final = 3
"""Segments per quarter circle when growing shapes. Few segments keep vertex counts low; the
chords cut inside the circle, which :data:`_CHORD_FACTOR` compensates for."""

DEFAULT_UNDISCLOSED_PRECISION_M: Final = 10_000.0
"""Place precision of a notice about an undisclosed conflicting activity (DESIGN §4, rule 3)."""
DEFAULT_UNDISCLOSED_STEP_S: Final = 3_600
"""Time step of a notice about an undisclosed conflicting activity (DESIGN §4, rule 3)."""

# GEOS draws round joins and caps with vertices on the circle, so the chords cut inside it.
# It divides an arc of angle A into round(A / q) chords, q = π / (2·quad_segs), so one chord
# can span up to 1.5·q and come as close to the centre as r·cos(0.75·q). GEOS also
# simplifies the input line by 1 % of the distance before offsetting it. Dividing the
# radius by this factor makes what GEOS draws reach the radius the proofs below need.
_CHORD_FACTOR: Final = math.cos(0.75 * math.pi / (2 * QUAD_SEGS)) * 0.99
# Half the diagonal of a unit cell: how far rounding a point to a cell centre, or a vertex
# to a grid node, can move it in cell units.
_HALF_DIAGONAL: Final = math.sqrt(2.0) / 2.0
# A ground distance p is at most this many cell units: cells are >= p on both axes, and the
# flat-plane approximation over a few cells is off by far less than 1 %.
_MARGIN_CELLS: Final = 1.01
_SLACK_CELLS: Final = 0.02
# A long, finely drawn route is simplified (Douglas-Peucker, in cell units) with the first
# of these tolerances that leaves at most _TARGET_VERTICES vertices in the quantised lines
# and rings, or the last one. The choice is made on the quantised geometry, so it depends
# on cells only and cannot reveal anything finer. Every tolerance widens the margin by
# about twice its size, hence a short ladder.
_TOLERANCES: Final = (0.0, 0.5, 1.0, 2.0, 4.0)
_TARGET_VERTICES: Final = 250


def metres_per_degree_lon(lat_deg: float) -> float:
    """Length of one degree of longitude along the parallel at ``lat_deg`` on WGS 84, metres.

    It shrinks towards the poles, so a cell sized with the value at the highest latitude it
    covers is at least that wide everywhere below.
    """
    phi = math.radians(lat_deg)
    sin_phi = math.sin(phi)
    return math.radians(1.0) * WGS84_A * math.cos(phi) / math.sqrt(1.0 - WGS84_E2 * sin_phi**2)


def lat_step(precision_m: float) -> float:
    """Height of a grid cell in degrees of latitude for ``precision_m``; the same everywhere."""
    _check_precision(precision_m)
    return precision_m * GRID_SAFETY / METRES_PER_DEGREE_LAT_MIN


def lon_step(precision_m: float, band_deg: int) -> float:
    """Width of a grid cell in degrees of longitude for ``precision_m`` in latitude band ``band_deg``.

    The band is a whole number of degrees, the highest ``|latitude|`` the cells must serve.
    Quantising it to whole degrees means the width reveals only the band, never the exact
    latitude of anything, and that every geometry in the same band shares one grid.
    """
    _check_precision(precision_m)
    if not 0 <= band_deg <= MAX_BAND_DEG:
        raise ValueError(f"latitude band must be between 0 and {MAX_BAND_DEG} degrees")
    return precision_m * GRID_SAFETY / metres_per_degree_lon(float(band_deg))


@dataclass(frozen=True)
class Grid:
    """The global grid for one precision and latitude band.

    Nodes are at ``(i · dlon, j · dlat)`` for integers ``i, j``, anchored at 0°, 0° and not
    at anything declared, so the grid's own position says nothing about a declaration.
    Cell ``(i, j)`` spans ``[i·dlon, (i+1)·dlon] × [j·dlat, (j+1)·dlat]`` and is at least
    ``precision_m`` wide and tall on the ground wherever ``|latitude| <= band_deg``.
    """

    precision_m: float
    band_deg: int
    dlat: float
    dlon: float

    @classmethod
    def for_band(cls, precision_m: float, band_deg: int) -> Grid:
        """The grid for ``precision_m`` whose cells are wide enough up to ``band_deg``."""
        return cls(
            precision_m=float(precision_m),
            band_deg=band_deg,
            dlat=lat_step(precision_m),
            dlon=lon_step(precision_m, band_deg),
        )

    def cell_of(self, lon: float, lat: float) -> tuple[int, int]:
        """Indices ``(i, j)`` of the cell containing the point (west and south edges inclusive)."""
        return _floor_index(lon, self.dlon), _floor_index(lat, self.dlat)

    def cell_bounds(self, i: int, j: int) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` of cell ``(i, j)`` in degrees."""
        return i * self.dlon, j * self.dlat, (i + 1) * self.dlon, (j + 1) * self.dlat

    def cell_centre(self, i: int, j: int) -> tuple[float, float]:
        """``(lon, lat)`` of the centre of cell ``(i, j)``."""
        return (i + 0.5) * self.dlon, (j + 0.5) * self.dlat


def grid_for(geometry: BaseGeometry, precision_m: float) -> Grid | None:
    """The grid :func:`coarsen` uses for ``geometry``, or None when it gives a polar cap.

    Its band is the highest ``|latitude|`` the coarsened result can reach, rounded up to a
    whole degree. It is computed from the *rows* of the cells the vertices fall in (row
    height does not depend on the band) and the vertex count, so it is itself a function of
    the quantised geometry and reveals nothing more.
    """
    return _layout(geometry, precision_m).grid


def coarsened_bounds(
    geometry: BaseGeometry, precision_m: float
) -> tuple[float, float, float, float]:
    """A box ``(west, south, east, north)`` that contains ``coarsen(geometry, precision_m)``.

    Cheap (no coarsening), so that storage can index where a coarsened view can lie and
    prefilter map queries with it. For a polar cap it is the cap. Otherwise, on each axis the
    result stays within the growth radius of the quantised vertices' range (simplifying keeps
    a subset of them, and GEOS draws its circles from inside), plus half a cell for the final
    snap: the reach :func:`_layout` allows for rows, applied here to columns as well.
    """
    layout = _layout(geometry, precision_m)
    if layout.grid is None:
        west, south, east, north = _polar_cap(layout).bounds
        return west, south, east, north
    dlon = layout.grid.dlon
    columns = _floor_indices(shapely.get_coordinates(geometry)[:, 0], dlon) + 0.5
    west = math.floor(float(columns.min()) - layout.reach) * dlon
    east = math.ceil(float(columns.max()) + layout.reach) * dlon
    return west, layout.south_deg, east, layout.north_deg


def coarsen(geometry: BaseGeometry, precision_m: float) -> BaseGeometry:
    """What a party entitled to ``precision_m`` sees of ``geometry`` (lon/lat in, lon/lat out).

    Returns a valid Polygon or MultiPolygon, for any input kind (points, lines, polygons and
    their multi-part forms), that

    * contains the input, and every point within ``precision_m`` metres of it on the ground
      (where ``|latitude| <= 85°``), so that keeping out of it keeps clear of the real thing;
    * has every vertex on the node grid of :func:`grid_for`, whose cells are at least
      ``precision_m`` on the ground;
    * depends on the input only through the grid cell of each vertex, in order, so nothing
      finer than a cell can be read from it.

    The same input always gives the same output.

    Where the result would reach beyond 85° of latitude (a shape near a pole, or a precision
    of hundreds of kilometres), lon/lat cells no longer work, and the result is instead the
    polar cap of every longitude from a grid row to the pole (or the whole world, if it
    would reach both poles). The cap's corners at ±180° and ±90° are constants, its other
    edge a grid row, so it too reveals nothing finer than a cell.

    Raises ``ValueError`` for an empty geometry, a non-finite or non-positive precision, or
    coordinates that are not finite or out of range.
    """
    layout = _layout(geometry, precision_m)
    if layout.grid is None:
        return _polar_cap(layout)
    grid = layout.grid
    scale = np.array([grid.dlon, grid.dlat])

    # Quantise first: from here on only cell indices are used.
    points: list[FloatArray] = []
    lines: list[FloatArray] = []
    polygons: list[list[FloatArray]] = []
    for part in _flat_parts(geometry):
        if part.geom_type == "Point":
            points.append(_quantise(shapely.get_coordinates(part), scale))
        elif part.geom_type in ("LineString", "LinearRing"):
            lines.append(_deduplicated(_quantise(shapely.get_coordinates(part), scale)))
        elif part.geom_type == "Polygon":
            rings = [part.exterior, *part.interiors]
            polygons.append(
                [_deduplicated(_quantise(shapely.get_coordinates(r), scale)) for r in rings]
            )
        else:  # pragma: no cover - _flat_parts only yields the kinds above
            raise ValueError(f"cannot coarsen a {part.geom_type}")

    tolerance, lines, polygons = _simplify_all(lines, polygons)
    radius = _radius(tolerance)

    paths: list[FloatArray] = []
    interiors: list[BaseGeometry] = []
    for line in [*lines, *(ring for rings in polygons for ring in rings)]:
        if len(line) == 1:
            points.append(line)
        else:
            paths.extend(_open_pieces(line))
    for rings in polygons:
        interior = _even_odd_interior(rings)
        if interior is not None:
            interiors.append(interior)

    grown: list[BaseGeometry] = list(interiors)
    if paths:
        grown.append(shapely.buffer(MultiLineString(paths), radius, quad_segs=QUAD_SEGS))
    if points:
        grown.append(shapely.buffer(MultiPoint(np.vstack(points)), radius, quad_segs=QUAD_SEGS))
    in_cells = shapely.union_all(grown)
    # Snap-rounding to the unit grid (GEOS's precision reducer) puts every vertex on a node
    # and keeps the result valid; it moves the outline by at most half a cell diagonal,
    # which the radius already allows for.
    snapped = shapely.normalize(shapely.set_precision(in_cells, 1.0))
    result = shapely.transform(snapped, lambda xy: xy * scale)

    if result.geom_type not in ("Polygon", "MultiPolygon") or result.is_empty:
        raise RuntimeError(
            f"coarsening produced a {result.geom_type}, not a polygon"
        )  # pragma: no cover
    if not result.is_valid:
        raise RuntimeError("coarsening produced an invalid polygon")  # pragma: no cover
    if not result.covers(geometry):
        # The margins are chosen so that this cannot happen. If it ever does, refusing is
        # safer than showing a shape that does not contain the real activity, and safer than
        # retrying with a bigger margin (whether a retry happened would depend on the true
        # position, not just its cells).
        raise RuntimeError("coarsened geometry does not contain the original")  # pragma: no cover
    return result


def coarsen_point(lon: float, lat: float, precision_m: float) -> tuple[float, float]:
    """The centre of the grid cell containing the point, for showing a place at ``precision_m``.

    Used for the place of closest approach in an advisory. The grid band is that of the
    cell's own row, so every point of the cell gives the same answer. Where the row reaches
    beyond 85° of latitude, where cells stop making sense, only the row is told: the answer
    is longitude 0 at the middle of the row (kept within ±90°). Raises ``ValueError`` for
    coordinates that are not finite or out of range.
    """
    _check_precision(precision_m)
    _check_coordinates(np.array([[lon, lat]], dtype=np.float64))
    dlat = lat_step(precision_m)
    j = _floor_index(lat, dlat)
    top = max(abs(j * dlat), abs((j + 1) * dlat))
    if top > MAX_BAND_DEG:
        return 0.0, min(max((j + 0.5) * dlat, -90.0), 90.0)
    grid = Grid.for_band(precision_m, _band(top))
    i, _ = grid.cell_of(lon, lat)
    return grid.cell_centre(i, j)


def round_distance(distance_m: float, precision_m: float) -> float:
    """``distance_m`` rounded *down* to a multiple of ``precision_m``.

    Down, so that a reported separation is never larger than the real one: the reader errs
    towards caution. The result reveals only which interval ``[k·p, (k+1)·p)`` the distance
    is in, never a finer figure.
    """
    _check_precision(precision_m)
    if not math.isfinite(distance_m) or distance_m < 0:
        raise ValueError("distance must be a finite, non-negative number of metres")
    return _floor_multiple(distance_m, precision_m)


def round_instant(epoch_seconds: float, step_s: int = DEFAULT_UNDISCLOSED_STEP_S) -> float:
    """``epoch_seconds`` floored to a multiple of ``step_s`` (default one hour).

    Used where only a coarse time may be told, as for a conflict with an undisclosed
    activity: the reader learns the step the instant falls in, nothing finer.
    """
    _check_step(step_s)
    if not math.isfinite(epoch_seconds):
        raise ValueError("instant must be a finite number of seconds")
    return _floor_multiple(epoch_seconds, float(step_s))


def coarsen_window(start_s: float, end_s: float, step_s: int) -> tuple[float, float]:
    """The smallest window of whole steps that contains ``[start_s, end_s]``.

    A coarsened movement cannot show when it passes each point (the vertex times would
    reveal the route's progress finer than the precision), so it is shown as active over
    this whole window instead; the window contains the real one, so avoidance still works.
    """
    _check_step(step_s)
    if not (math.isfinite(start_s) and math.isfinite(end_s)) or end_s < start_s:
        raise ValueError("window must be two finite instants, start not after end")
    start = _floor_multiple(start_s, float(step_s))
    end = _floor_multiple(end_s, float(step_s))
    if end < end_s:
        end += step_s
    return start, end


# --- how coarsen decides its grid and margins -------------------------------------------


def _radius(tolerance: float) -> float:
    """How far, in cell units, to grow the quantised shape simplified with ``tolerance``.

    Margins, all in cell units (a cell is >= p on the ground, so one unit >= p):

    * rounding a vertex to its cell centre moves it, and every point of the segments
      through it, by at most h = √2/2 (each coordinate by at most ½);
    * simplifying the quantised lines with tolerance t moves them by at most t;
    * the margin p is at most 1.01 units;
    * snapping the grown outline to the nodes moves it by at most h.

    For lines and points the grown shape must reach 1.01 + h + t beyond the quantised one.
    For polygons, a true interior point farther than h + t from the true boundary keeps its
    winding number when the boundary is deformed by that much, so it lies in the even-odd
    interior of the quantised rings; a point closer to the boundary is within 2h + 2t of the
    quantised rings, which are grown by the radius. Hence max(1.01 + h + t, 2h + 2t) + h,
    plus slack, divided by the chord factor because GEOS draws the circle from inside.
    """
    needed = max(_MARGIN_CELLS + _HALF_DIAGONAL + tolerance, 2 * (_HALF_DIAGONAL + tolerance))
    return (needed + _HALF_DIAGONAL + _SLACK_CELLS) / _CHORD_FACTOR


@dataclass(frozen=True)
class _Layout:
    """The grid for a geometry (None for a polar cap) and the rows its result can span."""

    grid: Grid | None
    south_deg: float  # a row edge at or below anything the result can reach
    north_deg: float  # a row edge at or above anything the result can reach
    reach: float  # cells the result can extend beyond the quantised vertices on either axis


def _layout(geometry: BaseGeometry, precision_m: float) -> _Layout:
    """Check the input and choose the grid :func:`coarsen` uses (see :func:`grid_for`).

    The band must cover every latitude the result can reach, which depends on the growth
    radius, which depends on the simplification tolerance, which is chosen after quantising
    on this very grid. To break the circle, the band allows for the largest tolerance the
    input could need: none when it has no more vertices than the target (quantising never
    adds any), else the last of the ladder. Cells may then be a little wider than needed,
    never narrower. All of it depends on rows and the vertex count, not on positions.
    """
    _check_precision(precision_m)
    if geometry is None or geometry.is_empty:
        raise ValueError("cannot coarsen an empty geometry")
    coords = shapely.get_coordinates(geometry)
    _check_coordinates(coords)
    dlat = lat_step(precision_m)
    rows = _floor_indices(coords[:, 1], dlat) + 0.5
    most = 0.0 if len(coords) <= _TARGET_VERTICES else _TOLERANCES[-1]
    # The result stays within the radius of the quantised vertices, plus at most half a
    # cell from the final snap; one whole cell is allowed for that, to be safe.
    reach = _radius(most) + 1.0
    south = math.floor(float(rows.min()) - reach) * dlat
    north = math.ceil(float(rows.max()) + reach) * dlat
    top = max(abs(south), abs(north))
    grid = None if top > MAX_BAND_DEG else Grid.for_band(precision_m, _band(top))
    return _Layout(grid, south, north, reach)


def _polar_cap(layout: _Layout) -> BaseGeometry:
    """Every longitude from the layout's far row edge to the pole, or the whole world.

    Only used when the result would reach beyond 85° of latitude. It contains everything
    the grid result would have, and its one variable edge is a row edge.
    """
    south = -90.0 if layout.south_deg < -MAX_BAND_DEG else layout.south_deg
    north = 90.0 if layout.north_deg > MAX_BAND_DEG else layout.north_deg
    return Polygon([(-180.0, south), (180.0, south), (180.0, north), (-180.0, north)])


def _simplify_all(
    lines: list[FloatArray], polygons: list[list[FloatArray]]
) -> tuple[float, list[FloatArray], list[list[FloatArray]]]:
    """Simplify quantised lines and rings with the smallest tolerance that is enough.

    Enough means at most :data:`_TARGET_VERTICES` vertices in all, or the last tolerance.
    """
    for tolerance in _TOLERANCES:
        simple_lines = [_simplified(line, tolerance) for line in lines]
        simple_polygons = [[_simplified(ring, tolerance) for ring in rings] for rings in polygons]
        count = sum(map(len, simple_lines)) + sum(
            len(r) for rings in simple_polygons for r in rings
        )
        if count <= _TARGET_VERTICES:
            break
    return tolerance, simple_lines, simple_polygons


def _band(top_deg: float) -> int:
    """Whole-degree band for cells reaching ``top_deg`` (at most 85°) of |latitude|."""
    return max(1, math.ceil(top_deg))


# --- geometry helpers, all in cell units -------------------------------------------------


def _flat_parts(geometry: BaseGeometry) -> list[BaseGeometry]:
    """Points, lines and polygons of a geometry, multi-part forms and collections opened up."""
    out: list[BaseGeometry] = []
    for part in shapely.get_parts(geometry):
        if part.is_empty:
            continue
        if part.geom_type in (
            "MultiPoint",
            "MultiLineString",
            "MultiPolygon",
            "GeometryCollection",
        ):
            out.extend(_flat_parts(part))
        else:
            out.append(part)
    return out


def _quantise(lonlat: FloatArray, scale: FloatArray) -> FloatArray:
    """Replace each coordinate by the centre of its grid cell, in cell units.

    This is the only place where true positions enter the result; from here on, only cell
    indices are used.
    """
    return _floor_indices(lonlat, scale) + 0.5


def _deduplicated(coords: FloatArray) -> FloatArray:
    """Drop vertices equal to the one before (many fall in the same cell at coarse precision)."""
    if len(coords) < 2:
        return coords
    moved = np.any(coords[1:] != coords[:-1], axis=1)
    return coords[np.concatenate(([True], moved))]


def _simplified(coords: FloatArray, tolerance: float) -> FloatArray:
    """Douglas-Peucker simplification within ``tolerance`` cell units (none when 0).

    Every point of the original line is within ``tolerance`` of the simplified one and vice
    versa, which is all the margins rely on; topology is not preserved and need not be.
    """
    if tolerance <= 0.0 or len(coords) < 3:
        return coords
    simple = LineString(coords).simplify(tolerance, preserve_topology=False)
    return np.asarray(shapely.get_coordinates(simple), dtype=np.float64)


def _open_pieces(coords: FloatArray) -> list[FloatArray]:
    """Cut a line (no repeated consecutive vertices) into pieces none of which is closed.

    GEOS buffers a closed line as a ring, and when the ring folds back on itself, as
    quantised rings often do, the buffer can come out far too small. Open lines are
    buffered correctly, and the pieces together cover every segment of the line.
    """
    pieces: list[FloatArray] = []
    start = 0
    for k in range(1, len(coords)):
        if coords[k, 0] == coords[start, 0] and coords[k, 1] == coords[start, 1]:
            pieces.append(coords[start:k])
            start = k - 1
    pieces.append(coords[start:])
    return pieces


def _even_odd_interior(rings: list[FloatArray]) -> BaseGeometry | None:
    """The area inside an odd number of the quantised rings of one polygon, or None.

    Quantised rings may cross themselves or each other. GEOS's make_valid ("linework")
    assigns faces by even-odd parity, which for every point far from the rings equals the
    parity of the true polygon; points near the rings are covered by the grown rings anyway.
    A ring that collapsed to fewer than three distinct cells encloses nothing and is left out.
    """
    exterior, *holes = rings
    if len(exterior) < 4:
        return None
    polygon = Polygon(exterior, [hole for hole in holes if len(hole) >= 4])
    repaired = shapely.make_valid(polygon)
    areas = [
        part
        for part in shapely.get_parts(repaired)
        if part.geom_type in ("Polygon", "MultiPolygon") and not part.is_empty
    ]
    if not areas:
        return None
    return shapely.union_all(areas)


# --- checks and arithmetic ---------------------------------------------------------------


def _check_precision(precision_m: float) -> None:
    if not math.isfinite(precision_m) or precision_m <= 0:
        raise ValueError("precision must be a finite, positive number of metres")


def _check_step(step_s: int) -> None:
    if isinstance(step_s, bool) or not isinstance(step_s, int) or step_s <= 0:
        raise ValueError("step must be a positive whole number of seconds")


def _check_coordinates(coords: FloatArray) -> None:
    if not np.all(np.isfinite(coords)):
        raise ValueError("coordinates must be finite")
    if np.any(np.abs(coords[:, 0]) > 180.0):
        raise ValueError("longitude must be between -180 and 180")
    if np.any(np.abs(coords[:, 1]) > 90.0):
        raise ValueError("latitude must be between -90 and 90")


def _floor_index(value: float, step: float) -> int:
    """The largest ``k`` with ``k · step <= value``, so that indices agree with cell bounds.

    ``value / step`` is rounded before the floor, so it can land on the wrong side of a
    whole number; the product is checked against ``value`` and corrected by one.
    """
    k = math.floor(value / step)
    if (k + 1) * step <= value:
        k += 1
    elif k * step > value:
        k -= 1
    return k


def _floor_indices(values: FloatArray, step: float | FloatArray) -> FloatArray:
    """:func:`_floor_index` for an array (``step`` broadcast over its last axis), as floats."""
    k = np.floor(values / step)
    k = np.where((k + 1) * step <= values, k + 1, k)
    return np.where(k * step > values, k - 1, k)


def _floor_multiple(value: float, step: float) -> float:
    """The largest multiple of ``step`` not above ``value``."""
    return float(_floor_index(value, step) * step)
