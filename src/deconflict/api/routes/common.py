"""Pieces every route module shares: error responses for OpenAPI, cursors, bounding boxes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from deconflict.api.problems import PROBLEM_MEDIA_TYPE, Problem
from deconflict.core.errors import InvalidInput


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer with."""
    meaning = {
        400: "Malformed request",
        401: "Missing or invalid bearer token",
        403: "Your role may not do this",
        404: "No such object, or not visible to your party",
        409: "Stale version or conflicting state",
        413: "Body too large",
        415: "Body is not JSON",
        422: "Invalid input; `errors` names each field and reason",
    }
    return {
        status: {
            "model": Problem,
            "description": meaning[status],
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }


READ_ERRORS = problems(401, 403, 404, 422)
WRITE_ERRORS = problems(400, 401, 403, 404, 409, 413, 415, 422)


CURSOR_MAX_LENGTH = 18


def parse_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    # isascii: str.isdigit also holds for digits such as "²" that int() refuses
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > CURSOR_MAX_LENGTH:
        raise InvalidInput.at("query.cursor", "is not a cursor this service issued")
    return int(cursor)


def parse_bbox(text: str | None) -> BaseGeometry | None:
    """``minLon,minLat,maxLon,maxLat`` in degrees, as in RFC 7946 §5."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidInput.at(
            "query.bbox", "must be four numbers: minLon,minLat,maxLon,maxLat"
        ) from None
    if len(values) != 4 or any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise InvalidInput.at(
            "query.bbox", "must be four finite numbers: minLon,minLat,maxLon,maxLat"
        )
    min_lon, min_lat, max_lon, max_lat = values
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise InvalidInput.at(
            "query.bbox", "corners must be within -180..180, -90..90 and ordered min to max"
        )
    return box(min_lon, min_lat, max_lon, max_lat)


class FeatureCollection(BaseModel):
    """An RFC 7946 FeatureCollection; ``next_cursor`` is a foreign member for paging."""

    type: str = "FeatureCollection"
    features: list[dict[str, Any]]
    next_cursor: str | None
