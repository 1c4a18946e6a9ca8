"""The narrow phase of the indexed engine: bounds for candidate pairs, and the self-join.

:func:`pair_bounds` turns arrays of candidate element pairs into a tangent-plane distance
and an error bound each, with the time semantics of DESIGN §3 (schedule band for two
routes, the ±τ clip of a route against a window, overlapping windows for two places).
``strict=False`` errs towards keeping pairs (a millisecond of extra time slack), which is
what dropping needs; ``strict=True`` errs towards the empty set, which is what calling a
pair certain needs.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import shapely
from numba import njit
from shapely.geometry.base import BaseGeometry

from deconflict.core import compiled, join, prefilter, refine
from deconflict.core.conflicts import find_encounter
from deconflict.core.elements import Elements, IntArray
from deconflict.core.flat_shapes import ring_offsets
from deconflict.core.grid import EXPAND_SLACK, SpaceTimeGrid
from deconflict.core.kernels import (
    TIME_SLACK_S,
    Array,
    Mask,
    banded_closest,
    box_box,
    clip_fractions,
    error_bound,
    metres_per_degree,
    segment_box,
)
from deconflict.core.parties import SeparationRules

if TYPE_CHECKING:
    from deconflict.core.index import IndexedEngine

CERTAIN_FACTOR = 1.002
"""A pair is certain when its upper bound, stretched by this (find_encounter's own projection
error for declarations up to 1,000 km across, with room to spare) plus
:data:`deconflict.core.compiled.CERTAIN_MARGIN_M`, is below S (see
:func:`deconflict.core.compiled.certainly_within`). :func:`certain_factor` gives the
tighter factor for the pair's actual extent."""


class RuleTables:
    """The rule between one (party, category) and every (party, category) code, as a table,
    kept until the rules change: a check's compiled judging looks rules up by code, and
    would otherwise ask :class:`SeparationRules` a hundred times per check."""

    def __init__(self) -> None:
        self._owner: SeparationRules | None = None
        self._tables: dict[tuple[Any, ...], Array] = {}

    def get(self, rules: SeparationRules, names: Any, party: int, category: int) -> Array:
        """The table for codes ``party`` and ``category`` of ``names`` (an
        :class:`~deconflict.core.activity_store.ActivityStore`, whose code lists only grow)."""
        parties, categories = names.party_names, names.category_names
        key = (party, category, len(parties), len(categories), rules.revision, rules.default_m)
        if self._owner is not rules or len(self._tables) > 1024:
            self._owner, self._tables = rules, {}
        table = self._tables.get(key)
        if table is None:
            mine, kind = parties[party], categories[category]
            table = np.array(
                [[rules.between(mine, other, kind, c) for c in categories] for other in parties]
            ).reshape(len(parties), len(categories))
            self._tables[key] = table
        return table


@njit(cache=True)
def certain_factor(west: Array, south: Array, east: Array, north: Array) -> Array:
    """1 + 3 δ per pair, δ = (r/R)²/6 the stretch of find_encounter's azimuthal equidistant
    projection at r, half the diagonal of the pair's combined lon/lat box (plus 1 %).

    find_encounter's projected minimum is at most the true one stretched by δ, and its
    geodesic distance at that minimum at most stretched by δ again, so a pair whose true
    minimum is below S / (1 + 3δ) is certainly a conflict to it too.
    """
    factor = np.empty(len(west))
    for k in range(len(west)):
        factor[k] = compiled.certain_factor_of(west[k], south[k], east[k], north[k])
    return factor


@njit(cache=True)
def certain_pairs(dist: Array, err: Array, factor: Array, separation: Array) -> Mask:
    """:func:`deconflict.core.compiled.certainly_within` for each pair."""
    certain = np.empty(len(dist), dtype=np.bool_)
    for k in range(len(dist)):
        certain[k] = compiled.certainly_within(dist[k], err[k], factor[k], separation[k])
    return certain


