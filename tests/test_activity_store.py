"""ActivityStore gives back exactly what was put in, however slots are replaced and packed.

Activities are random in every field the engine reads: points, line strings, polygons with
holes in either orientation, multipolygons, open-ended windows, altitude bands, buffers,
categories, and coordinates that are any finite float (signed zeros and subnormals included),
so "equal" means bit for bit. Geometries no declaration can hold (3-D, empty, collections)
and times that do not match the vertices are kept aside and must round-trip too.
"""

from __future__ import annotations

import json
import math
import pickle
from typing import Any

import numpy as np
import pytest
import shapely
from bench import scenes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import (
    GeometryCollection,
    LineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
)
from shapely.geometry.base import BaseGeometry

from deconflict.core import activity_store
from deconflict.core.activity_store import ActivityStore
from deconflict.core.declarations import Activity, DeclarationFeature, Kind
from deconflict.core.flat_shapes import decompose, ring_offsets

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

lons = st.floats(-180.0, 180.0, allow_nan=False, allow_subnormal=True)
lats = st.floats(-90.0, 90.0, allow_nan=False, allow_subnormal=True)
positions = st.tuples(lons, lats)


@st.composite
def rings(draw: st.DrawFn) -> list[tuple[float, float]]:
    """A closed ring of 3–7 random positions: any orientation, valid or not."""
    points = draw(st.lists(positions, min_size=3, max_size=7))
    return [*points, points[0]]


@st.composite
def polygons(draw: st.DrawFn) -> Polygon:
    return Polygon(draw(rings()), draw(st.lists(rings(), max_size=2)))


@st.composite
def multipolygons(draw: st.DrawFn) -> MultiPolygon:
    return MultiPolygon(draw(st.lists(polygons(), min_size=1, max_size=3)))


points = st.builds(Point, positions)
lines = st.lists(positions, min_size=2, max_size=12).map(LineString)
odd_geometries = st.sampled_from(
    [
        Point(1.0, 2.0, 3.0),
        MultiPoint([(0.0, 0.0), (1.0, 1.0)]),
        GeometryCollection([Point(0.0, 0.0), LineString([(0, 0), (1, 1)])]),
        Polygon(),
        Point(),
        LineString([(0.0, 0.0, 1.0), (1.0, 1.0, 2.0)]),
    ]
)
times_s = st.floats(0.0, 2e10, allow_nan=False)


@st.composite
def activities(draw: st.DrawFn, odd: bool = False) -> Activity:
    kind = draw(st.sampled_from(list(Kind)))
    geometry: BaseGeometry
    if odd and draw(st.booleans()):
        geometry = draw(odd_geometries)
    elif kind is Kind.movement:
        geometry = draw(lines)
    elif kind is Kind.site:
        geometry = draw(st.one_of(points, polygons(), multipolygons()))
    else:
        geometry = draw(st.one_of(polygons(), multipolygons()))
    times = None
    if kind is Kind.movement:
        count = int(shapely.get_num_coordinates(geometry))
        if odd and draw(st.booleans()):  # times that do not match the vertices
            count = max(0, count + draw(st.sampled_from([-1, 1])))
        times = np.sort(np.array(draw(st.lists(times_s, min_size=count, max_size=count))))
        start = float(times[0]) if len(times) else draw(times_s)
        end: float | None = float(times[-1]) if len(times) else start
        tolerance = draw(st.sampled_from([0.0, 300.0, 900.0, 1234.5]))
    else:
        start = draw(times_s)
        end = draw(st.one_of(st.none(), times_s.map(lambda t: start + t + 1.0)))
        tolerance = 0.0
    band = draw(st.one_of(st.none(), st.tuples(st.floats(-500.0, 5e4), st.floats(0.0, 5e4))))
    altitude = None if band is None else (band[0], band[0] + band[1])
    return Activity(
        draw(st.text(min_size=1, max_size=12)),
        draw(st.integers(1, 2**40)),
        draw(st.sampled_from(["alpha", "bravo", "charlie", "p-" + "x" * 40])),
        kind,
        geometry,
        start,
        end,
        times,
        tolerance,
        draw(st.sampled_from([0.0, 25.5, 100_000.0])),
        altitude,
        draw(st.sampled_from([None, "convoy", "medical", "a.b-c_9"])),
    )


