"""Conflict-engine workloads W1–W4 (DESIGN §7, issue 3), with their baselines in the same run.

W1 check one: a new 50-vertex, 24 h movement against N active declarations; the indexed
engine's verdict (``conflicting``) and full check (``check``, with encounters), the naive
loop (``ScanEngine``, on a sample when N is large, extrapolated linearly) and PostGIS.
W2 all pairs among N movements: ``all_pairs``, the naive loop on a sample (extrapolated) and
the PostGIS self-joins, with the pair sets compared where every engine can run.
W3 churn and W4 memory live in :mod:`bench.churn`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress

from bench import postgis, scenes
from deconflict.core.conflicts import find_encounter
from deconflict.core.declarations import Activity
from deconflict.core.engine import ScanEngine
from deconflict.core.index import IndexedEngine
from deconflict.core.parties import SeparationRules

W1_RULE_M = 300.0
W2_RULE_M = 1000.0


@dataclass
class Options:
    quick: bool = False
    smoke: bool = False
    postgres: bool = True
    plot: Path | None = Path("docs/performance-scaling.png")
    seed: int = 7
    dsn: str = postgis.DSN
    sizes: dict[str, list[int]] = field(default_factory=dict)

    def w1_sizes(self) -> list[int]:
        if self.smoke:
            return [300, 1000]
        return [1_000, 10_000, 30_000] if self.quick else [10_000, 100_000, 1_000_000]

    def w2_sizes(self) -> list[int]:
        if self.smoke:
            return [150, 300]
        return [1_000, 3_000, 10_000] if self.quick else [10_000, 30_000, 100_000]

    @property
    def probes(self) -> int:
        return 3 if self.smoke else 20 if self.quick else 50

    @property
    def naive_sample(self) -> int:
        return 200 if self.smoke else 1_000 if self.quick else 2_000

    @property
    def agree_size(self) -> int:
        return 120 if self.smoke else 400 if self.quick else 1_000

    @property
    def postgis_w2_sizes(self) -> list[int]:
        if self.smoke:
            return [150, 300]
        return [1_000, 3_000] if self.quick else [3_000, 10_000, 30_000, 100_000]


def stats(samples: list[float]) -> dict[str, float]:
    """Median, p99 and count of durations in seconds (p99 of 50 samples is about the max)."""
    a = np.array(samples, dtype=np.float64)
    return {
        "p50": float(np.median(a)),
        "p99": float(np.percentile(a, 99)),
        "mean": float(a.mean()),
        "n": float(len(a)),
    }


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def exponent(sizes: list[float], times: list[float]) -> float:
    """Slope of log(time) against log(N): cost grows as N to this power."""
    if len(sizes) < 2 or min(times) <= 0:
        return math.nan
    return float(np.polyfit(np.log(sizes), np.log(times), 1)[0])


# --- W1 --------------------------------------------------------------------------------------


def w1(console: Console, options: Options, pg: Any) -> dict[str, Any]:
    rules = SeparationRules(default_m=W1_RULE_M)
    probes = [scenes.probe(options.seed * 1000 + k) for k in range(options.probes)]
    # Probes of their own for warming up: every compiled kernel a verdict may call is loaded
    # on its first call (milliseconds each), and a polygon-free first probe would leave
    # that to a timed one; the timed probes' own data stays out of the caches.
    warm_up = [scenes.probe(options.seed * 1000 + 500 + k) for k in range(5)]
    rows: list[dict[str, Any]] = []
    engines: dict[int, IndexedEngine] = {}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("W1 check one", total=len(options.w1_sizes()))
        for n in options.w1_sizes():
            progress.update(task, description=f"W1 N={n:,}: scene")
            scene = scenes.mixed(options.seed, n)
            engine = IndexedEngine()
            progress.update(task, description=f"W1 N={n:,}: index")
            load_s, _ = timed(engine.upsert_many, scene)
            for p in warm_up:
                engine.conflicting(p, rules)
            progress.update(task, description=f"W1 N={n:,}: verdicts")
            verdict, found = [], []
            for p in probes:
                dt, ids = timed(engine.conflicting, p, rules)
                verdict.append(dt)
                found.append(ids)
            screen = [timed(engine._candidate_slots, p, rules)[0] for p in probes]
            progress.update(task, description=f"W1 N={n:,}: full checks")
            check = [timed(engine.check, p, rules)[0] for p in probes[: max(3, len(probes) // 5)]]
            progress.update(task, description=f"W1 N={n:,}: naive loop")
            naive = _naive_w1(scene, probes[:3], rules, options.naive_sample)
            row: dict[str, Any] = {
                "n": n,
                "load_s": load_s,
                "verdict": stats(verdict),
                "screen": stats(screen),
                "check": stats(check),
                "conflicts": float(np.median([len(f) for f in found])),
                "naive": naive,
                "elements": engine._size,
                "keys": len(engine._rows),
            }
            if pg is not None:
                progress.update(task, description=f"W1 N={n:,}: PostGIS")
                row["postgis"] = _postgis_w1(pg, scene, probes, found, rules)
            rows.append(row)
            engines[n] = engine
            progress.advance(task)
    sizes = [float(r["n"]) for r in rows]
    return {
        "rows": rows,
        "rule_m": W1_RULE_M,
        "probes": len(probes),
        "exponent": exponent(sizes, [r["verdict"]["p50"] for r in rows]),
        "engine": engines[max(engines)],
        "scene_n": max(engines),
    }


def _naive_w1(
    scene: list[Activity], probes: list[Activity], rules: SeparationRules, sample: int
) -> dict[str, Any]:
    """ScanEngine over (a sample of) the scene, its time scaled up linearly to all of it."""
    engine = ScanEngine()
    part = scene if len(scene) <= sample else scene[:: max(1, len(scene) // sample)][:sample]
    for a in part:
        engine.upsert(a)
    times = [timed(engine.check, p, rules)[0] for p in probes]
    scale = len(scene) / len(part)
    return {
        "p50": float(np.median(times)) * scale,
        "sample": len(part),
        "extrapolated": len(part) < len(scene),
    }


def _postgis_w1(
    pg: Any,
    scene: list[Activity],
    probes: list[Activity],
    found: list[list[str]],
    rules: SeparationRules,
) -> dict[str, Any]:
    conn = pg
    with postgis.schema(conn) as name:
        parties: dict[str, int] = {}
        load_s, count = timed(postgis.load_w1, conn, name, scene, parties)
        max_buf = max(a.buffer_m for a in scene)
        postgis.query_w1(conn, name, probes[0], rules.largest_m, max_buf)  # warm the cache
        times, missed = [], 0
        for p, ids in zip(probes, found, strict=True):
            dt, near = timed(postgis.query_w1, conn, name, p, rules.largest_m, max_buf)
            times.append(dt)
            screened = {scene[k].declaration_id for k in near}
            missed += len(set(ids) - screened)
        return {"load_s": load_s, "rows": count, **stats(times), "missed": missed}


# --- W2 --------------------------------------------------------------------------------------


def w2(console: Console, options: Options, pg: Any) -> dict[str, Any]:
    rules = SeparationRules(default_m=W2_RULE_M)
    rows: list[dict[str, Any]] = []
    with Progress(console=console, transient=True) as progress:
        sizes = options.w2_sizes()
        task = progress.add_task("W2 all pairs", total=len(sizes) + 2)
        progress.update(task, description="W2: every engine on the same small scene")
        agree = _agreement(options, rules, pg)
        progress.advance(task)
        for n in sizes:
            progress.update(task, description=f"W2 N={n:,}: all pairs")
            scene = scenes.movements(options.seed, n)
            engine = IndexedEngine()
            engine.upsert_many(scene)
            engine.all_pairs(rules)  # warm
            repeats = 3
            runs = []
            pairs: set[tuple[str, str]] = set()
            for _ in range(repeats):
                engine.rebuild()
                dt, pairs = timed(engine.all_pairs, rules)
                runs.append(dt)
            naive = _naive_w2(scene, rules, 3 if options.smoke else 8)
            rows.append(
                {
                    "n": n,
                    "all_pairs": stats(runs),
                    "pairs": len(pairs),
                    "uncertain": engine.last_uncertain,
                    "naive": naive,
                }
            )
            progress.advance(task)
        progress.update(task, description="W2: PostGIS self-joins")
        pg_rows = _postgis_w2(pg, options, rules) if pg is not None else []
        progress.advance(task)
    sizes_f = [float(r["n"]) for r in rows]
    result: dict[str, Any] = {
        "rows": rows,
        "rule_m": W2_RULE_M,
        "agree": agree,
        "postgis": pg_rows,
        "exponent": exponent(sizes_f, [r["all_pairs"]["p50"] for r in rows]),
    }
    for table in ("w2", "w2r"):
        joins = [r for r in pg_rows if r["table"] == table]
        if len(joins) >= 2:
            k = exponent([float(r["n"]) for r in joins], [r["seconds"] for r in joins])
            result[f"postgis_exponent_{table}"] = k
            last = joins[-1]
            result[f"postgis_at_max_{table}"] = last["seconds"] * (max(sizes_f) / last["n"]) ** k
    return result


def _naive_w2(scene: list[Activity], rules: SeparationRules, sample: int) -> dict[str, Any]:
    """ScanEngine.check for ``sample`` movements against all; all pairs ≈ N/2 such checks."""
    engine = ScanEngine()
    for a in scene:
        engine.upsert(a)
    times = [timed(engine.check, a, rules)[0] for a in scene[:sample]]
    return {
        "per_check": float(np.median(times)),
        "sample": sample,
        "extrapolated_s": float(np.median(times)) * len(scene) / 2.0,
    }


def _agreement(options: Options, rules: SeparationRules, pg: Any) -> dict[str, Any]:
    """All engines on one scene small enough for the naive loop: the same set of pairs?"""
    scene = scenes.movements(options.seed + 1, options.agree_size)
    scan = ScanEngine()
    for a in scene:
        scan.upsert(a)
    naive: set[tuple[str, str]] = set()
    for a in scene:
        for f in scan.check(a, rules):
            low, high = sorted((a.declaration_id, f.other.declaration_id))
            naive.add((low, high))
    engine = IndexedEngine()
    engine.upsert_many(scene)
    fast = engine.all_pairs(rules)
    out: dict[str, Any] = {
        "n": len(scene),
        "naive": len(naive),
        "indexed": len(fast),
        "agree": fast == naive,
    }
    if pg is not None:
        with postgis.schema(pg) as name:
            postgis.load_w2(pg, name, scene)
            for table in ("w2", "w2r"):
                got = {
                    tuple(sorted((scene[a].declaration_id, scene[b].declaration_id)))
                    for a, b in postgis.query_w2(pg, name, table, rules.largest_m)
                }
                out[f"postgis_{table}"] = len(got)
                out[f"postgis_{table}_differs"] = len(got ^ naive)
                out["agree"] = out["agree"] and got == naive
    return out


def _postgis_w2(pg: Any, options: Options, rules: SeparationRules) -> list[dict[str, Any]]:
    rows = []
    for n in options.postgis_w2_sizes:
        scene = scenes.movements(options.seed, n)
        engine = IndexedEngine()
        engine.upsert_many(scene)
        ours = engine.all_pairs(rules)
        with postgis.schema(pg) as name:
            postgis.load_w2(pg, name, scene)
            for table in ("w2", "w2r"):
                dt, got = timed(postgis.query_w2, pg, name, table, rules.largest_m)
                ids = {
                    tuple(sorted((scene[a].declaration_id, scene[b].declaration_id)))
                    for a, b in got
                }
                rows.append(
                    {
                        "n": n,
                        "table": table,
                        "seconds": dt,
                        "pairs": len(ids),
                        "differs": len(ids ^ ours),
                        "differs_closest_m": _closest_approaches(scene, ids ^ ours, rules),
                    }
                )
    return rows


def _closest_approaches(
    scene: list[Activity], pairs: set[tuple[str, str]], rules: SeparationRules
) -> list[float]:
    """The exact closest approach (find_encounter) of pairs one engine finds and the other
    does not: a disagreement within centimetres of S is the planar projection PostGIS works
    in, not a missed conflict; anything else would be a bug, and shows here as far from S."""
    by_id = {a.declaration_id: a for a in scene}
    reach = rules.largest_m + 10.0
    out = []
    for x, y in sorted(pairs)[:100]:
        encounter = find_encounter(by_id[x], by_id[y], reach)
        out.append(math.inf if encounter is None else encounter.distance_m)
    return out


def run_all(console: Console, options: Options) -> dict[str, Any]:
    """Every workload in order, then the tables, the plot and the JSON record."""
    from bench import churn, report

    pg: Any = None
    if options.postgres:
        conn = postgis.connect(options.dsn)
        if isinstance(conn, str):
            console.print(f"[bold red]PostGIS baseline skipped[/]: {conn}")
        else:
            pg = conn
            console.print(
                f"PostGIS baseline: {options.dsn} "
                f"({conn.execute('SELECT postgis_lib_version()').fetchone()})"
            )
    results: dict[str, Any] = {
        "options": {"quick": options.quick, "smoke": options.smoke, "seed": options.seed},
        "load": report.load(),
    }
    from bench import choice

    small = options.smoke or options.quick
    results["choice"] = choice.run(
        console,
        1_000 if options.smoke else 30_000 if small else 100_000,
        300 if options.smoke else 10_000 if small else 30_000,
        options.seed,
        3 if options.smoke else 20,
    )
    results["w1"] = w1(console, options, pg)
    engine = results["w1"].pop("engine")
    results["w2"] = w2(console, options, pg)
    ops = 200 if options.smoke else 2_000 if options.quick else 5_000
    results["w3"] = churn.w3(engine, options.seed, min(ops, len(engine) // 3))
    del engine
    n4 = max(options.w1_sizes())
    results["w4"] = churn.w4(n4, options.seed)
    if pg is not None:
        pg.close()
    results["load_after"] = report.load()
    report.show(console, results)
    if options.plot is not None:
        report.plot(results, options.plot)
        report.save(results, options.plot.with_suffix(".json"))
    return results
