"""The ``Idempotency-Key`` header on write requests (see :mod:`deconflict.service.idempotency`).

A dependency of every route: on a write method with the header it authenticates the caller
(keys are per member, so one member cannot replay another's answer), fingerprints the request
and either answers at once from a stored response or leaves a claim for the sequencer, which
stores the response in the write's own transaction. The route's declared status code and
response model say what the answer is, so no route needs to know about idempotency.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

from deconflict.api.problems import problem_response
from deconflict.core.errors import DeconflictError, FieldProblem, InvalidInput
from deconflict.service import idempotency
from deconflict.service.deconflict import Deconflict

HEADER = "Idempotency-Key"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REPLAYED_HEADER = "Idempotent-Replayed"


async def claim(request: Request) -> None:
    """Answer a repeated request from the store, or leave a claim for this one's write."""
    key = request.headers.get(HEADER)
    if key is None or request.method not in WRITE_METHODS:
        return
    if not key or len(key) > idempotency.MAX_KEY_LENGTH or not key.isascii():
        raise InvalidInput.at(
            f"header.{HEADER}",
            f"must be 1 to {idempotency.MAX_KEY_LENGTH} ASCII characters",
        )
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.response_model is None:
        return  # an answer that is not a JSON model (a signed note) is naturally repeatable
    service: Deconflict = request.app.state.deconflict
    token = request.headers.get("authorization", "")
    scheme, _, credentials = token.partition(" ")
    try:
        who = service.authenticate(credentials if scheme.lower() == "bearer" else None)
    except DeconflictError:
        return  # the route itself answers 401
    body = await request.body()
    fingerprint = idempotency.fingerprint(request.method, request.url.path, request.url.query, body)
    with service.db.connect() as conn:
        answer = idempotency.lookup(conn, who.member_id, key)
    if answer is not None:
        raise idempotency.Replayed(answer)
    adapter: TypeAdapter[Any] = TypeAdapter(route.response_model)

    def encode(result: Any) -> str | None:
        try:
            value = adapter.validate_python(result, from_attributes=True)
        except ValidationError:
            return None
        return adapter.dump_json(value, by_alias=True).decode()

    status = route.status_code or 200
    idempotency.CURRENT.set(idempotency.Claim(who.member_id, key, fingerprint, int(status), encode))


def install(app: FastAPI) -> None:
    @app.exception_handler(idempotency.Replayed)
    async def _replayed(request: Request, exc: idempotency.Replayed) -> Response:
        body = await request.body()
        fingerprint = idempotency.fingerprint(
            request.method, request.url.path, request.url.query, body
        )
        if fingerprint != exc.answer.fingerprint:
            problem = FieldProblem(
                f"header.{HEADER}", "was already used for a different request; use a new key"
            )
            return problem_response(
                request, 422, "Invalid input", f"header.{HEADER}: {problem.reason}", [problem]
            )
        return Response(
            exc.answer.response,
            status_code=exc.answer.status,
            media_type="application/json",
            headers={REPLAYED_HEADER: "true"},
        )
