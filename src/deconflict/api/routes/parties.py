"""Parties, members and separation rules: the host administrator's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from deconflict.api.auth import Caller, Service
from deconflict.api.bodies import body_schema, parse_body
from deconflict.api.routes.common import READ_ERRORS, WRITE_ERRORS
from deconflict.core.declarations import PARTY_ID_PATTERN
from deconflict.core.parties import Role
from deconflict.service.parties import MemberView, NewMember, PartyView, RuleView

router = APIRouter(tags=["parties"])
PartyId = Annotated[str, Path(pattern=PARTY_ID_PATTERN, max_length=63)]


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class PartyCreate(Strict):
    id: str = Field(pattern=PARTY_ID_PATTERN, description="short stable id, e.g. `ru-mp`")
    name: str = Field(min_length=1, max_length=200)
    aliases: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=50
    )


class MemberCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    role: Role


class RuleSet(Strict):
    party_a: str = Field(pattern=PARTY_ID_PATTERN)
    party_b: str = Field(pattern=PARTY_ID_PATTERN)
    category: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    distance_m: float = Field(ge=0, le=500_000)


class RuleList(BaseModel):
    default_m: float
    rules: list[RuleView]


BODY_MODELS: list[type[BaseModel]] = [PartyCreate, MemberCreate, RuleSet]


@router.post(
    "/v1/parties",
    status_code=201,
    summary="Register a party (host administrator)",
    openapi_extra=body_schema(PartyCreate),
    responses=WRITE_ERRORS,
)
async def create_party(request: Request, service: Service, who: Caller) -> PartyView:
    body = await parse_body(request, PartyCreate)
    return await run_in_threadpool(service.parties.register, who, body.id, body.name, body.aliases)


@router.get("/v1/parties", summary="Every party's id and name", responses=READ_ERRORS)
def list_parties(service: Service, who: Caller) -> list[PartyView]:
    return service.parties.all(who)


@router.post(
    "/v1/parties/{party_id}/members",
    status_code=201,
    summary="Add a member; the token is in this answer and nowhere else",
    openapi_extra=body_schema(MemberCreate),
    responses=WRITE_ERRORS,
)
async def add_member(
    request: Request, party_id: PartyId, service: Service, who: Caller
) -> NewMember:
    body = await parse_body(request, MemberCreate)
    return await run_in_threadpool(service.parties.add_member, who, party_id, body.name, body.role)


@router.get(
    "/v1/parties/{party_id}/members",
    summary="A party's members (host administrator)",
    responses=READ_ERRORS,
)
def list_members(party_id: PartyId, service: Service, who: Caller) -> list[MemberView]:
    return service.parties.members(who, party_id)


@router.get(
    "/v1/separation-rules",
    summary="Separation rules (the host sees all, a party those that bind it)",
    responses=READ_ERRORS,
)
def list_rules(service: Service, who: Caller) -> RuleList:
    return RuleList(
        default_m=service.parties.default_separation(), rules=service.parties.rules(who)
    )


@router.put(
    "/v1/separation-rules",
    summary="Set the separation between two parties, optionally for one category",
    openapi_extra=body_schema(RuleSet),
    responses=WRITE_ERRORS,
)
async def set_rule(request: Request, service: Service, who: Caller) -> RuleView:
    body = await parse_body(request, RuleSet)
    return await run_in_threadpool(
        service.parties.set_rule, who, body.party_a, body.party_b, body.category, body.distance_m
    )
