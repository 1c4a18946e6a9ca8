"""The movement × movement core (core/piece_pairs.py) against a dense search of (λ, μ).

The closed-form minimum over the feasible polygon must be a feasible point, at least as close
as every feasible grid point, and no closer than the true minimum (the grid bounds it from
above); the window of λ below a limit must contain every grid λ whose feasible μ come that
close.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict.core.piece_pairs import PiecePair, clip_half_plane

GRID = np.linspace(0.0, 1.0, 201)
coordinate = st.floats(-5_000.0, 5_000.0)
duration = st.one_of(st.just(0.0), st.floats(1.0, 3_600.0))


@st.composite
def pairs(draw: st.DrawFn) -> PiecePair:
    """A piece pair as find_encounter builds it: its schedule band T widened by a billionth
    of the times involved (conflicts._widened), without which an exact touch (T = 0) can be
    lost to rounding in the clipping."""
    delta, da, db = draw(st.floats(-3_600.0, 3_600.0)), draw(duration), draw(duration)
    tolerance = draw(st.floats(0.0, 1_800.0))
    widened = tolerance + 1e-9 * max(1.0, abs(delta) + da + db, tolerance)
    return PiecePair(
        w=draw(st.tuples(coordinate, coordinate)),
        u=draw(st.tuples(coordinate, coordinate)),
        v=draw(st.tuples(coordinate, coordinate)),
        delta=delta,
        da=da,
        db=db,
        tolerance=widened,
    )


def feasible_grid(pair: PiecePair) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every feasible (λ, μ) of a 201 × 201 grid, and the squared distance there."""
    lam, mu = np.meshgrid(GRID, GRID, indexing="ij")
    gap = pair.delta + lam * pair.da - mu * pair.db
    ok = np.abs(gap) <= pair.tolerance
    dx = pair.w[0] + lam * pair.u[0] - mu * pair.v[0]
    dy = pair.w[1] + lam * pair.u[1] - mu * pair.v[1]
    return lam[ok], mu[ok], (dx * dx + dy * dy)[ok]


@settings(max_examples=300, deadline=None)
@given(pair=pairs())
def test_closest_is_feasible_and_no_grid_point_beats_it(pair: PiecePair) -> None:
    _, _, squared = feasible_grid(pair)
    found = pair.closest()
    if found is None:
        assert len(squared) == 0
        return
    d2, lam, mu = found
    assert pair.feasible(lam, mu) or _nearly_feasible(pair, lam, mu)
    assert math.isclose(d2, pair.squared(lam, mu), rel_tol=1e-9, abs_tol=1e-6)
    if len(squared):
        assert math.sqrt(d2) <= math.sqrt(float(squared.min())) + 1e-6


def _nearly_feasible(pair: PiecePair, lam: float, mu: float) -> bool:
    """Clipping rounds a vertex by a few ulps of the times: feasible within that."""
    gap = pair.delta + lam * pair.da - mu * pair.db
    slack = 1e-9 * max(1.0, abs(pair.delta), pair.da, pair.db)
    inside = -1e-12 <= lam <= 1.0 + 1e-12 and -1e-12 <= mu <= 1.0 + 1e-12
    return inside and abs(gap) <= pair.tolerance + slack


@settings(max_examples=200, deadline=None)
@given(pair=pairs(), factor=st.floats(1.0, 3.0))
def test_fraction_range_holds_every_close_lambda(pair: PiecePair, factor: float) -> None:
    found = pair.closest()
    if found is None:
        return
    d2, lam, _ = found
    limit2 = max(d2 * factor * factor, d2 + 1.0)
    corners = pair.polygon()
    extent = (min(c[0] for c in corners), max(c[0] for c in corners))
    lo, hi = pair.fraction_range(lam, extent, limit2)
    assert lo <= lam <= hi
    lams, _, squared = feasible_grid(pair)
    close = lams[squared < limit2 * (1.0 - 1e-9)]
    if len(close):
        assert lo <= float(close.min()) + 1e-9
        assert float(close.max()) - 1e-9 <= hi


def test_clip_keeps_the_closed_half_plane() -> None:
    square = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    left = clip_half_plane(square, 1.0, 0.0, -0.5)  # λ − 0.5 ≤ 0
    assert sorted(left) == [(0.0, 0.0), (0.0, 1.0), (0.5, 0.0), (0.5, 1.0)]
    assert clip_half_plane(square, 1.0, 1.0, 3.0) == []  # λ + μ + 3 ≤ 0: nothing
    edge = clip_half_plane(square, 1.0, 0.0, -1.0)  # λ ≤ 1: all of it
    assert edge == square
