"""The key arithmetic of the engine's space-time grid, and the row order a rebuild lays out.

A key is (time bucket, lat cell, lon cell) packed into one integer. An element is
registered under every key its widened box and its time reach cover; elements that last
longer than ``long_buckets`` buckets (open-ended and day-long sites) share bucket 0, the
*timeless layer*, so that they are registered once per cell instead of once per hour. The
same arithmetic serves the check's grid (:class:`deconflict.core.index.IndexedEngine`) and
the finer-grained self-join (:func:`deconflict.core.narrow.self_join`), which is why it is
a class of its own rather than part of the engine.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from deconflict.core import compiled, prefilter
from deconflict.core.elements import CodeArray, Elements, IntArray
from deconflict.core.kernels import Array

EXPAND_SLACK = 1.02
"""Query boxes are widened by 2 % more than the margin, against the error of the narrow phase."""


class SpaceTimeGrid:
    """Cells of ``cell_deg`` degrees and buckets of ``bucket_s`` seconds."""

    def __init__(self, cell_deg: float, bucket_s: float, long_buckets: int = 12) -> None:
        self.cell_deg = cell_deg
        self.bucket_s = bucket_s
        self.long_buckets = long_buckets
        # Cells are numbered from 1 with a spare ring, so widened boxes at ±180° and ±90°
        # never produce a negative or wrapped index.
        self.nx = 2 * math.ceil(180.0 / cell_deg) + 3
        self.ny = 2 * math.ceil(90.0 / cell_deg) + 3

    def buckets(self, first: Array, last: Array) -> tuple[IntArray, IntArray]:
        """Time bucket range per element; (0, 0), the timeless layer, for long ones."""
        long = ~np.isfinite(last) | ((last - first) > self.long_buckets * self.bucket_s)
        b0 = np.floor(np.maximum(first, 0.0) / self.bucket_s).astype(np.int64) + 1
        b1 = np.floor(np.where(long, 0.0, last) / self.bucket_s).astype(np.int64) + 1
        b0 = np.where(long, 0, b0)
        b1 = np.where(long, 0, np.maximum(b1, b0))
        return b0, b1

    def cells(
        self, elems: Elements, margin_m: Array
    ) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """Cell ranges covering each element's box widened by ``margin_m`` (conservatively)."""
        west, south, east, north = prefilter.widened_box(elems, margin_m)
        c = self.cell_deg
        cx0 = np.floor((west + 180.0) / c).astype(np.int64) + 1
        cx1 = np.floor((east + 180.0) / c).astype(np.int64) + 1
        cy0 = np.floor((south + 90.0) / c).astype(np.int64) + 1
        cy1 = np.floor((north + 90.0) / c).astype(np.int64) + 1
        return cx0, cx1, cy0, cy1

    def expand(
        self, cx0: IntArray, cx1: IntArray, cy0: IntArray, cy1: IntArray, b0: IntArray, b1: IntArray
    ) -> tuple[IntArray, IntArray]:
        """Every (bucket, cy, cx) key in each element's ranges, with the element's index."""
        keys, owner = compiled.expand_keys(cx0, cx1, cy0, cy1, b0, b1, self.nx, self.ny)
        return keys, owner

    def register(self, elems: Elements) -> tuple[IntArray, IntArray, tuple[int, int] | None]:
        """The keys of each element (its box widened by its own slack and buffer), their
        element index, and the first and last timed bucket among them (None if all are
        timeless): a query never needs to look outside the buckets in use."""
        first, last = elems.reach()
        b0, b1 = self.buckets(first, last)
        cx0, cx1, cy0, cy1 = self.cells(elems, elems.slack + elems.buf)
        keys, owner = self.expand(cx0, cx1, cy0, cy1, b0, b1)
        timed = b0 > 0
        span = (int(b0[timed].min()), int(b1[timed].max())) if timed.any() else None
        return keys, owner, span

    def half_grid(
        self, live: Elements, half_m: float
    ) -> tuple[IntArray, IntArray, tuple[IntArray, IntArray, IntArray], IntArray]:
        """Keys of the timed elements with boxes widened by ``half_m`` + buffer + slack, their
        rows, each row's lowest (cx, cy, bucket) corner, and the rows left in the timeless
        layer (for the self-join: two elements closer than 2 × ``half_m`` share a key)."""
        first, last = live.reach()
        b0, b1 = self.buckets(first - 1e-3, last + 1e-3)
        margin = (half_m + live.buf + live.slack + 1.0) * EXPAND_SLACK
        cx0, cx1, cy0, cy1 = self.cells(live, margin)
        timed = np.flatnonzero(b0 > 0)
        keys, owner = self.expand(
            cx0[timed], cx1[timed], cy0[timed], cy1[timed], b0[timed], b1[timed]
        )
        return keys, timed[owner], (cx0, cy0, b0), np.flatnonzero(b0 == 0)

    def query_keys(
        self, q: Elements, margin_m: Array, buckets_in_use: tuple[int, int], max_keys: int
    ) -> tuple[IntArray, IntArray, IntArray]:
        """Keys a query element must look under: its buckets (within those in use) and the
        timeless layer; with their element index, and the query elements that would need
        more than ``max_keys`` keys (an open-ended site over a long-lived index, a
        country-sized area), which the caller compares with every live row instead."""
        first, last = q.reach()
        west, south, east, north = prefilter.widened_box(q, margin_m)
        keys, owner, huge = _query_keys(
            first, last, (west, south, east, north), self.bucket_s, self.cell_deg,
            buckets_in_use, max_keys, self.nx, self.ny,
        )  # fmt: skip
        return keys, owner, huge


