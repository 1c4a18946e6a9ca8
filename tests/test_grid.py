"""The space-time grid's row order (:func:`deconflict.core.grid.grid_order`).

The engine tests check that answers survive rebuilds; these pin down the layout itself,
whose mistakes (a lost registration, a declaration's rows split) would otherwise show only
as a rare missed conflict after a rebuild.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict.core.grid import SpaceTimeGrid, grid_order


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_decl=st.integers(0, 40), keys_per_row=st.integers(1, 6))
def test_rows_follow_the_grid_and_keep_every_registration(
    seed: int, n_decl: int, keys_per_row: int
) -> None:
    rng = np.random.default_rng(seed)
    per_decl = rng.integers(1, 5, n_decl)
    decl = np.repeat(np.arange(n_decl), per_decl).astype(np.int32)
    n = len(decl)
    # Registrations as expand_keys emits them: rows ascending, each row's keys ascending.
    counts = rng.integers(1, keys_per_row + 1, n)
    rows = np.repeat(np.arange(n), counts)
    keys = np.concatenate([np.sort(rng.choice(500, c, replace=False)) for c in counts] or [[]])
    keys = keys.astype(np.int64)

    order, new_keys, new_rows = grid_order(keys, rows, decl)

    assert sorted(order.tolist()) == list(range(n))  # a permutation of the rows
    moved = decl[order]
    assert all(  # each declaration's rows stay together and in their order
        np.all(np.diff(order[moved == d]) == 1) for d in range(n_decl)
    )
    firsts = [
        keys[rows == order[np.flatnonzero(moved == d)[0]]].min() for d in dict.fromkeys(moved)
    ]
    assert firsts == sorted(firsts)  # declarations by the lowest key of their first row
    before = sorted(zip(keys.tolist(), decl[rows].tolist(), strict=True))
    after = sorted(zip(new_keys.tolist(), moved[new_rows].tolist(), strict=True))
    assert before == after  # no registration lost or invented
    stable = np.argsort(new_keys, kind="stable")
    for key in np.unique(new_keys):
        under = new_rows[stable][new_keys[stable] == key]
        assert np.all(np.diff(under) > 0)  # each key's rows ascending


def test_long_and_open_ended_elements_share_the_timeless_bucket() -> None:
    grid = SpaceTimeGrid(cell_deg=0.05, bucket_s=3600.0, long_buckets=12)
    first = np.array([0.0, 7200.0, 7200.0, 7200.0])
    last = np.array([1800.0, 7200.0 + 12 * 3600.0, 7201.0 + 12 * 3600.0, np.inf])
    b0, b1 = grid.buckets(first, last)
    assert b0.tolist() == [1, 3, 0, 0]
    assert b1.tolist() == [1, 15, 0, 0]
