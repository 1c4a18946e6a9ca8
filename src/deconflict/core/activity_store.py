"""A compact, slot-addressed store of activities, so that a million fit in the memory budget.

A million :class:`~deconflict.core.declarations.Activity` objects (a dataclass with a shapely
geometry, a numpy times array and a few strings each) take about 1 GB resident
(docs/performance.md, W4), the whole budget of DESIGN §7 before any index. The engine needs a
whole activity only rarely: for the few pairs that go to the exact ``find_encounter``, for
``check``'s survivors, to report ids, and for the rings of a polygon part. So activities are
kept here as columns instead of objects:

* one numpy array per numeric field, indexed by *slot* (a small integer the engine assigns);
* coordinates as two flat float64 arrays (``xs``, ``ys``) with a start and a count per slot
  (CSR), movement times likewise in a flat array of their own, and the ring and part
  structure of polygons as a few small int32 offsets per polygon (see :class:`RingView`), so
  a compiled kernel can walk the rings of one polygon part without Python;
* party and category names interned as small codes; declaration ids as UTF-8 bytes in one
  flat array, with a hash table to find a slot by id (:class:`~deconflict.core.id_table.IdTable`:
  a ``str`` per slot and a dict of them would cost ≈ 110 MB at a million).

Replacing or removing a slot leaves its old coordinates behind as dead space;
:meth:`ActivityStore.compact` packs the flat arrays again (slots keep their numbers).
:meth:`ActivityStore.get` rebuilds an activity equal to the one stored: same fields, same
geometry type, coordinates bit for bit, ring order and orientation included. Geometries a
declaration cannot have (3-D, empty, collections, ...) are kept aside as objects, so they
round-trip too, but have no coordinates in the flat arrays.
"""

from __future__ import annotations

import gc
import math
import operator
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from shapely.geometry.base import BaseGeometry

from deconflict.core.declarations import Activity
from deconflict.core.flat_shapes import (
    OTHER,
    Pool,
    RingView,
    assemble_many,
    assemble_one,
    decompose,
    decompose_one,
    ring_offsets,
)
from deconflict.core.id_table import IdColumn, IdTable
from deconflict.core.store_columns import (
    CLEARED,
    DTYPES,
    KIND_CODE,
    KINDS,
    LOOSE_TIMES,
    NO_ALTITUDE,
    OPEN_ENDED,
    SCALARS,
    TIMED,
    Columns,
)

Array = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
Slots = Sequence[int] | np.ndarray[Any, np.dtype[np.integer[Any]]]
"""Slots as a caller has them: a list, or an array of any integer type."""
AnyArray = np.ndarray[Any, Any]

_FIELDS = operator.attrgetter(
    "declaration_id",
    "version",
    "party_id",
    "kind",
    "geometry",
    "start",
    "end",
    "times",
    "tolerance_s",
    "buffer_m",
    "altitude",
    "category",
)
"""Every field of an Activity, read in one call per activity."""
BATCH = 65_536
"""Activities taken apart at once by put_many."""


