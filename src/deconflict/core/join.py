"""The compiled self-join of the indexed engine (:func:`deconflict.core.narrow.self_join`).

Profiled at 10⁵ routes, the join spent its time on things other than distances: sorting
2.9 million grid entries with a comparison sort, testing every pair of entries within a key
(54 million tests, though with τ = 0 two segments in the same hour rarely share a second),
two further passes over the candidate pairs to re-measure them, and de-duplicating them.
Here the entries are sorted by a radix sort on (key, start), each key's group is swept in
time order so that a pair test stops at the first entry that starts after this one ends,
and the strict bound a pair needs to be called certain is measured while its records are in
cache.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from deconflict.core.compiled import _pair_both, reading
from deconflict.core.kernels import TIME_SLACK_S

Any_ = Any

DIGIT_BITS = 11
"""Radix digit: 2,048 counters stay in the first-level cache, where 65,536 would not."""


@njit(cache=True)
def _bits(span: int) -> int:
    bits = 0
    while span > 0:
        span >>= 1
        bits += 1
    return bits


@njit(cache=True)
def _radix_pass(
    values: Any_, carry: Any_, out_values: Any_, out_carry: Any_, shift: int, counts: Any_
) -> None:
    """One stable counting pass on the digit of ``values`` at ``shift``, moving ``carry``
    along."""
    mask = (1 << DIGIT_BITS) - 1
    counts[:] = 0
    for k in range(len(values)):
        counts[(values[k] >> shift) & mask] += 1
    at = 0
    for d in range(len(counts)):
        c = counts[d]
        counts[d] = at
        at += c
    for k in range(len(values)):
        d = (values[k] >> shift) & mask
        out_values[counts[d]] = values[k]
        out_carry[counts[d]] = carry[k]
        counts[d] += 1


@njit(cache=True)
def sort_entries(keys: Any_, rows: Any_, start: Any_) -> tuple[Any_, Any_]:
    """Grid entries (``keys[k]``, ``rows[k]``) ordered by key, and within a key by the start
    of their row's time reach (``start``, per row), both stable least-significant-digit
    radix sorts: a few linear passes instead of a comparison sort of millions of keys."""
    n = len(keys)
    counts = np.empty(1 << DIGIT_BITS, dtype=np.int64)
    order = np.arange(n)
    spare = np.empty(n, dtype=np.int64)
    if n == 0:
        return keys[:0].copy(), rows[:0].copy()
    first = start[rows[0]]
    last = first
    for k in range(n):
        first = min(first, start[rows[k]])
        last = max(last, start[rows[k]])
    values = np.empty(n, dtype=np.int64)
    for k in range(n):
        values[k] = np.int64(start[rows[k]]) - np.int64(first)
    other = np.empty(n, dtype=np.int64)
    for shift in range(0, _bits(int(last) - int(first)), DIGIT_BITS):
        _radix_pass(values, order, other, spare, shift, counts)
        values, other = other, values
        order, spare = spare, order
    low = keys.min()
    for k in range(n):
        values[k] = keys[order[k]] - low
    for shift in range(0, _bits(int(keys.max() - low)), DIGIT_BITS):
        _radix_pass(values, order, other, spare, shift, counts)
        values, other = other, values
        order, spare = spare, order
    out_keys = np.empty(n, dtype=np.int64)
    out_rows = np.empty(n, dtype=np.int64)
    for k in range(n):
        out_keys[k] = values[k] + low
        out_rows[k] = rows[order[k]]
    return out_keys, out_rows


@njit(cache=True, inline="always")
def _part_box(
    x0: float, y0: float, x1: float, y1: float, t0: float, t1: float, lo: float, hi: float
) -> tuple[float, float, float, float, bool]:
    """Box of the stretch of segment (x0, y0) → (x1, y1), timed t0 → t1, within [lo, hi]."""
    if t1 < lo or t0 > hi:
        return 0.0, 0.0, 0.0, 0.0, False
    if t1 <= t0:
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1), True
    f0 = min(max((lo - t0) / (t1 - t0), 0.0), 1.0)
    f1 = min(max((hi - t0) / (t1 - t0), 0.0), 1.0)
    ax, ay = x0 + f0 * (x1 - x0), y0 + f0 * (y1 - y0)
    bx, by = x0 + f1 * (x1 - x0), y0 + f1 * (y1 - y0)
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by), True


@njit(cache=True, inline="always")
def _margin(lo: float, hi: float, wide_lo: int, wide_hi: int) -> float:
    """How far (micro-degrees) a packed record's box reaches beyond [lo, hi] degrees."""
    return max(lo * 1e6 - wide_lo, wide_hi - hi * 1e6)


