"""The per-slot columns of :class:`~deconflict.core.activity_store.ActivityStore`: their
names, types and the value an empty slot holds.

Kept apart from the store so that the store's module stays readable; what each column holds,
and why most are narrower than float64, is said next to it in :class:`Columns`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from deconflict.core.declarations import Kind

AnyArray = np.ndarray[Any, Any]

KINDS: tuple[Kind, ...] = (Kind.site, Kind.area, Kind.movement)
"""Kind codes: the index in this tuple."""
KIND_CODE: dict[str, int] = {kind: code for code, kind in enumerate(KINDS)}

NO_ALTITUDE, OPEN_ENDED, TIMED, LOOSE_TIMES = 1, 2, 4, 8
"""Bits of the ``flags`` column: altitude is None; end is None; times is not None; times are
kept aside (their count differs from the vertex count, which a valid movement never does)."""


class Columns(NamedTuple):
    """Per-slot columns: views of the first ``size`` entries, valid until the next put,
    remove or compact. Empty slots have ``kind`` −1."""

    kind: AnyArray  # int8: index into KINDS
    gtype: AnyArray  # int8: POINT, LINESTRING, POLYGON, MULTIPOLYGON or OTHER
    flags: AnyArray  # uint8: NO_ALTITUDE | OPEN_ENDED | TIMED | LOOSE_TIMES
    version: AnyArray  # int64
    party: AnyArray  # int32: index into party_names
    category: AnyArray  # int16: index into category_names (0 is None)
    start: AnyArray  # float64, epoch seconds
    end: AnyArray  # float64, inf when open-ended
    tolerance: AnyArray  # float64, seconds
    buffer: AnyArray  # float64, metres
    alo: AnyArray  # float64, -inf without an altitude band
    ahi: AnyArray  # float64, inf without an altitude band
    west: AnyArray  # float64: the lon/lat box of the geometry
    south: AnyArray
    east: AnyArray
    north: AnyArray
    coord_start: AnyArray  # int32: first vertex in xs/ys
    coord_count: AnyArray  # int32: number of vertices (every ring's closing one included)
    times_start: AnyArray  # int32: first time in the times array, when TIMED and not LOOSE
    part_start: AnyArray  # int32: the slot's block in RingView.struct; -1 unless polygonal


NAN = math.nan
DTYPES: dict[str, tuple[type[np.generic], float]] = {
    "kind": (np.int8, -1),
    "gtype": (np.int8, -1),
    "flags": (np.uint8, 0),
    "version": (np.int64, 0),
    "party": (np.int32, -1),
    "category": (np.int16, 0),
    "start": (np.float64, NAN),
    "end": (np.float64, NAN),
    "tolerance": (np.float64, NAN),
    "buffer": (np.float64, NAN),
    "alo": (np.float64, NAN),
    "ahi": (np.float64, NAN),
    "west": (np.float64, NAN),
    "south": (np.float64, NAN),
    "east": (np.float64, NAN),
    "north": (np.float64, NAN),
    "coord_start": (np.int32, 0),
    "coord_count": (np.int32, 0),
    "times_start": (np.int32, -1),
    "part_start": (np.int32, -1),
}
assert tuple(DTYPES) == Columns._fields
SCALARS = tuple(DTYPES)[: tuple(DTYPES).index("north") + 1]
"""The columns a put writes from the activity's own fields, in this order."""
CLEARED = ("kind", "gtype", "party", "times_start", "part_start", "coord_count")
"""Columns reset when a slot is emptied, so an empty slot never points into the flat arrays."""
