"""Geometries taken apart into flat arrays, and put back together bit for bit.

:class:`~deconflict.core.activity_store.ActivityStore` keeps a million geometries without a
million shapely objects: vertices go to flat float64 arrays, and the ring and part structure
of a polygon to a small block of int32 offsets. This module does the taking apart (for a
batch with shapely's array functions, or for one geometry) and the putting back, holds the
flat arrays (:class:`Pool`) and defines the block layout that compiled kernels walk
(:class:`RingView`, :func:`ring_offsets`).

Only what a declaration can hold is taken apart: 2-D points, line strings, polygons and
multipolygons (:data:`deconflict.core.declarations.GEOMETRY_TYPES_BY_KIND`). Anything else
(3-D or measured coordinates, empty geometries or parts, collections) is marked
:data:`OTHER`, and the caller keeps the object itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

Array = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
AnyArray = np.ndarray[Any, Any]

POINT, LINESTRING, POLYGON, MULTIPOLYGON = 0, 1, 3, 6
"""Geometry type codes, shapely's own (``shapely.get_type_id``)."""
OTHER = 127
"""Any other geometry: not taken apart."""
FLAT_TYPES = (POINT, LINESTRING, POLYGON, MULTIPOLYGON)
MAX_POOL = 2**31 - 1
"""Entries a flat array may hold: its offsets are int32."""
_has_m = getattr(shapely, "has_m", None)  # shapely >= 2.1


@dataclass
class FlatShapes:
    """A batch of geometries taken apart, every array in batch order.

    A polygonal geometry's block (``struct``, int32, offsets relative to the geometry) is::

        [P, first ring of part 0 .. P-1, R, first vertex of ring 0 .. R-1, vertex count]

    i.e. P + 1 part offsets into its rings and R + 1 ring offsets into its vertices; a
    part's rings are its exterior then its holes, in shapely's order.
    """

    gtype: AnyArray  # int8 per geometry
    coord_count: IntArray  # vertices per geometry (every ring's closing vertex included)
    xs: Array
    ys: Array
    struct_len: IntArray  # length of each geometry's block: P + R + 3, or 0
    struct: AnyArray  # int32: the blocks, concatenated
    bounds: Array  # (n, 4): west, south, east, north (NaN for an empty geometry)


class RingView(NamedTuple):
    """Everything a compiled kernel needs to walk the rings of polygon part ``k`` of ``slot``.

    The polygon block of a slot starts at ``b = part_start[slot]`` (−1: not a polygon) and
    holds int32 offsets relative to the slot, so packing the flat arrays never rewrites it::

        struct[b]                       P, the number of parts
        struct[b + 1 + k]               first ring of part k (k = 0 .. P; the last is R)
        struct[b + 2 + P + r]           first vertex of ring r (r = 0 .. R; the last is the
                                        slot's vertex count), relative to coord_start[slot]

    So ring r of the slot runs over ``xs[c + o[r] : c + o[r + 1]]`` (closed: the last vertex
    repeats the first) with ``c = coord_start[slot]`` and ``o = struct[b + 2 + P:]``; part k
    owns rings ``struct[b + 1 + k]`` to ``struct[b + 2 + k]``, exterior first, then holes, in
    the stored order. :func:`ring_offsets` is that walk, written so that numba can compile it.
    """

    xs: Array
    ys: Array
    coord_start: AnyArray
    part_start: AnyArray
    struct: AnyArray