@njit(cache=True)
def judge_probe_pairs(
    rule_table: Any,
    slot_columns: Any,
    probe: Any,
    query: Any,
    qi: Any,
    store: Any,
    rows: Any,
    bounds: Any,
) -> tuple[Any, Any, Any, Any, Any, Any]:
    """A check's pairs judged in one pass, before the polygon parts are measured: each
    pair's separation (the rule for the other declaration's party and category, plus both
    buffers), certainty factor (over the probe's and the declaration's combined box), the
    lower bound, whether the pair is exact (segments and points), whether it is certain
    already, and the pairs of a route against a polygon part's box, measured next.

    ``slot_columns`` = (party, category, west, south, east, north) per slot, ``probe`` =
    (buffer, west, south, east, north), ``query`` = (exact, seg) per query element,
    ``store`` = (decl, exact, buf) per store row, ``bounds`` the scan's (lower distance,
    lower error, distance, error). The arithmetic is that of
    :func:`certain_factor` and of the numpy form of the self-join, pair by pair.
    """
    party, category, west, south, east, north = slot_columns
    buffer_m, p_west, p_south, p_east, p_north = probe
    low_d, low_e, dist, err = bounds
    q_exact, q_seg = query
    decl, s_exact, s_buf = store
    n = len(rows)
    separation, factor, lower = np.empty(n), np.empty(n), np.empty(n)
    exact = np.empty(n, dtype=np.bool_)
    certain = np.empty(n, dtype=np.bool_)
    boxed = np.empty(n, dtype=np.int64)
    n_boxed = 0
    for k in range(n):
        i, j = qi[k], rows[k]
        slot = decl[j]
        separation[k] = rule_table[party[slot], category[slot]] + buffer_m + s_buf[j]
        factor[k] = compiled.certain_factor_of(
            min(west[slot], p_west),
            min(south[slot], p_south),
            max(east[slot], p_east),
            max(north[slot], p_north),
        )
        lower[k] = low_d[k] - low_e[k]
        exact[k] = q_exact[i] and s_exact[j]
        certain[k] = exact[k] and compiled.certainly_within(
            dist[k], err[k], factor[k], separation[k]
        )
        if q_seg[i] and not s_exact[j]:
            boxed[n_boxed] = k
            n_boxed += 1
    return separation, factor, lower, exact, certain, boxed[:n_boxed]


def settle_band(
    a: tuple[Array, ...],
    ai: IntArray,
    b: tuple[Array, ...],
    bi: IntArray,
    separation: Array,
    factor: Array,
    exact: Mask,
    maybe: Mask,
    certain: Mask,
) -> None:
    """Re-measure the pairs whose tangent-plane bounds straddle S, in place.

    The tangent plane's error is metres for long segments, so at 10⁵ routes thousands of
    pairs fall inside it and each would cost a find_encounter (milliseconds).
    :func:`deconflict.core.refine.evaluate` measures the same pairs in geocentric
    coordinates with errors of millimetres: most of the band becomes certain or is dropped,
    and only what is still within millimetres of S is left for find_encounter.
    """
    band = np.flatnonzero(maybe & ~certain & exact)
    if not len(band):
        return
    sep, fac = separation[band], factor[band]
    dist, err = refine.evaluate(a, ai[band], b, bi[band], True)
    certain[band] = certain_pairs(dist, err, fac, sep)
    dist, err = refine.evaluate(a, ai[band], b, bi[band], False)
    maybe[band] = dist - err < sep


