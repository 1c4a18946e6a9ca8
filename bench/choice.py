"""Why the index is a space-time grid, and why these cell and bucket sizes: measured.

For a few grid settings, the W1 screen (broad phase + compiled narrow bounds, up to the
surviving declarations) on the mixed scene, the W2 all-pairs time on the movement scene,
and the grid's size. Against them, a shapely STRtree over the same element boxes (the other
candidate the issue names): its bulk query for the probe's widened segment boxes plus the
numpy time filter that must follow, since an R-tree over lon/lat knows nothing of time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from rich.console import Console
from rich.progress import Progress

from bench import scenes
from bench.conflicts import W1_RULE_M, W2_RULE_M, stats, timed
from deconflict.core.index import IndexedEngine
from deconflict.core.parties import SeparationRules

GRIDS = ((0.1, 3600.0), (0.05, 3600.0), (0.02, 900.0), (0.01, 600.0))


def run(console: Console, w1_n: int, w2_n: int, seed: int, probes: int) -> dict[str, Any]:
    w1_scene = scenes.mixed(seed, w1_n)
    w2_scene = scenes.movements(seed, w2_n)
    rules1 = SeparationRules(default_m=W1_RULE_M)
    rules2 = SeparationRules(default_m=W2_RULE_M)
    probe_list = [scenes.probe(seed * 1000 + k) for k in range(probes)]
    rows: list[dict[str, Any]] = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("index choice", total=len(GRIDS) + 1)
        for cell, bucket in GRIDS:
            engine = IndexedEngine(cell_deg=cell, bucket_s=bucket)
            load_s, _ = timed(engine.upsert_many, w1_scene)
            engine._candidate_slots(probe_list[0], rules1)
            screen = [timed(engine._candidate_slots, p, rules1)[0] for p in probe_list]
            broad = [
                timed(_grid_broad, engine, engine._query_elements(p), rules1) for p in probe_list
            ]
            keys = len(engine._rows)
            del engine
            pairs = IndexedEngine(cell_deg=cell, bucket_s=bucket, join_grid=(cell, bucket))
            pairs.upsert_many(w2_scene)
            pairs.all_pairs(rules2)
            w2_s = [timed(pairs.all_pairs, rules2)[0] for _ in range(2)]
            rows.append(
                {
                    "index": f"grid {cell}° × {bucket / 60:.0f} min",
                    "load_s": load_s,
                    "keys": keys,
                    "screen": stats(screen),
                    "w2_s": float(np.median(w2_s)),
                    "broad": stats([b[0] for b in broad]),
                    "candidates": float(np.median([b[1] for b in broad])),
                }
            )
            progress.advance(task)
        rows.append(_strtree(w1_scene, probe_list, rules1))
        progress.advance(task)
    return {"w1_n": w1_n, "w2_n": w2_n, "rows": rows}


def _strtree(scene: list[Any], probes: list[Any], rules: SeparationRules) -> dict[str, Any]:
    """Broad phase with shapely's STRtree over element boxes, then a numpy time filter.

    Only the broad phase is timed, as for the grid's "broad" column; the STRtree cannot be
    updated in place, so it would also need a delta and periodic rebuilds (W3)."""
    engine = IndexedEngine()
    engine.upsert_many(scene)
    store, _, size = engine._live()
    live = store.take(slice(0, size))
    west, south, east, north = live.bounds()
    load_s, tree = timed(lambda: shapely.STRtree(shapely.box(west, south, east, north)))
    first, last = live.reach()
    pad = (rules.largest_m + 300.0) / 80_000.0  # degrees; a rough, generous widening
    times, counts = [], []
    for p in probes:
        dt, n = timed(_broad, tree, engine._query_elements(p), pad, first, last)
        times.append(dt)
        counts.append(n)
    return {
        "index": "STRtree (space) + time filter",
        "load_s": load_s,
        "keys": size,
        "screen": None,
        "broad": stats(times),
        "w2_s": float("nan"),
        "candidates": float(np.median(counts)),
    }


def _broad(tree: Any, q: Any, pad: float, first: Any, last: Any) -> int:
    west, south, east, north = q.bounds()
    qi, rows = tree.query(shapely.box(west - pad, south - pad, east + pad, north + pad))
    q_first, q_last = q.reach()
    return int(((first[rows] <= q_last[qi]) & (q_first[qi] <= last[rows])).sum())


def _grid_broad(engine: IndexedEngine, q: Any, rules: SeparationRules) -> int:
    """The grid's broad phase alone, for a like-for-like comparison: keys, ranges, and the
    candidate count (with the duplicates the compiled scan later drops)."""
    margin = (rules.largest_m + q.buf + q.slack + 2.0) * 1.02
    keys, _, _ = engine._query_keys(q, margin)
    lo, hi = engine._ranges(keys)
    return int((hi - lo).sum())