def identical(a: BaseGeometry, b: BaseGeometry) -> bool:
    """Same type, same coordinates bit for bit, in the same order (rings and parts too)."""
    if type(a) is not type(b):
        return False
    if hasattr(shapely, "equals_identical"):
        return bool(shapely.equals_identical(a, b))
    return bool(shapely.to_wkb(a) == shapely.to_wkb(b))  # pragma: no cover - shapely < 2.1


def assert_same(got: Activity, want: Activity) -> None:
    assert got.declaration_id == want.declaration_id
    assert type(got.declaration_id) is str
    assert got.version == want.version
    assert got.party_id == want.party_id
    assert got.kind is want.kind
    assert identical(got.geometry, want.geometry), (got.geometry.wkt, want.geometry.wkt)
    for field in ("start", "end", "tolerance_s", "buffer_m", "altitude", "category"):
        g, w = getattr(got, field), getattr(want, field)
        assert g == w, field
        assert type(g) is type(w), field
    if want.times is None:
        assert got.times is None
    else:
        assert got.times is not None
        assert got.times.dtype == np.float64
        assert got.times.tobytes() == np.asarray(want.times, dtype=np.float64).tobytes()


def assert_holds(store: ActivityStore, model: dict[int, Activity]) -> None:
    """The store holds exactly ``model``, by every accessor."""
    assert len(store) == len(model)
    assert store.slots().tolist() == sorted(model)
    for slot, act in model.items():
        assert slot in store
        assert_same(store.get(slot), act)
        assert store.declaration_id(slot) == act.declaration_id
        found = store.slot_of(act.declaration_id)  # one of the slots holding this id
        assert model[found].declaration_id == act.declaration_id
        assert store.party_id(slot) == act.party_id
        assert store.category(slot) == act.category
    many = store.get_many(sorted(model))
    for got, slot in zip(many, sorted(model), strict=True):
        assert_same(got, model[slot])
    for slot in range(store.size):
        if slot not in model:
            assert slot not in store
            assert store.ids[slot] is None


@given(st.lists(activities(odd=True), min_size=1, max_size=12), st.randoms())
@FAST
def test_put_many_round_trips_every_field(acts: list[Activity], rnd: Any) -> None:
    store = ActivityStore()
    slots = rnd.sample(range(3 * len(acts)), len(acts))
    store.put_many(slots, acts)
    assert_holds(store, dict(zip(slots, acts, strict=True)))


@given(st.lists(activities(odd=True), min_size=1, max_size=10))
@FAST
def test_put_one_by_one_stores_the_same_columns_as_put_many(acts: list[Activity]) -> None:
    one, many = ActivityStore(), ActivityStore()
    for slot, act in enumerate(acts):
        one.put(slot, act)
    many.put_many(range(len(acts)), acts)
    for name, a, b in zip(one.columns()._fields, one.columns(), many.columns(), strict=True):
        assert a.dtype == b.dtype, name
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
    for a, b in zip(one.rings(), many.rings(), strict=True):
        assert np.array_equal(a, b)
    assert one.party_names == many.party_names
    assert one.category_names == many.category_names


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("put"), st.integers(0, 7), activities(odd=True)),
            st.tuples(
                st.just("put_many"),
                st.lists(st.integers(0, 9), min_size=2, max_size=5, unique=True),
                st.lists(activities(), min_size=5, max_size=5),
            ),
            st.tuples(st.just("remove"), st.integers(0, 9), st.none()),
            st.tuples(st.just("compact"), st.none(), st.none()),
        ),
        min_size=1,
        max_size=8,
    )
)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_replacing_removing_and_compacting_keep_every_live_slot(ops: list[Any]) -> None:
    store, model = ActivityStore(), {}
    for op, slot, payload in ops:
        if op == "put":
            store.put(slot, payload)
            model[slot] = payload
        elif op == "put_many":
            store.put_many(slot, payload[: len(slot)])
            model.update(zip(slot, payload, strict=False))
        elif op == "remove":
            if slot in model:
                store.remove(slot)
                del model[slot]
            else:
                with pytest.raises(KeyError):
                    store.remove(slot)
        else:
            store.compact()
            assert store.dead_fraction() == 0.0
            view = store.rings()
            live_vertices = sum(len(store.coordinates(s)[0]) for s in model)
            assert len(view.xs) == live_vertices
        assert_holds(store, model)
    store.compact()
    assert_holds(store, model)


