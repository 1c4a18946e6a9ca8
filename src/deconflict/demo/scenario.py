"""The demo scenario: northeast Syria, one day in January 2020, as pure data.

Four parties declare their bases, sites and movements on the roads of al-Hasakah
governorate: the US-led coalition, the Russian military police, the Turkish armed forces
and a humanitarian organisation, *Levant Medical Relief* (fictional). The movements follow
the roads on which US and Russian patrols blocked each other that winter (at Hittin
junction on the Hasakah–Qamishli road, near Mostafawia on the Derik–Semalka road, around
Tell Tamer); see ``docs/demo.md`` for the story and the sources.

Nothing here touches a database or the network: :func:`build_scenario` returns plain
dataclasses, and every :attr:`DemoDeclaration.feature` is a JSON-ready GeoJSON Feature
(times as RFC 3339 strings) for :class:`deconflict.core.declarations.DeclarationFeature`.
A loader creates the parties, members and rules, then declares each feature as its party.

The timings are chosen so that, under the conflict semantics of DESIGN §3, exactly the
pairs in :data:`EXPECTED_CONFLICTS` conflict; the notes of the declarations say why.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any, Literal

from pyproj import Geod

from deconflict.core.parties import DEFAULT_SEPARATION_M
from deconflict.demo.places import Place, place

Role = Literal["operator", "liaison", "leadership", "observer"]

US = "us-coalition"
RU = "ru-mp"
TR = "tr-forces"
LMR = "lmr"
PARTY_IDS: tuple[str, ...] = (US, RU, TR, LMR)

DEFAULT_DAY = date(2020, 1, 20)
"""DESIGN §2: the separation when no rule names the pair of parties."""

PATROL_SPEED_KMH = 45.0
CONVOY_SPEED_KMH = 30.0

_GEOD = Geod(ellps="WGS84")

EXPECTED_CONFLICTS: list[tuple[str, str]] = [
    # Hittin junction, Hasakah–Qamishli road: the two patrols reach the junction minutes apart.
    ("us-patrol-hasakah-tall-hamis", "ru-patrol-qamishli-tell-tamer"),
    # Tell Tamer: about 1.4 km apart, inside the 2,000 m coalition–Russian MP patrol rule only.
    ("us-patrol-tell-tamer-entrance", "ru-patrol-qamishli-tell-tamer"),
    # Mostafawia, Derik–Semalka road: the coalition patrol waits where the Russian one passes.
    ("us-patrol-rmeilan-mostafawia", "ru-patrol-qamishli-semalka"),
    # Khabur villages north-west of Tell Tamer: the convoy arrives as the Turkish patrol does.
    ("lmr-convoy-hasakah-khabur", "tr-patrol-ras-al-ayn-front"),
    # The clinic, not shared with Turkey, lies about 770 m from the end of the Turkish patrol.
    ("lmr-clinic-khabur", "tr-patrol-ras-al-ayn-front"),
]


@dataclass(frozen=True)
class DemoParty:
    id: str
    name: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class DemoMember:
    party_id: str
    name: str
    role: Role


@dataclass(frozen=True)
class DemoRule:
    """Minimum separation between two parties, for one category or (``None``) any."""

    party_a: str
    party_b: str
    category: str | None
    distance_m: float


@dataclass(frozen=True)
class DemoDeclaration:
    party_id: str
    key: str
    """Unique within the scenario; the loader maps it to the id the service assigns."""
    feature: dict[str, Any]
    """A GeoJSON Feature (RFC 7946) with the properties of DESIGN §3, JSON-ready."""
    note: str
    """What the declaration is, and which conflicts it is meant to produce (or not)."""

    @property
    def kind(self) -> str:
        return str(self.feature["properties"]["kind"])

    @property
    def category(self) -> str | None:
        value = self.feature["properties"].get("category")
        return None if value is None else str(value)


@dataclass(frozen=True)
class Scenario:
    day: date
    parties: list[DemoParty]
    members: list[DemoMember]
    rules: list[DemoRule]
    declarations: list[DemoDeclaration]
    expected_conflicts: list[tuple[str, str]] = field(
        default_factory=lambda: list(EXPECTED_CONFLICTS)
    )

    def declaration(self, key: str) -> DemoDeclaration:
        for declaration in self.declarations:
            if declaration.key == key:
                return declaration
        raise KeyError(f"no demo declaration {key!r}")

    def as_dict(self) -> dict[str, Any]:
        """The whole scenario as JSON-ready data (dates as ISO strings)."""
        data = asdict(self)
        data["day"] = self.day.isoformat()
        return data


# --- building blocks -----------------------------------------------------------------


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def _rounded(lonlat: tuple[float, float]) -> list[float]:
    return [round(lonlat[0], 6), round(lonlat[1], 6)]


def _geodesic_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    _, _, distance = _GEOD.inv(a[0], a[1], b[0], b[1])
    return float(distance)


def _route(
    waypoints: list[Place], target_vertices: int
) -> tuple[list[tuple[float, float]], list[float]]:
    """Vertices along the geodesics between waypoints, and the distance run to each, in metres.

    Each leg gets a share of the vertices in proportion to its length (at least one
    segment), so that the route has about ``target_vertices`` vertices.
    """
    legs = [_geodesic_m(a.lonlat, b.lonlat) for a, b in pairwise(waypoints)]
    step = sum(legs) / max(1, target_vertices - 1)
    coords: list[tuple[float, float]] = [waypoints[0].lonlat]
    run: list[float] = [0.0]
    for (a, b), length in zip(pairwise(waypoints), legs, strict=True):
        segments = max(1, round(length / step))
        inner = _GEOD.npts(a.lon, a.lat, b.lon, b.lat, segments - 1) if segments > 1 else []
        for lon, lat in [*((float(x), float(y)) for x, y in inner), b.lonlat]:
            run.append(run[-1] + length / segments)
            coords.append((lon, lat))
    return coords, run


@dataclass(frozen=True)
class _Timing:
    """When the movement passes one of its waypoints, and how fast it goes."""

    waypoint: str
    at: datetime
    speed_kmh: float


def _movement(
    *,
    party_id: str,
    key: str,
    waypoints: list[str],
    timing: _Timing,
    category: str,
    label: str,
    share_with: list[str] | Literal["all"],
    precision_m: dict[str, float] | None = None,
    disclose_conflicts: bool = False,
    tolerance_s: float = 900.0,
    target_vertices: int = 24,
    note: str,
) -> DemoDeclaration:
    places = [place(w) for w in waypoints]
    coords, run = _route(places, target_vertices)
    speed = timing.speed_kmh / 3.6
    anchor = place(timing.waypoint).lonlat
    anchor_index = [i for i, lonlat in enumerate(coords) if lonlat == anchor]
    if not anchor_index:
        raise ValueError(f"{key}: timing waypoint {timing.waypoint!r} is not on the route")
    anchor_run = run[anchor_index[0]]
    times = [
        _rfc3339(timing.at + timedelta(seconds=round((metres - anchor_run) / speed)))
        for metres in run
    ]
    properties: dict[str, Any] = {
        "kind": "movement",
        "times": times,
        "schedule_tolerance_s": tolerance_s,
        "category": category,
        "label": label,
        "share_with": share_with,
        "disclose_conflicts": disclose_conflicts,
    }
    if precision_m:
        properties["precision_m"] = dict(precision_m)
    feature = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [_rounded(c) for c in coords]},
        "properties": properties,
    }
    return DemoDeclaration(party_id, key, feature, note)


def _site(
    *,
    party_id: str,
    key: str,
    geometry: dict[str, Any],
    start: datetime,
    end: datetime | None,
    category: str,
    label: str,
    share_with: list[str] | Literal["all"],
    precision_m: dict[str, float] | None = None,
    disclose_conflicts: bool = False,
    kind: Literal["site", "area"] = "site",
    note: str,
) -> DemoDeclaration:
    properties: dict[str, Any] = {
        "kind": kind,
        "start": _rfc3339(start),
        "category": category,
        "label": label,
        "share_with": share_with,
        "disclose_conflicts": disclose_conflicts,
    }
    if end is not None:
        properties["end"] = _rfc3339(end)
    else:
        properties["reconfirm_every_s"] = 7 * 24 * 3600
    if precision_m:
        properties["precision_m"] = dict(precision_m)
    feature = {"type": "Feature", "geometry": geometry, "properties": properties}
    return DemoDeclaration(party_id, key, feature, note)


def _point(key: str) -> dict[str, Any]:
    return {"type": "Point", "coordinates": _rounded(place(key).lonlat)}


def _square(key: str, half_side_m: float) -> dict[str, Any]:
    """A square polygon centred on a place, counter-clockwise as RFC 7946 asks."""
    centre = place(key)
    dlat = half_side_m / 111_320.0
    dlon = half_side_m / (111_320.0 * math.cos(math.radians(centre.lat)))
    ring = [
        (centre.lon - dlon, centre.lat - dlat),
        (centre.lon + dlon, centre.lat - dlat),
        (centre.lon + dlon, centre.lat + dlat),
        (centre.lon - dlon, centre.lat + dlat),
        (centre.lon - dlon, centre.lat - dlat),
    ]
    return {"type": "Polygon", "coordinates": [[_rounded(c) for c in ring]]}


# --- the scenario --------------------------------------------------------------------

PARTIES: tuple[DemoParty, ...] = (
    DemoParty(
        US,
        "US-led Coalition (CJTF-OIR)",
        ("Coalition", "CJTF-OIR", "US forces", "American forces", "Global Coalition"),
    ),
    DemoParty(
        RU,
        "Russian Military Police",
        ("Russian forces", "Russian MP", "Военная полиция", "Russian Centre for Reconciliation"),
    ),
    DemoParty(TR, "Turkish Armed Forces", ("Turkish forces", "TSK", "Türk Silahlı Kuvvetleri")),
    DemoParty(LMR, "Levant Medical Relief", ("LMR", "Levant Medical Relief (NGO)")),
)

MEMBERS: tuple[DemoMember, ...] = (
    DemoMember(US, "Coalition operations centre, duty officer", "operator"),
    DemoMember(US, "Coalition deconfliction liaison officer", "liaison"),
    DemoMember(US, "Coalition deputy commander (operations)", "leadership"),
    DemoMember(US, "Coalition legal adviser", "observer"),
    DemoMember(RU, "Russian MP Qamishli, duty officer", "operator"),
    DemoMember(RU, "Russian MP liaison officer, Qamishli", "liaison"),
    DemoMember(RU, "Russian group of forces, chief of staff", "leadership"),
    DemoMember(TR, "Turkish forces Ras al-Ayn, operations officer", "operator"),
    DemoMember(TR, "Turkish liaison officer to the Russian MP", "liaison"),
    DemoMember(TR, "Turkish task force commander", "leadership"),
    DemoMember(LMR, "LMR logistics coordinator, al-Hasakah", "operator"),
    DemoMember(LMR, "LMR humanitarian access officer", "liaison"),
    DemoMember(LMR, "LMR country director", "leadership"),
    DemoMember(LMR, "LMR security focal point", "observer"),
)

RULES: tuple[DemoRule, ...] = (
    DemoRule(US, RU, "patrol", 2000.0),
    DemoRule(US, RU, None, DEFAULT_SEPARATION_M),
)


def build_scenario(day: date = DEFAULT_DAY) -> Scenario:
    """The parties, members, separation rules and declarations, timed on ``day`` (UTC)."""
    start_of_day = _at(day, 0)
    declarations = [
        # Bases and sites ----------------------------------------------------------------
        _site(
            party_id=US,
            key="us-base-kharab-al-jir",
            geometry=_point("kharab-al-jir"),
            start=start_of_day,
            end=None,
            category="base",
            label="Coalition base, Rmeilan / Kharab al-Jir airstrip",
            share_with="all",
            precision_m={RU: 2000.0, TR: 5000.0, LMR: 5000.0},
            note="US base, shared coarsely. No other party's route comes within 10 km: "
            "no conflict.",
        ),
        _site(
            party_id=RU,
            key="ru-base-qamishli-airport",
            geometry=_point("qamishli-airport"),
            start=start_of_day,
            end=None,
            category="base",
            label="Russian MP base, Qamishli airport",
            share_with="all",
            note="Where both Russian patrols start. No other party comes near: no conflict.",
        ),
        _site(
            party_id=TR,
            key="tr-base-ras-al-ayn",
            geometry=_point("tr-forward-base-ras-al-ayn"),
            start=start_of_day,
            end=None,
            category="base",
            label="Turkish forward base south of Ras al-Ayn",
            share_with=[RU, US],
            precision_m={US: 5000.0},
            note="Where the Turkish patrol starts. No other party comes near: no conflict.",
        ),
        _site(
            party_id=LMR,
            key="lmr-warehouse-hasakah",
            geometry=_point("lmr-warehouse-hasakah"),
            start=start_of_day,
            end=None,
            category="warehouse",
            label="LMR warehouse, al-Hasakah",
            share_with="all",
            note="Where the convoy loads. About 3 km from the coalition routes out of al-Hasakah: "
            "no conflict.",
        ),
        _site(
            party_id=LMR,
            key="lmr-clinic-khabur",
            geometry=_point("lmr-clinic-khabur"),
            start=start_of_day,
            end=None,
            category="clinic",
            label="LMR clinic, Khabur villages north-west of Tell Tamer",
            share_with=[US, RU],
            precision_m={RU: 2000.0},
            disclose_conflicts=False,
            note="Shared with the coalition exactly and with the Russian MP at 2,000 m, not with "
            "Turkey. EXPECTED CONFLICT with tr-patrol-ras-al-ayn-front, whose end is 770 m away: "
            "Turkey cannot see the clinic and the clinic does not disclose conflicts, so Turkey "
            "is told nothing; LMR cannot see the Turkish patrol but Turkey discloses conflicts, "
            "so LMR gets an 'undisclosed activity' notice.",
        ),
        _site(
            party_id=LMR,
            key="lmr-area-al-hol",
            geometry=_square("al-hol", 1500.0),
            start=_at(day, 6),
            end=_at(day, 14),
            kind="area",
            category="distribution",
            label="LMR medical distribution, al-Hol camp",
            share_with="all",
            note="A day's distribution in al-Hol camp. Far from every route: no conflict.",
        ),
        # Hittin junction and Tell Tamer ---------------------------------------------------
        _movement(
            party_id=RU,
            key="ru-patrol-qamishli-tell-tamer",
            waypoints=["qamishli-airport", "hittin-junction", "tell-tamer"],
            timing=_Timing("hittin-junction", _at(day, 8, 25), PATROL_SPEED_KMH),
            category="patrol",
            label="Russian MP patrol Qamishli – Hittin junction – M4 – Tell Tamer",
            share_with=[US, TR],
            disclose_conflicts=True,
            target_vertices=26,
            note="South on the Hasakah–Qamishli road to Hittin junction (08:25), then west on the "
            "M4 to Tell Tamer (about 09:30), as the Russian column of 14 January 2020 tried. "
            "EXPECTED CONFLICTS with us-patrol-hasakah-tall-hamis at Hittin junction and with "
            "us-patrol-tell-tamer-entrance at Tell Tamer. Not with the LMR convoy, which "
            "reaches Tell Tamer about 95 minutes later (beyond both tolerances).",
        ),
        _movement(
            party_id=US,
            key="us-patrol-hasakah-tall-hamis",
            waypoints=["hasakah", "hasakah-north-exit", "hittin-junction", "tall-hamis"],
            timing=_Timing("hittin-junction", _at(day, 8, 30), 50.0),
            category="patrol",
            label="Coalition patrol al-Hasakah – Hittin junction – M4 east – Tal Hamis",
            share_with=[RU],
            precision_m={RU: 500.0},
            disclose_conflicts=True,
            target_vertices=22,
            note="North from al-Hasakah to Hittin junction (08:30) and east on the M4 to "
            "Tal Hamis. EXPECTED CONFLICT with ru-patrol-qamishli-tell-tamer at Hittin "
            "junction: both reach it within five minutes.",
        ),
        _movement(
            party_id=US,
            key="us-patrol-tell-tamer-entrance",
            waypoints=["hasakah", "hasakah-northwest-exit", "tell-tamer-southeast-entrance"],
            timing=_Timing("tell-tamer-southeast-entrance", _at(day, 9, 35), 40.0),
            category="patrol",
            label="Coalition patrol al-Hasakah – Tell Tamer south-eastern entrance",
            share_with=[RU],
            disclose_conflicts=True,
            target_vertices=16,
            note="Up the Khabur road to hold the south-eastern entrance of Tell Tamer (09:35), as "
            "US vehicles did at the town's exits that winter. EXPECTED CONFLICT with "
            "ru-patrol-qamishli-tell-tamer: closest approach about 1.4 km, a conflict only "
            "because of the 2,000 m coalition–Russian MP patrol rule. Not with the LMR convoy on "
            "the same road, which follows 80 minutes or more behind.",
        ),
        _movement(
            party_id=US,
            key="us-patrol-tall-hamis-hasakah",
            waypoints=["tall-hamis", "hittin-junction", "hasakah-north-exit", "hasakah"],
            timing=_Timing("hittin-junction", _at(day, 13, 0), 50.0),
            category="patrol",
            label="Coalition patrol Tal Hamis – Hittin junction – al-Hasakah (return)",
            share_with=[RU],
            disclose_conflicts=True,
            target_vertices=22,
            note="The return leg through Hittin junction at 13:00, four and a half hours after "
            "the Russian patrol passed it: same place, different time, no conflict.",
        ),
        # Derik and the Semalka road ----------------------------------------------------
        _movement(
            party_id=RU,
            key="ru-patrol-qamishli-semalka",
            waypoints=[
                "qamishli-airport",
                "qamishli",
                "qahtaniyah",
                "jawadiyah",
                "muabbadah",
                "malikiyah",
                "mostafawia",
                "semalka",
            ],
            timing=_Timing("mostafawia", _at(day, 8, 15), PATROL_SPEED_KMH),
            category="patrol",
            label="Russian MP patrol Qamishli – Derik – Mostafawia – Semalka",
            share_with=[US, TR],
            disclose_conflicts=True,
            target_vertices=36,
            note="East along the Qamishli–Derik road, then toward the Semalka crossing via "
            "Mostafawia (08:15), the route of the patrol turned back on 20–21 January 2020. "
            "EXPECTED CONFLICT with us-patrol-rmeilan-mostafawia, waiting at Mostafawia.",
        ),
        _movement(
            party_id=US,
            key="us-patrol-rmeilan-mostafawia",
            waypoints=["kharab-al-jir", "mostafawia"],
            timing=_Timing("mostafawia", _at(day, 8, 10), 50.0),
            category="patrol",
            label="Coalition patrol Rmeilan airstrip – Mostafawia (Semalka road)",
            share_with=[RU],
            disclose_conflicts=True,
            target_vertices=14,
            note="From the Rmeilan airstrip north-east across the oil-field roads to hold the "
            "Semalka road at Mostafawia from 08:10, as US vehicles waited on the Derik roads "
            "that week. EXPECTED CONFLICT with ru-patrol-qamishli-semalka, which reaches "
            "Mostafawia at 08:15; the routes touch only there.",
        ),
        _movement(
            party_id=RU,
            key="ru-patrol-qamishli-darbasiyah",
            waypoints=["qamishli-airport", "amuda", "darbasiyah"],
            timing=_Timing("qamishli-airport", _at(day, 12, 0), PATROL_SPEED_KMH),
            category="patrol",
            label="Russian MP border patrol Qamishli – Amuda – Darbasiyah",
            share_with=[US, TR],
            disclose_conflicts=True,
            target_vertices=14,
            note="Afternoon patrol along the Turkish border, the Sochi-agreement zone. Nobody "
            "else is there: no conflict.",
        ),
        # Tell Tamer front and the humanitarian convoy ---------------------------------------
        _movement(
            party_id=TR,
            key="tr-patrol-ras-al-ayn-front",
            waypoints=["tr-forward-base-ras-al-ayn", "front-line-tell-tamer"],
            timing=_Timing("front-line-tell-tamer", _at(day, 11, 15), 40.0),
            category="patrol",
            label="Turkish patrol Ras al-Ayn – front line north-west of Tell Tamer",
            share_with=[RU],
            disclose_conflicts=True,
            target_vertices=12,
            note="Down the Ras al-Ayn road to the front line north-west of Tell Tamer (11:15). "
            "Shared with the Russian MP only, but discloses conflicts. EXPECTED CONFLICTS with "
            "the LMR convoy (Turkey sees the convoy at 1,000 m; LMR gets an 'undisclosed "
            "activity' notice) and with the LMR clinic (Turkey is told nothing; LMR gets a "
            "notice). Not with the Russian patrol, which ends in Tell Tamer, 5 km away, "
            "nearly two hours earlier.",
        ),
        _movement(
            party_id=LMR,
            key="lmr-convoy-hasakah-khabur",
            waypoints=[
                "lmr-warehouse-hasakah",
                "hasakah",
                "hasakah-northwest-exit",
                "tell-tamer-southeast-entrance",
                "tell-tamer",
                "lmr-clinic-khabur",
            ],
            timing=_Timing("lmr-clinic-khabur", _at(day, 11, 30), CONVOY_SPEED_KMH),
            category="convoy",
            label="LMR medical convoy al-Hasakah – Tell Tamer – Khabur villages clinic",
            share_with="all",
            precision_m={US: 1000.0, RU: 1000.0, TR: 1000.0},
            disclose_conflicts=True,
            tolerance_s=1800.0,
            target_vertices=30,
            note="Resupply of the clinic: leaves the warehouse about 09:55, reaches the clinic at "
            "11:30, tolerance 30 minutes. Shared with all at 1,000 m and discloses conflicts. "
            "EXPECTED CONFLICT with tr-patrol-ras-al-ayn-front at the clinic. Not with the two "
            "patrols it follows into Tell Tamer (coalition and Russian), which are there more "
            "than 45 minutes (the sum of the tolerances) earlier.",
        ),
    ]
    return Scenario(
        day=day,
        parties=list(PARTIES),
        members=list(MEMBERS),
        rules=list(RULES),
        declarations=declarations,
    )
