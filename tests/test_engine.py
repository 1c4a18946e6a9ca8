"""The indexed engine gives the same answers as ScanEngine (and so as find_encounter).

The property test builds random scenes of hundreds of declarations of every shape the
semantics knows (points, polygons with holes, multipolygons, routes with pauses and
instantaneous legs, open-ended windows, altitude bands, buffers, party and category rules),
packed into a few tens of kilometres so that conflicts are common, applies upserts, amends
and cancels in random order, and compares findings after every batch. The engine is built
with tiny grid cells, buckets and rebuild thresholds so that every path (delta, rebuild,
timeless layer, oversized query) is taken.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
import shapely
import shapely.affinity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from deconflict.core.declarations import Activity, Kind
from deconflict.core.engine import ScanEngine
from deconflict.core.index import IndexedEngine
from deconflict.core.parties import SeparationRule, SeparationRules

T0 = 1_767_225_600.0
LON, LAT = 40.5, 36.4
PARTIES = ("alpha", "bravo", "charlie", "delta")
CATEGORIES = (None, "convoy", "medical")


def square(lon: float, lat: float, half_deg: float) -> list[tuple[float, float]]:
    return [
        (lon - half_deg, lat - half_deg),
        (lon + half_deg, lat - half_deg),
        (lon + half_deg, lat + half_deg),
        (lon - half_deg, lat + half_deg),
    ]


def random_activity(
    rng: np.random.Generator,
    ident: str,
    version: int,
    spread: float,
) -> Activity:
    """One declaration of a random kind near (LON, LAT); ``spread`` in degrees."""
    party = PARTIES[int(rng.integers(len(PARTIES)))]
    category = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
    buffer = float(rng.choice([0.0, 0.0, 50.0, 300.0]))
    altitude = (
        None
        if rng.random() < 0.7
        else (float(rng.choice([0.0, 500.0])), float(rng.choice([500.0, 2000.0])))
    )
    lon = LON + float(rng.uniform(-spread, spread))
    lat = LAT + float(rng.uniform(-spread, spread))
    kind = int(rng.integers(6))
    if kind >= 3:  # half of them move
        n = int(rng.integers(2, 7))
        coords = [(lon, lat)]
        times = [T0 + float(rng.uniform(0.0, 6 * 3600.0))]
        for _ in range(n - 1):
            if rng.random() < 0.15:
                coords.append(coords[-1])  # a pause
            else:
                step = float(rng.uniform(0.002, 0.08))
                angle = float(rng.uniform(0.0, 2 * np.pi))
                coords.append(
                    (coords[-1][0] + step * np.cos(angle), coords[-1][1] + step * np.sin(angle))
                )
            instantaneous = rng.random() < 0.1
            times.append(times[-1] + (0.0 if instantaneous else float(rng.uniform(30, 2400))))
        t = np.array(times)
        tolerance = float(rng.choice([0.0, 120.0, 900.0]))
        return Activity(
            ident,
            version,
            party,
            Kind.movement,
            LineString(coords),
            float(t[0]),
            float(t[-1]),
            t,
            tolerance,
            buffer,
            altitude,
            category,
        )
    start = T0 + float(rng.uniform(-3600.0, 6 * 3600.0))
    end = None if rng.random() < 0.2 else start + float(rng.uniform(60.0, 5 * 3600.0))
    half = float(rng.uniform(0.001, 0.01))
    geometry: BaseGeometry
    if kind == 0:
        geometry = Point(lon, lat)
    elif kind == 1:
        hole = square(lon, lat, half / 2) if rng.random() < 0.3 else None
        geometry = Polygon(square(lon, lat, half), None if hole is None else [hole])
    else:
        geometry = MultiPolygon(
            [
                Polygon(square(lon, lat, half)),
                Polygon(square(lon + 4 * half, lat + 2 * half, half / 2)),
            ]
        )
    site_kind = Kind.site if kind != 2 or rng.random() < 0.5 else Kind.area
    return Activity(
        ident,
        version,
        party,
        site_kind,
        geometry,
        start,
        end,
        None,
        0.0,
        buffer,
        altitude,
        category,
    )


def rules_for(rng: np.random.Generator) -> SeparationRules:
    rules = SeparationRules(default_m=float(rng.choice([200.0, 500.0, 1000.0])))
    rules.set(SeparationRule("alpha", "bravo", None, 1500.0))
    rules.set(SeparationRule("alpha", "charlie", "medical", 2500.0))
    rules.set(SeparationRule("bravo", "delta", "convoy", 50.0))
    return rules


def same_findings(
    scan: ScanEngine, fast: IndexedEngine, probe: Activity, rules: SeparationRules
) -> None:
    expected = scan.check(probe, rules)
    found = fast.check(probe, rules)
    assert [(f.other.declaration_id, f.encounter) for f in found] == [
        (f.other.declaration_id, f.encounter) for f in expected
    ]
    assert fast.conflicting(probe, rules) == sorted(f.other.declaration_id for f in expected)


def scan_pairs(scan: ScanEngine, rules: SeparationRules) -> set[tuple[str, str]]:
    pairs = set()
    for a in scan.active():
        for f in scan.check(a, rules):
            pairs.add(tuple(sorted((a.declaration_id, f.other.declaration_id))))
    return pairs  # type: ignore[return-value]


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(100, 300),
    spread=st.sampled_from([0.05, 0.15, 0.3]),
    cell=st.sampled_from([0.01, 0.05, 0.2]),
    bucket=st.sampled_from([600.0, 3600.0]),
)
def test_same_findings_as_the_scan_under_upserts_and_removes(
    seed: int, size: int, spread: float, cell: float, bucket: float
) -> None:
    rng = np.random.default_rng(seed)
    rules = rules_for(rng)
    scan = ScanEngine()
    fast = IndexedEngine(
        cell_deg=cell,
        bucket_s=bucket,
        long_buckets=4,
        delta_min=40,
        max_query_keys=int(rng.choice([50, 200_000])),
        scan_runs=int(rng.choice([1, 3])),
        min_rows_per_run=1,
    )
    ids = [f"d{k}" for k in range(size)]
    versions: dict[str, int] = {}
    for batch in range(3):
        for _ in range(size // 2):
            ident = ids[int(rng.integers(size))]
            if ident in versions and rng.random() < 0.2:
                scan.remove(ident)
                fast.remove(ident)
                del versions[ident]
                continue
            versions[ident] = versions.get(ident, 0) + 1
            activity = random_activity(rng, ident, versions[ident], spread)
            scan.upsert(activity)
            fast.upsert(activity)
        assert len(fast) == len(scan) == len(versions)
        probes = [random_activity(rng, f"probe{batch}-{k}", 1, spread) for k in range(2)]
        active = list(scan.active())
        probes += [active[int(rng.integers(len(active)))] for _ in range(2)]
        for probe in probes:
            same_findings(scan, fast, probe, rules)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_all_pairs_are_the_pairs_the_scan_finds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rules = rules_for(rng)
    scan, fast = ScanEngine(), IndexedEngine(cell_deg=0.02, delta_min=16)
    for k in range(60):
        activity = random_activity(rng, f"d{k}", 1, 0.1)
        scan.upsert(activity)
        fast.upsert(activity)
    assert fast.all_pairs(rules, chunk=37) == scan_pairs(scan, rules)


def test_all_pairs_when_one_key_group_fills_the_output() -> None:
    """Sixty patrols of two parties on the same 500 m of road in the same hour: one key
    group holds hundreds of elements and gives thousands of element pairs, more than the
    join's first output (1,024), so its kernel stops mid-group, the output grows and the
    group resumes where it stopped. Every pair must still be found exactly once."""
    rng = np.random.default_rng(11)
    rules = SeparationRules(default_m=300.0)
    scan, fast = ScanEngine(), IndexedEngine(cell_deg=0.02)
    for k in range(60):
        lon = LON + np.cumsum(rng.uniform(0.0, 0.0006, 9))
        lat = LAT + rng.uniform(-0.0005, 0.0005, 9)
        times = T0 + np.cumsum(rng.uniform(20.0, 60.0, 9))
        patrol = Activity(
            f"p{k}", 1, PARTIES[k % 2], Kind.movement, LineString(zip(lon, lat, strict=True)),
            float(times[0]), float(times[-1]), times, 300.0, 0.0, None, None,
        )  # fmt: skip
        scan.upsert(patrol)
        fast.upsert(patrol)
    found = fast.all_pairs(rules)
    assert len(found) > 300
    assert found == scan_pairs(scan, rules)


# --- index maintenance ------------------------------------------------------------------------


def site(ident: str, lon: float, party: str = "alpha") -> Activity:
    return Activity(
        ident, 1, party, Kind.site, Point(lon, LAT), T0, T0 + 3600.0, None, 0.0, 0.0, None, None
    )


def crossing(ident: str = "route") -> Activity:
    t = np.array([T0, T0 + 1800.0])
    return Activity(
        ident,
        1,
        "bravo",
        Kind.movement,
        LineString([(LON - 0.1, LAT), (LON + 0.1, LAT)]),
        T0,
        T0 + 1800.0,
        t,
        0.0,
        0.0,
        None,
        None,
    )


@pytest.fixture
def rules() -> SeparationRules:
    return SeparationRules(default_m=500.0)


def test_upsert_replaces_the_previous_version(rules: SeparationRules) -> None:
    engine = IndexedEngine()
    engine.upsert(site("s", LON))
    assert engine.conflicting(crossing(), rules) == ["s"]
    moved = Activity(
        "s",
        2,
        "alpha",
        Kind.site,
        Point(LON, LAT + 0.5),
        T0,
        T0 + 3600.0,
        None,
        0.0,
        0.0,
        None,
        None,
    )
    engine.upsert(moved)
    assert len(engine) == 1
    assert engine.conflicting(crossing(), rules) == []
    engine.upsert(site("s", LON + 0.05))
    assert [f.other.version for f in engine.check(crossing(), rules)] == [1]


def test_remove_and_clear(rules: SeparationRules) -> None:
    engine = IndexedEngine(delta_min=1)
    for k in range(5):
        engine.upsert(site(f"s{k}", LON + 0.01 * k))
    assert engine.conflicting(crossing(), rules) == [f"s{k}" for k in range(5)]
    engine.remove("s2")
    engine.remove("never-declared")
    assert len(engine) == 4
    assert engine.conflicting(crossing(), rules) == ["s0", "s1", "s3", "s4"]
    engine.rebuild()
    assert engine.conflicting(crossing(), rules) == ["s0", "s1", "s3", "s4"]
    engine.clear()
    assert len(engine) == 0
    assert engine.check(crossing(), rules) == []
    assert engine.all_pairs(rules) == set()


def test_ids_are_found_before_and_after_the_batch_is_stored(rules: SeparationRules) -> None:
    """The engine keeps no id → slot dict: a declaration still waiting in the pending batch
    and one already in the store must both be found, replaced and removed by id."""
    engine = IndexedEngine()
    engine.upsert(site("kept", LON))
    assert engine.conflicting(crossing(), rules) == ["kept"]  # flushed into the store
    engine.upsert(site("waiting", LON + 0.01))
    engine.upsert(site("waiting", LON + 0.02))  # replaced while still pending
    engine.upsert(site("gone", LON + 0.03))
    engine.remove("gone")  # removed while still pending
    engine.upsert(site("kept", LON + 0.04))  # replaced after being stored
    assert len(engine) == 2
    assert engine.conflicting(crossing(), rules) == ["kept", "waiting"]
    assert sorted(a.declaration_id for a in engine.active()) == ["kept", "waiting"]
    engine.remove("kept")
    engine.upsert(site("gone", LON))  # an id comes back after removal
    assert len(engine) == 2
    assert engine.conflicting(crossing(), rules) == ["gone", "waiting"]


@pytest.mark.parametrize("year_s", [-700_000_000.0, 4_072_000_000.0])  # 1947 and 2099
def test_times_beyond_the_packed_records_range(rules: SeparationRules, year_s: float) -> None:
    """Packed records hold seconds within 68 years of 2023, clamped beyond: an open-ended
    site must still meet a movement planned past that range, and a site declared open since
    before it must too."""
    since_2023 = Activity(
        "since-2023", 1, "alpha", Kind.site, Point(LON, LAT), 1_700_000_000.0, None,
        None, 0.0, 0.0, None, None,
    )  # fmt: skip
    since_1940 = Activity(
        "since-1940", 1, "charlie", Kind.site, Point(LON, LAT), -950_000_000.0, None,
        None, 0.0, 0.0, None, None,
    )  # fmt: skip
    route = LineString([(LON - 0.02, LAT - 0.01), (LON + 0.02, LAT + 0.01)])
    times = np.array([year_s, year_s + 1800.0])
    probe = Activity(
        "far", 1, "bravo", Kind.movement, route, year_s, year_s + 1800.0, times, 0.0, 0.0,
        None, None,
    )  # fmt: skip
    engine, scan = IndexedEngine(), ScanEngine()
    for declared in (since_2023, since_1940):
        engine.upsert(declared)
        scan.upsert(declared)
    expected = sorted(f.other.declaration_id for f in scan.check(probe, rules))
    if year_s > 0:
        assert expected == ["since-1940", "since-2023"]
    assert engine.conflicting(probe, rules) == expected
    engine.upsert(probe)
    scan.upsert(probe)
    assert engine.all_pairs(rules) == scan_pairs(scan, rules)


def test_a_declaration_is_not_checked_against_itself_nor_its_own_party(
    rules: SeparationRules,
) -> None:
    engine = IndexedEngine()
    engine.upsert(crossing("r1"))
    engine.upsert(site("own", LON, party="bravo"))
    assert engine.check(crossing("r1"), rules) == []
    engine.upsert(site("other", LON, party="alpha"))
    assert engine.conflicting(crossing("r1"), rules) == ["other"]
    assert engine.all_pairs(rules) == {("other", "r1"), ("other", "own")}  # sites of two parties


def test_bulk_load_splits_every_geometry_into_elements() -> None:
    engine = IndexedEngine()
    parts = MultiPolygon([Polygon(square(LON, LAT, 0.01)), Polygon(square(LON + 1, LAT, 0.01))])
    engine.upsert_many(
        [
            crossing("r"),
            site("p", LON),
            Activity("m", 1, "alpha", Kind.area, parts, T0, None, None, 0.0, 0.0, None, None),
        ]
    )
    _, alive, size = engine._live()
    assert size == 4  # one segment, one point, two polygon parts
    assert alive[:size].all()
    assert shapely.get_num_geometries(parts) == 2


def test_benchmark_smoke() -> None:
    """A tiny run of every workload, so that `make bench` cannot rot (no timings checked)."""
    from bench.conflicts import Options, run_all
    from rich.console import Console

    console = Console(quiet=True)
    results: dict[str, Any] = run_all(
        console, Options(quick=True, smoke=True, postgres=False, plot=None)
    )
    assert results["w1"]["rows"]
    assert results["w2"]["agree"]


def test_verdict_phases_smoke() -> None:
    """bench.phases wraps the engine's own steps: if one is renamed, this fails."""
    from bench.phases import STEPS, measure

    medians = measure(300, probes=3)
    assert set(STEPS) <= set(medians)
    assert medians["scan (keys, records, corridors, compiled walk)"] > 0.0
    assert medians["verdict"] >= max(medians[name] for name in STEPS)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), strict=st.booleans())