@njit(cache=True, inline="always")
def _parts_apart(seg_i: Any_, seg_j: Any_, near_i: Any_, hot_j: Any_) -> bool:
    """Whether two segments are too far apart during the instants their schedule band lets
    them share for any pair of positions to be within S.

    With τ = 0 two segments in the same cell and hour share seconds or minutes; each is cut
    down to those instants and the boxes of the two stretches compared, widened by what
    ``near_i`` (i's box grown by the rule part of S, i's buffer and slack) and ``hot_j`` (j's
    box grown by j's buffer and slack) add to their own boxes: together, all a pair may be
    apart. ``seg_i`` and ``seg_j`` are (ax, ay, bx, by, t0, t1, tol) of each.
    """
    ax, ay, bx, by, t0, t1, tol = (
        seg_i[0],
        seg_i[1],
        seg_i[2],
        seg_i[3],
        seg_i[4],
        seg_i[5],
        seg_i[6],
    )
    cx, cy, dx, dy, u0, u1, tou = (
        seg_j[0],
        seg_j[1],
        seg_j[2],
        seg_j[3],
        seg_j[4],
        seg_j[5],
        seg_j[6],
    )
    band = tol + tou + TIME_SLACK_S
    wi, si, ei, ni, ok_i = _part_box(ax, ay, bx, by, t0, t1, u0 - band, u1 + band)
    wj, sj, ej, nj, ok_j = _part_box(cx, cy, dx, dy, u0, u1, t0 - band, t1 + band)
    if not (ok_i and ok_j):
        return True
    dlon = (
        _margin(min(ax, bx), max(ax, bx), near_i[2], near_i[4])
        + _margin(min(cx, dx), max(cx, dx), hot_j[2], hot_j[4])
        + 2.0
    ) * 1e-6
    dlat = (
        _margin(min(ay, by), max(ay, by), near_i[3], near_i[5])
        + _margin(min(cy, dy), max(cy, dy), hot_j[3], hot_j[5])
        + 2.0
    ) * 1e-6
    return wj > ei + dlon or ej < wi - dlon or sj > ni + dlat or nj < si - dlat


@njit(cache=True)
def _grow(a: Any_, n: int) -> Any_:
    bigger = np.empty(max(1024, 2 * n), dtype=a.dtype)
    bigger[:n] = a[:n]
    return bigger


@reading
def _group_pairs(
    m: int,
    rows: Any_,
    g_hot: Any_,
    g_near: Any_,
    g_seg: Any_,
    g_at: Any_,
    s: Any_,
    exact: Any_,
    largest: float,
    n: int,
    first_a: int,
    first_b: int,
    out: Any_,
) -> tuple[int, int, int]:
    """The pair tests of one key group of :func:`self_pairs` (its ``m`` rows' records copied
    into ``g_*``) from the pair (``first_a``, ``first_b``) on, written from ``n`` on into
    ``out``. Returns the new count and where it stopped: (count, m, m) when the group is
    done, or the pair it could not write because ``out`` is full (the caller grows it and
    calls again from there). Reads only, so it runs without numba's reference counts
    (:func:`deconflict.core.compiled.reading`): the views of the records it compares
    otherwise cost a call into numba's runtime each."""
    out_i, out_j, out_d, out_e, out_ds, out_es = out
    sbuf, seg = s[7], s[13]
    for a in range(first_a, m):
        q0, q1, qw, qs, qe, qn, qparty, qdecl = (
            g_near[a, 0],
            g_near[a, 1],
            g_near[a, 2],
            g_near[a, 3],
            g_near[a, 4],
            g_near[a, 5],
            g_near[a, 6],
            g_near[a, 7],
        )
        for b in range(first_b if a == first_a else a + 1, m):
            if g_hot[b, 0] > q1:
                break  # entries are in start order: no later one overlaps a's reach
            # One branch for all the tests (bitwise, not short-circuit): each alone
            # passes about half the time, and mispredicted branches were most of the cost.
            ok = (
                (g_hot[b, 1] >= q0)
                & (g_hot[b, 2] <= qe)
                & (g_hot[b, 4] >= qw)
                & (g_hot[b, 3] <= qn)
                & (g_hot[b, 5] >= qs)
                & (g_hot[b, 7] != qdecl)
                & (g_hot[b, 6] != qparty)
                & ((g_at[a] | g_at[b]) == 7)
            )
            if not ok:
                continue
            i, j = rows[a], rows[b]
            if seg[i] and seg[j] and _parts_apart(g_seg[a], g_seg[b], g_near[a], g_hot[b]):
                continue
            if g_hot[b, 7] < qdecl:
                i, j = j, i
            limit = largest + sbuf[i] + sbuf[j]
            d, e, ds, es = _pair_both(s, i, s, j, limit)
            if d - e >= limit:
                continue
            if not (exact[i] and exact[j]):
                ds, es = math.inf, 0.0
            if n == len(out_i):
                return n, a, b
            out_i[n], out_j[n], out_d[n], out_e[n] = i, j, d, e
            out_ds[n], out_es[n] = ds, es
            n += 1
    return n, m, m


