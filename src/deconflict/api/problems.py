"""RFC 9457 problem details: every error the API returns has the same shape.

``errors`` lists each offending field as a dotted path into the request (``properties.times[3]``,
``query.limit``) with the reason, so a client can show its user exactly what to fix. A
server error says only that something failed and how to quote it; details stay in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from deconflict.core.errors import DeconflictError, FieldProblem, validation_problems

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("deconflict.api")


class FieldError(BaseModel):
    field: str
    reason: str


class Problem(BaseModel):
    """The body of every error response (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] = []


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str,
    errors: Sequence[FieldProblem] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"https://deconflict.dev/problems/{status}",
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=[FieldError(field=p.field, reason=p.reason) for p in errors],
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def is_malformed_json(errors: Sequence[Any]) -> bool:
    return any(e.get("type") == "json_invalid" for e in errors)


def install(app: FastAPI) -> None:
    @app.exception_handler(DeconflictError)
    async def _domain(request: Request, exc: DeconflictError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(request, exc.status, exc.title, exc.detail, exc.problems, headers)

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _from_errors(request, exc.errors())

    @app.exception_handler(ValidationError)
    async def _body(request: Request, exc: ValidationError) -> JSONResponse:
        return _from_errors(request, exc.errors(), body=True)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        title = {
            404: "Not found",
            405: "Method not allowed",
            413: "Content too large",
            415: "Unsupported media type",
        }
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(app, request.url.path)}
        return problem_response(
            request,
            exc.status_code,
            title.get(exc.status_code, "Error"),
            str(exc.detail),
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(
            request, 500, "Internal server error", "the service failed; nothing was written"
        )


def _allowed_methods(app: FastAPI, path: str) -> str:
    """Every method the path answers to. FastAPI has one route per method, so its own ``Allow``
    names only the first route that matched the path (``Allow: POST`` on ``/v1/declarations``)."""
    paths = app.openapi()["paths"]
    matching = [template for template in paths if compile_path(template)[0].match(path)]
    # /v1/declarations/check also matches /v1/declarations/{declaration_id}; the literal path wins
    exact = [template for template in matching if "{" not in template]
    methods = {method.upper() for template in exact or matching for method in paths[template]}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def _from_errors(request: Request, errors: Sequence[Any], body: bool = False) -> JSONResponse:
    if is_malformed_json(errors):
        return problem_response(
            request,
            400,
            "Malformed JSON",
            "the request body is not valid JSON",
            [FieldProblem("body", str(errors[0].get("msg", "invalid JSON")))],
        )
    problems = validation_problems(errors)
    detail = "; ".join(f"{p.field}: {p.reason}" for p in problems[:3]) or "invalid request"
    return problem_response(request, 422, "Invalid input", detail, problems)
