"""Bearer-token authentication: the token names one member, and so one party and role.

Both dependencies are coroutines: FastAPI runs a plain function dependency in a worker thread,
and the hand-over costs more than the work when the principal is remembered (the usual case;
see :mod:`deconflict.service.principals`). Only a token not remembered goes to a thread to be
looked up.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from deconflict.core.parties import Principal
from deconflict.service.deconflict import Deconflict

bearer = HTTPBearer(
    auto_error=False, description="A member token, as printed when the member was added"
)


def deconflict_of(request: Request) -> Deconflict:
    deconflict: Deconflict = request.app.state.deconflict
    return deconflict


async def service(request: Request) -> Deconflict:
    return deconflict_of(request)


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    token = credentials.credentials if credentials is not None else None
    deconflict = deconflict_of(request)
    remembered = deconflict.remembered_principal(token)
    if remembered is not None:
        return remembered
    return await run_in_threadpool(deconflict.authenticate, token)


Service = Annotated[Deconflict, Depends(service)]
Caller = Annotated[Principal, Depends(principal)]