class Pool:
    """Flat arrays sharing one index space, filled in blocks, with a count of dead entries.

    Grown by half again when full, so a stream of single puts costs amortised O(1). Offsets
    into a pool are int32: 2³¹ vertices would be 32 GiB, far past the memory budget, and
    four bytes per slot and offset column are 12 MB at a million slots."""

    def __init__(self, *dtypes: type[np.generic]) -> None:
        self.arrays: list[AnyArray] = [np.zeros(0, dtype=d) for d in dtypes]
        self.used = 0
        self.dead = 0

    def reserve(self, count: int) -> int:
        """Room for ``count`` more entries at the end; returns where they start."""
        at, need = self.used, self.used + count
        if need > MAX_POOL:
            raise OverflowError("more flat entries than int32 offsets can address")
        capacity = len(self.arrays[0])
        if need > capacity:
            size = max(need, capacity + capacity // 2, 1024)
            for i, old in enumerate(self.arrays):
                grown = np.empty(size, dtype=old.dtype)
                grown[:at] = old[:at]
                self.arrays[i] = grown
        self.used = need
        return at

    def pack(self, starts: IntArray, counts: IntArray) -> IntArray:
        """Keep only these blocks, packed in this order into arrays of exactly their size;
        returns their new starts."""
        new_starts = np.cumsum(counts) - counts
        source = np.repeat(starts - new_starts, counts) + np.arange(int(counts.sum()))
        self.arrays = [a[source] for a in self.arrays]
        self.used = len(source)
        self.dead = 0
        return new_starts


def _local(owner: IntArray, counts: IntArray) -> IntArray:
    """Each entry's position within its owner's run, for ``owner`` sorted ascending with
    ``counts[o]`` entries per owner."""
    return np.arange(len(owner)) - (np.cumsum(counts) - counts)[owner]


def _ranges(starts: IntArray, counts: IntArray) -> IntArray:
    """The concatenation of ``arange(s, s + c)`` over the pairs: a gather index for CSR."""
    return np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))


def _is_other(geoms: AnyArray) -> Any:
    types = shapely.get_type_id(geoms)
    other = ~np.isin(types, FLAT_TYPES) | shapely.has_z(geoms) | shapely.is_empty(geoms)
    if _has_m is not None:
        other |= _has_m(geoms)
    return other


def decompose(geoms: AnyArray) -> FlatShapes:
    """Take a batch apart with shapely's array functions.

    Creating geometry objects (parts, rings) is what costs here, so only polygons with holes
    and multipolygons are split into rings; a plain polygon is one part and one ring.
    """
    n = len(geoms)
    types = shapely.get_type_id(geoms).astype(np.int64)
    other = _is_other(geoms)
    polygonal = ~other & ((types == POLYGON) | (types == MULTIPOLYGON))
    holes = np.zeros(n, dtype=np.int64)
    single = polygonal & (types == POLYGON)
    holes[single] = shapely.get_num_interior_rings(geoms[single])
    while True:  # a multipolygon with an empty part cannot be rebuilt from rings: set aside
        poly = np.flatnonzero(~other & polygonal)
        plain = (types[poly] == POLYGON) & (holes[poly] == 0)
        split = np.flatnonzero(~plain)
        parts, owner_split = shapely.get_parts(geoms[poly[split]], return_index=True)
        empty = shapely.is_empty(parts)
        if not empty.any():
            break
        other[poly[split[owner_split[empty]]]] = True
    rings, ring_of_split = shapely.get_rings(parts, return_index=True)

    # Parts and rings of the polygonal group in batch order: each plain polygon's single part
    # and ring, merged (stable sort by owner) with those of the geometries split apart.
    plain_at = np.flatnonzero(plain)
    part_owner = np.concatenate([plain_at, split[owner_split]])
    part_order = np.argsort(part_owner, kind="stable")
    part_owner = part_owner[part_order]
    new_part = np.empty(len(part_order), dtype=np.int64)
    new_part[part_order] = np.arange(len(part_order))
    ring_part = new_part[np.concatenate([np.arange(len(plain_at)), len(plain_at) + ring_of_split])]
    ring_order = np.argsort(ring_part, kind="stable")
    ring_part = ring_part[ring_order]
    coords_p, owner_p = shapely.get_coordinates(geoms[poly], return_index=True)
    count_p = np.bincount(owner_p, minlength=len(poly))
    ring_len = np.concatenate(
        [count_p[plain_at], shapely.get_num_coordinates(rings).astype(np.int64)]
    )[ring_order]
    ring_owner = part_owner[ring_part]
    n_parts = np.bincount(part_owner, minlength=len(poly))
    n_rings = np.bincount(ring_owner, minlength=len(poly))

    simple = np.flatnonzero(~other & (types <= LINESTRING))
    coords_s, owner_s = shapely.get_coordinates(geoms[simple], return_index=True)
    count_s = np.bincount(owner_s, minlength=len(simple))
    coord_count = np.zeros(n, dtype=np.int64)
    coord_count[simple] = count_s
    coord_count[poly] = count_p
    offset = np.cumsum(coord_count) - coord_count
    xs, ys = np.empty(int(coord_count.sum())), np.empty(int(coord_count.sum()))
    for coords, owner, group, counts in (
        (coords_s, owner_s, simple, count_s),
        (coords_p, owner_p, poly, count_p),
    ):
        at = offset[group][owner] + _local(owner, counts)
        xs[at], ys[at] = coords[:, 0], coords[:, 1]

    struct_len = np.zeros(n, dtype=np.int64)
    struct_len[poly] = n_parts + n_rings + 3
    base = (np.cumsum(struct_len) - struct_len)[poly]
    struct = np.empty(int(struct_len.sum()), dtype=np.int32)
    struct[base] = n_parts
    rings_per_part = np.bincount(ring_part, minlength=len(part_owner))
    first_ring = np.cumsum(rings_per_part) - rings_per_part  # of each part, group-wide
    owner_first_ring = np.cumsum(n_rings) - n_rings
    at = base[part_owner] + 1 + _local(part_owner, n_parts)
    struct[at] = first_ring - owner_first_ring[part_owner]
    struct[base + 1 + n_parts] = n_rings
    first_coord = np.cumsum(ring_len) - ring_len  # of each ring, group-wide
    owner_first_coord = np.cumsum(count_p) - count_p
    at = base[ring_owner] + 2 + n_parts[ring_owner] + _local(ring_owner, n_rings)
    struct[at] = first_coord - owner_first_coord[ring_owner]
    struct[base + 2 + n_parts + n_rings] = count_p

    gtype = np.where(other, OTHER, types).astype(np.int8)
    bounds = shapely.bounds(geoms) if n else np.zeros((0, 4))
    return FlatShapes(gtype, coord_count, xs, ys, struct_len, struct, bounds)


