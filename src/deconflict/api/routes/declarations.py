"""Declarations: declare, check (dry run), read, amend, cancel, reconfirm."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BeforeValidator
from starlette.concurrency import run_in_threadpool

from deconflict.api.auth import Caller, Service
from deconflict.api.bodies import body_schema, parse_body
from deconflict.api.routes.common import (
    CURSOR_MAX_LENGTH,
    READ_ERRORS,
    WRITE_ERRORS,
    FeatureCollection,
    parse_bbox,
    parse_cursor,
)
from deconflict.core.declarations import DeclarationFeature, Kind, Status
from deconflict.core.errors import InvalidInput
from deconflict.core.visibility import AdvisoryView, DeclarationView
from deconflict.service.declarations import DeclarationOutcome, DeclarationPage, DeclarationQuery

router = APIRouter(tags=["declarations"])
DeclarationId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
BODY = body_schema(DeclarationFeature)


@router.post(
    "/v1/declarations",
    status_code=201,
    openapi_extra=BODY,
    responses=WRITE_ERRORS,
    summary="Declare a site, area or movement (a GeoJSON Feature); answers with the advisories it raised",
)
async def declare(
    request: Request, response: Response, service: Service, who: Caller
) -> DeclarationOutcome:
    feature = await parse_body(request, DeclarationFeature)
    outcome = await run_in_threadpool(service.declarations.declare, who, feature)
    response.headers["Location"] = f"/v1/declarations/{outcome.declaration.id}"
    return outcome


@router.post(
    "/v1/declarations/check",
    openapi_extra=BODY,
    responses=WRITE_ERRORS,
    summary="Dry run: the advisories this Feature would raise; nothing is stored",
)
async def check(request: Request, service: Service, who: Caller) -> list[AdvisoryView]:
    feature = await parse_body(request, DeclarationFeature)
    return await run_in_threadpool(service.declarations.check, who, feature)


def _date_time(value: object) -> object:
    # Query parameters are validated in lax mode, where "0.5" or "1700000000" is a Unix time
    # and "2020-01-20" a naive midnight; the spec promises an RFC 3339 date-time.
    if isinstance(value, str) and not re.match(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}", value):
        raise ValueError("must be an RFC 3339 timestamp, e.g. 2020-01-20T09:00:00Z")
    return value


QueryDateTime = Annotated[datetime | None, BeforeValidator(_date_time)]


def _utc(value: datetime | None, name: str) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput.at(
            f"query.{name}", "must carry a time zone (RFC 3339), e.g. 2020-01-20T09:00:00Z"
        )
    return value.timestamp()


class DeclarationFilters:
    """The query parameters shared by the list and the map layer."""

    def __init__(
        self,
        kind: Annotated[list[Kind] | None, Query()] = None,
        status: Annotated[list[Status] | None, Query(description="default: active")] = None,
        bbox: Annotated[
            str | None, Query(description="minLon,minLat,maxLon,maxLat", max_length=200)
        ] = None,
        time_from: Annotated[QueryDateTime, Query(alias="from")] = None,
        time_to: Annotated[QueryDateTime, Query(alias="to")] = None,
        cursor: Annotated[str | None, Query(max_length=CURSOR_MAX_LENGTH)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> None:
        self.query = DeclarationQuery(
            kinds=kind,
            statuses=status or [Status.active],
            bbox=parse_bbox(bbox),
            time_from=_utc(time_from, "from"),
            time_to=_utc(time_to, "to"),
            cursor=parse_cursor(cursor),
            limit=limit,
        )


Filters = Annotated[DeclarationFilters, Depends()]


@router.get(
    "/v1/declarations", responses=READ_ERRORS, summary="Your declarations and those shared with you"
)
def list_declarations(service: Service, who: Caller, filters: Filters) -> DeclarationPage:
    return service.declarations.visible(who, filters.query)


@router.get(
    "/v1/map/declarations",
    responses=READ_ERRORS,
    tags=["map"],
    summary="The same list as a GeoJSON FeatureCollection, for map layers",
)
def map_declarations(service: Service, who: Caller, filters: Filters) -> FeatureCollection:
    page = service.declarations.visible(who, filters.query)
    return FeatureCollection(
        features=[item.model_dump(mode="json") for item in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/v1/declarations/{declaration_id}",
    responses=READ_ERRORS,
    summary="One declaration, as you may see it",
)
async def get_declaration(
    declaration_id: DeclarationId, service: Service, who: Caller
) -> DeclarationView:
    # Read in the event loop: one row by its key costs less than handing it to a worker thread
    # and back (a plain ``def`` would hand over twice: the read, then the response's check).
    return service.declarations.get(who, declaration_id)


@router.put(
    "/v1/declarations/{declaration_id}",
    openapi_extra=BODY,
    responses=WRITE_ERRORS,
    summary="Amend: a new version; `version` must be the current one (409 otherwise)",
)
async def amend(
    request: Request,
    declaration_id: DeclarationId,
    version: Annotated[int, Query(ge=1, description="the version you are amending")],
    service: Service,
    who: Caller,
) -> DeclarationOutcome:
    feature = await parse_body(request, DeclarationFeature)
    return await run_in_threadpool(
        service.declarations.amend, who, declaration_id, version, feature
    )


@router.delete(
    "/v1/declarations/{declaration_id}",
    responses=WRITE_ERRORS,
    summary="Cancel; with `version`, only if it is still the current one",
)
def cancel(
    declaration_id: DeclarationId,
    service: Service,
    who: Caller,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> DeclarationView:
    return service.declarations.cancel(who, declaration_id, version)


@router.post(
    "/v1/declarations/{declaration_id}/reconfirm",
    responses=WRITE_ERRORS,
    summary="Confirm that an open-ended site still stands",
)
def reconfirm(declaration_id: DeclarationId, service: Service, who: Caller) -> DeclarationView:
    return service.declarations.reconfirm(who, declaration_id)
