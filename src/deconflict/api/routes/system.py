"""Liveness and who-am-I."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from deconflict.api.auth import Caller, Service
from deconflict.api.routes.common import READ_ERRORS
from deconflict.service.parties import MeView

router = APIRouter()


class Health(BaseModel):
    status: str
    version: str


@router.get("/v1/health", tags=["system"], summary="Is the service up")
def health() -> Health:
    from deconflict import __version__

    return Health(status="ok", version=__version__)


@router.get(
    "/v1/me",
    tags=["system"],
    summary="The member and party the token stands for",
    responses=READ_ERRORS,
)
def me(service: Service, who: Caller) -> MeView:
    return service.parties.me(who)
