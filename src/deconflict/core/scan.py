"""A check's walk over the grid: the compiled loop that turns candidate rows into pairs.

Profiling W1 at a million declarations showed where a check's scan goes: rejecting one of
≈ 25,000 candidate rows on its packed record (:mod:`deconflict.core.prefilter`) costs
≈ 13 ns, but each of the ≈ 2,000 rows whose *box* meets the query's box then cost ≈ 900 ns
in :func:`deconflict.core.compiled._pair`, which reads fourteen columns (a cache miss each)
before it can say no. Two things keep that down here:

* **The corridor.** A query element is a route segment; its box is a poor stand-in for
  it (a diagonal 3 km leg has a 3 × 3 km box around a corridor 600 m wide). Before any
  column is read, the segment, cut to the instants the row's time reach allows, is measured
  against the row's box in a plane scaled by the *smallest* metres-per-degree over the
  query's box, so the measure can only be short, and shrunk by :data:`CORRIDOR_SHRINK`
  more. A row is rejected only if even that is beyond the query's margin, which already
  holds the largest separation, both buffers and both geodesic slacks.
* **One visit per pair.** A pair that survives gets both its bounds at once: the dropping
  bound (with the time slack) and the strict one (without, for certainty), while its columns
  are in cache, instead of a second pass over the survivors later.

Nothing here decides a conflict: every test only lets through more than the exact
narrow phase keeps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, prange

from deconflict.core import compiled, prefilter
from deconflict.core.elements import Elements
from deconflict.core.kernels import MAX_LAT, TIME_SLACK_S, Array

Any_ = Any

CORRIDOR_SHRINK = 0.98
"""The scaled-plane measure is shrunk by 2 % more before it may reject: over the few
kilometres that matter (the margin), plane and ellipsoid differ by far less."""
MIN_ROWS_PER_THREAD = 4096
"""Below this many candidate rows per thread, a second thread costs more than it saves."""
TIME_PAD_S = 2.0
"""Seconds added either side when cutting the query segment to a row's reach (the records'
seconds are already rounded outwards; this covers the query's own rounding)."""


def corridors(q: Elements, margin_m: Array) -> Array:
    """Per query element: origin lon/lat, the far end in the scaled plane, the scales, the
    reach in scaled metres, its times, and whether it is a segment (the corridor test
    applies to segments only; other elements keep the box test)."""
    _, south, _, north = prefilter.widened_box(q, margin_m)
    line: Array = _corridors(
        (q.ax, q.ay, q.bx, q.by, q.t0, q.t1, q.tol, q.seg), south, north, margin_m
    )
    return line


@njit(cache=True)
def _corridors(q: Any_, south: Any_, north: Any_, margin_m: Any_) -> Any_:
    ax, ay, bx, by, t0, t1, tol, seg = q
    out = np.empty((len(ax), 11))
    for k in range(len(ax)):
        worst = min(max(abs(south[k]), abs(north[k])), MAX_LAT)
        per_east = 0.0 if worst >= MAX_LAT else compiled._per_degree(worst)[0]
        per_north = prefilter.MIN_M_PER_DEG_LAT
        out[k, 0], out[k, 1] = ax[k], ay[k]
        out[k, 2] = (bx[k] - ax[k]) * per_east
        out[k, 3] = (by[k] - ay[k]) * per_north
        out[k, 4], out[k, 5] = per_east, per_north
        out[k, 6] = margin_m[k] / CORRIDOR_SHRINK
        out[k, 7], out[k, 8] = t0[k], t1[k]
        out[k, 9] = tol[k] + TIME_SLACK_S + TIME_PAD_S
        out[k, 10] = 1.0 if seg[k] else 0.0
    return out


@njit(cache=True, inline="always")
def _outside_corridor(line: Any_, i: int, row: Any_) -> bool:
    """Whether the query segment ``line[i]``, cut to the instants row's reach allows,
    stays farther than its margin from row's box (all in the scaled plane, see above)."""
    if line[i, 10] == 0.0:
        return False
    pad = line[i, 9]
    # Record seconds are clamped at ±LIMIT (68 years from ORIGIN_S): a clamped start or end
    # stands for an unbounded one, or the cut would drop rows that reach beyond 2091.
    first = -math.inf if row[0] <= -prefilter.LIMIT else row[0] + prefilter.ORIGIN_S - pad
    last = math.inf if row[1] >= prefilter.LIMIT else row[1] + prefilter.ORIGIN_S + pad
    lo, hi, fits = compiled._clip(line[i, 7], line[i, 8], first, last)
    if not fits:
        return True
    lon0, lat0, dx, dy, kx, ky = (
        line[i, 0],
        line[i, 1],
        line[i, 2],
        line[i, 3],
        line[i, 4],
        line[i, 5],
    )
    x0 = (row[2] * 1e-6 - lon0) * kx
    x1 = (row[4] * 1e-6 - lon0) * kx
    y0 = (row[3] * 1e-6 - lat0) * ky
    y1 = (row[5] * 1e-6 - lat0) * ky
    gap = compiled._segment_box(lo * dx, lo * dy, hi * dx, hi * dy, x0, y0, x1, y1)
    return bool(gap > line[i, 6])


