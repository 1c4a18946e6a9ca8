"""The exact pairwise conflict check (DESIGN §3), against hand-worked cases and the reference."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from deconflict.core.conflicts import Encounter, find_encounter, required_separation
from deconflict.core.declarations import Activity, DeclarationFeature, Kind
from tests.reference import reference, sample_movement

GEOD = Geod(ellps="WGS84")
T0 = 1_760_000_000.0  # an arbitrary epoch second; all scenes are relative to it
LON, LAT = 41.0, 36.5  # NE Syria


def movement(
    coords: list[tuple[float, float]],
    times: list[float],
    tolerance: float = 0.0,
    buffer: float = 0.0,
    altitude: tuple[float, float] | None = None,
    ident: str = "m",
) -> Activity:
    t = np.array(times, dtype=np.float64) + T0
    return Activity(
        ident,
        1,
        "party-" + ident,
        Kind.movement,
        LineString(coords),
        float(t[0]),
        float(t[-1]),
        t,
        tolerance,
        buffer,
        altitude,
        None,
    )


def place(
    geometry: BaseGeometry,
    start: float,
    end: float | None,
    buffer: float = 0.0,
    altitude: tuple[float, float] | None = None,
    ident: str = "s",
) -> Activity:
    kind = Kind.site if isinstance(geometry, Point) else Kind.area
    return Activity(
        ident,
        1,
        "party-" + ident,
        kind,
        geometry,
        T0 + start,
        None if end is None else T0 + end,
        None,
        0.0,
        buffer,
        altitude,
        None,
    )


def offset(lon: float, lat: float, azimuth: float, metres: float) -> tuple[float, float]:
    x, y, _ = GEOD.fwd(lon, lat, azimuth, metres)
    return (float(x), float(y))


def geodesic(p: tuple[float, float], q: tuple[float, float]) -> float:
    return float(GEOD.inv(p[0], p[1], q[0], q[1])[2])


def square(centre: tuple[float, float], half_m: float) -> list[tuple[float, float]]:
    n = offset(*centre, 0.0, half_m)[1]
    s = offset(*centre, 180.0, half_m)[1]
    e = offset(*centre, 90.0, half_m)[0]
    w = offset(*centre, 270.0, half_m)[0]
    return [(w, s), (e, s), (e, n), (w, n), (w, s)]


def both_ways(a: Activity, b: Activity, rule: float) -> Encounter | None:
    """find_encounter, checking on the way what must hold of every answer.

    The reverse call is the exact mirror image; the distance is the geodesic one between the
    reported points and below S; the window holds the reported instants that lie on a
    movement's schedule (a site's instant is the start of the overlap).
    """
    found = find_encounter(a, b, rule)
    mirrored = find_encounter(b, a, rule)
    assert (found is None) == (mirrored is None)
    if found is None:
        return None
    assert mirrored == found.swapped()
    assert found.distance_m == pytest.approx(geodesic(found.point_a, found.point_b), abs=1e-6)
    assert found.distance_m < found.separation_m == required_separation(rule, a, b)
    half = found.distance_m / 2.0
    assert geodesic(found.place, found.point_a) == pytest.approx(half, abs=1e-3)
    assert geodesic(found.place, found.point_b) == pytest.approx(half, abs=1e-3)
    end = math.inf if found.window_end is None else found.window_end
    timed = [i for x, i in ((a, found.instant_a), (b, found.instant_b)) if x.kind is Kind.movement]
    for instant in timed:
        assert found.window_start <= instant <= end
    if not timed:
        assert found.window_start == found.instant_a == found.instant_b
    return found


# --- site/area × site/area -----------------------------------------------------------------


def test_two_points_closer_than_the_rule_conflict_over_the_overlap_of_their_windows() -> None:
    p = (LON, LAT)
    q = offset(LON, LAT, 60.0, 800.0)
    a = place(Point(p), 0.0, 7200.0, ident="a")
    b = place(Point(q), 3600.0, 10800.0, ident="b")
    found = both_ways(a, b, 1000.0)
    assert found is not None
    assert found.distance_m == pytest.approx(800.0, abs=1e-6)
    assert found.point_a == p
    assert found.point_b == q
    assert found.instant_a == found.instant_b == T0 + 3600.0
    assert (found.window_start, found.window_end) == (T0 + 3600.0, T0 + 7200.0)
    assert geodesic(found.place, p) == pytest.approx(400.0, abs=0.01)
    assert both_ways(a, b, 799.99) is None  # must come closer than S


def test_sites_whose_windows_only_touch_conflict_at_that_instant() -> None:
    a = place(Point(LON, LAT), 0.0, 3600.0, ident="a")
    b = place(Point(LON, LAT), 3600.0, 7200.0, ident="b")
    found = both_ways(a, b, 100.0)
    assert found is not None
    assert (found.window_start, found.window_end) == (T0 + 3600.0, T0 + 3600.0)
    later = place(Point(LON, LAT), 3600.5, 7200.0, ident="b")
    assert both_ways(a, later, 100.0) is None


def test_point_site_inside_an_area_is_at_distance_zero() -> None:
    area = place(Polygon(square((LON, LAT), 2000.0)), 0.0, None, ident="a")
    inside = place(Point(offset(LON, LAT, 30.0, 500.0)), 100.0, 200.0, ident="b")
    found = both_ways(area, inside, 1.0)
    assert found is not None
    assert found.distance_m == pytest.approx(0.0, abs=1e-6)
    assert (found.window_start, found.window_end) == (T0 + 100.0, T0 + 200.0)


def test_site_outside_an_area_is_measured_to_its_edge() -> None:
    area = place(Polygon(square((LON, LAT), 2000.0)), 0.0, None, ident="a")
    outside = place(Point(offset(LON, LAT, 90.0, 2700.0)), 0.0, None, ident="b")
    found = both_ways(area, outside, 1000.0)
    assert found is not None
    assert found.distance_m == pytest.approx(700.0, abs=5.0)
    assert found.window_end is None  # both open-ended
    assert both_ways(area, outside, 650.0) is None


def test_open_ended_site_against_a_bounded_one_ends_with_the_bounded_one() -> None:
    a = place(Point(LON, LAT), 0.0, None, ident="a")
    b = place(Point(LON, LAT), -500.0, 900.0, ident="b")
    found = both_ways(a, b, 10.0)
    assert found is not None
    assert (found.window_start, found.window_end) == (T0, T0 + 900.0)


def test_buffers_add_to_the_rule() -> None:
    a = place(Point(LON, LAT), 0.0, 10.0, buffer=300.0, ident="a")
    b = place(Point(offset(LON, LAT, 0.0, 1500.0)), 0.0, 10.0, buffer=250.0, ident="b")
    assert required_separation(1000.0, a, b) == 1550.0
    found = both_ways(a, b, 1000.0)
    assert found is not None
    assert found.separation_m == 1550.0
    assert both_ways(replace(a, buffer_m=200.0), b, 1000.0) is None


def test_disjoint_altitude_bands_never_conflict_but_touching_ones_do() -> None:
    a = place(Point(LON, LAT), 0.0, 10.0, altitude=(0.0, 1000.0), ident="a")
    b = place(Point(LON, LAT), 0.0, 10.0, altitude=(1000.5, 3000.0), ident="b")
    assert both_ways(a, b, 1000.0) is None
    assert both_ways(a, replace(b, altitude=(1000.0, 3000.0)), 1000.0) is not None
    assert both_ways(a, replace(b, altitude=None), 1000.0) is not None  # surface up


def test_party_ids_are_the_callers_business() -> None:
    a = place(Point(LON, LAT), 0.0, 10.0, ident="a")
    assert find_encounter(a, replace(a, declaration_id="b"), 1.0) is not None


# --- movement × site/area ------------------------------------------------------------------


def eastward(start: tuple[float, float], metres: float) -> tuple[float, float]:
    return offset(*start, 90.0, metres)


def test_movement_through_an_area_conflicts_only_within_its_tolerance_of_the_window() -> None:
    west = offset(LON, LAT, 270.0, 10_000.0)
    route = [west, eastward(west, 20_000.0)]  # 10 m/s, inside the area for t in [900, 1100]
    area = place(Polygon(square((LON, LAT), 1000.0)), 5000.0, 9000.0, ident="a")
    m = movement(route, [0.0, 2000.0], tolerance=2900.0, ident="m")
    assert both_ways(m, area, 500.0) is None  # no instant u with u + τ ≥ 5000
    assert both_ways(replace(m, tolerance_s=3600.0), area, 500.0) is None  # u ≥ 1400: 3 km off
    found = both_ways(replace(m, tolerance_s=4050.0), area, 500.0)  # u ≥ 950: inside
    assert found is not None
    assert found.distance_m == pytest.approx(0.0, abs=1e-3)
    assert found.instant_a == pytest.approx(T0 + 950.0, abs=1e-3)
    assert found.instant_b == T0 + 5000.0  # the area's instant: within τ of the movement's
    assert found.window_start == pytest.approx(T0 + 950.0, abs=1e-3)
    assert found.window_end == pytest.approx(T0 + 1150.0, abs=0.5)


def test_movement_crossing_an_area_reports_the_entry_and_the_window_of_its_passage() -> None:
    west = offset(LON, LAT, 270.0, 10_000.0)
    route = [west, eastward(west, 20_000.0)]  # 10 m/s, at the centre at t = 1000
    area = place(Polygon(square((LON, LAT), 1000.0)), 0.0, None, ident="a")
    found = both_ways(movement(route, [0.0, 2000.0], ident="m"), area, 500.0)
    assert found is not None
    assert found.distance_m == pytest.approx(0.0, abs=1e-3)
    assert found.instant_a == pytest.approx(T0 + 900.0, abs=0.5)  # enters the area
    assert found.instant_b == found.instant_a  # the area is active then
    # Closer than 500 m from 1500 m west of the centre to 1500 m east: t in [850, 1150].
    assert found.window_start == pytest.approx(T0 + 850.0, abs=0.5)
    assert found.window_end == pytest.approx(T0 + 1150.0, abs=0.5)


def test_movement_passing_a_point_site_is_closest_abeam() -> None:
    west, east = offset(LON, LAT, 270.0, 10_000.0), offset(LON, LAT, 90.0, 10_000.0)
    heading, _, length = GEOD.inv(*west, *east)
    lon, lat, back = GEOD.fwd(*west, heading, length / 2)
    abeam = offset(lon, lat, back + 180.0 - 90.0, 600.0)  # 600 m left of the route's middle
    site = place(Point(abeam), 0.0, 100_000.0, ident="s")
    found = both_ways(movement([west, east], [0.0, 2000.0], ident="m"), site, 1000.0)
    assert found is not None
    assert found.distance_m == pytest.approx(600.0, abs=0.5)
    assert found.instant_a == pytest.approx(T0 + 1000.0, abs=0.5)
    # Closer than 1000 m within 800 m of the middle (600-800-1000), at 10 m/s: ±80 s.
    assert found.window_start == pytest.approx(T0 + 920.0, abs=0.5)
    assert found.window_end == pytest.approx(T0 + 1080.0, abs=0.5)


def test_a_pause_near_a_site_counts_while_the_site_is_active() -> None:
    far = offset(LON, LAT, 270.0, 20_000.0)
    wait = offset(LON, LAT, 270.0, 800.0)
    route = [far, wait, wait, far]
    m = movement(route, [0.0, 1000.0, 3000.0, 4000.0], ident="m")
    site = place(Point(LON, LAT), 2500.0, 9000.0, ident="s")
    found = both_ways(m, site, 1000.0)
    assert found is not None
    assert found.distance_m == pytest.approx(800.0, abs=0.01)
    assert T0 + 2500.0 - 1e-3 <= found.instant_a <= T0 + 3000.0  # schedules: to a millisecond
    assert found.instant_b == pytest.approx(found.instant_a, abs=1e-3)
    assert found.window_start == pytest.approx(T0 + 2500.0, abs=1e-3)  # site opens mid-pause
    assert found.window_end == pytest.approx(T0 + 3000.0 + 200.0 / 19.2, abs=0.5)
    assert both_ways(m, replace(site, start=T0 + 3500.0), 1000.0) is None


def test_an_instantaneous_segment_is_occupied_all_at_once() -> None:
    west, east = offset(LON, LAT, 270.0, 5000.0), offset(LON, LAT, 90.0, 5000.0)
    far = offset(LON, LAT, 0.0, 30_000.0)
    m = movement([far, west, east, far], [0.0, 1000.0, 1000.0, 2000.0], ident="m")
    site = place(Point(offset(LON, LAT, 180.0, 300.0)), 1000.0, 1000.5, ident="s")
    found = both_ways(m, site, 500.0)
    assert found is not None
    assert found.distance_m == pytest.approx(300.0, abs=1.0)
    assert found.instant_a == found.window_start == found.window_end == T0 + 1000.0


def test_a_route_through_the_hole_of_an_area_keeps_its_distance() -> None:
    shell = square((LON, LAT), 10_000.0)
    hole = square((LON, LAT), 5_000.0)
    donut = place(Polygon(shell, [hole]), 0.0, None, ident="a")
    south, north = offset(LON, LAT, 180.0, 3000.0), offset(LON, LAT, 0.0, 3000.0)
    m = movement([south, north], [0.0, 600.0], ident="m")
    found = both_ways(m, donut, 2500.0)
    assert found is not None
    assert found.distance_m == pytest.approx(2000.0, abs=10.0)  # at either end of the route
    assert both_ways(m, donut, 1900.0) is None
    point_in_hole = place(Point(LON, LAT), 0.0, None, ident="p")
    assert both_ways(point_in_hole, donut, 4900.0) is None


def test_a_multipolygon_is_as_close_as_its_closest_part() -> None:
    near = Polygon(square(offset(LON, LAT, 90.0, 4000.0), 500.0))
    far = Polygon(square(offset(LON, LAT, 270.0, 40_000.0), 500.0))
    area = place(MultiPolygon([far, near]), 0.0, None, ident="a")
    site = place(Point(LON, LAT), 0.0, None, ident="s")
    found = both_ways(area, site, 4000.0)
    assert found is not None
    assert found.distance_m == pytest.approx(3500.0, abs=5.0)
    assert found.point_a[0] > LON


# --- movement × movement -------------------------------------------------------------------


def test_head_on_on_the_same_road_meet() -> None:
    west, east = offset(LON, LAT, 270.0, 5000.0), offset(LON, LAT, 90.0, 5000.0)
    a = movement([west, east], [0.0, 1000.0], ident="a")
    b = movement([east, west], [0.0, 1000.0], ident="b")
    found = both_ways(a, b, 100.0)
    assert found is not None
    assert found.distance_m == pytest.approx(0.0, abs=1.0)
    assert found.instant_a == pytest.approx(T0 + 500.0, abs=0.5)
    assert geodesic(found.place, (LON, LAT)) < 20.0  # geodesic vs parallel: a few metres
    # Closer than 100 m from 100 m apart, closing at 20 m/s: 5 s either side of meeting.
    assert found.window_start == pytest.approx(T0 + 495.0, abs=0.05)
    assert found.window_end == pytest.approx(T0 + 505.0, abs=0.05)


def test_crossing_at_a_junction_depends_on_the_tolerances() -> None:
    west, east = offset(LON, LAT, 270.0, 5000.0), offset(LON, LAT, 90.0, 5000.0)
    south, north = offset(LON, LAT, 180.0, 5000.0), offset(LON, LAT, 0.0, 5000.0)
    a = movement([west, east], [0.0, 1000.0], tolerance=100.0, ident="a")  # junction at 500
    b = movement([south, north], [700.0, 1700.0], tolerance=100.0, ident="b")  # at 1200
    found = both_ways(a, b, 1000.0)
    assert found is None  # 700 s apart, T = 200 s: b is 5 km short when a is there
    found = both_ways(replace(a, tolerance_s=600.0), b, 1000.0)
    assert found is not None
    assert found.distance_m < 1.0
    # With T = 650 s: they are 50 s apart at best, at 10 m/s each: sqrt(2)·250 m at best.
    found = both_ways(replace(a, tolerance_s=550.0), b, 1000.0)
    assert found is not None
    assert found.distance_m == pytest.approx(250.0 * math.sqrt(2.0), rel=0.005)
    assert abs(found.instant_a - found.instant_b) == pytest.approx(650.0, abs=1e-3)


def north_road(metres: float) -> list[tuple[float, float]]:
    return [(LON, LAT), offset(LON, LAT, 0.0, metres)]


def test_same_road_later_but_within_the_tolerances_conflicts() -> None:
    a = movement(north_road(10_000.0), [0.0, 1800.0], tolerance=900.0, ident="a")
    b = movement(north_road(10_000.0), [1500.0, 3300.0], tolerance=900.0, ident="b")
    found = both_ways(a, b, 500.0)
    assert found is not None
    assert found.distance_m == pytest.approx(0.0, abs=1.0)


def test_same_road_just_outside_the_tolerances_is_their_speed_times_the_gap() -> None:
    length = 10_000.0
    a = movement(north_road(length), [0.0, 1800.0], tolerance=900.0, ident="a")
    b = movement(north_road(length), [2000.0, 3800.0], tolerance=900.0, ident="b")
    expected = length / 1800.0 * 200.0  # 200 s behind at best
    assert both_ways(a, b, expected - 10.0) is None
    found = both_ways(a, b, 2000.0)
    assert found is not None
    assert found.distance_m == pytest.approx(expected, rel=0.002)
    assert found.instant_b - found.instant_a == pytest.approx(1800.0, abs=1e-3)
    # Closer than 2 km when b's lag u − s is over 1640 s; it is at most T = 1800 s, so the
    # earliest instant is s = 200 (with u = 2000) and the latest u = 3600 (with s = 1800).
    assert found.window_start == pytest.approx(T0 + 200.0, abs=1e-3)
    assert found.window_end == pytest.approx(T0 + 3600.0, abs=1e-3)


def test_built_from_geojson_features() -> None:
    def feature(coords: list[list[float]], times: list[str]) -> DeclarationFeature:
        return DeclarationFeature.model_validate_json(
            json.dumps(
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": coords},
                    "properties": {
                        "kind": "movement",
                        "times": times,
                        "schedule_tolerance_s": 600.0,
                    },
                }
            )
        )

    a = Activity.of(
        "a",
        1,
        "us",
        feature([[41.0, 36.5], [41.1, 36.5]], ["2025-01-01T10:00:00Z", "2025-01-01T11:00:00Z"]),
    )
    b = Activity.of(
        "b",
        1,
        "ru",
        feature([[41.1, 36.505], [41.0, 36.505]], ["2025-01-01T10:15:00Z", "2025-01-01T11:15:00Z"]),
    )
    found = both_ways(a, b, 1000.0)
    assert found is not None
    assert found.distance_m == pytest.approx(geodesic((41.05, 36.5), (41.05, 36.505)), rel=0.005)


def test_long_routes_stay_within_the_accuracy_bound() -> None:
    """800 km route: projection and densification must stay within 0.5 % or 5 m."""
    start = (39.0, 34.0)
    end = (46.0, 38.5)
    az, _, length = GEOD.inv(*start, *end)
    middle = offset(*start, az, length * 0.37)
    site_point = offset(*middle, az + 90.0, 3000.0)
    m = movement([start, end], [0.0, 36_000.0], ident="m")
    site = place(Point(site_point), 0.0, None, ident="s")
    found = both_ways(m, site, 5000.0)
    ref = reference(m, site, spacing_m=5.0, max_step_s=3600.0)
    assert found is not None
    assert ref is not None
    assert found.distance_m == pytest.approx(ref.distance_m, abs=accuracy(3000.0) + ref.error_m)
    assert found.instant_a == pytest.approx(T0 + 0.37 * 36_000.0, abs=5.0)


def test_shifting_both_in_time_only_shifts_the_instants() -> None:
    a = movement(
        [offset(LON, LAT, 200.0, 3000.0), offset(LON, LAT, 20.0, 3000.0)],
        [0.0, 900.0],
        tolerance=120.0,
        ident="a",
    )
    b = movement(
        [offset(LON, LAT, 290.0, 2500.0), offset(LON, LAT, 110.0, 2500.0)],
        [300.0, 1100.0],
        tolerance=60.0,
        ident="b",
    )
    found = both_ways(a, b, 1200.0)
    assert found is not None
    dt = 3 * 86_400.0 + 17.25

    def shifted(x: Activity) -> Activity:
        assert x.times is not None
        assert x.end is not None
        return replace(x, start=x.start + dt, end=x.end + dt, times=x.times + dt)

    moved = both_ways(shifted(a), shifted(b), 1200.0)
    assert moved is not None
    assert moved.distance_m == pytest.approx(found.distance_m, abs=1e-3)
    for name in ("instant_a", "instant_b", "window_start", "window_end"):
        assert getattr(moved, name) == pytest.approx(getattr(found, name) + dt, abs=1e-3)


# --- against the reference ------------------------------------------------------------------


def accuracy(metres: float) -> float:
    """DESIGN §3: within 0.5 % or 5 m, whichever is larger."""
    return max(0.005 * metres, 5.0)


def nearby(draw: Any, spread_m: float) -> tuple[float, float]:
    azimuth = draw(st.floats(0.0, 360.0))
    distance = draw(st.floats(0.0, spread_m))
    return offset(LON, LAT, azimuth, distance)


@st.composite
def activities(draw: Any, ident: str) -> Activity:
    kind = draw(st.sampled_from(["point", "polygon", "holed", "multi"] + ["movement"] * 4))
    altitude = draw(
        st.one_of(
            st.none(),
            st.none(),
            st.none(),
            st.tuples(st.sampled_from([0.0, 500.0, 1000.0]), st.sampled_from([1000.0, 2000.0])),
        )
    )
    buffer = draw(st.sampled_from([0.0, 0.0, 100.0, 250.0]))
    if kind == "movement":
        n = draw(st.integers(2, 4))
        coords = [nearby(draw, 5000.0)]
        times = [draw(st.floats(0.0, 3600.0))]
        for _ in range(n - 1):
            pause = draw(st.integers(0, 5)) == 0
            coords.append(coords[-1] if pause else nearby(draw, 5000.0))
            instantaneous = draw(st.integers(0, 6)) == 0
            times.append(times[-1] + (0.0 if instantaneous else draw(st.floats(60.0, 1200.0))))
        tolerance = draw(st.sampled_from([0.0, 60.0, 300.0, 900.0]))
        return movement(coords, times, tolerance, buffer, altitude, ident)
    start = draw(st.floats(-1800.0, 5400.0))
    end = draw(st.one_of(st.none(), st.floats(60.0, 5400.0).map(lambda d: start + d)))
    centre = nearby(draw, 3000.0)
    half = draw(st.floats(100.0, 600.0))
    geometry: BaseGeometry
    if kind == "point":
        geometry = Point(centre)
    elif kind == "polygon":
        geometry = Polygon(square(centre, half))
    elif kind == "holed":
        geometry = Polygon(square(centre, half), [square(centre, half / 2)])
    else:
        geometry = MultiPolygon(
            [
                Polygon(square(centre, half)),
                Polygon(square(offset(*centre, 45.0, 4 * half), half / 2)),
            ]
        )
    return place(geometry, start, end, buffer, altitude, ident)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    a=activities("a"),
    b=activities("b"),
    rule=st.floats(100.0, 2000.0),
    near=st.sampled_from([None, None, 0.9, 0.97, 1.03, 1.1]),
)
def test_agrees_with_the_brute_force_reference(
    a: Activity, b: Activity, rule: float, near: float | None
) -> None:
    """``near`` sets S to that multiple of the reference distance, to test verdicts near S."""
    ref = reference(a, b)
    if ref is not None and near is not None and ref.distance_m > 0.0:
        rule = max(1.0, near * ref.distance_m - a.buffer_m - b.buffer_m)
    found = both_ways(a, b, rule)
    separation = required_separation(rule, a, b)
    if ref is None:
        assert found is None
        return
    margin = accuracy(separation)
    # ref is an upper bound of the true minimum, within ref.error_m of it.
    if ref.distance_m < separation - margin:
        assert found is not None, (ref.distance_m, separation)
    if ref.distance_m > separation + margin + ref.error_m:
        assert found is None, (found, ref.distance_m)
    if found is None:
        return
    assert ref.distance_m - ref.error_m - margin <= found.distance_m <= ref.distance_m + margin
    check_instants(a, b, found)
    check_window(found, ref, separation, margin)


def check_instants(a: Activity, b: Activity, found: Encounter) -> None:
    """The reported instants are feasible and the reported points are where each one is then."""
    pairs = ((a, found.instant_a, found.point_a), (b, found.instant_b, found.point_b))
    for x, instant, point in pairs:
        if x.kind is not Kind.movement:
            assert x.start <= instant <= (math.inf if x.end is None else x.end)
            continue
        path = sample_movement(x, 1e9, 1e9)
        lons, lats = path.positions_at(instant)
        assert len(lons) > 0
        if any(t0 == t1 == instant for t0, t1, _, _ in path.segments):
            continue  # on an instantaneous segment it is anywhere along it
        _, _, d = GEOD.inv(lons, lats, np.full(len(lons), point[0]), np.full(len(lons), point[1]))
        assert float(np.min(d)) < 0.5
    assert abs(found.instant_a - found.instant_b) <= a.tolerance_s + b.tolerance_s + 1e-3


def check_window(found: Encounter, ref: Any, separation: float, margin: float) -> None:
    """Sample pairs surely closer than S lie in the window; the window reaches no farther than
    pairs possibly closer than S, give or take one sampling step."""
    end = math.inf if found.window_end is None else found.window_end
    inner = ref.hull_below(separation - margin)
    if inner is not None:
        assert found.window_start <= inner[0] + 1e-3
        if found.window_end is not None:
            assert inner[1] <= end + 1e-3
    outer = ref.hull_below(separation + margin + ref.error_m)
    assert outer is not None
    assert found.window_start >= outer[0] - ref.step_s - 1e-3
    if found.window_end is not None:
        assert found.window_end <= outer[1] + ref.step_s + 1e-3


def test_exact_touches_in_time_count_even_with_no_tolerance() -> None:
    """Rounding must not lose feasible sets that are a single line or point in time."""
    west, east = offset(LON, LAT, 270.0, 5000.0), offset(LON, LAT, 90.0, 5000.0)
    south, north = offset(LON, LAT, 180.0, 5000.0), offset(LON, LAT, 0.0, 5000.0)
    far = offset(LON, LAT, 45.0, 40_000.0)
    sweep = movement([far, west, east, far], [0.0, 1000.3, 1000.3, 2000.0], ident="a")
    crossing = movement([south, north], [500.3, 1500.3], ident="b")  # at the centre at 1000.3
    found = both_ways(sweep, crossing, 50.0)
    assert found is not None
    assert found.distance_m < 1.0
    assert found.instant_a == found.instant_b == pytest.approx(T0 + 1000.3, abs=1e-6)
    # One sets off from the middle of the other's route just as the other passes it.
    rng = np.random.default_rng(7)
    for _ in range(40):
        tc, dw, de, db = rng.uniform(0.0, 5000.0), *rng.uniform(100.0, 9000.0, size=3)
        west, east = offset(LON, LAT, 270.0, dw), offset(LON, LAT, 90.0, de)
        passing = movement([west, east], [tc - dw / 10.0, tc + de / 10.0], ident="a")
        leaving = movement([(LON, LAT), north], [tc, tc + db / 10.0], ident="b")
        assert both_ways(passing, leaving, 30.0) is not None
    relay = movement([north, (LON, LAT)], [0.0, 1000.3], ident="c")  # arrives as b sets off
    onward = movement([(LON, LAT), east], [1000.3, 1900.0], ident="d")
    found = both_ways(relay, onward, 50.0)
    assert found is not None
    assert found.distance_m < 1e-6
    assert onward.times is not None
    assert onward.end is not None
    later = replace(
        onward, start=onward.start + 0.01, end=onward.end + 0.01, times=onward.times + 0.01
    )
    assert both_ways(relay, later, 50.0) is None


def test_polygon_edges_are_straight_in_longitude_and_latitude() -> None:
    """GeoJSON edges (RFC 7946): a 4° edge along 37°N stays on the parallel; the geodesic
    between its ends would bulge about 1.9 km north, past the site below."""
    big = Polygon([(39.0, 36.0), (43.0, 36.0), (43.0, 37.0), (39.0, 37.0), (39.0, 36.0)])
    area = place(big, 0.0, None, ident="a")
    north_of_edge = (41.0, 37.01)
    site = place(Point(north_of_edge), 0.0, None, ident="s")
    found = both_ways(area, site, 2000.0)
    assert found is not None
    assert found.distance_m == pytest.approx(geodesic((41.0, 37.0), north_of_edge), abs=5.0)
