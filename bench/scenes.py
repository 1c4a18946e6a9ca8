"""Reproducible synthetic scenes over a region the size of northeast Syria (~300 × 250 km).

Every scene is a pure function of its seed and size, so two runs (or two engines in one run)
see the same declarations. Geometries are built with shapely's array constructors and the
:class:`Activity` objects directly (no GeoJSON parsing), so a million declarations take
seconds, not minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from deconflict.core.declarations import Activity, Kind

WEST, EAST = 38.9, 42.25  # about 300 km at 36° N
SOUTH, NORTH = 35.0, 37.25  # about 250 km
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z; the 24 h horizon starts here
DAY = 86_400.0
M_PER_DEG_LAT = 110_950.0
M_PER_DEG_LON = 89_500.0  # at 36.1° N; only used to place things, never to measure them
PARTIES = 24
CATEGORIES: tuple[str | None, ...] = (None, None, "convoy", "patrol", "medical", "survey")

Rng = np.random.Generator
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Mix:
    """Shares of each kind of declaration in a mixed scene (they sum to 1)."""

    points: float = 0.45
    polygons: float = 0.20
    movements: float = 0.35
    open_ended: float = 0.03
    buffered: float = 0.15
    banded: float = 0.15


def _party(rng: Rng, n: int) -> list[str]:
    return [f"party-{k:02d}" for k in rng.integers(0, PARTIES, n).tolist()]


def _category(rng: Rng, n: int) -> list[str | None]:
    return [CATEGORIES[k] for k in rng.integers(0, len(CATEGORIES), n).tolist()]


def _buffers(rng: Rng, n: int, share: float) -> FloatArray:
    return np.where(rng.random(n) < share, rng.uniform(25.0, 200.0, n), 0.0)


def _bands(rng: Rng, n: int, share: float) -> list[tuple[float, float] | None]:
    low = rng.choice([0.0, 150.0, 500.0, 1500.0], n)
    high = low + rng.choice([300.0, 1000.0, 3000.0], n)
    banded = rng.random(n) < share
    return [
        (float(lo), float(hi)) if b else None
        for lo, hi, b in zip(low.tolist(), high.tolist(), banded.tolist(), strict=True)
    ]


def _positions(rng: Rng, n: int) -> tuple[FloatArray, FloatArray]:
    return rng.uniform(WEST, EAST, n), rng.uniform(SOUTH, NORTH, n)


def routes(
    rng: Rng,
    n: int,
    vertices: tuple[int, int],
    step_m: tuple[float, float],
    speed_ms: tuple[float, float],
    start: tuple[float, float],
) -> tuple[list[Any], list[FloatArray]]:
    """Random walks: ``n`` LineStrings and their strictly increasing vertex times."""
    counts = rng.integers(vertices[0], vertices[1] + 1, n)
    total = int(counts.sum())
    owner = np.repeat(np.arange(n), counts)
    first = np.cumsum(counts) - counts
    heading = rng.uniform(0.0, 2 * np.pi, n)[owner] + np.cumsum(rng.normal(0.0, 0.5, total))
    step = rng.uniform(step_m[0], step_m[1], total)
    step[first] = 0.0
    dx = step * np.cos(heading) / M_PER_DEG_LON
    dy = step * np.sin(heading) / M_PER_DEG_LAT
    lon0, lat0 = _positions(rng, n)
    x = np.cumsum(dx)
    y = np.cumsum(dy)
    x = x - np.repeat(x[first], counts) + lon0[owner]
    y = y - np.repeat(y[first], counts) + lat0[owner]
    speed = rng.uniform(speed_ms[0], speed_ms[1], n)[owner]
    dt = np.maximum(step / speed, 1.0)
    dt[first] = 0.0
    t = np.cumsum(dt)
    t = t - np.repeat(t[first], counts) + rng.uniform(start[0], start[1], n)[owner]
    lines = shapely.linestrings(np.column_stack([x, y]), indices=owner)
    times = np.split(t, np.cumsum(counts)[:-1])
    return list(lines), times


def _squares(rng: Rng, n: int) -> list[Any]:
    lon, lat = _positions(rng, n)
    half = rng.uniform(50.0, 800.0, n)
    turn = rng.uniform(0.0, np.pi / 2, n)
    corners = []
    for k in range(5):
        angle = turn + k * np.pi / 2
        corners.append(
            np.column_stack(
                [
                    lon + half * np.cos(angle) * 1.41 / M_PER_DEG_LON,
                    lat + half * np.sin(angle) * 1.41 / M_PER_DEG_LAT,
                ]
            )
        )
    ring = np.stack(corners, axis=1)
    return list(shapely.polygons(ring))


def mixed(seed: int, n: int, mix: Mix | None = None, prefix: str = "d") -> list[Activity]:
    """``n`` active declarations: point sites, small polygons and routes, over 24 h."""
    mix = mix or Mix()
    rng = np.random.default_rng(seed)
    n_pts = int(n * mix.points)
    n_poly = int(n * mix.polygons)
    n_mov = n - n_pts - n_poly
    out: list[Activity] = []
    lon, lat = _positions(rng, n_pts)
    places: list[tuple[Kind, Any]] = [(Kind.site, g) for g in shapely.points(lon, lat)]
    places += [
        (Kind.area if k % 3 == 0 else Kind.site, g) for k, g in enumerate(_squares(rng, n_poly))
    ]
    m = len(places)
    start = rng.uniform(T0 - 6 * 3600.0, T0 + DAY, m)
    length = rng.uniform(1800.0, 8 * 3600.0, m)
    open_ended = rng.random(m) < mix.open_ended
    parties, cats = _party(rng, m), _category(rng, m)
    bufs, bands = _buffers(rng, m, mix.buffered), _bands(rng, m, mix.banded)
    for k, (kind, geom) in enumerate(places):
        end = None if open_ended[k] else float(start[k] + length[k])
        out.append(
            Activity(
                f"{prefix}{k}",
                1,
                parties[k],
                kind,
                geom,
                float(start[k]),
                end,
                None,
                0.0,
                float(bufs[k]),
                bands[k],
                cats[k],
            )
        )
    lines, times = routes(
        rng, n_mov, (2, 12), (500.0, 6000.0), (3.0, 20.0), (T0 - 3600.0, T0 + DAY)
    )
    parties, cats = _party(rng, n_mov), _category(rng, n_mov)
    bufs, bands = _buffers(rng, n_mov, mix.buffered), _bands(rng, n_mov, mix.banded)
    tols = rng.choice([0.0, 300.0, 900.0], n_mov)
    for k in range(n_mov):
        t = times[k]
        out.append(
            Activity(
                f"{prefix}{m + k}",
                1,
                parties[k],
                Kind.movement,
                lines[k],
                float(t[0]),
                float(t[-1]),
                t,
                float(tols[k]),
                float(bufs[k]),
                bands[k],
                cats[k],
            )
        )
    order = rng.permutation(len(out))
    return [out[i] for i in order.tolist()]


def probe(seed: int, vertices: int = 50, ident: str = "probe") -> Activity:
    """W1's new declaration: one movement of ``vertices`` vertices over 24 h, τ = 900 s."""
    rng = np.random.default_rng(seed)
    lines, times = routes(rng, 1, (vertices, vertices), (1500.0, 4000.0), (0.5, 0.5), (T0, T0))
    t = times[0]
    t = T0 + (t - t[0]) * (DAY / max(float(t[-1] - t[0]), 1.0))
    return Activity(
        ident,
        1,
        "party-probe",
        Kind.movement,
        lines[0],
        float(t[0]),
        float(t[-1]),
        t,
        900.0,
        0.0,
        None,
        None,
    )


def movements(seed: int, n: int, tolerance_s: float = 0.0, prefix: str = "m") -> list[Activity]:
    """W2's scene: ``n`` routes over 24 h, no tolerance, buffer or band, so that the PostGIS
    self-join with ST_CPAWithin (same instant, planar distance) asks the same question."""
    rng = np.random.default_rng(seed)
    lines, times = routes(rng, n, (4, 14), (1000.0, 8000.0), (5.0, 20.0), (T0, T0 + DAY - 7200))
    parties = _party(rng, n)
    return [
        Activity(
            f"{prefix}{k}",
            1,
            parties[k],
            Kind.movement,
            lines[k],
            float(times[k][0]),
            float(times[k][-1]),
            times[k],
            tolerance_s,
            0.0,
            None,
            None,
        )
        for k in range(n)
    ]