def test_compiled_kernels_match_the_numpy_definition(seed: int, strict: bool) -> None:
    from deconflict.core import compiled
    from deconflict.core.elements import of_activities
    from deconflict.core.narrow import pair_bounds

    rng = np.random.default_rng(seed)
    acts = [random_activity(rng, f"d{k}", 1, 0.05) for k in range(40)]
    elems, _ = of_activities(
        acts, np.zeros(len(acts), dtype=np.int64), np.arange(len(acts), dtype=np.int64)
    )
    n = len(elems)
    qi, rows = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
    cols = compiled.columns(elems)
    dist, err = compiled.evaluate(cols, qi, cols, rows, strict)
    ref_dist, ref_err, ok = pair_bounds(elems.take(qi), elems.take(rows), strict=strict)
    assert np.array_equal(np.isfinite(dist), ok)
    assert np.allclose(dist[ok], ref_dist[ok], rtol=1e-9, atol=1e-6)
    assert np.allclose(err[ok], ref_err[ok], rtol=1e-9, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), limit=st.sampled_from([50.0, 500.0, 5000.0]))
def test_both_bounds_from_one_setup_equal_the_two_separate_bounds(seed: int, limit: float) -> None:
    """``_pair_both`` shares one set-up and skips the strict measure where the slack cannot
    change it; its four answers must be exactly those of two ``_pair`` calls."""
    from deconflict.core import compiled
    from deconflict.core.elements import of_activities

    rng = np.random.default_rng(seed)
    acts = [random_activity(rng, f"d{k}", 1, 0.05) for k in range(30)]
    elems, _ = of_activities(
        acts, np.zeros(len(acts), dtype=np.int64), np.arange(len(acts), dtype=np.int64)
    )
    cols = compiled.columns(elems)
    for i in range(len(elems)):
        for j in range(len(elems)):
            d, e, sd, se = compiled._pair_both(cols, i, cols, j, limit)
            assert (d, e) == compiled._pair(cols, i, cols, j, limit)
            if d - e < limit:
                assert (sd, se) == compiled._pair(cols, i, cols, j, math.inf, 0.0)
            else:
                assert (sd, se) == (math.inf, 0.0)


