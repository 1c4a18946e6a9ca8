"""Declaration ids by slot, without a Python string per slot, and found again by value.

A million ids held as ``str`` objects cost ≈ 55 MB, the list of them 8 MB, and a dict from
id to slot ≈ 55 MB more (its table and a distinct ``int`` object per slot above 256):
docs/performance.md, W4. Here the ids are UTF-8 bytes packed in one flat array (with a start
and a length per slot) and the id → slot lookup is an open-addressing hash table of int32
slots, ≈ 25 MB in all at a million. An id is turned back into a ``str`` when it is read,
which costs a fraction of a microsecond; lookups hash the id with Python's own ``hash`` and
compare bytes, so they are exact.

Ids are encoded with ``surrogatepass`` so that every Python string round-trips, lone
surrogates included. The table is linear probing with tombstones, kept at most half full:
it never decides which of two slots holding the same id wins (a store may hold one id
twice; :meth:`IdTable.find` then returns one of them).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np

from deconflict.core.flat_shapes import Pool

IntArray = np.ndarray[Any, np.dtype[np.int64]]
AnyArray = np.ndarray[Any, Any]

EMPTY, GONE = -1, -2
"""Hash table entries that hold no slot: never used (ends a probe), and removed (does not)."""
_MIN_TABLE = 16
_BLOCK = 65_536
"""Slots read at a time by :meth:`IdTable.get_many`."""


def _encode(ident: str) -> bytes:
    return ident.encode("utf-8", "surrogatepass")


def _hashes(idents: Sequence[str]) -> IntArray:
    return np.fromiter(map(hash, idents), dtype=np.int64, count=len(idents))


class IdTable:
    """Ids by slot (``None`` for a slot without one) and slot by id.

    Per slot: ``start`` into the byte pool (−1 without an id) and ``length`` in bytes. The
    arrays hold ``capacity`` slots; the store grows and trims them along with its columns.
    """

    def __init__(self) -> None:
        self._bytes = Pool(np.uint8)
        self._start = np.full(0, -1, dtype=np.int32)
        self._length = np.zeros(0, dtype=np.int32)
        self._table = np.full(_MIN_TABLE, EMPTY, dtype=np.int32)
        self._filled = 0  # table entries that are not EMPTY (slots and tombstones)
        self._count = 0

    def __len__(self) -> int:
        """The number of slots holding an id."""
        return self._count

    # --- capacity --------------------------------------------------------------------------

    def resize(self, capacity: int, size: int) -> None:
        """Hold ``capacity`` slots, keeping the first ``size`` (the rest have no id)."""
        start = np.full(capacity, -1, dtype=np.int32)
        length = np.zeros(capacity, dtype=np.int32)
        keep = min(size, capacity)
        start[:keep], length[:keep] = self._start[:keep], self._length[:keep]
        self._start, self._length = start, length

    def trim(self, size: int) -> None:
        """Hold ``size`` slots exactly, and give back the byte pool's unused room."""
        if len(self._start) > size:
            self.resize(size, size)
        pool = self._bytes
        if len(pool.arrays[0]) > pool.used:
            pool.arrays = [pool.arrays[0][: pool.used].copy()]

    def compact(self) -> None:
        """Pack the byte pool, dropping the bytes of replaced and removed ids."""
        held = np.flatnonzero(self._start >= 0)
        lengths = self._length[held].astype(np.int64)
        self._start[held] = self._bytes.pack(self._start[held].astype(np.int64), lengths)

    def nbytes(self) -> int:
        arrays = [self._start, self._length, self._table, *self._bytes.arrays]
        return sum(a.nbytes for a in arrays)

    # --- reading ---------------------------------------------------------------------------

    def get(self, slot: int) -> str | None:
        """The id at ``slot``, or None (also for a slot past the capacity)."""
        if not 0 <= slot < len(self._start):
            return None
        start = int(self._start[slot])
        if start < 0:
            return None
        stop = start + int(self._length[slot])
        return self._bytes.arrays[0][start:stop].tobytes().decode("utf-8", "surrogatepass")

    def get_many(self, slots: IntArray) -> list[str | None]:
        """:meth:`get` for many slots, gathering their bytes together (a block at a time, so
        that the gather index stays small) and decoding them with one call: the ids are laid
        out with a NUL after each and split on it. An id holding a NUL itself would split
        into too many pieces; its block is then decoded id by id."""
        out: list[str | None] = []
        pool = self._bytes.arrays[0]
        for at in range(0, len(slots), _BLOCK):
            block = slots[at : at + _BLOCK]
            starts = self._start[block].astype(np.int64)
            held = starts >= 0
            lengths = np.where(held, self._length[block], 0).astype(np.int64)
            ends = np.cumsum(lengths + 1) - 1  # where each id's NUL goes
            laid = np.zeros(int(ends[-1]) + 1, dtype=np.uint8)  # (a block is never empty)
            shift = np.repeat(starts - (ends - lengths), lengths)
            into = np.arange(int(lengths.sum())) + np.repeat(np.arange(len(block)), lengths)
            laid[into] = pool[into + shift]
            pieces = laid[:-1].tobytes().decode("utf-8", "surrogatepass").split("\x00")
            if len(pieces) != len(block):
                pieces = [
                    laid[b - n : b].tobytes().decode("utf-8", "surrogatepass")
                    for b, n in zip(ends.tolist(), lengths.tolist(), strict=True)
                ]
            if held.all():
                out.extend(pieces)
            else:
                out.extend(p if h else None for p, h in zip(pieces, held.tolist(), strict=True))
        return out

    def find(self, ident: str) -> int:
        """A slot holding ``ident``, or −1."""
        table = self._table
        mask = len(table) - 1
        at = hash(ident) & mask
        raw: bytes | None = None
        while True:
            slot = int(table[at])
            if slot == EMPTY:
                return -1
            if slot >= 0:
                if raw is None:
                    raw = _encode(ident)
                start = int(self._start[slot])
                stored = self._bytes.arrays[0][start : start + int(self._length[slot])]
                if stored.tobytes() == raw:
                    return slot
            at = (at + 1) & mask

    # --- writing ---------------------------------------------------------------------------

    def set(self, slot: int, ident: str) -> None:
        """Give ``slot`` this id (the slot is within the capacity)."""
        if int(self._start[slot]) >= 0:
            if self.get(slot) == ident:
                return
            self.remove(slot)
        raw = _encode(ident)
        at = self._bytes.reserve(len(raw))
        self._bytes.arrays[0][at : at + len(raw)] = np.frombuffer(raw, dtype=np.uint8)
        self._start[slot], self._length[slot] = at, len(raw)
        if 2 * (self._filled + 1) > len(self._table):
            self._count += 1
            self._rehash()
            return
        table, mask = self._table, len(self._table) - 1
        spot = hash(ident) & mask
        while table[spot] >= 0:
            spot = (spot + 1) & mask
        self._filled += int(table[spot] == EMPTY)
        table[spot] = slot
        self._count += 1

    def set_many(self, slots: IntArray, idents: Sequence[str]) -> None:
        """:meth:`set` for distinct slots, encoding and indexing them together."""
        if not len(slots):
            return
        held = np.flatnonzero(self._start[slots] >= 0)
        if len(held):
            old = self.get_many(slots[held])
            changed = [i for i, o in zip(held.tolist(), old, strict=True) if o != idents[i]]
            self.remove_many(slots[changed])
            fresh = np.ones(len(slots), dtype=bool)
            fresh[held] = False
            fresh[changed] = True
            new = np.flatnonzero(fresh)
            slots, idents = slots[new], [idents[i] for i in new.tolist()]
        encoded = [_encode(i) for i in idents]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        at = self._bytes.reserve(int(lengths.sum()))
        flat = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        self._bytes.arrays[0][at : at + len(flat)] = flat
        self._start[slots] = at + np.cumsum(lengths) - lengths
        self._length[slots] = lengths
        self._index(slots, _hashes(idents))

    def remove(self, slot: int) -> None:
        """Take the id of ``slot`` away (nothing if it has none): :meth:`remove_many` with
        scalar reads, a tenth of the time for one slot."""
        ident = self.get(slot)
        if ident is None:
            return
        table, mask = self._table, len(self._table) - 1
        spot = hash(ident) & mask
        while table[spot] != slot:
            spot = (spot + 1) & mask
        table[spot] = GONE
        self._bytes.dead += int(self._length[slot])
        self._start[slot], self._length[slot] = -1, 0
        self._count -= 1

    def remove_many(self, slots: IntArray) -> None:
        """:meth:`remove` for distinct slots; their bytes are dead until :meth:`compact`."""
        slots = slots[self._start[slots] >= 0]
        if not len(slots):
            return
        hashes = _hashes([i for i in self.get_many(slots) if i is not None])
        table, mask = self._table, len(self._table) - 1
        at = hashes & mask
        pending = np.arange(len(slots))
        while len(pending):  # every slot with an id is in the table, so this ends
            hit = table[at[pending]] == slots[pending]
            table[at[pending[hit]]] = GONE
            pending = pending[~hit]
            at[pending] = (at[pending] + 1) & mask
        self._bytes.dead += int(self._length[slots].sum())
        self._start[slots] = -1
        self._length[slots] = 0
        self._count -= len(slots)

    def _index(self, slots: IntArray, hashes: IntArray) -> None:
        """Enter slots into the hash table, growing or cleaning it first if it would be
        more than half full."""
        if 2 * (self._filled + len(slots)) > len(self._table):
            self._count += len(slots)
            self._rehash()
            return
        table, mask = self._table, len(self._table) - 1
        at = hashes & mask
        pending = np.arange(len(slots))
        while len(pending):
            spots = at[pending]
            free = np.flatnonzero(table[spots] < 0)
            # Of the entries aiming at the same free spot, the first takes it.
            _, first = np.unique(spots[free], return_index=True)
            won = free[first]
            self._filled += int((table[spots[won]] == EMPTY).sum())
            table[spots[won]] = slots[pending[won]]
            lost = np.ones(len(pending), dtype=bool)
            lost[won] = False
            pending = pending[lost]
            at[pending] = (at[pending] + 1) & mask
        self._count += len(slots)

    def _rehash(self) -> None:
        """A new table for every slot holding an id, at most a third full (at a million ids,
        2²¹ entries: 8 MB)."""
        size = _MIN_TABLE
        while size < 3 * self._count:
            size *= 2
        held = np.flatnonzero(self._start >= 0)
        self._table = np.full(size, EMPTY, dtype=np.int32)
        self._filled = 0
        count = self._count
        self._count = 0
        idents = [i for i in self.get_many(held) if i is not None]
        self._index(held, _hashes(idents))
        assert self._count == count

    # --- pickling: Python's str hash differs between processes ------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_table"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._rehash()


class IdColumn(Sequence[str | None]):
    """A read-only view of the ids by slot, indexable like the list it replaces."""

    def __init__(self, table: IdTable, size: int) -> None:
        self._table = table
        self._size = size

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> str | None: ...

    @overload
    def __getitem__(self, index: slice) -> list[str | None]: ...

    def __getitem__(self, index: int | slice) -> str | list[str | None] | None:
        if isinstance(index, slice):
            slots = np.arange(self._size)[index]
            return self._table.get_many(slots)
        if index < 0:
            index += self._size
        if not 0 <= index < self._size:
            raise IndexError("slot out of range")
        return self._table.get(index)

    def __iter__(self) -> Iterator[str | None]:
        for start in range(0, self._size, _BLOCK):
            yield from self._table.get_many(np.arange(start, min(start + _BLOCK, self._size)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IdColumn | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]
