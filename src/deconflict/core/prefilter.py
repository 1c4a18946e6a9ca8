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

from typing import Any

import numpy as np

from deconflict.core.elements import Elements
from deconflict.core.kernels import MAX_LAT, Array, metres_per_degree

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
    west, south, east, north = elems.bounds()
    dlat = margin_m / MIN_M_PER_DEG_LAT
    worst = np.minimum(np.maximum(np.abs(south), np.abs(north)) + dlat, MAX_LAT)
    per_east, _ = metres_per_degree(worst)
    dlon = np.where(worst >= MAX_LAT, 360.0, margin_m / per_east)
    return (
        np.maximum(west - dlon, -180.0),
        np.maximum(south - dlat, -90.0),
        np.minimum(east + dlon, 180.0),
        np.minimum(north + dlat, 90.0),
    )


def _seconds(values: Array, up: bool) -> Array:
    shifted = values - ORIGIN_S
    rounded = np.ceil(shifted) + 1.0 if up else np.floor(shifted) - 1.0
    clean = np.where(np.isnan(rounded), 0.0, rounded)
    return np.clip(clean, -LIMIT, LIMIT)


def _micro(values: Array, up: bool) -> Array:
    scaled = values * MICRO
    return np.ceil(scaled) + 1.0 if up else np.floor(scaled) - 1.0


def records(
    elems: Elements,
    margin_m: Array,
    time_slack_s: float = 0.0,
) -> Records:
    """The packed rows of ``elems``, boxes widened by ``margin_m`` and times by the slack."""
    first, last = elems.reach()
    west, south, east, north = widened_box(elems, margin_m)
    out = np.empty((len(elems), 8), dtype=np.int32)
    out[:, 0] = _seconds(first - time_slack_s, up=False)
    out[:, 1] = _seconds(last + time_slack_s, up=True)
    out[:, 2] = _micro(west, up=False)
    out[:, 3] = _micro(south, up=False)
    out[:, 4] = _micro(east, up=True)
    out[:, 5] = _micro(north, up=True)
    out[:, 6] = elems.party
    out[:, 7] = elems.decl
    return out


def kill(rows: Records, start: int, stop: int) -> None:
    """Give rows an empty time interval, so that no query passes their first test."""
    rows[start:stop, 0] = LIMIT
    rows[start:stop, 1] = -LIMIT