# --- the paths a large scene takes: batched self-join, bulk load, the band near S -----------


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    chunk=st.sampled_from([1, 7, 64]),
    threads=st.sampled_from([1, 3]),
)
def test_all_pairs_in_small_join_batches(seed: int, chunk: int, threads: int) -> None:
    """The self-join gathers grid entries in batches that must never split a key's group,
    and runs them on one thread or several."""
    from deconflict.core import narrow

    rng = np.random.default_rng(seed)
    rules = rules_for(rng)
    scan = ScanEngine()
    fast = IndexedEngine(cell_deg=0.02, delta_min=16, scan_runs=threads)
    for k in range(60):
        activity = random_activity(rng, f"d{k}", 1, 0.1)
        scan.upsert(activity)
        fast.upsert(activity)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(narrow, "JOIN_CHUNK", chunk)
        assert fast.all_pairs(rules) == scan_pairs(scan, rules)


def test_bulk_load_in_batches_answers_like_upserts(rules: SeparationRules) -> None:
    rng = np.random.default_rng(11)
    scene = [random_activity(rng, f"d{k}", 1, 0.1) for k in range(200)]
    loaded, upserted = IndexedEngine(), IndexedEngine()
    loaded.load(scene[k : k + 30] for k in range(0, len(scene), 30))
    upserted.upsert_many(scene)
    assert sorted(a.declaration_id for a in loaded.active()) == [
        a.declaration_id for a in sorted(scene, key=lambda a: a.declaration_id)
    ]
    assert loaded.all_pairs(rules) == upserted.all_pairs(rules)
    for probe in scene[:20]:
        assert loaded.conflicting(probe, rules) == upserted.conflicting(probe, rules)