@given(st.lists(st.one_of(polygons(), multipolygons()), min_size=1, max_size=6))
@FAST
def test_part_rings_are_shapelys_parts_and_rings(geoms: list[BaseGeometry]) -> None:
    store = ActivityStore()
    acts = [
        Activity(f"a{i}", 1, "p", Kind.area, g, 0.0, None, None, 0.0, 0.0, None, None)
        for i, g in enumerate(geoms)
    ]
    store.put_many(range(len(acts)), acts)
    store.remove(0)
    store.put(0, acts[0])  # the replaced block is dead space until compact
    for _ in range(2):
        view = store.rings()
        for slot, geom in enumerate(geoms):
            parts = shapely.get_parts(geom)
            with pytest.raises(IndexError):
                store.part_rings(slot, len(parts))
            for k, part in enumerate(parts):
                xs, ys, starts = store.part_rings(slot, k)
                want = [shapely.get_coordinates(r) for r in shapely.get_rings(part)]
                assert starts.tolist() == np.cumsum([0] + [len(w) for w in want]).tolist()
                assert np.column_stack([xs, ys]).tobytes() == np.concatenate(want).tobytes()
                offsets = ring_offsets(view.coord_start, view.part_start, view.struct, slot, k)
                assert view.xs[offsets[0] : offsets[-1]].tobytes() == xs.tobytes()
        store.compact()


def test_ring_offsets_compiles_with_numba() -> None:
    """The walk a kernel does needs no Python: numba compiles it as written."""
    from numba import njit

    shell = [(0.0, 0.0), (0.0, 4.0), (4.0, 4.0), (4.0, 0.0), (0.0, 0.0)]
    hole = [(1.0, 1.0), (2.0, 1.0), (2.0, 2.0), (1.0, 1.0)]
    geom = MultiPolygon([Polygon([(9, 9), (9, 10), (10, 10), (9, 9)]), Polygon(shell, [hole])])
    store = ActivityStore()
    store.put(0, Activity("p", 1, "x", Kind.site, Point(5, 5), 0.0, None, None, 0, 0, None, None))
    store.put(1, Activity("m", 1, "x", Kind.area, geom, 0.0, 1.0, None, 0.0, 0.0, None, None))
    view = store.rings()
    compiled = njit(ring_offsets)
    for part in range(2):
        got = compiled(view.coord_start, view.part_start, view.struct, 1, part)
        assert got.tolist() == ring_offsets(*view[2:], 1, part).tolist()
    xs, ys, starts = store.part_rings(1, 1)
    assert starts.tolist() == [0, 5, 9]
    assert list(zip(xs.tolist(), ys.tolist(), strict=True)) == shell + hole


def test_a_mixed_scene_round_trips_and_its_columns_match_the_activities() -> None:
    acts = scenes.mixed(5, 3000)
    store = ActivityStore()
    store.put_many(range(len(acts)), acts)
    cols = store.columns()
    box = shapely.bounds(np.array([a.geometry for a in acts], dtype=object))
    assert np.array_equal(np.column_stack([cols.west, cols.south, cols.east, cols.north]), box)
    assert np.array_equal(cols.start, [a.start for a in acts])
    assert np.array_equal(cols.end, [math.inf if a.end is None else a.end for a in acts])
    assert np.array_equal(cols.tolerance, [a.tolerance_s for a in acts])
    assert np.array_equal(cols.alo, [(a.altitude or (-math.inf,))[0] for a in acts])
    names = store.party_names
    assert [names[p] for p in cols.party.tolist()] == [a.party_id for a in acts]
    assert store.category_names[0] is None
    assert [store.category_names[c] for c in cols.category] == [a.category for a in acts]
    assert list(store.ids) == [a.declaration_id for a in acts]

    model = dict(enumerate(acts))
    rng = np.random.default_rng(1)
    gone = rng.choice(len(acts), 1000, replace=False)
    for slot in gone[:500].tolist():
        store.remove(slot)
        del model[slot]
    moved = gone[500:]
    fresh = scenes.mixed(6, len(moved), prefix="e")
    store.put_many(moved, fresh)
    model.update(zip(moved.tolist(), fresh, strict=True))
    assert store.dead_fraction() > 0.0
    store.compact()
    assert_holds(store, model)
    copy = pickle.loads(pickle.dumps(store))  # bench.store_memory measures a reloaded copy
    for slot in list(model)[:50]:
        got = copy.get(slot)
        assert got.declaration_id == model[slot].declaration_id
        assert identical(got.geometry, model[slot].geometry)


