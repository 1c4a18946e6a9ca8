"""The demo scenario (northeast Syria, January 2020) is valid data and tells the intended story.

The conflict engine is written elsewhere, so the expected conflicts are checked here with a
rough stand-in for DESIGN §3: routes sampled every few seconds in a local metric projection
(pyproj azimuthal equidistant, shapely for distances to sites). To stay independent of the
details (how category rules combine, sampling error), an expected conflict must hold with
margins in its favour and every other pair must fail with margins against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape

from deconflict.core.declarations import DeclarationFeature
from deconflict.core.parties import SeparationRule, SeparationRules
from deconflict.demo.places import GEONAMES_PLACES, all_places
from deconflict.demo.scenario import (
    DEFAULT_SEPARATION_M,
    EXPECTED_CONFLICTS,
    PARTY_IDS,
    DemoDeclaration,
    DemoRule,
    Scenario,
    build_scenario,
)

NE_SYRIA_LON = (38.5, 42.5)
NE_SYRIA_LAT = (35.5, 37.5)
SAMPLE_S = 10.0
TIME_MARGIN_S = 300.0
DISTANCE_MARGIN = 0.2


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return build_scenario()


def validate(feature: dict[str, Any]) -> DeclarationFeature:
    """As the API receives it, as JSON text: the model is strict, so strings need JSON mode."""
    return DeclarationFeature.model_validate_json(json.dumps(feature))


# --- data validity ---------------------------------------------------------------------


def test_every_feature_validates(scenario: Scenario) -> None:
    for declaration in scenario.declarations:
        model = validate(declaration.feature)
        assert model.properties.kind.value == declaration.kind, declaration.key
        assert DeclarationFeature.model_validate(declaration.feature, strict=False) == model


def test_feature_is_json_round_trippable(scenario: Scenario) -> None:
    for declaration in scenario.declarations:
        assert json.loads(json.dumps(declaration.feature)) == declaration.feature


def test_keys_are_unique(scenario: Scenario) -> None:
    keys = [d.key for d in scenario.declarations]
    assert len(keys) == len(set(keys))


def test_parties_and_references(scenario: Scenario) -> None:
    ids = {p.id for p in scenario.parties}
    assert ids == set(PARTY_IDS) == {"us-coalition", "ru-mp", "tr-forces", "lmr"}
    assert len(ids) == len(scenario.parties)
    for declaration in scenario.declarations:
        assert declaration.party_id in ids, declaration.key
        props = declaration.feature["properties"]
        share = props.get("share_with", [])
        if share != "all":
            assert set(share) <= ids, declaration.key
            assert declaration.party_id not in share, declaration.key
        assert set(props.get("precision_m", {})) <= ids - {declaration.party_id}, declaration.key
    for rule in scenario.rules:
        assert {rule.party_a, rule.party_b} <= ids
        assert rule.party_a != rule.party_b
        assert rule.distance_m > 0
    for member in scenario.members:
        assert member.party_id in ids


def test_every_party_has_operator_liaison_and_leadership(scenario: Scenario) -> None:
    for party in scenario.parties:
        roles = {m.role for m in scenario.members if m.party_id == party.id}
        assert {"operator", "liaison", "leadership"} <= roles, party.id
        assert roles <= {"operator", "liaison", "leadership", "observer"}
        assert party.aliases


def test_times_fall_on_the_day(scenario: Scenario) -> None:
    day = scenario.day
    for declaration in scenario.declarations:
        model = validate(declaration.feature)
        props = model.properties
        moments = props.times if props.times is not None else [props.start]
        if props.end is not None:
            moments = [*moments, props.end]
        for moment in moments:
            assert moment is not None
            assert moment.date() == day, declaration.key


def test_other_day_shifts_everything() -> None:
    later = build_scenario(date(2020, 2, 12))
    assert later.day == date(2020, 2, 12)
    for declaration in later.declarations:
        props = validate(declaration.feature).properties
        first = props.times[0] if props.times is not None else props.start
        assert first is not None
        assert first.date() == date(2020, 2, 12)


def test_movements_look_like_road_routes(scenario: Scenario) -> None:
    for declaration in scenario.declarations:
        if declaration.kind != "movement":
            continue
        model = validate(declaration.feature)
        assert model.properties.times is not None
        vertices = len(model.properties.times)
        assert 10 <= vertices <= 40, (declaration.key, vertices)
        track = project_track(declaration)
        steps = np.hypot(np.diff(track.xy[:, 0]), np.diff(track.xy[:, 1]))
        seconds = np.diff(track.t)
        speeds_kmh = steps / np.maximum(seconds, 1.0) * 3.6
        limit = (20.0, 45.0) if declaration.category == "convoy" else (35.0, 65.0)
        assert limit[0] <= speeds_kmh.mean() <= limit[1], (declaration.key, speeds_kmh.mean())


def test_places_inside_northeast_syria() -> None:
    places = all_places()
    for p in places.values():
        assert NE_SYRIA_LON[0] <= p.lon <= NE_SYRIA_LON[1], p.key
        assert NE_SYRIA_LAT[0] <= p.lat <= NE_SYRIA_LAT[1], p.key


def test_places_not_from_geonames_are_marked_approximate() -> None:
    from_geonames = {entry.key: entry.geonames_id for entry in GEONAMES_PLACES}
    for p in all_places().values():
        if p.geonames_id is None:
            assert p.approximate, p.key
            assert p.note, p.key
        else:
            assert not p.approximate
            assert from_geonames[p.key] == p.geonames_id


def test_geonames_coordinates_are_read_from_the_package() -> None:
    from deconflict.demo.places import _syrian_cities

    cities = _syrian_cities()  # the package's own rows, loaded once per process
    for p in all_places().values():
        if p.geonames_id is not None:
            row = cities[p.geonames_id]
            assert row["countrycode"] == "SY"
            assert (p.lon, p.lat) == (row["longitude"], row["latitude"])


def test_all_geometry_inside_northeast_syria(scenario: Scenario) -> None:
    for declaration in scenario.declarations:
        minx, miny, maxx, maxy = validate(declaration.feature).shape().bounds
        assert NE_SYRIA_LON[0] <= minx <= maxx <= NE_SYRIA_LON[1], declaration.key
        assert NE_SYRIA_LAT[0] <= miny <= maxy <= NE_SYRIA_LAT[1], declaration.key


def test_expected_conflicts_name_declarations_of_different_parties(scenario: Scenario) -> None:
    assert scenario.expected_conflicts == EXPECTED_CONFLICTS
    for a, b in EXPECTED_CONFLICTS:
        da, db = scenario.declaration(a), scenario.declaration(b)
        assert da.party_id != db.party_id
        assert "EXPECTED CONFLICT" in da.note or "EXPECTED CONFLICT" in db.note
    assert len({frozenset(pair) for pair in EXPECTED_CONFLICTS}) == len(EXPECTED_CONFLICTS)


def test_visibility_story(scenario: Scenario) -> None:
    clinic = scenario.declaration("lmr-clinic-khabur").feature["properties"]
    assert clinic["share_with"] == ["us-coalition", "ru-mp"]
    assert clinic["precision_m"] == {"ru-mp": 2000.0}
    convoy = scenario.declaration("lmr-convoy-hasakah-khabur").feature["properties"]
    assert convoy["share_with"] == "all"
    assert convoy["disclose_conflicts"] is True
    assert set(convoy["precision_m"].values()) == {1000.0}
    turkish = scenario.declaration("tr-patrol-ras-al-ayn-front").feature["properties"]
    assert "lmr" not in turkish["share_with"]
    assert turkish["disclose_conflicts"] is True


def test_scenario_serialises(scenario: Scenario) -> None:
    data = json.loads(json.dumps(scenario.as_dict()))
    assert data["day"] == "2020-01-20"
    assert len(data["declarations"]) == len(scenario.declarations)


# --- a rough stand-in for the conflict semantics --------------------------------------


@cache
def _to_local() -> Transformer:
    return Transformer.from_crs(
        "EPSG:4326", "+proj=aeqd +lat_0=36.8 +lon_0=41.0 +datum=WGS84 +units=m", always_xy=True
    )


@dataclass(frozen=True)
class Track:
    t: np.ndarray[Any, np.dtype[np.float64]]
    xy: np.ndarray[Any, np.dtype[np.float64]]


def project_track(declaration: DemoDeclaration) -> Track:
    coords = np.array(declaration.feature["geometry"]["coordinates"], dtype=float)
    x, y = _to_local().transform(coords[:, 0], coords[:, 1])
    times = validate(declaration.feature).properties.times
    assert times is not None
    return Track(np.array([m.timestamp() for m in times]), np.column_stack([x, y]))


def sample(track: Track) -> Track:
    t = np.arange(track.t[0], track.t[-1] + SAMPLE_S, SAMPLE_S)
    t[-1] = min(t[-1], track.t[-1])
    x = np.interp(t, track.t, track.xy[:, 0])
    y = np.interp(t, track.t, track.xy[:, 1])
    return Track(t, np.column_stack([x, y]))


def projected_shape(declaration: DemoDeclaration) -> shapely.Geometry:
    return shapely.transform(
        shape(declaration.feature["geometry"]),
        lambda c: np.column_stack(_to_local().transform(c[:, 0], c[:, 1])),
    )


def window(declaration: DemoDeclaration) -> tuple[float, float]:
    props = validate(declaration.feature).properties
    assert props.start is not None
    end = float("inf") if props.end is None else props.end.timestamp()
    return props.start.timestamp(), end


def tolerance(declaration: DemoDeclaration) -> float:
    return validate(declaration.feature).properties.schedule_tolerance_s


def closest_approach(a: DemoDeclaration, b: DemoDeclaration, time_slack_s: float) -> float:
    """The smallest distance in metres over the pairs of instants DESIGN §3 allows.

    ``time_slack_s`` widens (positive) or narrows (negative) the allowed time offset, so
    that a verdict can be required to hold with a margin.
    """
    if a.kind != "movement" and b.kind == "movement":
        a, b = b, a
    if a.kind == "movement" and b.kind == "movement":
        ta, tb = sample(project_track(a)), sample(project_track(b))
        allowed = tolerance(a) + tolerance(b) + time_slack_s
        near = np.abs(ta.t[:, None] - tb.t[None, :]) <= allowed
        if not near.any():
            return float("inf")
        i, j = np.nonzero(near)
        return float(np.hypot(*(ta.xy[i] - tb.xy[j]).T).min())
    if a.kind == "movement":
        ta = sample(project_track(a))
        start, end = window(b)
        slack = tolerance(a) + time_slack_s
        active = (ta.t + slack >= start) & (ta.t - slack <= end)
        if not active.any():
            return float("inf")
        points = shapely.points(ta.xy[active])
        return float(shapely.distance(points, projected_shape(b)).min())
    (sa, ea), (sb, eb) = window(a), window(b)
    if not (sa - time_slack_s < eb and sb - time_slack_s < ea):
        return float("inf")
    return float(shapely.distance(projected_shape(a), projected_shape(b)))


def strict_separation(rules: list[DemoRule], a: DemoDeclaration, b: DemoDeclaration) -> float:
    """The smallest reading of the rules: a category rule only when both have that category."""
    pair = {a.party_id, b.party_id}
    same = a.category if a.category == b.category else None
    matching = [r for r in rules if {r.party_a, r.party_b} == pair]
    by_category = [r.distance_m for r in matching if same is not None and r.category == same]
    if by_category:
        return min(by_category)
    general = [r.distance_m for r in matching if r.category is None]
    return min(general) if general else DEFAULT_SEPARATION_M


def loose_separation(rules: list[DemoRule], a: DemoDeclaration, b: DemoDeclaration) -> float:
    """The larger of the service's own rule and the strict reading, so no pair is judged leniently."""
    service_rules = SeparationRules(
        [SeparationRule(r.party_a, r.party_b, r.category, r.distance_m) for r in rules]
    )
    return max(
        service_rules.between(a.party_id, b.party_id, a.category, b.category),
        strict_separation(rules, a, b),
    )