@njit(cache=True)
def _query_keys(
    first: Any, last: Any, box: Any, bucket_s: float, cell_deg: float,
    buckets_in_use: tuple[int, int], max_keys: int, nx: int, ny: int,
) -> tuple[Any, Any, Any]:  # fmt: skip
    """:meth:`SpaceTimeGrid.query_keys` in one compiled pass (as numpy it was some twenty
    calls over fifty elements, a tenth of a fast check): the timed keys of every element,
    then the timeless ones, each with its element, and the oversized elements."""
    west, south, east, north = box
    bmin, bmax = buckets_in_use
    n = len(first)
    ranges = np.empty((n, 6), dtype=np.int64)  # cx0, cx1, cy0, cy1, b0, b1
    huge = np.zeros(n, dtype=np.bool_)
    timed_total, timeless_total = 0, 0
    for e in range(n):
        lo = max(math.floor(max(first[e] - 1e-3, 0.0) / bucket_s) + 1, bmin)
        hi = min(math.floor(min(last[e] + 1e-3, 1e15) / bucket_s) + 1, bmax)
        b0 = int(lo)
        b1 = max(int(hi), b0 - 1)  # b1 < b0: no timed bucket to visit
        cx0 = math.floor((west[e] + 180.0) / cell_deg) + 1
        cx1 = math.floor((east[e] + 180.0) / cell_deg) + 1
        cy0 = math.floor((south[e] + 90.0) / cell_deg) + 1
        cy1 = math.floor((north[e] + 90.0) / cell_deg) + 1
        if (cx1 - cx0 + 1) * (cy1 - cy0 + 1) * (b1 - b0 + 2) > max_keys:
            huge[e] = True
            b1, cx1, cy1 = b0 - 1, cx0, cy0 - 1
        ranges[e] = (cx0, cx1, cy0, cy1, b0, b1)
        cells = max(cx1 - cx0 + 1, 0) * max(cy1 - cy0 + 1, 0)
        timed_total += cells * max(b1 - b0 + 1, 0)
        timeless_total += cells
    keys = np.empty(timed_total + timeless_total, dtype=np.int64)
    owner = np.empty(timed_total + timeless_total, dtype=np.int64)
    at = 0
    for timeless in (False, True):
        for e in range(n):
            cx0, cx1, cy0, cy1, b0, b1 = ranges[e]
            if timeless:
                b0, b1 = 0, 0
            for b in range(b0, b1 + 1):
                for cy in range(cy0, cy1 + 1):
                    base = (b * ny + cy) * nx
                    for cx in range(cx0, cx1 + 1):
                        keys[at] = base + cx
                        owner[at] = e
                        at += 1
    return keys, owner, np.flatnonzero(huge)


@njit(cache=True)
def key_ranges(grid_keys: IntArray, offsets: IntArray, keys: IntArray) -> tuple[Any, Any]:
    """Where each of ``keys`` has its rows in a compressed grid (each distinct key once,
    ascending, its rows from ``offsets[k]`` to ``offsets[k + 1]``): empty for absent keys."""
    lo = np.zeros(len(keys), dtype=np.int64)
    hi = np.zeros(len(keys), dtype=np.int64)
    if len(grid_keys) == 0:
        return lo, hi
    at = np.searchsorted(grid_keys, keys)
    for k in range(len(keys)):
        if at[k] < len(grid_keys) and grid_keys[at[k]] == keys[k]:
            lo[k], hi[k] = offsets[at[k]], offsets[at[k] + 1]
    return lo, hi


def grid_order(
    keys: IntArray, rows: IntArray, decl: CodeArray
) -> tuple[IntArray, IntArray, IntArray]:
    """A row order that follows the grid: declarations sorted by the lowest key of their
    first element, each declaration's rows kept together and in their order; and the
    registrations renumbered to it (grouped by new row, so that a stable sort by key leaves
    each key's rows ascending).

    A check reads the rows registered under a few hundred keys. In the order rows happened
    to be written, each one was a cache miss somewhere in a hundred megabytes; in key order
    the rows under one key are a few contiguous runs (the elements whose lowest key it is,
    and those reaching in from the neighbouring cells and hours), which the processor
    prefetches. ``keys``/``rows`` are the registrations, rows ascending (as
    :meth:`SpaceTimeGrid.expand` emits them, lowest key first for each row).
    """
    n = len(decl)
    if not n:
        return np.zeros(0, dtype=np.int64), keys, rows
    entry = np.searchsorted(rows, np.arange(n + 1))
    lowest = keys[np.minimum(entry[:-1], len(keys) - 1)]
    head = np.flatnonzero(np.r_[True, decl[1:] != decl[:-1]])
    order = _concat_ranges(head, np.diff(np.r_[head, n]), np.argsort(lowest[head], kind="stable"))
    per_row = np.diff(entry)
    moved = _concat_ranges(entry[:-1], per_row, order)
    return order, keys[moved], np.repeat(np.arange(n), per_row[order])


def _concat_ranges(starts: IntArray, lengths: IntArray, pick: IntArray) -> IntArray:
    """The indices of ranges ``[starts[k], starts[k] + lengths[k])`` for k in ``pick``, in
    that order, end to end."""
    chosen = lengths[pick]
    begin = np.cumsum(chosen) - chosen
    index: IntArray = np.repeat(starts[pick] - begin, chosen) + np.arange(int(chosen.sum()))
    return index
