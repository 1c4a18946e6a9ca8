"""W3 churn (amend and cancel cost at the largest N) and W4 memory (resident set at N).

Churn is measured on the engine W1 built at its largest N, so the index is realistic: a
million declarations, a sorted grid of millions of keys. Each amend is timed as the service
pays for it: ``upsert`` (which is lazy) and then the flush that the next check would do,
one by one. Cancels are ``remove``. The rebuild that the delta eventually triggers is timed
separately and spread over the operations that caused it (amortised).

Memory is measured in a fresh interpreter (``python -m bench.churn N``), so that nothing
else the benchmark built is counted: resident memory of the interpreter alone, with the
N activities (what any engine must hold), and with the indexed engine on top.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import shapely

from bench import scenes
from bench.conflicts import W1_RULE_M, stats, timed
from deconflict.core.declarations import Activity
from deconflict.core.index import IndexedEngine
from deconflict.core.parties import SeparationRules


def _amended(a: Activity, rng: np.random.Generator) -> Activity:
    """The same declaration, version + 1, moved by up to a kilometre."""
    dx, dy = rng.uniform(-0.01, 0.01, 2)
    geometry = shapely.transform(a.geometry, lambda c: c + np.array([dx, dy]))
    return Activity(
        a.declaration_id,
        a.version + 1,
        a.party_id,
        a.kind,
        geometry,
        a.start,
        a.end,
        a.times,
        a.tolerance_s,
        a.buffer_m,
        a.altitude,
        a.category,
    )


def _amend(engine: IndexedEngine, a: Activity) -> None:
    engine.upsert(a)
    engine._flush()  # what the next check would do: cut and register the new version


def w3(engine: IndexedEngine, seed: int, operations: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    active = list(engine.active())
    picks = rng.choice(len(active), size=2 * operations, replace=False)
    amends = [_amended(active[i], rng) for i in picks[:operations].tolist()]
    cancels = [active[i].declaration_id for i in picks[operations:].tolist()]
    rebuilds_before = engine.rebuilds
    amend_times = [timed(_amend, engine, a)[0] for a in amends]
    cancel_times = [timed(engine.remove, i)[0] for i in cancels]
    probe = scenes.probe(seed)
    rules = SeparationRules(default_m=W1_RULE_M)
    with_delta = [timed(engine.conflicting, probe, rules)[0] for _ in range(20)]
    rebuild_s, _ = timed(engine.rebuild)
    rows = engine._main_rows
    delta_limit = max(engine.delta_min, rows // 8)
    per_row = rebuild_s / max(1, rows)
    elements_per_declaration = rows / max(1, len(engine))
    return {
        "n": len(active),
        "amend": stats(amend_times),
        "cancel": stats(cancel_times),
        "rebuild_s": rebuild_s,
        "delta_limit_rows": delta_limit,
        "amortised_rebuild_per_amend_s": rebuild_s * elements_per_declaration / delta_limit,
        "rebuild_per_row_s": per_row,
        "rebuilds_during": engine.rebuilds - rebuilds_before - 1,
        "verdict_with_delta": stats(with_delta),
    }


def w4(n: int, seed: int) -> dict[str, Any]:
    """Resident memory of a fresh interpreter holding N activities, then the engine too."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.churn", str(n), str(seed)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _rss_mb() -> tuple[float, float]:
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value
    return (float(fields["VmRSS"].split()[0]) / 1024, float(fields["VmHWM"].split()[0]) / 1024)


CHUNK = 50_000
"""Declarations generated and loaded at a time: the engine keeps them compactly, so the
scene's own objects are freed as the load goes, as they are when a service loads from its
database."""


def _measure(n: int, seed: int) -> dict[str, Any]:
    import gc

    base, _ = _rss_mb()

    def batches() -> Any:
        for k, start in enumerate(range(0, n, CHUNK)):
            yield scenes.mixed(seed * 7919 + k, min(CHUNK, n - start), prefix=f"d{k}-")

    engine = IndexedEngine()
    engine.load(batches())
    gc.collect()
    with_engine, peak = _rss_mb()
    activities = engine._activities.nbytes() / 2**20
    return {
        "n": n,
        "interpreter_mb": base,
        "activities_mb": activities,
        "engine_mb": with_engine - base - activities,
        "total_mb": with_engine,
        "peak_mb": peak,
        "elements": engine._size,
        "keys": len(engine._rows),
    }


if __name__ == "__main__":
    print(json.dumps(_measure(int(sys.argv[1]), int(sys.argv[2]))))
