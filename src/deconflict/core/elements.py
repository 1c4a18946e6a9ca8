"""Activities cut into index elements, as columns of numpy arrays.

The indexed engine does not index whole declarations: a route of 50 vertices crossing the
whole region has a bounding box that overlaps everything, so it is cut into its segments,
each with its own box and its own time span. A site or area becomes one element per polygon
part (or point), with the lon/lat box of that part and the declaration's window. Elements
are kept as a struct of arrays so that the narrow phase can work on thousands at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import shapely

from deconflict.core.declarations import Activity, Kind
from deconflict.core.kernels import Array, Mask, segment_slack

IntArray = np.ndarray[Any, np.dtype[np.int64]]
CodeArray = np.ndarray[Any, np.dtype[np.integer[Any]]]
"""Party codes and declaration slots: int32 in the store (a million rows, half the memory)."""

NO_BAND = (-math.inf, math.inf)
"""A missing altitude band: from the surface up, which meets every band."""


@dataclass
class Elements:
    """Segments (``seg``) from (ax, ay) to (bx, by), timed t0 → t1 with tolerance ``tol``; or
    boxes [ax, bx] × [ay, by] active over [t0, t1] (t1 = inf when open-ended, ``tol`` = 0).

    ``exact`` says the element is the declared geometry itself (a segment or a point), not a
    box around it, so a distance measured to it is the real one. ``decl`` is the slot of the
    declaration it belongs to.
    """

    ax: Array
    ay: Array
    bx: Array
    by: Array
    t0: Array
    t1: Array
    tol: Array
    buf: Array
    alo: Array
    ahi: Array
    slack: Array
    party: CodeArray
    decl: CodeArray
    seg: Mask
    exact: Mask

    def __len__(self) -> int:
        return len(self.ax)

    def take(self, index: Any) -> Elements:
        return Elements(*(getattr(self, f.name)[index] for f in fields(self)))

    @staticmethod
    def concat(parts: list[Elements]) -> Elements:
        return Elements(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Elements))
        )

    def empty_like(self, capacity: int) -> Elements:
        """Room for ``capacity`` elements of these dtypes, *row-major*: every column is a
        view into one structured array, so one element's fields share a cache line or two.

        The index's store is this: the narrow phase reads some twelve fields of a few
        thousand scattered rows per check, and as separate columns each read was its own
        cache miss (≈ 1 µs per pair at a million declarations). Numpy and the compiled
        kernels read the strided views as they read plain columns.
        """
        layout = np.dtype([(f.name, getattr(self, f.name).dtype) for f in fields(self)], align=True)
        rows = np.empty(capacity, dtype=layout)
        return Elements(*(rows[f.name] for f in fields(self)))

    def put(self, at: int, other: Elements) -> None:
        """Copy ``other`` into rows ``at`` onwards (the caller has made room)."""
        for f in fields(self):
            getattr(self, f.name)[at : at + len(other)] = getattr(other, f.name)

    def reach(self) -> tuple[Array, Array]:
        """The earliest and latest instants each element can be anywhere."""
        return self.t0 - self.tol, self.t1 + self.tol

    def bounds(self) -> tuple[Array, Array, Array, Array]:
        """lon/lat box: west, south, east, north."""
        return (
            np.minimum(self.ax, self.bx),
            np.minimum(self.ay, self.by),
            np.maximum(self.ax, self.bx),
            np.maximum(self.ay, self.by),
        )


def of_activities(
    activities: list[Activity],
    party: IntArray,
    decl: IntArray,
) -> tuple[Elements, IntArray]:
    """The elements of a batch of activities, grouped by activity, and how many each has.

    ``party`` and ``decl`` are the codes to stamp on each activity's elements. Geometry is
    taken apart with shapely's array functions, so a batch of a million costs seconds, not
    minutes.
    """
    n = len(activities)
    moving = np.array([a.kind is Kind.movement for a in activities], dtype=bool)
    tol = np.array([a.tolerance_s for a in activities], dtype=np.float64)
    buf = np.array([a.buffer_m for a in activities], dtype=np.float64)
    bands = [a.altitude or NO_BAND for a in activities]
    alo = np.array([b[0] for b in bands], dtype=np.float64)
    ahi = np.array([b[1] for b in bands], dtype=np.float64)
    geoms = np.array([a.geometry for a in activities], dtype=object)
    parts: list[Elements] = []
    owners: list[IntArray] = []

    mov = np.flatnonzero(moving)
    if len(mov):
        coords, idx = shapely.get_coordinates(geoms[mov], return_index=True)
        times = np.concatenate([activities[i].times for i in mov])
        same = idx[:-1] == idx[1:]
        start = np.flatnonzero(same)
        owner = mov[idx[start]]
        ax, ay = coords[start, 0], coords[start, 1]
        bx, by = coords[start + 1, 0], coords[start + 1, 1]
        parts.append(
            Elements(
                ax,
                ay,
                bx,
                by,
                times[start],
                times[start + 1],
                tol[owner],
                buf[owner],
                alo[owner],
                ahi[owner],
                segment_slack(ax, ay, bx, by),
                party[owner],
                decl[owner],
                np.ones(len(start), dtype=bool),
                np.ones(len(start), dtype=bool),
            )
        )
        owners.append(owner)

    places = np.flatnonzero(~moving)
    if len(places):
        pieces, idx = shapely.get_parts(geoms[places], return_index=True)
        owner = places[idx]
        box = shapely.bounds(pieces)
        point = shapely.get_type_id(pieces) == 0
        start_t = np.array([activities[i].start for i in places], dtype=np.float64)[idx]
        end_t = np.array(
            [math.inf if activities[i].end is None else activities[i].end for i in places],
            dtype=np.float64,
        )[idx]
        parts.append(
            Elements(
                box[:, 0],
                box[:, 1],
                box[:, 2],
                box[:, 3],
                start_t,
                end_t,
                np.zeros(len(owner)),
                buf[owner],
                alo[owner],
                ahi[owner],
                np.full(len(owner), 0.5),
                party[owner],
                decl[owner],
                np.zeros(len(owner), dtype=bool),
                point,
            )
        )
        owners.append(owner)

    if not parts:
        return _empty(), np.zeros(n, dtype=np.int64)
    merged = Elements.concat(parts) if len(parts) > 1 else parts[0]
    merged.party = merged.party.astype(np.int32)
    merged.decl = merged.decl.astype(np.int32)
    owner_all = np.concatenate(owners) if len(owners) > 1 else owners[0]
    counts = np.bincount(owner_all, minlength=n).astype(np.int64)
    if np.all(owner_all[1:] >= owner_all[:-1]):  # one kind only (a check's probe): in order
        return merged, counts
    return merged.take(np.argsort(owner_all, kind="stable")), counts


def _empty() -> Elements:
    f = np.zeros(0, dtype=np.float64)
    i = np.zeros(0, dtype=np.int32)
    b = np.zeros(0, dtype=bool)
    return Elements(f, f, f, f, f, f, f, f, f, f, f, i, i, b, b)
