"""Two timed route pieces in fraction space: the convex closest-approach problem.

A pair of route pieces, each a straight line in the pair's local projection travelled at
constant speed, is parametrised by the fractions (λ, μ) ∈ [0, 1]² along them. The schedule
constraint |s(λ) − u(μ)| ≤ T (the two tolerances summed) is a band between two parallel
lines, so the feasible set is a convex polygon, and the squared distance between the two
positions is a convex quadratic over it: its minimum is the unconstrained minimiser (if
feasible) or lies on the polygon's boundary, both in closed form. This is the movement ×
movement core of :func:`deconflict.core.conflicts.find_encounter`, kept apart because it is
pure arithmetic with no declarations in it (docs/conflicts.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

BISECTION_TOLERANCE = 1e-10
"""Fraction of a route piece to which a movement × movement window edge is located."""


@dataclass(frozen=True)
class PiecePair:
    """Piece i of a (fraction λ) against piece j of b (fraction μ).

    Offset between the two positions: ``w + λ u − μ v``. Schedule gap:
    ``c(λ, μ) = Δ + λ da − μ db``, which must lie in [−T, T].
    """

    w: tuple[float, float]
    u: tuple[float, float]
    v: tuple[float, float]
    delta: float
    da: float
    db: float
    tolerance: float

    def swapped(self) -> PiecePair:
        """The same pair with the roles of a and b exchanged (so μ becomes the first fraction)."""
        return PiecePair(
            (-self.w[0], -self.w[1]), self.v, self.u, -self.delta, self.db, self.da, self.tolerance
        )

    def squared(self, lam: float, mu: float) -> float:
        dx = self.w[0] + lam * self.u[0] - mu * self.v[0]
        dy = self.w[1] + lam * self.u[1] - mu * self.v[1]
        return dx * dx + dy * dy

    def feasible(self, lam: float, mu: float) -> bool:
        gap = self.delta + lam * self.da - mu * self.db
        return 0.0 <= lam <= 1.0 and 0.0 <= mu <= 1.0 and -self.tolerance <= gap <= self.tolerance

    def polygon(self) -> list[tuple[float, float]]:
        """The feasible (λ, μ): the unit square cut by c ≤ T and −c ≤ T (may be degenerate)."""
        square = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
        upper = clip_half_plane(square, self.da, -self.db, self.delta - self.tolerance)
        return clip_half_plane(upper, -self.da, self.db, -self.delta - self.tolerance)

    def closest(self) -> tuple[float, float, float] | None:
        """Minimum squared distance over the feasible set and where: (d², λ, μ)."""
        corners = self.polygon()
        if not corners:
            return None
        interior = self._critical_point()
        if interior is not None and self.feasible(*interior):
            return (self.squared(*interior), *interior)
        best: tuple[float, float, float] | None = None
        for n, p in enumerate(corners):
            q = corners[(n + 1) % len(corners)]
            candidate = self._closest_on_edge(p, q)
            if best is None or candidate[0] < best[0]:
                best = candidate
        return best

    def _critical_point(self) -> tuple[float, float] | None:
        """The unconstrained minimiser, when the Hessian is non-singular (pieces not parallel)."""
        uu = self.u[0] * self.u[0] + self.u[1] * self.u[1]
        vv = self.v[0] * self.v[0] + self.v[1] * self.v[1]
        uv = self.u[0] * self.v[0] + self.u[1] * self.v[1]
        uw = self.u[0] * self.w[0] + self.u[1] * self.w[1]
        vw = self.v[0] * self.w[0] + self.v[1] * self.w[1]
        det = uu * vv - uv * uv
        if det <= 1e-12 * uu * vv or det == 0.0:
            return None
        return ((uv * vw - uw * vv) / det, (uu * vw - uv * uw) / det)

    def _closest_on_edge(
        self,
        p: tuple[float, float],
        q: tuple[float, float],
    ) -> tuple[float, float, float]:
        """Minimise the 1-D convex quadratic along the segment p → q of (λ, μ) space."""
        dx = self.w[0] + p[0] * self.u[0] - p[1] * self.v[0]
        dy = self.w[1] + p[0] * self.u[1] - p[1] * self.v[1]
        ex = (q[0] - p[0]) * self.u[0] - (q[1] - p[1]) * self.v[0]
        ey = (q[0] - p[0]) * self.u[1] - (q[1] - p[1]) * self.v[1]
        ee = ex * ex + ey * ey
        t = 0.0 if ee == 0.0 else min(max(-(dx * ex + dy * ey) / ee, 0.0), 1.0)
        lam, mu = p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])
        return (self.squared(lam, mu), lam, mu)

    def profile(self, lam: float) -> float:
        """g(λ): the least squared distance over the feasible μ at this λ (inf if none).

        Partial minimisation of a jointly convex function over a convex set, so g is convex:
        the λ with g(λ) < S² form an interval, which :meth:`fraction_range` finds by bisection.
        """
        base = self.delta + lam * self.da
        if self.db > 0.0:
            lo = max(0.0, (base - self.tolerance) / self.db)
            hi = min(1.0, (base + self.tolerance) / self.db)
        elif -self.tolerance <= base <= self.tolerance:
            lo, hi = 0.0, 1.0
        else:
            return math.inf
        if lo > hi:
            if lo - hi > 1e-9:
                return math.inf
            lo = hi = (lo + hi) / 2.0  # a vertex of the feasible polygon, blurred by rounding
        px, py = self.w[0] + lam * self.u[0], self.w[1] + lam * self.u[1]
        vv = self.v[0] * self.v[0] + self.v[1] * self.v[1]
        mu = lo if vv == 0.0 else min(max((px * self.v[0] + py * self.v[1]) / vv, lo), hi)
        return self.squared(lam, mu)

    def fraction_range(
        self,
        inside: float,
        bounds: tuple[float, float],
        limit2: float,
    ) -> tuple[float, float]:
        """The hull of λ whose profile is below ``limit2``, given one such λ (``inside``) and
        the feasible polygon's extent in λ (``bounds``)."""
        return (
            _edge_of(self.profile, inside, bounds[0], limit2),
            _edge_of(self.profile, inside, bounds[1], limit2),
        )


def clip_half_plane(
    polygon: list[tuple[float, float]],
    alpha: float,
    beta: float,
    gamma: float,
) -> list[tuple[float, float]]:
    """Sutherland–Hodgman: keep the part of a convex polygon where αλ + βμ + γ ≤ 0 (closed)."""
    out: list[tuple[float, float]] = []
    for n, p in enumerate(polygon):
        q = polygon[(n + 1) % len(polygon)]
        hp = alpha * p[0] + beta * p[1] + gamma
        hq = alpha * q[0] + beta * q[1] + gamma
        if hp <= 0.0:
            out.append(p)
        if (hp < 0.0 < hq) or (hq < 0.0 < hp):
            t = hp / (hp - hq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def _edge_of(
    profile: Callable[[float], float],
    inside: float,
    outer: float,
    limit2: float,
) -> float:
    """Bisection between a λ inside the sublevel set and the polygon's extreme λ.

    Returns the outer end of the final bracket, so the window errs on the wide side.
    """
    if profile(outer) < limit2:
        return outer
    lo, hi = inside, outer
    while abs(hi - lo) > BISECTION_TOLERANCE:
        mid = (lo + hi) / 2.0
        if profile(mid) < limit2:
            lo = mid
        else:
            hi = mid
    return float(hi)