def pair_bounds(
    a: Elements,
    b: Elements,
    strict: bool,
    limit: Array | None = None,
) -> tuple[Array, Array, Mask]:
    """Tangent-plane distance, its error bound and feasibility of each pair (a[k], b[k]).

    With ``limit``, pairs whose boxes alone are at least ``limit`` apart (after the error)
    are marked infeasible before the costly kernels run.
    """
    n = len(a)
    slack = 0.0 if strict else TIME_SLACK_S
    a_first, a_last = a.reach()
    b_first, b_last = b.reach()
    ok = (a_first <= b_last + slack) & (b_first <= a_last + slack)
    ok &= (a.alo <= b.ahi) & (b.alo <= a.ahi)
    lats = np.column_stack([a.ay, a.by, b.ay, b.by])
    east, north = metres_per_degree(lats.mean(axis=1))
    ax1, ay1 = (a.bx - a.ax) * east, (a.by - a.ay) * north
    bx0, by0 = (b.ax - a.ax) * east, (b.ay - a.ay) * north
    bx1, by1 = (b.bx - a.ax) * east, (b.by - a.ay) * north
    zero = np.zeros(n)
    if limit is not None:
        rough = box_box(
            np.minimum(zero, ax1),
            np.minimum(zero, ay1),
            np.maximum(zero, ax1),
            np.maximum(zero, ay1),
            np.minimum(bx0, bx1),
            np.minimum(by0, by1),
            np.maximum(bx0, bx1),
            np.maximum(by0, by1),
        )
        ok &= rough - error_bound(rough, lats, a.slack, b.slack) < limit
    dist = np.full(n, np.inf)

    ss = np.flatnonzero(ok & a.seg & b.seg)
    if len(ss):
        band = a.tol[ss] + b.tol[ss] + slack
        dist[ss] = banded_closest(
            -bx0[ss],
            -by0[ss],
            ax1[ss],
            ay1[ss],
            bx1[ss] - bx0[ss],
            by1[ss] - by0[ss],
            a.t0[ss] - b.t0[ss],
            a.t1[ss] - a.t0[ss],
            b.t1[ss] - b.t0[ss],
            band,
        )

    sr = np.flatnonzero(ok & a.seg & ~b.seg)
    if len(sr):
        lo, hi, fits = clip_fractions(
            a.t0[sr], a.t1[sr], b.t0[sr] - a.tol[sr] - slack, b.t1[sr] + a.tol[sr] + slack
        )
        d = segment_box(
            lo * ax1[sr],
            lo * ay1[sr],
            hi * ax1[sr],
            hi * ay1[sr],
            bx0[sr],
            by0[sr],
            bx1[sr],
            by1[sr],
        )
        dist[sr] = np.where(fits, d, np.inf)

    rs = np.flatnonzero(ok & ~a.seg & b.seg)
    if len(rs):
        lo, hi, fits = clip_fractions(
            b.t0[rs], b.t1[rs], a.t0[rs] - b.tol[rs] - slack, a.t1[rs] + b.tol[rs] + slack
        )
        ux, uy = bx1[rs] - bx0[rs], by1[rs] - by0[rs]
        d = segment_box(
            bx0[rs] + lo * ux,
            by0[rs] + lo * uy,
            bx0[rs] + hi * ux,
            by0[rs] + hi * uy,
            zero[rs],
            zero[rs],
            ax1[rs],
            ay1[rs],
        )
        dist[rs] = np.where(fits, d, np.inf)

    rr = np.flatnonzero(ok & ~a.seg & ~b.seg)
    if len(rr):
        dist[rr] = box_box(zero[rr], zero[rr], ax1[rr], ay1[rr], bx0[rr], by0[rr], bx1[rr], by1[rr])

    ok &= np.isfinite(dist)
    finite = np.where(ok, dist, 0.0)
    return dist, error_bound(finite, lats, a.slack, b.slack), ok


SHORT_EDGE_DEG = 0.05
"""find_encounter cuts polygon edges at this length and treats each piece as a geodesic; a
part whose edges are all shorter is, to it, a polygon of geodesic edges, which is what
:func:`deconflict.core.refine_polygons.segment_polygon_many` measures."""

_walk_rings = njit(cache=True)(ring_offsets)


