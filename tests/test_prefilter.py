"""The packed records (:mod:`deconflict.core.prefilter`): they may only ever widen what an
element can touch, so a check that rejects on them never loses a pair."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from deconflict.core import prefilter
from deconflict.core.elements import Elements

GEOD = Geod(ellps="WGS84")

lons = st.floats(-179.0, 179.0)
lats = st.floats(-84.0, 84.0)


def one_segment(ax: float, ay: float, bx: float, by: float, t0: float, t1: float) -> Elements:
    def col(v: float) -> np.ndarray:
        return np.array([v])

    return Elements(
        col(ax), col(ay), col(bx), col(by), col(t0), col(t1), col(30.0), col(0.0),
        col(-math.inf), col(math.inf), col(1.0), np.array([3], dtype=np.int32),
        np.array([7], dtype=np.int32), np.array([True]), np.array([True]),
    )  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    ax=lons, ay=lats, bx=lons, by=lats,
    margin=st.floats(0.0, 50_000.0),
    azimuth=st.floats(-180.0, 180.0),
    along=st.floats(0.0, 1.0),
    start=st.floats(1.5e9, 2.5e9),
    length=st.floats(0.0, 86_400.0),
    slack=st.floats(0.0, 10.0),
)  # fmt: skip
def test_records_hold_every_place_within_the_margin_and_every_instant_of_the_reach(
    ax: float, ay: float, bx: float, by: float, margin: float, azimuth: float, along: float,
    start: float, length: float, slack: float,
) -> None:  # fmt: skip
    elems = one_segment(ax, ay, bx, by, start, start + length)
    record = prefilter.records(elems, np.array([margin]), slack)[0]
    # A point of the element's box, moved `margin` metres in any direction, stays inside.
    lon, lat, _ = GEOD.fwd(ax + along * (bx - ax), ay + along * (by - ay), azimuth, margin)
    west, south, east, north = (v / prefilter.MICRO for v in record[2:6])
    assert south <= lat <= north
    if abs(lon - (ax + along * (bx - ax))) < 90.0:  # not wrapped across the antimeridian
        assert west <= lon <= east
    # Times are rounded outwards, with the tolerance and the slack.
    assert record[0] + prefilter.ORIGIN_S <= start - 30.0 - slack
    assert record[1] + prefilter.ORIGIN_S >= start + length + 30.0 + slack
    assert (record[6], record[7]) == (3, 7)


def test_open_ended_and_far_times_are_clamped_outwards() -> None:
    elems = one_segment(40.0, 36.0, 40.1, 36.1, -math.inf, math.inf)
    record = prefilter.records(elems, np.array([100.0]))[0]
    assert record[0] == -prefilter.LIMIT
    assert record[1] == prefilter.LIMIT
    far = one_segment(40.0, 36.0, 40.1, 36.1, 1e12, 2e12)
    assert prefilter.records(far, np.array([100.0]))[0][1] == prefilter.LIMIT


def test_boxes_near_the_pole_cover_every_longitude() -> None:
    elems = one_segment(10.0, 89.5, 11.0, 89.6, 1.8e9, 1.8e9 + 60.0)
    west, _, east, _ = prefilter.widened_box(elems, np.array([5_000.0]))
    assert (west[0], east[0]) == (-180.0, 180.0)