def decompose_one(geom: BaseGeometry) -> FlatShapes:
    """:func:`decompose` for a single geometry, in plain Python: a put of one activity (an
    amendment) would otherwise pay for some sixty numpy calls."""
    gtype = int(shapely.get_type_id(geom))
    bounds = np.asarray(shapely.bounds(geom), dtype=np.float64).reshape(1, 4)
    none = np.zeros(0, dtype=np.int32)
    if gtype not in FLAT_TYPES or geom.has_z or geom.is_empty or (_has_m and _has_m(geom)):
        gtype = OTHER
    parts = []
    if gtype in (POLYGON, MULTIPOLYGON):
        parts = list(geom.geoms) if gtype == MULTIPOLYGON else [geom]
        if any(part.is_empty for part in parts):
            gtype = OTHER
    if gtype == OTHER:
        zero = np.zeros(1, dtype=np.int64)
        return FlatShapes(
            np.array([OTHER], np.int8), zero, np.zeros(0), np.zeros(0), zero, none, bounds
        )
    coords = shapely.get_coordinates(geom)
    count = np.array([len(coords)], dtype=np.int64)
    if gtype <= LINESTRING:
        block = none
    else:
        part_first, ring_first = [0], [0]
        for part in parts:
            rings = [part.exterior, *part.interiors]
            for ring in rings:
                ring_first.append(ring_first[-1] + int(shapely.get_num_coordinates(ring)))
            part_first.append(part_first[-1] + len(rings))
        block = np.array([len(parts), *part_first, *ring_first], dtype=np.int32)
    return FlatShapes(
        np.array([gtype], dtype=np.int8),
        count,
        np.ascontiguousarray(coords[:, 0]),
        np.ascontiguousarray(coords[:, 1]),
        np.array([len(block)], dtype=np.int64),
        block,
        bounds,
    )