@njit(cache=True, nogil=True)
def self_pairs(
    keys: Any_,
    rows: Any_,
    hot: Any_,
    near: Any_,
    corners: Any_,
    s: Any_,
    exact: Any_,
    largest: float,
    nx: int,
    ny: int,
) -> tuple[Any_, Any_, Any_, Any_, Any_, Any_]:
    """The element pairs (i, j) within each group of equal ``keys`` whose lower bound is below
    the largest S, with their bound (distance, error) and their strict bound (the same with
    no time slack; inf unless both are exact, since only then can it make a pair certain).

    The entries come from :func:`sort_entries` (by key, then by start), on a grid whose
    boxes were widened by half the separation, so that any two elements closer than S share
    a key. ``hot`` and ``near`` are the packed records of :mod:`deconflict.core.prefilter`
    per row (the box widened by the element's own margins, and by the largest separation as
    well), ``corners`` each row's lowest (cx, cy, bucket). A group's records are copied
    together first, so that its pair tests read contiguous memory; the time-ordered sweep
    ends a row's tests at the first that starts after its reach ends. A pair sharing several
    keys is kept only under the lowest corner of their common range, so it is met once. i is
    the element of the smaller declaration slot, the orientation the bounds are measured in.
    """
    cap = 1024
    out_i = np.empty(cap, dtype=np.int64)
    out_j = np.empty(cap, dtype=np.int64)
    out_d = np.empty(cap)
    out_e = np.empty(cap)
    out_ds = np.empty(cap)
    out_es = np.empty(cap)
    n = 0
    ax, ay, bx, by, t0, t1, tol = s[0], s[1], s[2], s[3], s[4], s[5], s[6]
    g_hot = np.empty((64, 8), dtype=hot.dtype)
    g_near = np.empty((64, 8), dtype=near.dtype)
    g_seg = np.empty((64, 7))
    g_at = np.empty(64, dtype=np.int64)
    g0 = 0
    total = len(keys)
    while g0 < total:
        key = keys[g0]
        g1 = g0
        while g1 < total and keys[g1] == key:
            g1 += 1
        m = g1 - g0
        if m > len(g_hot):
            g_hot = np.empty((2 * m, 8), dtype=hot.dtype)
            g_near = np.empty((2 * m, 8), dtype=near.dtype)
            g_seg = np.empty((2 * m, 7))
            g_at = np.empty(2 * m, dtype=np.int64)
        kb, rest = divmod(key, nx * ny)
        kcy, kcx = divmod(rest, nx)
        for a in range(m):
            row = rows[g0 + a]
            g_at[a] = (
                (corners[row, 0] == kcx)
                | (corners[row, 1] == kcy) << 1
                | (corners[row, 2] == kb) << 2
            )
            g_hot[a, :] = hot[row, :]
            g_near[a, :] = near[row, :]
            g_seg[a, 0], g_seg[a, 1], g_seg[a, 2], g_seg[a, 3] = ax[row], ay[row], bx[row], by[row]
            g_seg[a, 4], g_seg[a, 5], g_seg[a, 6] = t0[row], t1[row], tol[row]
        a, b = 0, 1
        while a < m:  # until the group is done, growing the output whenever it fills
            n, a, b = _group_pairs(
                m, rows[g0:g1], g_hot, g_near, g_seg, g_at, s, exact, largest, n, a, b,
                (out_i, out_j, out_d, out_e, out_ds, out_es),
            )  # fmt: skip
            if a < m:
                out_i, out_j = _grow(out_i, n), _grow(out_j, n)
                out_d, out_e = _grow(out_d, n), _grow(out_e, n)
                out_ds, out_es = _grow(out_ds, n), _grow(out_es, n)
        g0 = g1
    return out_i[:n], out_j[:n], out_d[:n], out_e[:n], out_ds[:n], out_es[:n]


@njit(cache=True)
def decide(codes: Any_, certain: Any_, maybe: Any_) -> tuple[Any_, Any_]:
    """The distinct pair codes with a certain element pair, and those with only uncertain
    ones (kept, not certain): one sort and one walk instead of four hash-based uniques."""
    order = np.argsort(codes)
    sure = np.empty(len(codes), dtype=np.int64)
    unsure = np.empty(len(codes), dtype=np.int64)
    n_sure = n_unsure = 0
    k = 0
    while k < len(order):
        code = codes[order[k]]
        any_certain = any_maybe = False
        while k < len(order) and codes[order[k]] == code:
            any_certain |= certain[order[k]]
            any_maybe |= maybe[order[k]]
            k += 1
        if any_certain:
            sure[n_sure] = code
            n_sure += 1
        elif any_maybe:
            unsure[n_unsure] = code
            n_unsure += 1
    return sure[:n_sure], unsure[:n_unsure]
