"""Where a W1 verdict's time goes: ``python -m bench.phases [N] [seed]``.

Each step :meth:`IndexedEngine.conflicting` delegates to is wrapped with a timer on one
engine instance (the engine's code is not copied, so this cannot drift from it), every
probe is checked once as the benchmark does, and the medians are printed with the rest of
the verdict (numpy over the survivors: rules, certainty, the decision) as what remains.
The scan is then run a second time on each probe, which tells computation from cache
misses. Used for the breakdown in docs/performance.md.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench import scenes
from bench.conflicts import W1_RULE_M
from deconflict.core import polygon_pairs
from deconflict.core.index import IndexedEngine
from deconflict.core.parties import SeparationRules

STEPS = {
    "probe cut into elements": ("engine", "_query_elements"),
    "scan (keys, records, corridors, compiled walk)": ("engine", "_scan"),
    "polygon kernel": ("polygons", "measure_polygons"),
    "answer ids decoded": ("store", "ids_of"),
}


def _timed(fn: Callable[..., Any], into: list[float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - start)

    return wrapper


def measure(n: int, seed: int = 7, probes: int = 50) -> dict[str, float]:
    """Median seconds per step of a verdict at N declarations, and of the whole verdict."""
    rules = SeparationRules(default_m=W1_RULE_M)
    engine = IndexedEngine()
    engine.upsert_many(scenes.mixed(seed, n))
    for k in range(5):
        engine.conflicting(scenes.probe(seed * 1000 + 500 + k), rules)
    spent: dict[str, list[float]] = {name: [] for name in STEPS}
    owners = {"engine": engine, "store": engine._activities, "polygons": polygon_pairs}
    module_step = polygon_pairs.measure_polygons
    for name, (owner, attr) in STEPS.items():
        target = owners[owner]
        setattr(target, attr, _timed(getattr(target, attr), spent[name]))
    try:
        totals, again, per_probe = _run(engine, rules, seed, probes, spent)
    finally:  # the module's function is shared with everything else in this process
        polygon_pairs.measure_polygons = module_step
    medians = {name: float(np.median(times)) for name, times in per_probe.items()}
    medians["verdict"] = float(np.median(totals))
    medians["rest (rules, certainty, decision)"] = medians["verdict"] - sum(
        medians[name] for name in STEPS
    )
    medians["scan again on the same probe"] = float(np.median(again))
    return medians


def _run(
    engine: IndexedEngine,
    rules: SeparationRules,
    seed: int,
    probes: int,
    spent: dict[str, list[float]],
) -> tuple[list[float], list[float], dict[str, list[float]]]:
    per_probe: dict[str, list[float]] = {name: [] for name in STEPS}
    totals, again = [], []
    for k in range(probes):
        probe = scenes.probe(seed * 1000 + k)
        before = {name: len(times) for name, times in spent.items()}
        start = time.perf_counter()
        engine.conflicting(probe, rules)
        totals.append(time.perf_counter() - start)
        for name, times in spent.items():  # a step a probe never reaches counts as zero
            per_probe[name].append(sum(times[before[name] :]))
        start = time.perf_counter()
        engine._scan(engine._query_elements(probe), rules)
        again.append(time.perf_counter() - start)
    return totals, again, per_probe


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    for name, seconds in measure(n, seed).items():
        print(f"{name:<48} {seconds * 1e3:7.3f} ms")


if __name__ == "__main__":
    main()