class ActivityStore:
    """Activities by slot, as columns and flat arrays (see the module docstring)."""

    def __init__(self) -> None:
        self._size = 0
        self._live = 0
        self._col: dict[str, AnyArray] = {
            name: np.zeros(0, dtype=dtype) for name, (dtype, _) in DTYPES.items()
        }
        self._ids = IdTable()
        self._coords = Pool(np.float64, np.float64)
        self._times = Pool(np.float64)
        self._struct = Pool(np.int32)
        self._party_names: list[str] = []
        self._party_codes: dict[str, int] = {}
        self._category_names: list[str | None] = [None]
        self._category_codes: dict[str | None, int] = {None: 0}
        self._other_geometry: dict[int, BaseGeometry] = {}
        self._loose_times: dict[int, Array] = {}

    # --- size and names --------------------------------------------------------------------

    def __len__(self) -> int:
        """The number of occupied slots."""
        return self._live

    @property
    def size(self) -> int:
        """One more than the highest slot ever put: the length of every column."""
        return self._size

    def __contains__(self, slot: object) -> bool:
        if not isinstance(slot, int | np.integer):
            return False
        return bool(0 <= slot < self._size and self._col["kind"][slot] >= 0)

    def slots(self) -> IntArray:
        """The occupied slots, ascending."""
        return np.flatnonzero(self._col["kind"][: self._size] >= 0)

    @property
    def ids(self) -> IdColumn:
        """Declaration id per slot (None when empty), a read-only sequence; each read builds
        the ``str`` anew."""
        return IdColumn(self._ids, self._size)

    def ids_of(self, slots: IntArray) -> list[str | None]:
        """The ids at these slots, decoded together: for a check's few hundred answers,
        slot-by-slot reads through :attr:`ids` cost a microsecond each."""
        return self._ids.get_many(slots)

    def slot_of(self, declaration_id: str) -> int:
        """The slot holding this declaration id, or −1 (if several do, one of them)."""
        return self._ids.find(declaration_id)

    @property
    def party_names(self) -> list[str]:
        """Party id per party code (read only)."""
        return self._party_names

    @property
    def category_names(self) -> list[str | None]:
        """Category per category code; code 0 is None (read only)."""
        return self._category_names

    def party_code(self, party_id: str) -> int:
        """The code of a party, assigned on first sight (so queries can use it too)."""
        code = self._party_codes.get(party_id)
        if code is None:
            code = self._party_codes[party_id] = len(self._party_names)
            self._party_names.append(party_id)
        return code

    def category_code(self, category: str | None) -> int:
        """The code of a category, assigned on first sight; None is 0."""
        code = self._category_codes.get(category)
        if code is None:
            code = len(self._category_names)
            if code > np.iinfo(np.int16).max:
                raise ValueError("more categories than an int16 code can hold")
            self._category_codes[category] = code
            self._category_names.append(category)
        return code

    # --- writing ---------------------------------------------------------------------------

    def put(self, slot: int, activity: Activity) -> None:
        """Store ``activity`` at ``slot``, replacing whatever was there.

        One activity (an amendment) is written field by field with scalar writes: the batch
        path would pay for some hundred numpy calls. Both paths store the same values.
        """
        slot = int(slot)
        if slot < 0:
            raise ValueError("slots are non-negative")
        act = activity
        shapes = decompose_one(act.geometry)
        gtype, count = int(shapes.gtype[0]), int(shapes.coord_count[0])
        times = act.times
        loose = times is not None and (gtype == OTHER or len(times) != count)
        flags = (
            NO_ALTITUDE * (act.altitude is None)
            | OPEN_ENDED * (act.end is None)
            | TIMED * (times is not None)
            | LOOSE_TIMES * loose
        )
        band = act.altitude or (-math.inf, math.inf)
        end = math.inf if act.end is None else act.end
        # Every conversion that can fail comes before the first write.
        values: tuple[Any, ...] = (KIND_CODE[act.kind], gtype, flags, np.int64(act.version))
        values += (self.party_code(act.party_id), self.category_code(act.category))
        values += tuple(map(float, (act.start, end, act.tolerance_s, act.buffer_m, *band)))
        bounds = shapes.bounds[0].tolist()
        values += tuple(bounds)
        self._grow(slot + 1)
        col = self._col
        if col["kind"][slot] >= 0:
            self._release_one(slot)
        for name, value in zip(SCALARS, values, strict=True):
            col[name][slot] = value
        at = self._coords.reserve(count)
        xs, ys = self._coords.arrays
        xs[at : at + count], ys[at : at + count] = shapes.xs, shapes.ys
        col["coord_start"][slot], col["coord_count"][slot] = at, count
        col["times_start"][slot] = -1
        if times is not None and not loose:
            at = self._times.reserve(count)
            self._times.arrays[0][at : at + count] = times
            col["times_start"][slot] = at
        col["part_start"][slot] = -1
        if len(shapes.struct):
            at = self._struct.reserve(len(shapes.struct))
            self._struct.arrays[0][at : at + len(shapes.struct)] = shapes.struct
            col["part_start"][slot] = at
        self._ids.set(slot, act.declaration_id)
        if gtype == OTHER:
            self._other_geometry[slot] = act.geometry
        if loose:
            self._loose_times[slot] = np.array(times, dtype=np.float64)
        self._live += 1

    def put_many(self, slots: Slots, activities: Iterable[Activity]) -> None:
        """Store each activity at its slot (slots distinct), replacing what was there.

        Geometry is taken apart with shapely's array functions and every field is read once
        per activity, in batches of ``BATCH`` (which bounds the memory this needs on the
        way), so a million take seconds.
        """
        acts = list(activities)
        where = np.asarray(slots, dtype=np.int64).reshape(-1)
        n = len(acts)
        if len(where) != n:
            raise ValueError(f"{len(where)} slots for {n} activities")
        if n == 0:
            return
        if where.min() < 0:
            raise ValueError("slots are non-negative")
        if np.bincount(where).max() > 1:
            raise ValueError("a slot appears twice in one batch")
        if n == 1:
            self.put(int(where[0]), acts[0])
            return
        self._grow(int(where.max()) + 1)
        for at in range(0, n, BATCH):
            self._put_batch(where[at : at + BATCH], acts[at : at + BATCH])
        if n > BATCH:  # a bulk load: give back what growing by half again left unused
            self.trim()

    def trim(self) -> None:
        """Shrink every array to its contents (without packing out dead entries): for the
        end of a bulk load made of many put_many calls, each of which may have grown the
        arrays by half again."""
        for name, array in self._col.items():
            if len(array) > self._size:
                self._col[name] = array[: self._size].copy()
        for pool in (self._coords, self._times, self._struct):
            pool.arrays = [a[: pool.used].copy() if len(a) > pool.used else a for a in pool.arrays]
        self._ids.trim(self._size)

    def _put_batch(self, where: IntArray, acts: list[Activity]) -> None:
        """Everything is read and converted before the first write, so a bad activity
        leaves the store as it was."""
        n = len(acts)
        enabled = gc.isenabled()
        gc.disable()  # a million fresh tuples would set off full collections of the heap
        try:
            fields = list(zip(*map(_FIELDS, acts), strict=True))
        finally:
            if enabled:
                gc.enable()
        ids, versions, parties, kinds, geometries, starts = fields[:6]
        ends, times, tolerances, buffers, bands, categories = fields[6:]
        geoms = np.empty(n, dtype=object)
        geoms[:] = geometries
        shapes = decompose(geoms)
        no_band = np.array([b is None for b in bands], dtype=bool)
        open_ended = np.array([e is None for e in ends], dtype=bool)
        n_times = np.array([-1 if t is None else len(t) for t in times], dtype=np.int64)
        timed = n_times >= 0
        loose = timed & ((n_times != shapes.coord_count) | (shapes.gtype == OTHER))
        tight = np.flatnonzero(timed & ~loose)
        flags = (
            no_band * NO_ALTITUDE + open_ended * OPEN_ENDED + timed * TIMED + loose * LOOSE_TIMES
        ).astype(np.uint8)
        for party in dict.fromkeys(parties):  # intern new names in order of appearance
            self.party_code(party)
        for category in dict.fromkeys(categories):
            self.category_code(category)
        values: dict[str, AnyArray] = {
            "kind": np.array(list(map(KIND_CODE.__getitem__, kinds)), dtype=np.int8),
            "gtype": shapes.gtype,
            "flags": flags,
            "version": np.array(versions, dtype=np.int64),
            "party": np.array(list(map(self._party_codes.__getitem__, parties)), dtype=np.int32),
            "category": np.array(
                list(map(self._category_codes.__getitem__, categories)), dtype=np.int16
            ),
            "start": np.array(starts, dtype=np.float64),
            "end": np.array([math.inf if e is None else e for e in ends], dtype=np.float64),
            "tolerance": np.array(tolerances, dtype=np.float64),
            "buffer": np.array(buffers, dtype=np.float64),
            "alo": np.array([-math.inf if b is None else b[0] for b in bands], dtype=np.float64),
            "ahi": np.array([math.inf if b is None else b[1] for b in bands], dtype=np.float64),
            **dict(zip(("west", "south", "east", "north"), shapes.bounds.T, strict=True)),
            "coord_count": shapes.coord_count,
        }
        flat_times = (
            np.concatenate([times[i] for i in tight.tolist()]).astype(np.float64, copy=False)
            if len(tight)
            else np.zeros(0)
        )

        col = self._col  # put_many has grown the columns
        occupied = where[col["kind"][where] >= 0]
        if len(occupied):
            self._release(occupied)
        for name, value in values.items():
            col[name][where] = value

        at = self._coords.reserve(len(shapes.xs))
        xs, ys = self._coords.arrays
        xs[at : at + len(shapes.xs)] = shapes.xs
        ys[at : at + len(shapes.ys)] = shapes.ys
        col["coord_start"][where] = at + np.cumsum(shapes.coord_count) - shapes.coord_count

        at = self._times.reserve(len(flat_times))
        self._times.arrays[0][at : at + len(flat_times)] = flat_times
        counts = shapes.coord_count[tight]
        col["times_start"][where] = -1
        col["times_start"][where[tight]] = at + np.cumsum(counts) - counts

        at = self._struct.reserve(len(shapes.struct))
        self._struct.arrays[0][at : at + len(shapes.struct)] = shapes.struct
        blocks = at + np.cumsum(shapes.struct_len) - shapes.struct_len
        col["part_start"][where] = np.where(shapes.struct_len > 0, blocks, -1)

        self._ids.set_many(where, ids)
        for i in np.flatnonzero(shapes.gtype == OTHER).tolist():
            self._other_geometry[int(where[i])] = geoms[i]
        for i in np.flatnonzero(loose).tolist():
            self._loose_times[int(where[i])] = np.array(times[i], dtype=np.float64)
        self._live += n

    def remove(self, slot: int) -> None:
        """Empty a slot; its flat space becomes dead until :meth:`compact`."""
        self._require(slot)
        self._release_one(int(slot))
        self._ids.remove(int(slot))

    def _grow(self, size: int) -> None:
        if size <= self._size:
            return
        capacity = len(self._col["kind"])
        if size > capacity:
            capacity = max(size, capacity + capacity // 2, 1024)
            for name, old in self._col.items():
                grown = np.empty(capacity, dtype=old.dtype)
                grown[: self._size] = old[: self._size]
                self._col[name] = grown
            self._ids.resize(capacity, self._size)
        for name, (_, empty) in DTYPES.items():
            self._col[name][self._size : size] = empty
        self._size = size

    def _block_lengths(self, part_start: IntArray) -> IntArray:
        """Length of each polygon block starting at these offsets: P + R + 3."""
        struct = self._struct.arrays[0]
        n_parts = struct[part_start].astype(np.int64)
        lengths: IntArray = n_parts + struct[part_start + 1 + n_parts] + 3
        return lengths

    def _release(self, slots: IntArray) -> None:
        """Forget occupied slots, counting their flat entries as dead. Their ids stay, for
        the put that follows to replace (most often by the same id: nothing to do)."""
        col = self._col
        flags = col["flags"][slots]
        counts = col["coord_count"][slots].astype(np.int64)
        self._coords.dead += int(counts.sum())
        tight = (flags & TIMED != 0) & (flags & LOOSE_TIMES == 0)
        self._times.dead += int(counts[tight].sum())
        blocks = col["part_start"][slots]
        self._struct.dead += int(self._block_lengths(blocks[blocks >= 0]).sum())
        for slot in slots[(col["gtype"][slots] == OTHER) | (flags & LOOSE_TIMES != 0)].tolist():
            self._other_geometry.pop(slot, None)
            self._loose_times.pop(slot, None)
        for name in CLEARED:
            col[name][slots] = DTYPES[name][1]
        self._live -= len(slots)

    def _release_one(self, slot: int) -> None:
        """:meth:`_release` of one slot, with scalar reads and writes."""
        col = self._col
        flags, count = int(col["flags"][slot]), int(col["coord_count"][slot])
        self._coords.dead += count
        if flags & TIMED and not flags & LOOSE_TIMES:
            self._times.dead += count
        block = int(col["part_start"][slot])
        if block >= 0:
            struct = self._struct.arrays[0]
            self._struct.dead += int(struct[block]) + int(struct[block + 1 + struct[block]]) + 3
        self._other_geometry.pop(slot, None)
        self._loose_times.pop(slot, None)
        for name in CLEARED:
            col[name][slot] = DTYPES[name][1]
        self._live -= 1

    def compact(self) -> None:
        """Pack the flat arrays (dropping what removed and replaced slots left behind) and
        trim every array to its contents. Slots keep their numbers; views handed out before
        (columns(), rings()) are stale afterwards."""
        self.trim()
        col = self._col
        live = col["kind"] >= 0
        flags = col["flags"]
        counts = col["coord_count"].astype(np.int64)
        with_coords = np.flatnonzero(live & (counts > 0))
        col["coord_start"][with_coords] = self._coords.pack(
            col["coord_start"][with_coords], counts[with_coords]
        )
        tight = np.flatnonzero(live & (flags & TIMED != 0) & (flags & LOOSE_TIMES == 0))
        col["times_start"][tight] = self._times.pack(col["times_start"][tight], counts[tight])
        polygonal = np.flatnonzero(live & (col["part_start"] >= 0))
        blocks = col["part_start"][polygonal]
        col["part_start"][polygonal] = self._struct.pack(blocks, self._block_lengths(blocks))
        self._ids.compact()

    def dead_fraction(self) -> float:
        """The share of the flat coordinate space left dead by removes and replacements."""
        return self._coords.dead / max(1, self._coords.used)

    # --- reading ---------------------------------------------------------------------------

    def _require(self, slot: int) -> None:
        if slot not in self:
            raise KeyError(f"slot {slot} is empty")

    def columns(self) -> Columns:
        """Every per-slot column (views; see :class:`Columns`)."""
        n = self._size
        return Columns(*(self._col[name][:n] for name in Columns._fields))

    def rings(self) -> RingView:
        """The flat vertex arrays and polygon blocks, for compiled kernels (views)."""
        xs, ys = self._coords.arrays
        used = self._coords.used
        n = self._size
        return RingView(
            xs[:used],
            ys[:used],
            self._col["coord_start"][:n],
            self._col["part_start"][:n],
            self._struct.arrays[0][: self._struct.used],
        )

    def declaration_id(self, slot: int) -> str:
        ident = self._ids.get(slot) if 0 <= slot < self._size else None
        if ident is None:
            raise KeyError(f"slot {slot} is empty")
        return ident

    def party_id(self, slot: int) -> str:
        self._require(slot)
        return self._party_names[int(self._col["party"][slot])]

    def category(self, slot: int) -> str | None:
        self._require(slot)
        return self._category_names[int(self._col["category"][slot])]

    def coordinates(self, slot: int) -> tuple[Array, Array]:
        """Copies of the slot's vertices (every ring closed, rings and parts in order)."""
        self._require(slot)
        start = int(self._col["coord_start"][slot])
        stop = start + int(self._col["coord_count"][slot])
        xs, ys = self._coords.arrays
        return xs[start:stop].copy(), ys[start:stop].copy()

    def times(self, slot: int) -> Array | None:
        """A copy of the slot's vertex times, or None for a site or area."""
        self._require(slot)
        flags = int(self._col["flags"][slot])
        if not flags & TIMED:
            return None
        if flags & LOOSE_TIMES:
            return self._loose_times[slot].copy()
        start = int(self._col["times_start"][slot])
        stop = start + int(self._col["coord_count"][slot])
        return self._times.arrays[0][start:stop].copy()

    def geometry(self, slot: int) -> BaseGeometry:
        """The slot's geometry, rebuilt: same type, same coordinates bit for bit."""
        self._require(slot)
        col = self._col
        gtype = int(col["gtype"][slot])
        if gtype == OTHER:
            return self._other_geometry[slot]
        start = int(col["coord_start"][slot])
        stop = start + int(col["coord_count"][slot])
        xs, ys = self._coords.arrays
        b = int(col["part_start"][slot])
        block = self._struct.arrays[0][b:] if b >= 0 else self._struct.arrays[0][:0]
        return assemble_one(gtype, xs[start:stop], ys[start:stop], block)

    def geometries(self, slots: Slots) -> list[BaseGeometry]:
        """:meth:`geometry` for many slots, with shapely's array constructors."""
        where = np.asarray(slots, dtype=np.int64).reshape(-1)
        for slot in where.tolist():
            self._require(slot)
        col = self._col
        gtype = col["gtype"][where]
        xs, ys = self._coords.arrays
        built = assemble_many(
            gtype,
            col["coord_start"][where],
            col["coord_count"][where],
            col["part_start"][where],
            xs,
            ys,
            self._struct.arrays[0],
        )
        for i in np.flatnonzero(gtype == OTHER).tolist():
            built[i] = self._other_geometry[int(where[i])]
        geometries: list[BaseGeometry] = built.tolist()
        return geometries

    def part_rings(self, slot: int, part: int) -> tuple[Array, Array, IntArray]:
        """Polygon part ``part`` of a site or area: lon, lat and where each ring starts in
        them (exterior first, then holes; closed rings; one more start than rings)."""
        self._require(slot)
        b = int(self._col["part_start"][slot])
        if b < 0:
            raise ValueError(f"slot {slot} holds no polygon")
        if not 0 <= part < int(self._struct.arrays[0][b]):
            raise IndexError(f"slot {slot} has no polygon part {part}")
        view = self.rings()
        offsets = ring_offsets(view.coord_start, view.part_start, view.struct, slot, part)
        lo, hi = int(offsets[0]), int(offsets[-1])
        return view.xs[lo:hi].copy(), view.ys[lo:hi].copy(), offsets - offsets[0]

    def get(self, slot: int) -> Activity:
        """The activity stored at ``slot``, rebuilt equal to the one put there."""
        return self._activity(slot, self.geometry(slot))

    def get_many(self, slots: Slots) -> list[Activity]:
        """:meth:`get` for many slots (geometries built together)."""
        where = np.asarray(slots, dtype=np.int64).reshape(-1)
        geometries = self.geometries(where)
        return [self._activity(s, g) for s, g in zip(where.tolist(), geometries, strict=True)]

    def _activity(self, slot: int, geometry: BaseGeometry) -> Activity:
        col = self._col
        flags = int(col["flags"][slot])
        return Activity(
            self.declaration_id(slot),
            int(col["version"][slot]),
            self._party_names[int(col["party"][slot])],
            KINDS[int(col["kind"][slot])],
            geometry,
            float(col["start"][slot]),
            None if flags & OPEN_ENDED else float(col["end"][slot]),
            self.times(slot),
            float(col["tolerance"][slot]),
            float(col["buffer"][slot]),
            None if flags & NO_ALTITUDE else (float(col["alo"][slot]), float(col["ahi"][slot])),
            self._category_names[int(col["category"][slot])],
        )

    def nbytes(self) -> int:
        """Bytes held: every array, the ids and their table, and the names (not the
        aside geometries' GEOS memory). For comparing with a resident-set measurement."""
        arrays = list(self._col.values()) + self._coords.arrays + self._times.arrays
        total = sum(a.nbytes for a in arrays + self._struct.arrays)
        total += self._ids.nbytes()
        total += sum(a.nbytes for a in self._loose_times.values())
        total += sys.getsizeof(self._party_codes) + sys.getsizeof(self._category_codes)
        return total