@njit(cache=True)
def polygon_parts(
    coord_start: Any, part_start: Any, struct: Any, xs: Any, ys: Any, slots: Any, parts: Any
) -> tuple[Any, Any, Any]:
    """Ring tables for :func:`deconflict.core.refine_polygons.segment_polygon_many`: pair k's part is
    ``part_rings[2k]`` to ``part_rings[2k + 1]`` (ring r: vertices ``rings[r]`` to
    ``rings[r + 1]`` of the store's flat arrays), and whether all its edges are short."""
    part_rings = np.empty(2 * len(slots), dtype=np.int64)
    short = np.ones(len(slots), dtype=np.bool_)
    total = 0
    for k in range(len(slots)):
        total += len(_walk_rings(coord_start, part_start, struct, slots[k], parts[k]))
    rings = np.empty(total, dtype=np.int64)
    at = 0
    for k in range(len(slots)):
        offsets = _walk_rings(coord_start, part_start, struct, slots[k], parts[k])
        part_rings[2 * k] = at
        part_rings[2 * k + 1] = at + len(offsets) - 1
        rings[at : at + len(offsets)] = offsets
        at += len(offsets)
        for v in range(offsets[0], offsets[-1] - 1):
            if max(abs(xs[v + 1] - xs[v]), abs(ys[v + 1] - ys[v])) >= SHORT_EDGE_DEG:
                short[k] = False
    return part_rings, rings, short


def polygon_distance(
    a: Elements,
    b: Elements,
    parts: list[BaseGeometry],
) -> tuple[Array, Array, Array]:
    """Distances of route segments ``a`` to the polygon parts ``b`` stands for, each segment
    clipped to the instants ``b``'s window allows, in each pair's tangent plane: the
    strict clip (for certainty), the widened clip (for dropping), and the error bound.
    inf where the times never meet.

    Boxes are a loose stand-in for a polygon: a route passing a diagonal field or an L-shaped
    area comes near its box long before the polygon itself. The few pairs of a check that
    involve polygons are measured against the real edges here (with shapely, vectorised),
    so that they too can be settled without find_encounter.
    """
    n = len(a)
    lats = np.column_stack([a.ay, a.by, b.ay, b.by])
    east, north = metres_per_degree(lats.mean(axis=1))
    x1, y1 = (a.bx - a.ax) * east, (a.by - a.ay) * north
    clips = [
        clip_fractions(a.t0, a.t1, b.t0 - a.tol - s, b.t1 + a.tol + s) for s in (0.0, TIME_SLACK_S)
    ]
    lo = np.concatenate([c[0] for c in clips])
    hi = np.concatenate([c[1] for c in clips])
    fits = np.concatenate([c[2] for c in clips])
    x2, y2 = np.concatenate([x1, x1]), np.concatenate([y1, y1])
    ends = np.stack(
        [np.column_stack([lo * x2, lo * y2]), np.column_stack([hi * x2, hi * y2])], axis=1
    )
    shapes = np.array(parts, dtype=object)
    _, owner = shapely.get_coordinates(shapes, return_index=True)

    def local(coords: Array) -> Array:
        x = (coords[:, 0] - a.ax[owner]) * east[owner]
        y = (coords[:, 1] - a.ay[owner]) * north[owner]
        return np.column_stack([x, y])

    flat = shapely.transform(shapes, local)
    both = shapely.distance(shapely.linestrings(ends), np.concatenate([flat, flat]))
    dist = np.where(fits, both, np.inf)
    err = error_bound(np.where(np.isfinite(dist[:n]), dist[:n], 0.0), lats, a.slack, b.slack)
    return dist[:n], dist[n:], err


JOIN_CHUNK = 1 << 20
"""Most grid entries per call of the join kernel. The kernel copies one group at a time, so
the batches only bound the candidate arrays of one call and share the work between threads;
a batch never splits a key's group."""


