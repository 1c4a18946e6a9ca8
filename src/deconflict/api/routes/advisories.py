"""Advisories: list, read, acknowledge."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from deconflict.api.auth import Caller, Service
from deconflict.api.bodies import body_schema, parse_body
from deconflict.api.routes.common import (
    CURSOR_MAX_LENGTH,
    READ_ERRORS,
    WRITE_ERRORS,
    FeatureCollection,
    parse_cursor,
)
from deconflict.core.visibility import AdvisoryView, advisory_feature
from deconflict.service.advisories import MAX_NOTE, AdvisoryPage

router = APIRouter(tags=["advisories"])
AdvisoryId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class SignedAcknowledgement(BaseModel):
    """The party's Ed25519 signature over the canonical payload (docs/record.md §7)."""

    model_config = ConfigDict(strict=True, extra="forbid")
    payload: dict[str, Any]
    signature: str = Field(max_length=100)


class Acknowledge(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    note: str | None = Field(None, max_length=MAX_NOTE)
    signed: SignedAcknowledgement | None = None


BODY_MODELS: list[type[BaseModel]] = [Acknowledge, SignedAcknowledgement]


def _page(
    service: Service,
    who: Caller,
    status: Literal["open", "resolved"] | None,
    declaration_id: str | None,
    cursor: str | None,
    limit: int,
) -> AdvisoryPage:
    return service.advisories.visible(who, status, declaration_id, parse_cursor(cursor), limit)


@router.get("/v1/advisories", responses=READ_ERRORS, summary="Advisories that reached your party")
def list_advisories(
    service: Service,
    who: Caller,
    status: Annotated[Literal["open", "resolved"] | None, Query()] = None,
    declaration_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=CURSOR_MAX_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AdvisoryPage:
    return _page(service, who, status, declaration_id, cursor, limit)


@router.get(
    "/v1/map/advisories",
    responses=READ_ERRORS,
    tags=["map"],
    summary="Advisories as GeoJSON points at the place of closest approach",
)
def map_advisories(
    service: Service,
    who: Caller,
    status: Annotated[Literal["open", "resolved"] | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=CURSOR_MAX_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> FeatureCollection:
    page = _page(service, who, status, None, cursor, limit)
    return FeatureCollection(
        features=[advisory_feature(v) for v in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/v1/advisories/{advisory_id}",
    responses=READ_ERRORS,
    summary="One advisory, as your party may see it",
)
def get_advisory(advisory_id: AdvisoryId, service: Service, who: Caller) -> AdvisoryView:
    return service.advisories.get(who, advisory_id)


@router.post(
    "/v1/advisories/{advisory_id}/acknowledge",
    openapi_extra=body_schema(Acknowledge, required=False),
    responses=WRITE_ERRORS,
    summary="Acknowledge for your party (liaison or leadership)",
)
async def acknowledge(
    request: Request, advisory_id: AdvisoryId, service: Service, who: Caller
) -> AdvisoryView:
    body = await parse_body(request, Acknowledge, optional=True)
    signed = None if body.signed is None else body.signed.model_dump()
    return await run_in_threadpool(
        service.advisories.acknowledge, who, advisory_id, body.note, signed
    )