def split(
    keys_owner: Any_, lo: Any_, hi: Any_, parts: int, min_rows: int = MIN_ROWS_PER_THREAD
) -> Any_:
    """Where to cut the query's keys into ``parts`` runs of about equal candidate rows,
    each cut at a change of query element (so that one element's rows are all walked by
    one thread, see :func:`scan`). Fewer runs if there is too little work to share."""
    cuts: Any_ = _split(keys_owner, lo, hi, parts, max(min_rows, 1))
    return cuts


@njit(cache=True)
def _split(keys_owner: Any_, lo: Any_, hi: Any_, parts: int, min_rows: int) -> Any_:
    total = 0
    for k in range(len(lo)):
        total += hi[k] - lo[k]
    parts = max(1, min(parts, total // min_rows))
    cuts = np.empty(parts + 1, dtype=np.int64)
    cuts[0] = 0
    n = 1
    done = 0
    k = 0
    for r in range(1, parts):
        target = total * r // parts
        while k < len(lo) and done + hi[k] - lo[k] < target:  # the key where r's share ends
            done += hi[k] - lo[k]
            k += 1
        at = k
        while 0 < at < len(lo) and keys_owner[at] == keys_owner[at - 1]:
            at += 1  # on to the next query element
        if cuts[n - 1] < at < len(lo):
            cuts[n] = at
            n += 1
    cuts[n] = len(lo)
    return cuts[: n + 1]


@njit(cache=True, parallel=True)
def scan(
    q: Any_,
    q_hot: Any_,
    q_line: Any_,
    keys_owner: Any_,
    lo: Any_,
    hi: Any_,
    cuts: Any_,
    grid_rows: Any_,
    s: Any_,
    s_hot: Any_,
    marks: Any_,
    stamp: int,
    largest: float,
    settle: Any_,
) -> tuple[Any_, Any_, Any_, Any_, Any_, Any_]:
    """Walk the grid ranges [lo[k], hi[k]) found for query keys k (owned by query element
    ``keys_owner[k]``) and keep the pairs whose lower bound is below S's upper bound, with
    (distance, error) for dropping and the strict (distance, error) for certainty.

    The keys are walked in the runs ``cuts`` gives (:func:`split`), one thread per run,
    each with its own row of ``marks`` and its own stretch of the output: a run never
    shares a query element with another, so its marks alone say which rows its elements
    have already met.

    ``settle`` (see :func:`no_settling`) lets a verdict skip the rest of a declaration's
    rows once one pair makes it a certain conflict (:func:`_settles`): ``settled[slot]``
    is set to ``stamp`` then, shared by the runs (a row that a run measures before another
    run's flag lands is measured needlessly, never missed).
    """
    runs = len(cuts) - 1
    first = np.zeros(runs + 1, dtype=np.int64)
    for r in range(runs):
        first[r + 1] = first[r]
        for k in range(cuts[r], cuts[r + 1]):
            first[r + 1] += hi[k] - lo[k]
    total = first[runs]
    out_q = np.empty(total, dtype=np.int64)
    out_r = np.empty(total, dtype=np.int64)
    out_d = np.empty(total)
    out_e = np.empty(total)
    out_sd = np.empty(total)
    out_se = np.empty(total)
    found = np.zeros(runs, dtype=np.int64)
    # (numba's parallel loops take arrays and scalars, not tuples of arrays: hence the
    # long argument lists of _walk.)
    for r in prange(runs):
        found[r] = _walk(
            q, q_hot, q_line, keys_owner, lo, hi, cuts[r], cuts[r + 1], grid_rows, s, s_hot,
            marks[r], stamp, largest, settle, first[r], out_q, out_r, out_d, out_e,
            out_sd, out_se,
        )  # fmt: skip
    n = found[0]
    for r in range(1, runs):  # close the gaps the runs left between their stretches
        for m in range(found[r]):
            at, to = first[r] + m, n + m
            out_q[to], out_r[to], out_d[to] = out_q[at], out_r[at], out_d[at]
            out_e[to], out_sd[to], out_se[to] = out_e[at], out_sd[at], out_se[at]
        n += found[r]
    return out_q[:n], out_r[:n], out_d[:n], out_e[:n], out_sd[:n], out_se[:n]


@compiled.reading
def _walk(
    q: Any_,
    q_hot: Any_,
    q_line: Any_,
    keys_owner: Any_,
    lo: Any_,
    hi: Any_,
    k0: int,
    k1: int,
    grid_rows: Any_,
    s: Any_,
    s_hot: Any_,
    marks: Any_,
    stamp: int,
    largest: float,
    settle: Any_,
    n: int,
    out_q: Any_,
    out_r: Any_,
    out_d: Any_,
    out_e: Any_,
    out_sd: Any_,
    out_se: Any_,
) -> int:
    """One run of :func:`scan`: keys ``k0`` to ``k1``, pairs written from ``n`` on.

    Each row first meets its packed record (times, box, party, declaration on one cache
    line) against the query element's, whose box is already widened by the largest
    separation, then the corridor. ``marks`` remembers, per store row, the last query
    element (``stamp + owner``) that looked at it, which removes the duplicates a row
    registered in several cells produces (a query element's keys are contiguous). A query
    element never meets its own declaration. Dead rows have an empty time interval. Returns how many pairs were written.
    """
    start = n
    qbuf, sbuf = q[7], s[7]
    settled = settle[0]
    settling = len(settled) > 0
    for k in range(k0, k1):
        i = keys_owner[k]
        q0, q1, qw, qs, qe, qn, qparty, qdecl = (
            q_hot[i, 0],
            q_hot[i, 1],
            q_hot[i, 2],
            q_hot[i, 3],
            q_hot[i, 4],
            q_hot[i, 5],
            q_hot[i, 6],
            q_hot[i, 7],
        )
        for p in range(lo[k], hi[k]):
            j = grid_rows[p]
            row = s_hot[j]
            if row[0] > q1 or row[1] < q0:
                continue
            if row[2] > qe or row[4] < qw or row[3] > qn or row[5] < qs:
                continue
            decl = row[7]
            if row[6] == qparty or decl == qdecl:
                continue
            if marks[j] == stamp + i:
                continue
            marks[j] = stamp + i
            if settling and settled[decl] == stamp:
                continue
            if _outside_corridor(q_line, i, row):
                continue
            limit = largest + qbuf[i] + sbuf[j]
            d, e, sd, se = compiled._pair_both(q, i, s, j, limit)
            if d - e < limit:
                out_q[n], out_r[n], out_d[n], out_e[n] = i, j, d, e
                out_sd[n], out_se[n] = sd, se
                n += 1
                if settling and sd < limit and _settles(settle, i, j, decl, sd, se, qbuf, sbuf):
                    settled[decl] = stamp
    return n - start


def no_settling() -> tuple[Any_, ...]:
    """The ``settle`` argument of :func:`scan` that measures every row: callers that need
    every pair (the self-join's timeless rows, the benchmark's phases)."""
    empty, none = np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.bool_)
    nowhere = np.zeros(0)
    return (empty, none, none, nowhere, nowhere, nowhere, nowhere, np.zeros(5))


@njit(cache=True, inline="always")
def _settles(
    settle: Any_, i: int, j: int, slot: int, sd: float, se: float, qbuf: Any_, sbuf: Any_
) -> bool:
    """Whether the pair (query element i, store row j of declaration ``slot``), measured
    strictly at ``sd`` ± ``se``, makes the declaration a certain conflict: both elements
    exact and :func:`deconflict.core.compiled.certainly_within` with the verdict's own
    certainty factor and the *smallest* separation any rule gives the probe, so that the
    verdict, judging this pair with its real (never smaller) separation, calls it certain
    too (:func:`deconflict.core.narrow.judge_probe_pairs`).

    ``settle`` = (settled per slot, query exact, store exact, the slots' west, south, east,
    north, and the probe's west, south, east, north and smallest rule; all arrays, as numba's
    parallel loops need)."""
    _, q_exact, s_exact, west, south, east, north, probe = settle
    if not (q_exact[i] and s_exact[j]):
        return False
    factor = compiled.certain_factor_of(
        min(west[slot], probe[0]), min(south[slot], probe[1]), max(east[slot], probe[2]),
        max(north[slot], probe[3]),
    )  # fmt: skip
    return compiled.certainly_within(sd, se, factor, probe[4] + qbuf[i] + sbuf[j])
