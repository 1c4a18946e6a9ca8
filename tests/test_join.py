"""The compiled pieces of the self-join (:mod:`deconflict.core.join`) against plain numpy.

The join as a whole is checked against the scan and the brute-force reference in
test_engine.py; these pin down the radix sort and the pair de-duplication on their own, where
a wrong digit or a lost group would otherwise show only as a rare missing pair.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict.core.join import decide, sort_entries


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 3000),
    key_span=st.sampled_from([1, 7, 5000, 1 << 40]),
    start_span=st.sampled_from([1, 3, 86_400, 1 << 33]),
)
def test_entries_are_sorted_by_key_then_start_stably(
    seed: int, n: int, key_span: int, start_span: int
) -> None:
    rng = np.random.default_rng(seed)
    n_rows = max(n, 1)
    start = rng.integers(-(start_span // 2), start_span // 2 + 1, n_rows).astype(np.int64)
    keys = rng.integers(0, key_span, n).astype(np.int64)
    rows = rng.integers(0, n_rows, n).astype(np.int64)
    got_keys, got_rows = sort_entries(keys, rows, start)
    order = np.lexsort((np.arange(n), start[rows], keys))  # stable: ties keep entry order
    assert np.array_equal(got_keys, keys[order])
    assert np.array_equal(got_rows, rows[order])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 400), distinct=st.integers(1, 50))
def test_a_pair_is_sure_if_any_element_pair_is_certain(seed: int, n: int, distinct: int) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, distinct, n).astype(np.int64) * 1_000_003
    certain = rng.random(n) < 0.2
    maybe = certain | (rng.random(n) < 0.5)
    sure, unsure = decide(codes, certain, maybe)
    want_sure = np.unique(codes[certain])
    want_unsure = np.setdiff1d(np.unique(codes[maybe]), want_sure)
    assert np.array_equal(sure, want_sure)
    assert np.array_equal(unsure, want_unsure)
