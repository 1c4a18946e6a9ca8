"""The first test a candidate row meets: one packed 32-byte record per element.

At a million declarations the grid hands a check some 25,000 candidate rows, and profiling
showed the compiled scan spending about 700 ns on each: every test (alive? same party?
overlapping times? near enough?) read another column of a 300 MB struct of arrays, and each
read was a cache miss. Here everything those first tests need is packed into one ``int32``
row of eight values, so rejecting a row costs one cache line:

====  ==============================================================================
0, 1  earliest and latest instant the element can be anywhere, whole seconds from
      :data:`ORIGIN_S`, rounded outwards (a dead row gets an empty interval)
2–5   west, south, east, north of its box widened by a margin, in micro-degrees,
      rounded outwards
6, 7  party code and declaration slot
====  ==============================================================================

Rounding outwards only ever widens what a row may touch, so the prefilter keeps every pair
the exact narrow phase would keep; it decides nothing on its own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from deconflict.core import compiled
from deconflict.core.elements import Elements
from deconflict.core.kernels import MAX_LAT, Array

ORIGIN_S = 1_700_000_000.0
"""Epoch seconds at which record times start (November 2023); int32 seconds reach 68 years
either side, and anything beyond is clamped to the ends, which only widens it."""

LIMIT = 2**31 - 2
MICRO = 1e6
MIN_M_PER_DEG_LAT = 110_574.0
"""The fewest metres in a degree of latitude (at the equator), so widening by it is generous."""

Records = np.ndarray[Any, np.dtype[np.int32]]


def widened_box(elems: Elements, margin_m: Array) -> tuple[Array, Array, Array, Array]:
    """Each element's lon/lat box grown by ``margin_m`` metres, generously.

    Degrees of longitude shrink towards the poles, so the widening in longitude uses the
    highest latitude the grown box reaches; near the poles it covers every longitude.
    """
    margin = np.broadcast_to(np.asarray(margin_m, dtype=np.float64), (len(elems),))
    box: tuple[Array, Array, Array, Array] = _widened(
        elems.ax, elems.ay, elems.bx, elems.by, np.ascontiguousarray(margin)
    )
    return box


@njit(cache=True)
def _widened(ax: Any, ay: Any, bx: Any, by: Any, margin: Any) -> tuple[Any, Any, Any, Any]:
    # One compiled loop rather than a dozen numpy passes: for a check's fifty elements the
    # passes' fixed cost was most of the time.
    n = len(ax)
    west, south, east, north = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    for k in range(n):
        dlat = margin[k] / MIN_M_PER_DEG_LAT
        lo_lat, hi_lat = min(ay[k], by[k]), max(ay[k], by[k])
        worst = min(max(abs(lo_lat), abs(hi_lat)) + dlat, MAX_LAT)
        dlon = 360.0
        if worst < MAX_LAT:
            dlon = margin[k] / compiled._per_degree(worst)[0]
        west[k] = max(min(ax[k], bx[k]) - dlon, -180.0)
        south[k] = max(lo_lat - dlat, -90.0)
        east[k] = min(max(ax[k], bx[k]) + dlon, 180.0)
        north[k] = min(hi_lat + dlat, 90.0)
    return west, south, east, north


@njit(cache=True, inline="always")
def _seconds(value: float, up: bool) -> float:
    shifted = value - ORIGIN_S
    rounded = math.ceil(shifted) + 1.0 if up else math.floor(shifted) - 1.0
    if math.isnan(rounded):
        return 0.0
    return min(max(rounded, -LIMIT), LIMIT)


@njit(cache=True, inline="always")
def _micro(value: float, up: bool) -> float:
    scaled = value * MICRO
    return math.ceil(scaled) + 1.0 if up else math.floor(scaled) - 1.0


def records(
    elems: Elements,
    margin_m: Array,
    time_slack_s: float = 0.0,
) -> Records:
    """The packed rows of ``elems``, boxes widened by ``margin_m`` and times by the slack."""
    west, south, east, north = widened_box(elems, margin_m)
    out: Records = _pack(
        elems.t0 - elems.tol - time_slack_s,
        elems.t1 + elems.tol + time_slack_s,
        (west, south, east, north),
        elems.party,
        elems.decl,
    )
    return out


@njit(cache=True)
def _pack(first: Any, last: Any, box: Any, party: Any, decl: Any) -> Any:
    west, south, east, north = box
    out = np.empty((len(first), 8), dtype=np.int32)
    for k in range(len(first)):
        out[k, 0] = _seconds(first[k], False)
        out[k, 1] = _seconds(last[k], True)
        out[k, 2] = _micro(west[k], False)
        out[k, 3] = _micro(south[k], False)
        out[k, 4] = _micro(east[k], True)
        out[k, 5] = _micro(north[k], True)
        out[k, 6] = party[k]
        out[k, 7] = decl[k]
    return out


def kill(rows: Records, start: int, stop: int) -> None:
    """Give rows an empty time interval, so that no query passes their first test."""
    rows[start:stop, 0] = LIMIT
    rows[start:stop, 1] = -LIMIT