def test_bulk_loads_in_batches_and_trims_without_changing_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    acts = scenes.mixed(8, 400)
    whole = ActivityStore()
    whole.put_many(range(len(acts)), acts)
    monkeypatch.setattr(activity_store, "BATCH", 64)
    batched = ActivityStore()
    batched.put_many(range(len(acts)), acts)  # seven batches, then trimmed
    assert {len(a) for a in batched._col.values()} == {400}  # trimmed: no spare capacity
    assert len(batched._coords.arrays[0]) == batched._coords.used == len(whole.rings().xs)
    for a, b in zip(whole.columns(), batched.columns(), strict=True):
        assert np.array_equal(a, b, equal_nan=True)
    for a, b in zip(whole.rings(), batched.rings(), strict=True):
        assert np.array_equal(a, b)
    assert_holds(batched, dict(enumerate(acts)))


def test_activities_from_geojson_features_round_trip() -> None:
    def feature(geometry: dict[str, Any], properties: dict[str, Any]) -> DeclarationFeature:
        body = {"type": "Feature", "geometry": geometry, "properties": properties}
        return DeclarationFeature.model_validate_json(json.dumps(body))

    shell = [[40.0, 36.0], [40.1, 36.0], [40.1, 36.1], [40.0, 36.1], [40.0, 36.0]]
    hole = [[40.02, 36.02], [40.02, 36.05], [40.05, 36.05], [40.02, 36.02]]
    window = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T06:00:00Z"}
    features = [
        feature({"type": "Point", "coordinates": [40.5, 36.5]}, {"kind": "site", **window}),
        feature(
            {"type": "Polygon", "coordinates": [shell, hole]},
            {"kind": "area", "start": "2026-01-01T00:00:00Z", "altitude": {"min_m": 0, "max_m": 9}},
        ),
        feature(
            {
                "type": "MultiPolygon",
                "coordinates": [[shell, hole], [[[41, 37], [41.1, 37], [41, 37.1], [41, 37]]]],
            },
            {"kind": "site", "category": "medical", "buffer_m": 50.0, **window},
        ),
        feature(
            {"type": "LineString", "coordinates": [[40.0, 36.0], [40.2, 36.1], [40.3, 36.3]]},
            {
                "kind": "movement",
                "times": ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", "2026-01-01T01:30:00Z"],
                "schedule_tolerance_s": 600.0,
            },
        ),
    ]
    acts = [Activity.of(f"d{i}", i + 1, "party-a", f) for i, f in enumerate(features)]
    store = ActivityStore()
    store.put_many([3, 0, 2, 1], acts)
    assert_holds(store, dict(zip([3, 0, 2, 1], acts, strict=True)))


def test_misuse_is_refused_without_changing_the_store() -> None:
    act = scenes.mixed(1, 1)[0]
    store = ActivityStore()
    store.put(2, act)
    with pytest.raises(ValueError, match="twice"):
        store.put_many([0, 0], [act, act])
    with pytest.raises(ValueError, match="non-negative"):
        store.put(-1, act)
    with pytest.raises(ValueError, match="slots for"):
        store.put_many([0, 1], [act])
    big = Activity(*[getattr(act, f) for f in act.__dataclass_fields__])
    object.__setattr__(big, "version", 2**70)
    with pytest.raises(OverflowError):
        store.put(2, big)
    with pytest.raises(OverflowError):
        store.put_many([2, 3], [big, act])
    assert_holds(store, {2: act})
    for read in (store.get, store.geometry, store.declaration_id, store.party_id):
        with pytest.raises(KeyError):
            read(1)
        with pytest.raises(KeyError):
            read(99)
    with pytest.raises(KeyError):
        store.remove(0)
    point = Activity("p", 1, "x", Kind.site, Point(0, 0), 0.0, None, None, 0.0, 0.0, None, None)
    store.put(0, point)
    with pytest.raises(ValueError, match="no polygon"):
        store.part_rings(0, 0)
    assert "2" not in store  # type: ignore[operator]
    store.put_many([], [])
    assert len(store) == 2


def test_decompose_keeps_batch_order_across_geometry_types() -> None:
    geoms = np.array(
        [
            Polygon([(0, 0), (0, 1), (1, 1), (0, 0)]),
            Point(5, 5),
            MultiPolygon([Polygon([(2, 2), (2, 3), (3, 3), (2, 2)])]),
            LineString([(7, 7), (8, 8)]),
            Polygon([(0, 0), (0, 9), (9, 9), (9, 0), (0, 0)], [[(1, 1), (2, 1), (1, 2), (1, 1)]]),
        ],
        dtype=object,
    )
    flat = decompose(geoms)
    assert flat.coord_count.tolist() == [4, 1, 4, 2, 9]
    assert flat.struct_len.tolist() == [5, 0, 5, 0, 6]
    assert flat.struct.tolist() == [1, 0, 1, 0, 4, 1, 0, 1, 0, 4, 1, 0, 2, 0, 5, 9]
    assert np.column_stack([flat.xs, flat.ys]).tolist() == shapely.get_coordinates(geoms).tolist()