def parallel_route(ident: str, party: str, offset_m: float, length_deg: float) -> Activity:
    """An east-bound route ``offset_m`` north of LAT, long legs (large tangent-plane error)."""
    lat = LAT + offset_m / 110_950.0
    t = np.array([T0, T0 + 1200.0, T0 + 2400.0])
    line = LineString([(LON - length_deg, lat), (LON, lat), (LON + length_deg, lat)])
    return Activity(ident, 1, party, Kind.movement, line, T0, T0 + 2400.0, t, 0.0, 0.0, None, None)


@pytest.mark.parametrize("gap_m", [-2.0, -0.3, -0.02, 0.02, 0.3, 2.0])
def test_pairs_within_centimetres_of_the_separation(gap_m: float) -> None:
    """Two routes with 8 km legs run side by side at S + gap: inside the tangent plane's
    metres of error, so the geocentric refinement (or find_encounter) decides, and must
    decide as find_encounter does."""
    rules = SeparationRules(default_m=500.0)
    scan, fast = ScanEngine(), IndexedEngine()
    a = parallel_route("a", "alpha", 0.0, 0.09)
    b = parallel_route("b", "bravo", 500.0 + gap_m, 0.09)
    for x in (a, b):
        scan.upsert(x)
        fast.upsert(x)
    expected = scan_pairs(scan, rules)
    assert fast.all_pairs(rules) == expected
    assert fast.conflicting(a, rules) == (["b"] if expected else [])