def _group_chunks(keys: IntArray, size: int) -> list[tuple[int, int]]:
    """[start, stop) batches of about ``size`` sorted keys that never split a group."""
    bounds = [0]
    while bounds[-1] < len(keys):
        stop = min(bounds[-1] + size, len(keys))
        if stop < len(keys):
            stop = int(np.searchsorted(keys, keys[stop], side="left"))
            if stop <= bounds[-1]:
                stop = int(np.searchsorted(keys, keys[bounds[-1]], side="right"))
        bounds.append(stop)
    return list(itertools.pairwise(bounds))


def self_join(
    engine: IndexedEngine,
    rules: SeparationRules,
    chunk: int,
) -> set[tuple[str, str]]:
    """All conflicting pairs, from the grid joined with itself in batches of key groups.

    Timed elements are registered afresh, on a finer grid (``engine.join_grid``: a self-join
    pays per pair within a cell, a single check per key), with boxes widened by half the
    largest separation, so that close pairs share a key, and each key's group is joined with
    itself in compiled code (:func:`deconflict.core.join.self_pairs`); timeless elements
    query the grid as :meth:`IndexedEngine.check` does. The bounds decide all but a thin band
    of pairs near S, and find_encounter decides that band.
    """
    store, _, size = engine._live()
    live = store.take(slice(0, size))
    half = rules.largest_m / 2.0 + 1.0
    grid = SpaceTimeGrid(*engine.join_grid)
    keys, rows, corner, timeless = grid.half_grid(live, half)
    hot = engine._hot[:size]
    keys, rows = join.sort_entries(keys, rows, hot[:, 0])
    corners = np.column_stack(corner)
    near = prefilter.records(
        live, (rules.largest_m + live.buf + live.slack + 2.0) * EXPAND_SLACK, TIME_SLACK_S
    )
    cols = compiled.columns(store)
    found = _join_groups(
        (keys, rows, hot, near, corners, cols, live.exact, rules.largest_m, grid.nx, grid.ny),
        engine.threads,
    )
    del keys, rows, near
    found.extend(_timeless_pairs(engine, rules, timeless, chunk))
    if not found:
        return set()
    arow, brow, dist, err, dist_s, err_s = (
        np.concatenate(parts) for parts in zip(*found, strict=True)
    )
    sa, sb = store.decl[arow].astype(np.int64), store.decl[brow].astype(np.int64)
    columns = engine._activities.columns()
    pair_rules = _rules_between(engine, rules, columns.party[sa], columns.category[sa], sb)
    separation = pair_rules + store.buf[arow] + store.buf[brow]
    maybe = dist - err < separation
    west, south, east, north = engine._slot_boxes()
    factor = certain_factor(
        np.minimum(west[sa], west[sb]),
        np.minimum(south[sa], south[sb]),
        np.maximum(east[sa], east[sb]),
        np.maximum(north[sa], north[sb]),
    )
    exact = store.exact[arow] & store.exact[brow]
    certain = maybe & exact & certain_pairs(dist_s, err_s, factor, separation)
    settle_band(cols, arow, cols, brow, separation, factor, exact, maybe, certain)
    slots = engine._slots
    sure, unsure = join.decide(sa * slots + sb, certain, maybe)
    engine.last_uncertain = len(unsure)
    pairs = _named_pairs(engine._slot_ids(), sure // slots, sure % slots)
    xs = engine._slot_activities(unsure // slots)
    ys = engine._slot_activities(unsure % slots)
    for x, y in zip(xs, ys, strict=True):
        rule = rules.between(x.party_id, y.party_id, x.category, y.category)
        if find_encounter(x, y, rule) is not None:
            pairs.add(_ordered(x.declaration_id, y.declaration_id))
    return pairs


def _rules_between(
    engine: IndexedEngine, rules: SeparationRules, party_a: Any, category_a: Any, slots_b: Any
) -> Array:
    """The rule for each pair (a's party and category codes, b's slot), asking
    :class:`SeparationRules` once per distinct combination rather than once per pair."""
    store = engine._activities
    columns = store.columns()
    parties, categories = store.party_names, store.category_names
    n_p, n_c = len(parties), len(categories)
    party_b = columns.party[slots_b].astype(np.int64)
    combo = (np.asarray(party_a, dtype=np.int64) * n_p + party_b) * n_c + category_a
    combo = combo * n_c + columns.category[slots_b]
    unique, inverse = np.unique(combo, return_inverse=True)
    values = np.empty(len(unique))
    for k, code in enumerate(unique.tolist()):
        rest, cb = divmod(code, n_c)
        rest, ca = divmod(rest, n_c)
        pa, pb = divmod(rest, n_p)
        values[k] = rules.between(parties[pa], parties[pb], categories[ca], categories[cb])
    chosen: Array = values[inverse]
    return chosen


def _join_groups(
    args: tuple[Any, ...], threads: int
) -> list[tuple[IntArray, IntArray, Array, Array, Array, Array]]:
    """:func:`deconflict.core.join.self_pairs` over the sorted entries ``args[0:2]``, in
    batches that never split a key's group. The kernel releases the GIL, so the batches run
    on ``threads`` threads, several batches each so that a dense stretch of the grid does not
    leave one thread working alone."""
    keys, rows, *rest = args
    size = max(1, min(JOIN_CHUNK, -(-len(keys) // (4 * threads))))
    batches = _group_chunks(keys, size)

    def batch(bounds: tuple[int, int]) -> tuple[IntArray, IntArray, Array, Array, Array, Array]:
        start, stop = bounds
        found: tuple[IntArray, IntArray, Array, Array, Array, Array]
        found = join.self_pairs(keys[start:stop], rows[start:stop], *rest)
        return found

    if threads > 1 and len(batches) > 1:
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(batch, batches))
    return [batch(bounds) for bounds in batches]


def _timeless_pairs(
    engine: IndexedEngine, rules: SeparationRules, timeless: IntArray, chunk: int
) -> list[tuple[IntArray, IntArray, Array, Array, Array, Array]]:
    """The pairs of the elements in the timeless layer (open-ended and long-lived), which
    shares no key with the timed ones: they ask the grid for their partners, as check does.
    Each pair comes once, as (row of the smaller declaration slot, other row) with the bound
    and strict bound the scan measured (a bound does not depend on which side is the query),
    the orientation :func:`deconflict.core.join.self_pairs` uses."""
    store, _, _ = engine._live()
    found = []
    for start in range(0, len(timeless), chunk):
        q_rows = timeless[start : start + chunk]
        qi, brow, dist, err, dist_s, err_s = engine._scan(store.take(q_rows), rules)
        arow = q_rows[qi]
        keep = ~np.isin(brow, timeless) | (store.decl[brow] > store.decl[arow])
        arow, brow = arow[keep], brow[keep]
        swap = store.decl[arow] > store.decl[brow]
        arow, brow = np.where(swap, brow, arow), np.where(swap, arow, brow)
        found.append((arow, brow, dist[keep], err[keep], dist_s[keep], err_s[keep]))
    return found


def _named_pairs(
    ids: Sequence[str | None], slots_a: IntArray, slots_b: IntArray
) -> set[tuple[str, str]]:
    """The id pairs of these slot pairs. Ids are read as one slice of the slots they span:
    the engine's id column builds a ``str`` per read, a microsecond each when asked one at
    a time, so per-pair reads cost more than the whole join."""
    if not len(slots_a):
        return set()
    low = int(min(slots_a.min(), slots_b.min()))
    names = ids[low : int(max(slots_a.max(), slots_b.max())) + 1]
    first = [names[x] for x in (slots_a - low).tolist()]
    second = [names[y] for y in (slots_b - low).tolist()]
    if None in first or None in second:
        raise ValueError("a pair names a slot that holds no declaration")
    named = cast(list[str], first), cast(list[str], second)
    return {(x, y) if x <= y else (y, x) for x, y in zip(*named, strict=True)}


def _ordered(x: str | None, y: str | None) -> tuple[str, str]:
    assert x is not None
    assert y is not None
    return (x, y) if x < y else (y, x)