def ring_offsets(
    coord_start: AnyArray, part_start: AnyArray, struct: AnyArray, slot: int, part: int
) -> IntArray:
    """Absolute offsets into the vertex arrays of the rings of polygon part ``part`` of
    ``slot``: ring i of the part is ``xs[out[i] : out[i + 1]]``, exterior first.

    ``part_start[slot]`` is where the slot's block starts in ``struct`` and
    ``coord_start[slot]`` its first vertex. Plain loops over arrays, so that numba can
    compile the same walk into a kernel.
    """
    b = part_start[slot]
    n_parts = struct[b]
    first, last = struct[b + 1 + part], struct[b + 2 + part]
    rings = b + 2 + n_parts
    base = coord_start[slot]
    out = np.empty(last - first + 1, dtype=np.int64)
    for i in range(last - first + 1):
        out[i] = base + struct[rings + first + i]
    return out


def assemble_one(gtype: int, xs: Array, ys: Array, block: AnyArray) -> BaseGeometry:
    """One geometry from its vertices and (for a polygon) an array starting with its block."""
    if gtype == POINT:
        return shapely.Point(float(xs[0]), float(ys[0]))
    if gtype == LINESTRING:
        return shapely.linestrings(np.column_stack((xs, ys)))
    n_parts = int(block[0])
    part_first = block[1 : n_parts + 2].tolist()
    ring_first = block[n_parts + 2 : n_parts + 3 + part_first[-1]].tolist()
    polygons = []
    for k in range(n_parts):
        rings = [
            np.column_stack((xs[lo:hi], ys[lo:hi]))
            for lo, hi in (
                (ring_first[r], ring_first[r + 1]) for r in range(part_first[k], part_first[k + 1])
            )
        ]
        polygons.append(shapely.Polygon(rings[0], rings[1:]))
    return polygons[0] if gtype == POLYGON else shapely.MultiPolygon(polygons)


def assemble_many(
    gtype: AnyArray,
    coord_start: AnyArray,
    coord_count: AnyArray,
    part_start: AnyArray,
    xs: Array,
    ys: Array,
    struct: AnyArray,
) -> AnyArray:
    """Many geometries at once with shapely's array constructors (``OTHER`` entries are left
    None for the caller). Worth it from a few dozen on."""
    out = np.empty(len(gtype), dtype=object)
    sel = np.flatnonzero(gtype == POINT)
    if len(sel):
        at = coord_start[sel]
        out[sel] = shapely.points(xs[at], ys[at])
    sel = np.flatnonzero(gtype == LINESTRING)
    if len(sel):
        counts = coord_count[sel].astype(np.int64)
        at = _ranges(coord_start[sel], counts)
        out[sel] = shapely.linestrings(
            xs[at], ys[at], indices=np.repeat(np.arange(len(sel)), counts)
        )
    sel = np.flatnonzero((gtype == POLYGON) | (gtype == MULTIPOLYGON))
    if not len(sel):
        return out
    b = part_start[sel]
    n_parts = struct[b].astype(np.int64)
    n_rings = struct[b + 1 + n_parts].astype(np.int64)
    ring_entry = np.repeat(b + 2 + n_parts, n_rings) + _local(
        np.repeat(np.arange(len(sel)), n_rings), n_rings
    )
    ring_len = (struct[ring_entry + 1] - struct[ring_entry]).astype(np.int64)
    at = _ranges(coord_start[sel], coord_count[sel].astype(np.int64))
    rings = shapely.linearrings(
        xs[at], ys[at], indices=np.repeat(np.arange(len(ring_len)), ring_len)
    )
    part_owner = np.repeat(np.arange(len(sel)), n_parts)
    part_entry = b[part_owner] + 1 + _local(part_owner, n_parts)
    per_part = (struct[part_entry + 1] - struct[part_entry]).astype(np.int64)
    polygons = shapely.polygons(rings, indices=np.repeat(np.arange(len(per_part)), per_part))
    single = gtype[sel] == POLYGON
    out[sel[single]] = polygons[(np.cumsum(n_parts) - n_parts)[single]]
    if not single.all():
        multi = ~single[part_owner]
        rank = np.cumsum(~single) - 1
        out[sel[~single]] = shapely.multipolygons(polygons[multi], indices=rank[part_owner[multi]])
    return out