def test_checks_on_other_threads_while_the_index_is_written(rules: SeparationRules) -> None:
    """The service runs dry-run checks on worker threads while the sequencer writes. Writes
    far from the probes (forcing flushes and rebuilds) must never change or break their
    answers."""
    import threading

    rng = np.random.default_rng(5)
    near = [random_activity(rng, f"d{k}", 1, 0.1) for k in range(150)]
    probes = [random_activity(rng, f"p{k}", 1, 0.1) for k in range(6)]
    engine = IndexedEngine(cell_deg=0.02, delta_min=8, scan_runs=2, min_rows_per_run=1)
    engine.upsert_many(near)
    expected = [engine.conflicting(p, rules) for p in probes]
    answers: list[list[list[str]]] = [[], [], []]
    failures: list[BaseException] = []

    def read(mine: list[list[str]]) -> None:
        try:
            for _ in range(15):
                mine.extend([engine.conflicting(p, rules) for p in probes])
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    readers = [threading.Thread(target=read, args=(mine,)) for mine in answers]
    for thread in readers:
        thread.start()
    for k in range(300):  # random shapes moved 5° east: no conflict with any probe
        base = random_activity(rng, f"far{k % 40}", k + 1, 0.1)
        moved = shapely.affinity.translate(base.geometry, xoff=5.0)
        engine.upsert(dataclasses.replace(base, geometry=moved))
        if k % 7 == 0:
            engine.remove(f"far{(k + 3) % 40}")
    for thread in readers:
        thread.join()
    assert not failures
    assert answers == [expected * 15] * 3


def test_reading_kernels_cannot_allocate() -> None:
    """``compiled.reading`` drops numba's reference counts, which is sound only for kernels
    that allocate nothing: one that tries must fail to compile, not leak or crash."""
    import numba

    from deconflict.core.compiled import reading

    def allocates(n: int) -> float:
        return float(np.empty(n).sum())

    with pytest.raises(numba.core.errors.TypingError):
        reading(allocates)(3)
