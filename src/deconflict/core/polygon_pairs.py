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
from numba import njit
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
    boxed, group, settled, parts_rows, part_of = _plan(slots, certain, boxed, rows)
    nearest = lower[boxed]
    dist[boxed], lower[boxed] = np.inf, np.inf
    part_slots = store.decl[parts_rows].astype(np.int64)
    view = engine._activities.rings()
    part_rings, ring_starts, short = polygon_parts(
        view.coord_start, view.part_start, view.struct, view.xs, view.ys, part_slots,
        parts_rows - engine._first[part_slots],
    )  # fmt: skip
    fine = _nearest_first(part_of, nearest, short)
    if len(fine):
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


@njit(cache=True)
def _plan(slots: Any, certain: Any, boxed: Any, rows: Any) -> tuple[Any, Any, Any, Any, Any]:
    """Which of the ``boxed`` pairs still need measuring, grouped for the early stop: the
    pairs (of declarations not already certain by another pair), each pair's group (its
    declaration, numbered in slot order) and whether each group is settled (False for all:
    only groups with work are kept, but the kernel marks them as it goes), the distinct
    store rows (polygon parts) they meet, ascending, and each pair's part among them.
    Compiled: as a dozen numpy passes (unique, isin, fancy indexing) over a few hundred pairs
    this cost more than measuring them."""
    known = np.sort(slots[np.flatnonzero(certain)])
    todo = np.empty(len(boxed), dtype=np.int64)
    n = 0
    for k in range(len(boxed)):
        slot = slots[boxed[k]]
        at = np.searchsorted(known, slot)
        if not (at < len(known) and known[at] == slot):
            todo[n] = boxed[k]
            n += 1
    todo = todo[:n]
    group = _ranks(slots[todo])
    part_of = _ranks(rows[todo])
    parts_rows = np.empty(part_of.max() + 1 if n else 0, dtype=np.int64)
    for k in range(n):
        parts_rows[part_of[k]] = rows[todo[k]]
    settled = np.zeros(group.max() + 1 if n else 0, dtype=np.bool_)
    return todo, group, settled, parts_rows, part_of


@njit(cache=True)
def _ranks(values: Any) -> Any:
    """Each value's rank among the distinct values (0 for the smallest): ``np.unique``'s
    inverse."""
    order = np.argsort(values, kind="mergesort")
    rank = np.empty(len(values), dtype=np.int64)
    current = -1
    for k in range(len(order)):
        if k == 0 or values[order[k]] != values[order[k - 1]]:
            current += 1
        rank[order[k]] = current
    return rank


@njit(cache=True)
def _nearest_first(part_of: Any, nearest: Any, short: Any) -> Any:
    """The pairs whose part the compiled kernel can measure (all edges short), ordered by
    part and, within a part, nearest first (so that a declaration is settled early)."""
    fine = np.flatnonzero(short[part_of])
    by_distance = fine[np.argsort(nearest[fine], kind="mergesort")]
    return by_distance[np.argsort(part_of[by_distance], kind="mergesort")]


def _part(engine: IndexedEngine, row: int, cache: dict[int, Any]) -> BaseGeometry:
    """The polygon part (or point) a place element stands for."""
    assert engine._store is not None
    slot = int(engine._store.decl[row])
    parts = cache.get(slot)
    if parts is None:
        parts = cache[slot] = shapely.get_parts(engine._activities.geometry(slot))
    part: BaseGeometry = parts[row - int(engine._first[slot])]
    return part