odd_ids = st.one_of(
    st.text(min_size=1, max_size=12),  # any code point, lone surrogates included
    st.sampled_from(["d1", "d1 ", "D1", "é", "\ud800", "\x00", "x" * 300, "1", "01"]),
)


@given(
    st.lists(
        st.tuples(st.sampled_from(["put", "put_many", "remove"]), st.integers(0, 40), odd_ids),
        min_size=1,
        max_size=60,
    )
)
@settings(max_examples=40, deadline=None)
def test_ids_are_found_by_value_however_slots_are_put_replaced_and_removed(
    ops: list[tuple[str, int, str]],
) -> None:
    """slot_of agrees with a dict kept alongside, through table growth, tombstones,
    compaction and pickling; ids read back equal, whatever their code points."""
    store, model = ActivityStore(), {}
    act = scenes.mixed(2, 1)[0]

    def with_id(ident: str) -> Activity:
        return Activity(ident, *[getattr(act, f) for f in list(act.__dataclass_fields__)[1:]])

    for op, slot, ident in ops:
        if op == "put":
            store.put(slot, with_id(ident))
            model[slot] = ident
        elif op == "put_many":
            slots = [slot, slot + 41, slot + 82]
            store.put_many(slots, [with_id(ident + str(k)) for k in range(3)])
            model.update({s: ident + str(k) for k, s in enumerate(slots)})
        elif slot in model:
            store.remove(slot)
            del model[slot]
    for copy in (store, pickle.loads(pickle.dumps(store))):
        copy.compact()
        for slot, ident in model.items():
            assert copy.declaration_id(slot) == ident
            assert model[copy.slot_of(ident)] == ident
        held = set(model.values())
        for _, _, ident in ops:
            for probe in (ident, ident + "0", ident + "absent"):
                assert (copy.slot_of(probe) >= 0) == (probe in held)
        assert list(copy.ids) == [model.get(s) for s in range(copy.size)]
        everywhere = np.tile(np.arange(copy.size, dtype=np.int64), 2)[::-1]
        assert copy.ids_of(everywhere) == [model.get(int(s)) for s in everywhere]


def test_a_hundred_thousand_ids_in_batches_singles_and_removals() -> None:
    """The hash table grows and cleans itself; lookups stay exact."""
    act = scenes.mixed(3, 1)[0]
    fields = [getattr(act, f) for f in list(act.__dataclass_fields__)[1:]]
    store, model = ActivityStore(), {}
    for at in range(0, 100_000, 25_000):
        ids = [f"id-{k}" for k in range(at, at + 25_000)]
        store.put_many(range(at, at + 25_000), [Activity(i, *fields) for i in ids])
        model.update(zip(range(at, at + 25_000), ids, strict=True))
    rng = np.random.default_rng(4)
    for slot in rng.choice(100_000, 30_000, replace=False).tolist():
        store.remove(slot)
        del model[slot]
    for slot in rng.choice(list(model), 2000, replace=False).tolist():  # amend: a new id
        model[slot] = f"new-{slot}"
        store.put(slot, Activity(model[slot], *fields))
    assert len(store) == len(model)
    for slot, ident in list(model.items())[::97]:
        assert store.slot_of(ident) == slot
    assert store.slot_of("id-100000") == -1
    gone = set(range(100_000)) - set(model)
    assert all(store.slot_of(f"id-{k}") == -1 for k in list(gone)[:500])


def test_trim_gives_back_what_growing_by_half_left_unused() -> None:
    acts = scenes.mixed(9, 3000)
    store = ActivityStore()
    for at in range(0, 3000, 500):  # six put_many calls, none large enough to trim itself
        store.put_many(range(at, at + 500), acts[at : at + 500])
    assert len(store._col["kind"]) > store.size
    before = store.nbytes()
    store.trim()
    assert {len(a) for a in store._col.values()} == {3000}
    assert store.nbytes() < before
    assert_holds(store, dict(enumerate(acts)))
    store.put(3000, acts[0])  # and it grows again
    assert_holds(store, {**dict(enumerate(acts)), 3000: acts[0]})
