"""The space-time grid: its row order (:func:`deconflict.core.grid.grid_order`) and the keys
a query looks under.

The engine tests check that answers survive rebuilds; these pin down the layout itself,
whose mistakes (a lost registration, a declaration's rows split) would otherwise show only
as a rare missed conflict after a rebuild.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict.core.elements import Elements, of_activities
from deconflict.core.grid import SpaceTimeGrid, grid_order
from tests.test_engine import T0, random_activity


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


def numpy_query_keys(
    grid: SpaceTimeGrid, q: Elements, margin: np.ndarray, span: tuple[int, int], max_keys: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The definition of a query's keys, in numpy: its buckets (clipped to those in use) and
    the timeless layer over the cells of its widened box; oversized elements get none."""
    first, last = q.reach()
    lo = np.maximum(np.floor(np.maximum(first - 1e-3, 0.0) / grid.bucket_s) + 1, span[0])
    hi = np.minimum(np.floor(np.minimum(last + 1e-3, 1e15) / grid.bucket_s) + 1, span[1])
    b0 = lo.astype(np.int64)
    b1 = np.maximum(hi.astype(np.int64), b0 - 1)
    cx0, cx1, cy0, cy1 = grid.cells(q, margin)
    huge = (cx1 - cx0 + 1) * (cy1 - cy0 + 1) * (b1 - b0 + 2) > max_keys
    keys: list[int] = []
    owner: list[int] = []
    for timeless in (False, True):
        for e in np.flatnonzero(~huge):
            buckets = [0] if timeless else range(b0[e], b1[e] + 1)
            for b in buckets:
                for cy in range(cy0[e], cy1[e] + 1):
                    for cx in range(cx0[e], cx1[e] + 1):
                        keys.append((b * grid.ny + cy) * grid.nx + cx)
                        owner.append(int(e))
    return np.array(keys, dtype=np.int64), np.array(owner, dtype=np.int64), np.flatnonzero(huge)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    span=st.sampled_from([(1, 30), (5, 8), (0, 0), (20, 10)]),
    max_keys=st.sampled_from([10, 200, 200_000]),
)
def test_query_keys_match_the_numpy_definition(
    seed: int, span: tuple[int, int], max_keys: int
) -> None:
    rng = np.random.default_rng(seed)
    activities = [random_activity(rng, f"q{k}", 1, 0.2) for k in range(6)]
    q, _ = of_activities(activities, np.zeros(6, dtype=np.int64), np.arange(6, dtype=np.int64))
    q.t0 -= T0 - 3 * 3600.0  # hours into the grid's time axis, some before its start
    q.t1 -= T0 - 3 * 3600.0
    q.t0[0] = 7200.0 + q.tol[0]  # a reach starting exactly on a bucket's edge
    q.t1[0] = max(q.t1[0], q.t0[0])
    margin = rng.uniform(0.0, 3000.0, len(q))
    grid = SpaceTimeGrid(cell_deg=0.02, bucket_s=3600.0)
    keys, owner, huge = grid.query_keys(q, margin, span, max_keys)
    ref_keys, ref_owner, ref_huge = numpy_query_keys(grid, q, margin, span, max_keys)
    assert keys.tolist() == ref_keys.tolist()
    assert owner.tolist() == ref_owner.tolist()
    assert huge.tolist() == ref_huge.tolist()
