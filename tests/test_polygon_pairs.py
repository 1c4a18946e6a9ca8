"""A check's route × polygon pairs (core/polygon_pairs.py): the compiled bookkeeping that
picks, groups and orders the pairs against numpy's own unique / isin / lexsort.

What the pairs measure is tested against pyproj and shapely in tests/test_refine_polygons.py,
and the verdicts they feed against the reference engine in tests/test_engine.py.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict.core.polygon_pairs import _nearest_first, _plan, _ranks


@st.composite
def check_pairs(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """A check's pairs: each pair's declaration slot and store row (a row belongs to one
    slot), whether it is already certain, and which pairs are route × polygon-box."""
    n = draw(st.integers(0, 60))
    row_slot = np.array(draw(st.lists(st.integers(0, 8), min_size=12, max_size=12)))
    rows = np.array(draw(st.lists(st.integers(0, 11), min_size=n, max_size=n)), dtype=np.int64)
    slots = row_slot[rows].astype(np.int32)
    certain = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=np.bool_)
    boxed = np.flatnonzero(np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))))
    return slots, certain, boxed, rows


@settings(max_examples=200, deadline=None)
@given(pairs=check_pairs())
def test_plan_matches_the_numpy_definition(pairs: tuple[np.ndarray, ...]) -> None:
    slots, certain, boxed, rows = pairs
    todo, group, settled, parts_rows, part_of = _plan(slots, certain, boxed, rows)
    expected = boxed[~np.isin(slots[boxed], slots[certain])]
    assert todo.tolist() == expected.tolist()
    groups, inverse = np.unique(slots[expected], return_inverse=True)
    assert group.tolist() == inverse.tolist()
    assert len(settled) == len(groups)
    assert not settled.any()
    parts, part_inverse = np.unique(rows[expected], return_inverse=True)
    assert parts_rows.tolist() == parts.tolist()
    assert part_of.tolist() == part_inverse.tolist()


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.integers(-5, 5), max_size=40))
def test_ranks_are_numpy_unique_inverse(values: list[int]) -> None:
    array = np.array(values, dtype=np.int64)
    assert _ranks(array).tolist() == np.unique(array, return_inverse=True)[1].tolist()


@settings(max_examples=200, deadline=None)
@given(
    part_of=st.lists(st.integers(0, 4), max_size=40),
    short=st.lists(st.booleans(), min_size=5, max_size=5),
    data=st.data(),
)
def test_nearest_first_orders_by_part_then_distance(
    part_of: list[int], short: list[bool], data: st.DataObject
) -> None:
    nearest = data.draw(
        st.lists(st.sampled_from([0.0, 5.0, 10.0, 250.0]), min_size=len(part_of),
                 max_size=len(part_of))
    )  # fmt: skip
    parts, distances = np.array(part_of, dtype=np.int64), np.array(nearest)
    fine = np.flatnonzero(np.array(short)[parts])
    expected = fine[np.lexsort((distances[fine], parts[fine]))]
    assert _nearest_first(parts, distances, np.array(short)).tolist() == expected.tolist()
