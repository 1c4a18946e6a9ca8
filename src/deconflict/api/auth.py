"""Bearer-token authentication: the token names one member, and so one party and role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from deconflict.core.parties import Principal
from deconflict.service.deconflict import Deconflict

bearer = HTTPBearer(
    auto_error=False, description="A member token, as printed when the member was added"
)


def service(request: Request) -> Deconflict:
    deconflict: Deconflict = request.app.state.deconflict
    return deconflict


def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    token = credentials.credentials if credentials is not None else None
    return service(request).authenticate(token)


Service = Annotated[Deconflict, Depends(service)]
Caller = Annotated[Principal, Depends(principal)]
