"""The check's compiled walk (:mod:`deconflict.core.scan`): cut into runs, one per thread,
it finds exactly the pairs one run finds."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconflict.core import scan
from deconflict.core.index import IndexedEngine
from tests.test_engine import random_activity, rules_for


@settings(deadline=None)  # the first call compiles the kernel
@given(
    sizes=st.lists(st.lists(st.integers(0, 50), min_size=1, max_size=6), max_size=30),
    parts=st.integers(1, 5),
    min_rows=st.integers(1, 200),
)
def test_runs_cut_at_element_changes_and_cover_every_key(
    sizes: list[list[int]], parts: int, min_rows: int
) -> None:
    """Runs partition the keys in order, never split one element's keys, and are no more
    than asked for nor smaller on average than ``min_rows``."""
    owner = np.repeat(np.arange(len(sizes)), [len(s) for s in sizes]).astype(np.int64)
    counts = np.array([c for s in sizes for c in s], dtype=np.int64)
    lo = np.cumsum(counts) - counts
    hi = lo + counts
    cuts = scan.split(owner, lo, hi, parts, min_rows).tolist()
    assert cuts[0] == 0
    assert cuts[-1] == len(owner)
    assert cuts == sorted(set(cuts)) or cuts == [0, 0]
    runs = len(cuts) - 1
    assert 1 <= runs <= max(1, min(parts, int(counts.sum()) // min_rows))
    for at in cuts[1:-1]:
        assert owner[at] != owner[at - 1]


def test_runs_share_the_candidates_about_equally() -> None:
    owner = np.repeat(np.arange(100), 3).astype(np.int64)
    lo = np.arange(300, dtype=np.int64) * 10
    hi = lo + 10
    cuts = scan.split(owner, lo, hi, 2, 1)
    assert cuts.tolist() == [0, 150, 300]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), runs=st.integers(2, 4))
def test_any_number_of_runs_finds_the_pairs_one_run_finds(seed: int, runs: int) -> None:
    rng = np.random.default_rng(seed)
    rules = rules_for(rng)
    one = IndexedEngine(cell_deg=0.02, scan_runs=1)
    many = IndexedEngine(cell_deg=0.02, scan_runs=runs, min_rows_per_run=1)
    activities = [random_activity(rng, f"d{k}", 1, 0.1) for k in range(150)]
    one.upsert_many(activities)
    many.upsert_many(activities)
    for probe in activities[:20]:
        found = []
        for engine in (one, many):
            engine._flush()
            q = engine._query_elements(probe)
            pairs = engine._scan(q, rules)
            order = np.lexsort((pairs[1], pairs[0]))
            found.append([column[order] for column in pairs])
        for a, b in zip(*found, strict=True):
            assert np.array_equal(a, b)
        assert one.conflicting(probe, rules) == many.conflicting(probe, rules)


def test_the_walk_runs_on_a_thread_safe_layer() -> None:
    """numba's fallback layer (workqueue) aborts the process when two threads start parallel
    work at once; the Makefile installs libgomp so that OpenMP is used instead."""
    import numba

    engine = IndexedEngine(scan_runs=2, min_rows_per_run=1)
    rng = np.random.default_rng(3)
    rules = rules_for(rng)
    activities = [random_activity(rng, f"d{k}", 1, 0.1) for k in range(40)]
    engine.upsert_many(activities)
    engine.conflicting(activities[0], rules)
    assert numba.threading_layer() in ("omp", "tbb")


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), runs=st.integers(1, 3))
def test_settling_skips_rows_of_certain_declarations_only(seed: int, runs: int) -> None:
    """A verdict's walk stops measuring a declaration once one pair makes it certain: the
    declarations it reports are exactly those of the full walk, each pair it keeps is one
    of the full walk's with the same bounds, and (in a scene this dense) it keeps fewer."""
    rng = np.random.default_rng(seed)
    rules = rules_for(rng)
    engine = IndexedEngine(cell_deg=0.02, scan_runs=runs, min_rows_per_run=1)
    activities = [random_activity(rng, f"d{k}", 1 + k % 3, 0.05) for k in range(200)]
    engine.upsert_many(activities)
    engine._flush()
    assert engine._store is not None
    skipped = 0
    for probe in activities[:25]:
        q = engine._query_elements(probe)
        every = engine._scan(q, rules)
        few = engine._scan(q, rules, probe=probe)
        decl = engine._store.decl
        assert set(decl[every[1]].tolist()) == set(decl[few[1]].tolist())
        full = {(int(i), int(r)): tuple(c[k] for c in every[2:]) for k, (i, r) in
                enumerate(zip(every[0], every[1], strict=True))}  # fmt: skip
        for k, (i, r) in enumerate(zip(few[0], few[1], strict=True)):
            assert full[(int(i), int(r))] == tuple(c[k] for c in few[2:])
        skipped += len(every[0]) - len(few[0])
    assert skipped > 0
