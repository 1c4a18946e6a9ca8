"""The record: checkpoints, proofs, events with their salts, keys, witnesses, bundles.

Checkpoints, consistency proofs, the service's key and the witness list are public: they
reveal sizes and hashes only, and witnesses (who may be third parties without an account) must
be able to follow the log.  Events, inclusion proofs and bundles follow DESIGN §4: a caller
gets only the events it may see, and anything else answers 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from deconflict.api.auth import Caller, Service
from deconflict.api.bodies import body_schema, parse_body
from deconflict.api.routes.common import READ_ERRORS, WRITE_ERRORS, problems
from deconflict.service.keys import AcknowledgementTemplate, PartyKeyView, WitnessView
from deconflict.service.record import ConsistencyProof, InclusionProof, RecordEventPage

router = APIRouter(tags=["record"])
MAX_SIZE = (1 << 63) - 1
Size = Annotated[int, Path(ge=1, le=MAX_SIZE, description="A tree size")]
NOTE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {}}, "description": "A C2SP signed note"}
}
PUBLIC_ERRORS = problems(404, 422)


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class CosignatureBody(Strict):
    cosignature: str = Field(
        min_length=1, max_length=1000, description="One C2SP tlog-cosignature line"
    )


class PartyKeyCreate(Strict):
    public_key: str = Field(
        min_length=44, max_length=44, description="Ed25519 public key, standard base64"
    )
    replaces: str | None = Field(
        None, pattern=r"^[0-9a-f]{16}$", description="Revoke this key in the same write"
    )


class PartyKeyRevoke(Strict):
    reason: str | None = Field(None, max_length=500)


class WitnessCreate(Strict):
    vkey: str = Field(min_length=1, max_length=400, description="C2SP verifier key, type 0x04")


BODY_MODELS: list[type[BaseModel]] = [
    CosignatureBody,
    PartyKeyCreate,
    PartyKeyRevoke,
    WitnessCreate,
]


def _note(text: str) -> PlainTextResponse:
    return PlainTextResponse(text, media_type="text/plain; charset=utf-8")


@router.get(
    "/v1/record/key",
    response_class=PlainTextResponse,
    responses=NOTE,
    summary="The service's verifier key (C2SP signed-note vkey)",
)
def verifier_key(service: Service) -> PlainTextResponse:
    return _note(service.record.verifier_key() + "\n")


@router.get(
    "/v1/record/checkpoint",
    response_class=PlainTextResponse,
    responses={**NOTE, **PUBLIC_ERRORS},
    summary="The latest signed checkpoint, with cosignatures",
)
def latest_checkpoint(service: Service) -> PlainTextResponse:
    return _note(service.record.checkpoint())


@router.get(
    "/v1/record/checkpoints/{size}",
    response_class=PlainTextResponse,
    responses={**NOTE, **PUBLIC_ERRORS},
    summary="The signed checkpoint of one tree size",
)
def checkpoint_of_size(size: Size, service: Service) -> PlainTextResponse:
    return _note(service.record.checkpoint(size))


@router.post(
    "/v1/record/checkpoints/{size}/cosignatures",
    response_class=PlainTextResponse,
    responses={**NOTE, **problems(400, 404, 413, 415, 422)},
    openapi_extra=body_schema(CosignatureBody),
    summary="A registered witness adds its cosignature; answers the cosigned checkpoint",
)
async def add_cosignature(request: Request, size: Size, service: Service) -> PlainTextResponse:
    body = await parse_body(request, CosignatureBody)
    return _note(await run_in_threadpool(service.record.add_cosignature, size, body.cosignature))


@router.get(
    "/v1/record/consistency",
    responses=PUBLIC_ERRORS,
    summary="RFC 9162 consistency proof between two tree sizes",
)
def consistency(
    service: Service,
    size1: Annotated[int, Query(alias="from", ge=1, le=MAX_SIZE)],
    size2: Annotated[int | None, Query(alias="to", ge=1, le=MAX_SIZE)] = None,
) -> ConsistencyProof:
    return service.record.consistency(size1, size2)


@router.get(
    "/v1/record/events",
    responses=READ_ERRORS,
    summary="Events your party may see, with their salts, in log order",
)
def record_events(
    service: Service,
    who: Caller,
    after: Annotated[int, Query(ge=0, le=MAX_SIZE)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> RecordEventPage:
    return service.record.events(who, after, limit)


@router.get(
    "/v1/record/events/{seq}/inclusion",
    responses=READ_ERRORS,
    summary="RFC 9162 inclusion proof of an event you may see",
)
def inclusion(
    service: Service,
    who: Caller,
    seq: Annotated[int, Path(ge=1, le=MAX_SIZE)],
    size: Annotated[int | None, Query(ge=1, le=MAX_SIZE)] = None,
) -> InclusionProof:
    return service.record.inclusion(who, seq, size)


@router.get(
    "/v1/record/bundle",
    responses=READ_ERRORS,
    summary="Everything your party may see, with proofs, for `deconflict verify` offline",
)
def bundle(service: Service, who: Caller) -> dict[str, Any]:
    from deconflict.service.bundle import export_bundle

    return export_bundle(service, who.party_id, who)


@router.get("/v1/record/party-keys", responses=READ_ERRORS, summary="Every party's signing keys")
def party_keys(service: Service, who: Caller) -> list[PartyKeyView]:
    return service.keys.all(who)


@router.post(
    "/v1/record/party-keys",
    status_code=201,
    responses=WRITE_ERRORS,
    openapi_extra=body_schema(PartyKeyCreate),
    summary="Register (or rotate to) a signing key for your party (leadership)",
)
async def register_party_key(request: Request, service: Service, who: Caller) -> PartyKeyView:
    body = await parse_body(request, PartyKeyCreate)
    return await run_in_threadpool(service.keys.register, who, body.public_key, body.replaces)


@router.post(
    "/v1/record/party-keys/{key_id}/revoke",
    responses=WRITE_ERRORS,
    openapi_extra=body_schema(PartyKeyRevoke, required=False),
    summary="Revoke one of your party's signing keys (leadership)",
)
async def revoke_party_key(
    request: Request,
    service: Service,
    who: Caller,
    key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")],
) -> PartyKeyView:
    body = await parse_body(request, PartyKeyRevoke, optional=True)
    return await run_in_threadpool(service.keys.revoke, who, key_id, body.reason)


@router.get("/v1/record/witnesses", summary="Registered witness keys (public)")
def witnesses(service: Service) -> list[WitnessView]:
    return service.keys.witnesses()


@router.post(
    "/v1/record/witnesses",
    status_code=201,
    responses=WRITE_ERRORS,
    openapi_extra=body_schema(WitnessCreate),
    summary="Register a witness verifier key (host administrator)",
)
async def register_witness(request: Request, service: Service, who: Caller) -> WitnessView:
    body = await parse_body(request, WitnessCreate)
    return await run_in_threadpool(service.keys.register_witness, who, body.vkey)


@router.get(
    "/v1/record/advisories/{advisory_id}/acknowledgement",
    responses=READ_ERRORS,
    summary="The payload your party signs to acknowledge an advisory",
)
def acknowledgement_template(
    service: Service,
    who: Caller,
    advisory_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
) -> AcknowledgementTemplate:
    return service.keys.template(who, advisory_id)
