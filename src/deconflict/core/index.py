"""The indexed conflict engine: same answers as :class:`ScanEngine`, at a million declarations.

Design (measured, see docs/performance.md):

* **Elements, not declarations.** Each route segment, point and polygon part is an element
  (:mod:`deconflict.core.elements`) with its own lon/lat box and time reach.
* **Broad phase: a space-time grid.** An element is registered under every (time bucket,
  lon cell, lat cell) key its reach and box cover; elements that last longer than
  ``long_buckets`` buckets (open-ended sites) go to a timeless layer instead. The grid is a
  sorted key array with a parallel row array (CSR), searched with ``np.searchsorted`` for all
  of a query's keys at once, so time prunes before geometry does and there is no per-element
  Python work. Changes land in a small dict-of-lists delta and as tombstones; the sorted
  main part is rebuilt when the delta or the dead weight grows past a fraction of it, which
  keeps an amend or a cancel at microseconds amortised.
* **Narrow phase: vectorised bounds.** :mod:`deconflict.core.kernels` gives, for every
  candidate pair, a distance in a local tangent plane and a bound on its error. A pair is
  dropped only if it cannot be closer than S even with the error; the survivors (a handful)
  go to the exact :func:`find_encounter`, so findings are exactly those of ``ScanEngine``.
* **Verdicts without encounters.** :meth:`IndexedEngine.conflicting` and
  :meth:`IndexedEngine.all_pairs` only need *whether* pairs conflict: pairs whose upper
  bound is clearly below S are certain, and only the uncertain band goes to find_encounter.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar, cast

import numba
import numpy as np
import shapely

from deconflict.core import compiled, join, polygon_pairs, prefilter
from deconflict.core import scan as scan_kernel
from deconflict.core.activity_store import ActivityStore
from deconflict.core.conflicts import find_encounter
from deconflict.core.declarations import Activity
from deconflict.core.elements import Elements, IntArray, of_activities
from deconflict.core.engine import Finding
from deconflict.core.grid import EXPAND_SLACK, SpaceTimeGrid, grid_order, key_ranges
from deconflict.core.kernels import TIME_SLACK_S, Array, Mask
from deconflict.core.narrow import RuleTables, certain_pairs, judge_probe_pairs, settle_band
from deconflict.core.parties import SeparationRules

SPARE = 16
"""After a rebuild the element columns keep 1/SPARE of room for new rows before growing."""
MAX_STAMP = 2**31 - 2**20
"""Scan stamps are int32 (half the memory of int64 at 2.75 M rows); past this they restart."""


Result = TypeVar("Result")


def _serialised(method: Callable[..., Result]) -> Callable[..., Result]:
    """Run ``method`` holding the engine's lock. A check changes the engine too (it files
    pending upserts, may rebuild the grid, and stamps the scan marks), and the service runs
    dry-run checks on worker threads while the sequencer writes: one caller at a time."""

    @functools.wraps(method)
    def serialised(self: IndexedEngine, *args: Any, **kwargs: Any) -> Result:
        with self._lock:
            return method(self, *args, **kwargs)

    return serialised


class IndexedEngine:
    """A space-time grid over route segments and place parts, with an exact narrow phase."""

    def __init__(
        self,
        cell_deg: float = 0.05,
        bucket_s: float = 3600.0,
        long_buckets: int = 12,
        max_query_keys: int = 20_000,
        delta_min: int = 4096,
        join_grid: tuple[float, float] = (0.05, 3600.0),
        scan_runs: int | None = None,
        min_rows_per_run: int = scan_kernel.MIN_ROWS_PER_THREAD,
    ) -> None:
        """``scan_runs`` is how many threads a check's walk and the self-join share out
        their work to (default: numba's thread count); a run of a check's walk gets at least
        ``min_rows_per_run`` candidate rows."""
        self.scan_runs = scan_runs
        self.min_rows_per_run = min_rows_per_run
        self.cell_deg = cell_deg
        self.join_grid = join_grid
        self.delta_min = delta_min
        self.bucket_s = bucket_s
        self.long_buckets = long_buckets
        self.max_query_keys = max_query_keys
        self._grid = SpaceTimeGrid(cell_deg, bucket_s, long_buckets)
        self.rebuilds = 0
        self.last_uncertain = 0
        self._rule_tables = RuleTables()
        self._lock = threading.RLock()
        self.clear()

    # --- maintenance ----------------------------------------------------------------------

    @_serialised
    def clear(self) -> None:
        self._activities = ActivityStore()
        self._slots = 0
        self._first = np.zeros(0, dtype=np.int64)
        self._count = np.zeros(0, dtype=np.int32)
        self._store: Elements | None = None
        self._alive = np.zeros(0, dtype=bool)
        self._hot: prefilter.Records = np.zeros((0, 8), dtype=np.int32)
        self._size = 0
        self._dead = 0
        self._main_rows = 0
        self._keys = np.zeros(0, dtype=np.int64)
        self._offsets = np.zeros(1, dtype=np.int64)
        self._rows = np.zeros(0, dtype=np.int32)
        self._delta: dict[int, list[int]] = {}
        self._delta_rows = 0
        self._pending: dict[str, tuple[int, Activity]] = {}
        self._marks = np.zeros((0, 0), dtype=np.int32)
        self._settled = np.zeros(0, dtype=np.int32)
        self._stamp = 0
        self._bmin, self._bmax = 1 << 62, 0

    @property
    def threads(self) -> int:
        """How many threads a check's walk and the self-join share their work out to."""
        return self.scan_runs or numba.get_num_threads()

    def __len__(self) -> int:
        return len(self._activities) + sum(
            slot not in self._activities for slot, _ in self._pending.values()
        )

    def _slot_of(self, declaration_id: str) -> int | None:
        """The declaration's slot. There is no id → slot dict here: a million ids as ``str``
        keys cost ≈ 110 MB, so the store's packed id table answers for flushed declarations
        and the pending batch for the rest."""
        pending = self._pending.get(declaration_id)
        if pending is not None:
            return pending[0]
        slot = self._activities.slot_of(declaration_id)
        return None if slot < 0 else slot

    @_serialised
    def upsert(self, activity: Activity) -> None:
        """Record the new version; its elements are cut lazily, in batches (see _flush)."""
        ident = activity.declaration_id
        slot = self._slot_of(ident)
        if slot is not None:
            self._kill(slot)
        else:
            slot = self._slots
            self._slots += 1
            if slot >= len(self._first):
                grown = max(1024, 2 * len(self._first))
                self._first = np.resize(self._first, grown)
                self._count = np.resize(self._count, grown)
            self._first[slot] = 0
            self._count[slot] = 0
        self._pending[ident] = (slot, activity)

    @_serialised
    def upsert_many(self, activities: Iterable[Activity]) -> None:
        for activity in activities:
            self.upsert(activity)
        self._flush()

    @_serialised
    def load(self, batches: Iterable[Iterable[Activity]]) -> None:
        """Bulk upsert in batches, sorting the grid once at the end.

        Each batch is stored compactly before the next is read, so a caller streaming
        declarations from storage never holds a million activity objects at once.
        """
        for batch in batches:
            for activity in batch:
                self.upsert(activity)
            self._flush(register=False)
        self.rebuild()

    @_serialised
    def remove(self, declaration_id: str) -> None:
        slot = self._slot_of(declaration_id)
        if slot is None:
            return
        self._pending.pop(declaration_id, None)
        self._kill(slot)
        if slot in self._activities:
            self._activities.remove(slot)

    def active(self) -> Iterator[Activity]:
        """Every active declaration, rebuilt from the compact store."""
        self._flush()
        slots = self._activities.slots()
        for start in range(0, len(slots), 4096):
            yield from self._activities.get_many(slots[start : start + 4096])

    def activity(self, slot: int) -> Activity:
        return self._activities.get(slot)

    def _kill(self, slot: int) -> None:
        first, count = int(self._first[slot]), int(self._count[slot])
        if count:
            self._alive[first : first + count] = False
            prefilter.kill(self._hot, first, first + count)
            self._dead += count
            self._count[slot] = 0

    def _flush(self, register: bool = True) -> None:
        """Cut the pending activities into elements and register them (delta or rebuild).

        ``register=False`` only appends the rows, for :meth:`rebuild`, which registers all.
        """
        if not self._pending:
            return
        slots = np.fromiter((slot for slot, _ in self._pending.values()), dtype=np.int64)
        batch = [activity for _, activity in self._pending.values()]
        self._pending = {}
        self._activities.put_many(slots, batch)
        party = self._activities.columns().party[slots].astype(np.int64)
        elems, counts = of_activities(batch, party, slots)
        del batch
        at = self._append(elems)
        self._first[slots] = at + np.cumsum(counts) - counts
        self._count[slots] = counts
        if not register:
            return
        limit = max(self.delta_min, self._main_rows // 8)
        if self._delta_rows + len(elems) > limit or self._dead > max(
            self.delta_min, self._size // 4
        ):
            self.rebuild()
            return
        keys, rows = self._register_keys(elems)
        delta = self._delta
        for key, row in zip(keys.tolist(), (rows + at).tolist(), strict=True):
            bucket = delta.get(key)
            if bucket is None:
                delta[key] = [row]
            else:
                bucket.append(row)
        self._delta_rows += len(elems)

    def _append(self, elems: Elements) -> int:
        at, need = self._size, self._size + len(elems)
        if self._store is None:
            self._store = elems.empty_like(max(1024, need))
            self._alive = np.zeros(len(self._store), dtype=bool)
            self._hot = np.empty((len(self._store), 8), dtype=np.int32)
        elif need > len(self._store):
            grown = self._store.empty_like(max(need, 2 * len(self._store)))
            grown.put(0, self._store.take(slice(0, self._size)))
            self._store = grown
            alive = np.zeros(len(grown), dtype=bool)
            alive[: self._size] = self._alive[: self._size]
            self._alive = alive
            hot = np.empty((len(grown), 8), dtype=np.int32)
            hot[: self._size] = self._hot[: self._size]
            self._hot = hot
        self._store.put(at, elems)
        self._alive[at:need] = True
        self._hot[at:need] = prefilter.records(elems, elems.slack + elems.buf)
        self._size = need
        return at

    @_serialised
    def rebuild(self) -> None:
        """Drop dead rows and rebuild the sorted grid from every live element."""
        self._flush(register=False)
        self.rebuilds += 1
        store = self._store
        if store is None:
            return
        keep = np.flatnonzero(self._alive[: self._size])
        keys, rows = self._register_keys(store.take(keep))
        order, keys, rows = grid_order(keys, rows, store.decl[keep])
        keep = keep[order]
        new_index = np.full(self._size + 1, -1, dtype=np.int64)
        new_index[keep] = np.arange(len(keep))
        live = store.take(keep)
        hot = self._hot[keep]
        self._store = live.empty_like(max(1024, len(live) + len(live) // SPARE))
        self._store.put(0, live)
        self._hot = np.empty((len(self._store), 8), dtype=np.int32)
        self._hot[: len(live)] = hot
        self._alive = np.zeros(len(self._store), dtype=bool)
        self._alive[: len(live)] = True
        self._size = len(live)
        self._dead = 0
        held = np.flatnonzero(self._count[: self._slots] > 0)
        self._first[held] = new_index[self._first[held]]
        if self._activities.dead_fraction() > 0.25:
            self._activities.compact()
        order = np.argsort(keys, kind="stable")
        self._rows = rows[order].astype(np.int32)
        self._keys, starts = np.unique(keys[order], return_index=True)
        self._offsets = np.append(starts, len(keys)).astype(np.int64)
        self._main_rows = len(live)
        self._delta = {}
        self._delta_rows = 0
        del live, keys, rows, order, hot, new_index, keep
        _return_freed_memory()

    # --- keys -------------------------------------------------------------------------------

    def _register_keys(self, elems: Elements) -> tuple[IntArray, IntArray]:
        keys, rows, span = self._grid.register(elems)
        if span is not None:
            self._bmin, self._bmax = min(self._bmin, span[0]), max(self._bmax, span[1])
        return keys, rows

    def _query_keys(self, q: Elements, margin_m: Array) -> tuple[IntArray, IntArray, IntArray]:
        """Keys a query looks under, with their owners and the oversized query elements
        (see :meth:`SpaceTimeGrid.query_keys`); those are compared with every live row."""
        span = (self._bmin, self._bmax)
        return self._grid.query_keys(q, margin_m, span, self.max_query_keys)

    # --- queries ----------------------------------------------------------------------------

    def _query_elements(self, activity: Activity) -> Elements:
        party = self._activities.party_code(activity.party_id)
        slot = self._slot_of(activity.declaration_id)
        slot = -1 if slot is None else slot
        elems, _ = of_activities(
            [activity], np.array([party], dtype=np.int64), np.array([slot], dtype=np.int64)
        )
        return elems

    def _scan(
        self,
        q: Elements,
        rules: SeparationRules,
        probe: Activity | None = None,
    ) -> tuple[IntArray, IntArray, Array, Array, Array, Array]:
        """Pairs (query element, store row) that may be closer than S, each with its
        (distance, error) for dropping and its strict (distance, error) for certainty.

        The grid gives row ranges per query key; :func:`deconflict.core.scan.scan` walks
        them. Rows still in the delta, and rows met by an oversized query element, are
        handed to the same loop as explicit one-row ranges. With ``probe`` (the activity
        ``q`` was cut from), a declaration's remaining rows are skipped once one pair makes
        it a certain conflict: for callers that need each declaration's verdict, not its
        every pair.
        """
        assert self._store is not None
        largest = rules.largest_m
        margin = (largest + q.buf + q.slack + 2.0) * EXPAND_SLACK
        keys, owner, huge = self._query_keys(q, margin)
        lo, hi = self._ranges(keys)
        threads = self.threads
        stale = self._marks.shape != (threads, len(self._store))
        if stale or self._stamp + len(q) > MAX_STAMP:
            self._marks = np.full((threads, len(self._store)), -1, dtype=np.int32)
            self._settled = np.zeros(0, dtype=np.int32)
            self._stamp = 0
        stamp = self._stamp
        self._stamp += len(q) + 1
        settle = scan_kernel.no_settling() if probe is None else self._settling(q, probe, rules)
        qc, sc = compiled.columns(q), compiled.columns(self._store)
        q_hot = prefilter.records(q, margin, TIME_SLACK_S)
        q_line = scan_kernel.corridors(q, margin)
        walks: list[tuple[Any, ...]] = [
            (
                owner,
                lo,
                hi,
                scan_kernel.split(owner, lo, hi, threads, self.min_rows_per_run),
                self._rows,
            )
        ]
        extra_q, extra_r = self._explicit(keys, owner, huge)
        if len(extra_q):
            start = np.arange(len(extra_q))
            cuts = scan_kernel.split(extra_q, start, start + 1, threads, self.min_rows_per_run)
            walks.append((extra_q, start, start + 1, cuts, extra_r))
        store_args: tuple[Any, ...] = (
            sc, self._hot, self._marks, stamp, largest, settle
        )  # fmt: skip
        found = [scan_kernel.scan(qc, q_hot, q_line, *walk, *store_args) for walk in walks]
        if len(found) == 1:
            return found[0]
        qi, rows, dist, err, s_dist, s_err = (
            np.concatenate(parts) for parts in zip(*found, strict=True)
        )
        return qi, rows, dist, err, s_dist, s_err

    def _settling(self, q: Elements, probe: Activity, rules: SeparationRules) -> tuple[Any, ...]:
        """The ``settle`` argument of :func:`deconflict.core.scan.scan` for ``probe``."""
        assert self._store is not None
        columns = self._activities.columns()
        if len(self._settled) < len(columns.west):
            self._settled = np.full(len(columns.west), -1, dtype=np.int32)
        party = self._activities.party_code(probe.party_id)
        category = self._activities.category_code(probe.category)
        smallest = self._rule_tables.get(rules, self._activities, party, category).min()
        box_and_rule = np.append(shapely.bounds(probe.geometry), smallest)
        return (
            self._settled, q.exact, self._store.exact, columns.west, columns.south,
            columns.east, columns.north, box_and_rule,
        )  # fmt: skip

    def _ranges(self, keys: IntArray) -> tuple[IntArray, IntArray]:
        """Where each key's rows lie in the sorted grid (empty ranges for absent keys).

        The grid is compressed (CSR): each distinct key once, with the offset of its rows,
        which at a million declarations is a hundred thousand keys instead of ten million.
        """
        ranges: tuple[IntArray, IntArray] = key_ranges(self._keys, self._offsets, keys)
        return ranges

    def _explicit(
        self,
        keys: IntArray,
        owner: IntArray,
        huge: IntArray,
    ) -> tuple[IntArray, IntArray]:
        """Candidates outside the sorted grid: delta rows under the query's keys, and every
        live row for oversized query elements."""
        extra_q: list[int] = []
        extra_r: list[int] = []
        if self._delta:
            hits = set(keys.tolist()) & self._delta.keys()
            if hits:
                for key, o in zip(keys.tolist(), owner.tolist(), strict=True):
                    if key in hits:
                        rows = self._delta[key]
                        extra_q.extend([o] * len(rows))
                        extra_r.extend(rows)
        qs, rs = [np.array(extra_q, dtype=np.int64)], [np.array(extra_r, dtype=np.int64)]
        if len(huge):
            live = np.flatnonzero(self._alive[: self._size])
            qs.append(np.repeat(huge, len(live)))
            rs.append(np.tile(live, len(huge)))
        return np.concatenate(qs), np.concatenate(rs)

    @_serialised
    def check(self, activity: Activity, rules: SeparationRules) -> list[Finding]:
        """Same findings as :meth:`ScanEngine.check`, from find_encounter on the survivors."""
        slots = self._candidate_slots(activity, rules)
        findings = []
        for other in self._activities.get_many(slots):
            rule = rules.between(
                activity.party_id, other.party_id, activity.category, other.category
            )
            encounter = find_encounter(activity, other, rule)
            if encounter is not None:
                findings.append(Finding(other, encounter))
        findings.sort(key=lambda f: (f.encounter.distance_m, f.other.declaration_id))
        return findings

    def _candidate_slots(self, activity: Activity, rules: SeparationRules) -> list[int]:
        self._flush()
        if self._store is None or not self._size:
            return []
        q = self._query_elements(activity)
        if not len(q):
            return []
        _, rows, _, _, _, _ = self._scan(q, rules, probe=activity)
        return [int(s) for s in np.unique(self._store.decl[rows])]

    @_serialised
    def conflicting(self, activity: Activity, rules: SeparationRules) -> list[str]:
        """The ids of the declarations ``activity`` conflicts with, without the encounters.

        The verdict is find_encounter's: pairs whose upper bound is clearly below S are
        certain, pairs whose lower bound is not below S were dropped, and the rest are asked.
        """
        self._flush()
        if self._store is None or not self._size:
            return []
        q = self._query_elements(activity)
        if not len(q):
            return []
        qi, rows, low_d, low_e, dist, err = self._scan(q, rules, probe=activity)
        if not len(rows):
            return []
        store = self._store
        slots = store.decl[rows]
        party = self._activities.party_code(activity.party_id)
        category = self._activities.category_code(activity.category)
        columns = self._activities.columns()
        table = self._rule_tables.get(rules, self._activities, party, category)
        box = shapely.bounds(activity.geometry).tolist()
        separation, factor, lower, exact, certain, boxed = judge_probe_pairs(
            table,
            (columns.party, columns.category, columns.west, columns.south, columns.east,
             columns.north),
            (activity.buffer_m, *box),
            (q.exact, q.seg),
            qi,
            (store.decl, store.exact, store.buf),
            rows,
            (low_d, low_e, dist, err),
        )  # fmt: skip
        geodesic = exact.copy()  # pairs refine can measure: segments and points only
        if len(boxed):
            verdict = (slots, certain, separation, factor)
            polygon_pairs.measure_polygons(self, q, qi, rows, boxed, (dist, err, lower), verdict)
            exact[boxed] = True
            certain[boxed] = certain_pairs(
                dist[boxed], err[boxed], factor[boxed], separation[boxed]
            )
        maybe = lower < separation
        settle_band(
            compiled.columns(q),
            qi,
            compiled.columns(store),
            rows,
            separation,
            factor,
            geodesic,
            maybe,
            certain,
        )
        sure, unsure = join.decide(slots.astype(np.int64), certain, maybe)
        found = sure.tolist()
        self.last_uncertain = len(unsure)
        for slot, other in zip(unsure.tolist(), self._activities.get_many(unsure), strict=True):
            rule_m = rules.between(
                activity.party_id, other.party_id, activity.category, other.category
            )
            if find_encounter(activity, other, rule_m) is not None:
                found.append(slot)
        ids = self._activities.ids_of(np.array(found, dtype=np.int64))
        if None in ids:
            raise RuntimeError("a conflicting slot holds no declaration")
        return sorted(cast(list[str], ids))

    @_serialised
    def all_pairs(
        self,
        rules: SeparationRules,
        chunk: int = 50_000,
    ) -> set[tuple[str, str]]:
        """Every conflicting pair of active declarations, as (smaller id, larger id)."""
        from deconflict.core.narrow import self_join

        self._flush()
        if self._delta or self._dead:
            self.rebuild()
        if self._store is None or not self._size:
            return set()
        return self_join(self, rules, chunk)

    # --- accessors for the self-join (deconflict.core.narrow) -------------------------------

    def _live(self) -> tuple[Elements, Mask, int]:
        assert self._store is not None
        return self._store, self._alive, self._size

    def _slot_activities(self, slots: IntArray) -> list[Activity]:
        return self._activities.get_many(slots)

    def _slot_ids(self) -> Sequence[str | None]:
        return self._activities.ids

    def _slot_boxes(self) -> tuple[Array, Array, Array, Array]:
        columns = self._activities.columns()
        return columns.west, columns.south, columns.east, columns.north


def _return_freed_memory() -> None:
    """Hand the heap pages a rebuild freed back to the operating system.

    A rebuild allocates and frees hundreds of megabytes of temporary arrays at 10⁶
    declarations. glibc raises its mmap threshold after large frees, so later temporaries
    land on the heap, and freed heap pages stay resident: measured, 130 MB of 350 at 2 × 10⁵.
    ``malloc_trim`` releases them. Elsewhere than glibc this does nothing.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None or "libc.so" not in name:
        return None
    try:
        library = ctypes.CDLL(name)
        library.malloc_trim  # noqa: B018 - raises AttributeError where there is none
    except (OSError, AttributeError):
        return None
    return library