@pytest.mark.parametrize(("key_a", "key_b"), EXPECTED_CONFLICTS)
def test_expected_conflict_is_a_conflict(scenario: Scenario, key_a: str, key_b: str) -> None:
    a, b = scenario.declaration(key_a), scenario.declaration(key_b)
    separation = strict_separation(scenario.rules, a, b)
    distance = closest_approach(a, b, time_slack_s=-TIME_MARGIN_S)
    assert distance < (1 - DISTANCE_MARGIN) * separation, (key_a, key_b, distance, separation)


def test_no_other_pair_conflicts(scenario: Scenario) -> None:
    expected = {frozenset(pair) for pair in EXPECTED_CONFLICTS}
    declarations = scenario.declarations
    for i, a in enumerate(declarations):
        for b in declarations[i + 1 :]:
            if a.party_id == b.party_id or frozenset((a.key, b.key)) in expected:
                continue
            separation = loose_separation(scenario.rules, a, b)
            distance = closest_approach(a, b, time_slack_s=2 * TIME_MARGIN_S)
            assert distance > (1 + DISTANCE_MARGIN) * separation, (a.key, b.key, distance)


def test_tell_tamer_conflict_hinges_on_the_patrol_rule(scenario: Scenario) -> None:
    """Closer than the 2,000 m patrol rule, but farther than the 1,000 m default."""
    a = scenario.declaration("us-patrol-tell-tamer-entrance")
    b = scenario.declaration("ru-patrol-qamishli-tell-tamer")
    distance = closest_approach(a, b, time_slack_s=0.0)
    assert (1 + DISTANCE_MARGIN) * DEFAULT_SEPARATION_M < distance < (1 - DISTANCE_MARGIN) * 2000.0


def test_some_routes_meet_only_at_other_times(scenario: Scenario) -> None:
    """Same place, different time: the convoy follows the Russian patrol into Tell Tamer."""
    convoy = scenario.declaration("lmr-convoy-hasakah-khabur")
    russian = scenario.declaration("ru-patrol-qamishli-tell-tamer")
    assert closest_approach(convoy, russian, time_slack_s=24 * 3600.0) < 100.0
    assert closest_approach(convoy, russian, time_slack_s=2 * TIME_MARGIN_S) == float("inf") or (
        closest_approach(convoy, russian, time_slack_s=2 * TIME_MARGIN_S) > 2000.0
    )


def test_utc_times() -> None:
    scenario = build_scenario()
    props = validate(scenario.declarations[-1].feature).properties
    assert props.times is not None
    assert all(isinstance(m, datetime) and m.utcoffset() is not None for m in props.times)
    assert all(m.utcoffset().total_seconds() == 0 for m in props.times)  # type: ignore[union-attr]
