"""Turning GeoJSON geometries (RFC 7946) into shapely objects, refusing what GEOS would accept.

GEOS happily builds a polygon at longitude 500 or one whose boundary crosses itself; the
conflict engine would then compute nonsense distances. So every coordinate and every ring
is checked here first, and each refusal names the exact position that caused it.
"""

from __future__ import annotations

import math
from typing import Any

import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from deconflict.core.errors import InvalidInput

MAX_VERTICES = 10_000


def to_shape(geometry: dict[str, Any], field: str = "geometry") -> BaseGeometry:
    """Validate a GeoJSON geometry object and return it as a 2-D shapely geometry."""
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    where = f"{field}.coordinates"
    counter = _VertexCounter(where)
    if kind == "Point":
        return Point(_position(coordinates, where, counter))
    if kind == "LineString":
        return LineString(_line(coordinates, where, counter))
    if kind == "Polygon":
        polygon = _polygon(coordinates, where, counter)
        _require_valid(polygon, where)
        return polygon
    if kind == "MultiPolygon":
        polygons = [
            _polygon(part, f"{where}[{i}]", counter)
            for i, part in enumerate(_list(coordinates, where, 1))
        ]
        for i, polygon in enumerate(polygons):
            _require_valid(polygon, f"{where}[{i}]")
        multi = MultiPolygon(polygons)
        _require_valid(multi, where)
        return multi
    raise InvalidInput.at(f"{field}.type", f"unsupported geometry type {kind!r}")


class _VertexCounter:
    def __init__(self, where: str) -> None:
        self.count = 0
        self.where = where

    def add(self, n: int) -> None:
        self.count += n
        if self.count > MAX_VERTICES:
            raise InvalidInput.at(self.where, f"more than {MAX_VERTICES} vertices")


def _list(value: Any, where: str, minimum: int) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput.at(where, "must be an array")
    if len(value) < minimum:
        raise InvalidInput.at(where, f"needs at least {minimum} element(s), has {len(value)}")
    return value


def _position(value: Any, where: str, counter: _VertexCounter) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise InvalidInput.at(
            where, "a position is an array [longitude, latitude] or [longitude, latitude, altitude]"
        )
    for axis, number in enumerate(value):
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise InvalidInput.at(f"{where}[{axis}]", "must be a number")
        try:
            finite = math.isfinite(number)
        except OverflowError:  # an integer too large for a float
            finite = False
        if not finite:
            raise InvalidInput.at(f"{where}[{axis}]", "must be a finite number")
    lon, lat = float(value[0]), float(value[1])
    if not -180.0 <= lon <= 180.0:
        raise InvalidInput.at(f"{where}[0]", f"longitude {lon:g} is outside -180..180")
    if not -90.0 <= lat <= 90.0:
        raise InvalidInput.at(f"{where}[1]", f"latitude {lat:g} is outside -90..90")
    counter.add(1)
    return (lon, lat)


def _line(value: Any, where: str, counter: _VertexCounter) -> list[tuple[float, float]]:
    positions = _list(value, where, 2)
    return [_position(p, f"{where}[{i}]", counter) for i, p in enumerate(positions)]


def _ring(value: Any, where: str, counter: _VertexCounter) -> list[tuple[float, float]]:
    positions = _list(value, where, 4)
    ring = [_position(p, f"{where}[{i}]", counter) for i, p in enumerate(positions)]
    if ring[0] != ring[-1]:
        raise InvalidInput.at(where, "ring is not closed: the last position must equal the first")
    return ring


def _polygon(value: Any, where: str, counter: _VertexCounter) -> Polygon:
    rings = _list(value, where, 1)
    shell = _ring(rings[0], f"{where}[0]", counter)
    holes = [_ring(r, f"{where}[{i}]", counter) for i, r in enumerate(rings[1:], start=1)]
    return Polygon(shell, holes)


def _require_valid(geometry: BaseGeometry, where: str) -> None:
    if not shapely.is_valid(geometry):
        raise InvalidInput.at(where, f"invalid polygon: {explain_validity(geometry)}")
    if geometry.area == 0.0:
        raise InvalidInput.at(where, "polygon has no area")


def to_geojson(geometry: BaseGeometry) -> dict[str, Any]:
    """The RFC 7946 form of a shapely geometry, with plain lists (not tuples) for JSON."""
    mapped = shapely.geometry.mapping(geometry)
    return {"type": mapped["type"], "coordinates": _lists(mapped["coordinates"])}


def _lists(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    return value
