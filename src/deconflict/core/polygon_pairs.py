"""A check's route × polygon pairs, measured against the polygon parts themselves.

The scan measures a route segment against a polygon part's *box*, a loose stand-in (a route
passing a diagonal field comes near its box long before the field); these pairs are then
measured against the real rings. Parts whose edges are all short enough to be single
geodesic pieces to find_encounter go to the compiled geocentric kernel
(:func:`deconflict.core.refine_polygons.segment_polygon_many`, millimetre errors); the rare part with
longer edges to shapely in a tangent plane (:func:`deconflict.core.narrow.polygon_distance`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from deconflict.core import compiled, refine_polygons
from deconflict.core.elements import Elements, IntArray
from deconflict.core.kernels import Array, Mask
from deconflict.core.narrow import polygon_distance, polygon_parts

if TYPE_CHECKING:
    from deconflict.core.index import IndexedEngine


def measure_polygons(
    engine: IndexedEngine,
    q: Elements,
    qi: IntArray,
    rows: IntArray,
    boxed: IntArray,
    bounds: tuple[Array, Array, Array],
    verdict: tuple[Any, Mask, Array, Array],
) -> None:
    """Measure the pairs ``boxed`` (of query elements ``qi`` and store rows ``rows``) against
    their polygon parts, writing ``bounds`` = (distance, error, lower bound) in place.

    ``verdict`` (each pair's declaration slot, whether it is already certain, its separation
    and certainty factor) lets a check measure only until each declaration has one certain
    pair: a part's pairs are measured nearest first and each part is converted once. Pairs
    left unmeasured stay infinite.
    """
    store = engine._store
    assert store is not None
    dist, err, lower = bounds
    slots, certain, separation, factor = verdict
    groups, group = np.unique(slots[boxed], return_inverse=True)
    settled = np.isin(groups, slots[certain])
    todo = np.flatnonzero(~settled[group])
    boxed, group = boxed[todo], group[todo]
    nearest = lower[boxed]
    dist[boxed], lower[boxed] = np.inf, np.inf
    parts_rows, part_of = np.unique(rows[boxed], return_inverse=True)
    part_slots = store.decl[parts_rows].astype(np.int64)
    view = engine._activities.rings()
    part_rings, ring_starts, short = polygon_parts(
        view.coord_start, view.part_start, view.struct, view.xs, view.ys, part_slots,
        parts_rows - engine._first[part_slots],
    )  # fmt: skip
    fine = np.flatnonzero(short[part_of])
    if len(fine):
        fine = fine[np.lexsort((nearest[fine], part_of[fine]))]
        picked = boxed[fine]
        settle = (group[fine], settled, separation[picked], factor[picked])
        qc, sc = compiled.columns(q), compiled.columns(store)
        dist[picked], err[picked], lower[picked] = refine_polygons.segment_polygon_many(
            qc, qi[picked], sc, rows[picked], 2 * part_of[fine], part_rings, ring_starts,
            view.xs, view.ys, settle,
        )  # fmt: skip
    coarse = boxed[~short[part_of]]
    if len(coarse):
        cache: dict[int, Any] = {}
        shapes = [_part(engine, int(r), cache) for r in rows[coarse].tolist()]
        a, b = q.take(qi[coarse]), store.take(rows[coarse])
        d, wide, e = polygon_distance(a, b, shapes)
        lower[coarse] = wide - e
        dist[coarse], err[coarse] = d, e


def _part(engine: IndexedEngine, row: int, cache: dict[int, Any]) -> BaseGeometry:
    """The polygon part (or point) a place element stands for."""
    assert engine._store is not None
    slot = int(engine._store.decl[row])
    parts = cache.get(slot)
    if parts is None:
        parts = cache[slot] = shapely.get_parts(engine._activities.geometry(slot))
    part: BaseGeometry = parts[row - int(engine._first[slot])]
    return part
