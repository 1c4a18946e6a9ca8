"""Incidents and their accounts, settlements and disputes; and the periodic review report."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from deconflict.api.auth import Caller, Service
from deconflict.api.bodies import body_schema, parse_body
from deconflict.api.routes.common import (
    CURSOR_MAX_LENGTH,
    READ_ERRORS,
    WRITE_ERRORS,
    parse_cursor,
    problems,
)
from deconflict.core.channel import check_moment
from deconflict.core.declarations import PARTY_ID_PATTERN
from deconflict.core.errors import InvalidInput
from deconflict.core.incidents import IncidentStatus, IncidentType
from deconflict.service.incidents import Casualties, IncidentPage, IncidentReport, IncidentView
from deconflict.service.report import MAX_RANGE

router = APIRouter(tags=["incidents"])
Id = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
PartyIdItem = Annotated[str, Field(pattern=PARTY_ID_PATTERN, max_length=63)]
ObjectId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]
MAX_TEXT = 50_000


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class CasualtiesIn(Strict):
    """As reported by your party; leave a figure out when you do not know it."""

    killed: int | None = Field(None, ge=0, le=1_000_000)
    injured: int | None = Field(None, ge=0, le=1_000_000)
    note: str | None = Field(None, max_length=2000)


class LinksIn(Strict):
    declarations: list[ObjectId] = Field(default_factory=list, max_length=50)
    advisories: list[ObjectId] = Field(default_factory=list, max_length=50)
    messages: list[ObjectId] = Field(default_factory=list, max_length=50)


class IncidentIn(Strict):
    type: IncidentType
    occurred_at: AwareDatetime
    time_precision_s: int = Field(0, ge=0, le=7 * 24 * 3600, description="± how sure the time is")
    place: tuple[Lon, Lat] = Field(description="[lon, lat], WGS 84")
    place_precision_m: float = Field(0.0, ge=0, le=500_000, description="± how sure the place is")
    place_name: str | None = Field(None, min_length=1, max_length=300)
    summary: str = Field(min_length=1, max_length=10_000)
    involved: list[PartyIdItem] = Field(min_length=1, max_length=20)
    observers: list[PartyIdItem] = Field(default_factory=list, max_length=20)
    casualties: CasualtiesIn = Field(default_factory=CasualtiesIn)
    links: LinksIn = Field(default_factory=LinksIn)


class AccountIn(Strict):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    casualties: CasualtiesIn | None = None


class ShareIn(Strict):
    party_id: str = Field(pattern=PARTY_ID_PATTERN, max_length=63)


class SettlementIn(Strict):
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class AcceptIn(Strict):
    version: int = Field(ge=1, le=1_000_000)


class DisputeIn(Strict):
    reason: str | None = Field(None, max_length=MAX_TEXT)


BODY_MODELS: list[type[BaseModel]] = [
    CasualtiesIn,
    LinksIn,
    IncidentIn,
    AccountIn,
    ShareIn,
    SettlementIn,
    AcceptIn,
    DisputeIn,
]


@router.post(
    "/v1/incidents",
    status_code=201,
    openapi_extra=body_schema(IncidentIn),
    responses=WRITE_ERRORS,
    summary="Report an incident your party was involved in or observed (liaison or leadership)",
)
async def report_incident(
    request: Request, response: Response, service: Service, who: Caller
) -> IncidentView:
    body = await parse_body(request, IncidentIn)
    report = IncidentReport(
        type=body.type,
        occurred_at=body.occurred_at,
        time_precision_s=body.time_precision_s,
        place=body.place,
        place_precision_m=body.place_precision_m,
        place_name=body.place_name,
        summary=body.summary,
        involved=body.involved,
        observers=body.observers,
        casualties=Casualties(**body.casualties.model_dump()),
        links=body.links.model_dump(),
    )
    view = await run_in_threadpool(service.incidents.report, who, report)
    response.headers["Location"] = f"/v1/incidents/{view.id}"
    return view


@router.get("/v1/incidents", responses=READ_ERRORS, summary="Incidents your party may see")
def list_incidents(
    service: Service,
    who: Caller,
    status: Annotated[IncidentStatus | None, Query()] = None,
    type_: Annotated[IncidentType | None, Query(alias="type")] = None,
    cursor: Annotated[str | None, Query(max_length=CURSOR_MAX_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> IncidentPage:
    return service.incidents.visible(who, status, type_, parse_cursor(cursor), limit)


@router.get(
    "/v1/incidents/{incident_id}",
    responses=READ_ERRORS,
    summary="One incident with every party's accounts side by side",
)
def get_incident(incident_id: Id, service: Service, who: Caller) -> IncidentView:
    return service.incidents.get(who, incident_id)


@router.post(
    "/v1/incidents/{incident_id}/accounts",
    status_code=201,
    openapi_extra=body_schema(AccountIn),
    responses=WRITE_ERRORS,
    summary="File your party's account (a new version; earlier ones stay)",
)
async def file_account(
    request: Request, incident_id: Id, service: Service, who: Caller
) -> IncidentView:
    body = await parse_body(request, AccountIn)
    casualties = None if body.casualties is None else Casualties(**body.casualties.model_dump())
    return await run_in_threadpool(
        service.incidents.file_account, who, incident_id, body.text, casualties
    )


@router.post(
    "/v1/incidents/{incident_id}/share",
    openapi_extra=body_schema(ShareIn),
    responses=WRITE_ERRORS,
    summary="Show the incident to another party (involved parties only)",
)
async def share_incident(
    request: Request, incident_id: Id, service: Service, who: Caller
) -> IncidentView:
    body = await parse_body(request, ShareIn)
    return await run_in_threadpool(service.incidents.share, who, incident_id, body.party_id)


@router.post(
    "/v1/incidents/{incident_id}/discuss",
    responses=WRITE_ERRORS,
    summary="Open the discussion of a reported incident (involved parties)",
)
def discuss_incident(incident_id: Id, service: Service, who: Caller) -> IncidentView:
    return service.incidents.discuss(who, incident_id)


@router.post(
    "/v1/incidents/{incident_id}/settlement",
    openapi_extra=body_schema(SettlementIn),
    responses=WRITE_ERRORS,
    summary="Propose a settlement text (leadership of an involved party); you accept it by proposing it",
)
async def propose_settlement(
    request: Request, incident_id: Id, service: Service, who: Caller
) -> IncidentView:
    body = await parse_body(request, SettlementIn)
    return await run_in_threadpool(
        service.incidents.propose_settlement, who, incident_id, body.text
    )


@router.post(
    "/v1/incidents/{incident_id}/settlement/accept",
    openapi_extra=body_schema(AcceptIn),
    responses=WRITE_ERRORS,
    summary="Accept the settlement text at `version`; settled once every involved party accepted",
)
async def accept_settlement(
    request: Request, incident_id: Id, service: Service, who: Caller
) -> IncidentView:
    body = await parse_body(request, AcceptIn)
    return await run_in_threadpool(
        service.incidents.accept_settlement, who, incident_id, body.version
    )


@router.post(
    "/v1/incidents/{incident_id}/dispute",
    openapi_extra=body_schema(DisputeIn, required=False),
    responses=WRITE_ERRORS,
    summary="Declare the incident disputed (leadership of an involved party)",
)
async def dispute_incident(
    request: Request, incident_id: Id, service: Service, who: Caller
) -> IncidentView:
    body = await parse_body(request, DisputeIn, optional=True)
    return await run_in_threadpool(service.incidents.dispute, who, incident_id, body.reason)


@router.get(
    "/v1/reports/review",
    response_class=Response,
    responses={
        200: {
            "description": "The review as HTML (charts embedded) or Markdown (charts as data URIs)",
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "text/markdown": {"schema": {"type": "string"}},
            },
        },
        **problems(401, 403, 422),
    },
    tags=["reports"],
    summary="The periodic review of the channel, as your party may see it",
)
def review(
    service: Service,
    who: Caller,
    start: Annotated[AwareDatetime, Query(alias="from")],
    end: Annotated[AwareDatetime, Query(alias="to")],
    format_: Annotated[Literal["html", "markdown"], Query(alias="format")] = "html",
) -> Response:
    check_moment("query.from", start)
    check_moment("query.to", end)
    if end <= start:
        raise InvalidInput.at("query.to", "must be after from")
    if end - start > MAX_RANGE:
        raise InvalidInput.at("query.to", "a review covers at most three years")
    report = service.reports.review(who, start, end)
    if format_ == "markdown":
        return Response(report.markdown(), media_type="text/markdown; charset=utf-8")
    return Response(report.html(), media_type="text/html; charset=utf-8")
