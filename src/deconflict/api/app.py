"""``create_app(settings)``: the web service, built fresh each time, with no import-time state."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from deconflict.api import idempotency, problems
from deconflict.api.routes import (
    advisories,
    channel,
    declarations,
    incidents,
    parties,
    record,
    stream,
    system,
)
from deconflict.core.declarations import DeclarationFeature
from deconflict.service.deconflict import Deconflict
from deconflict.service.listener import CommitListener
from deconflict.settings import Settings
from deconflict.web import console

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DESCRIPTION = """
Deconflict lets parties that do not trust each other declare where they will be, learn
where their activities come too close, and prove later who was told what and when.

Authenticate with `Authorization: Bearer <member token>`. Errors are RFC 9457
`application/problem+json` documents whose `errors` name each offending field.
An object that belongs to another party and was not shared with yours answers 404.
"""


class BodyLimit:
    """Refuses bodies over the limit before reading them into memory (413, problem+json)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = (
            b'{"type":"https://deconflict.dev/problems/413","title":"Content too large","status":413,'
            b'"detail":"the request body exceeds the limit of %d bytes","errors":[{"field":"body",'
            b'"reason":"too large"}]}' % self.limit
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass


def create_app(settings: Settings | None = None, service: Deconflict | None = None) -> FastAPI:
    """The FastAPI application over one :class:`Deconflict`; pass ``service`` to share one with a CLI or test."""
    settings = settings or Settings.from_environment()
    deconflict = service or Deconflict(settings)
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        listener = CommitListener(deconflict)  # other processes' commits (PostgreSQL)
        listener.start()
        ticker = None
        if settings.expiry_interval_s > 0:
            ticker = threading.Thread(
                target=_expire_periodically, args=(deconflict, stop, settings), daemon=True
            )
            ticker.start()
        yield
        listener.stop()
        stop.set()
        if ticker is not None:
            ticker.join(timeout=5)

    app = FastAPI(
        title="Deconflict",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        dependencies=[Depends(idempotency.claim)],
    )
    app.state.deconflict = deconflict
    problems.install(app)
    idempotency.install(app)
    for module in (system, parties, declarations, advisories, record, channel, incidents, stream):
        app.include_router(module.router)
    app.include_router(console.router)  # the operations console at / (docs/console.md)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    _document_bodies(app)
    return app


def _expire_periodically(deconflict: Deconflict, stop: threading.Event, settings: Settings) -> None:
    while not stop.wait(settings.expiry_interval_s):
        try:
            deconflict.declarations.expire_due()
        except Exception:  # the ticker must outlive a failed sweep; the next one retries
            problems.log.exception("expiry sweep failed")
        try:  # the channel: escalate what is overdue, then push what webhooks still owe
            deconflict.channel.escalate_due()
            deconflict.webhooks.dispatch_due()
        except Exception:
            problems.log.exception("channel sweep failed")


def _document_bodies(app: FastAPI) -> None:
    """Adds the schemas of bodies parsed in JSON mode (see :mod:`deconflict.api.bodies`) to OpenAPI."""
    body_models: list[type[BaseModel]] = [
        DeclarationFeature,
        *parties.BODY_MODELS,
        *advisories.BODY_MODELS,
        *record.BODY_MODELS,
        *channel.BODY_MODELS,
        *incidents.BODY_MODELS,
        *stream.BODY_MODELS,
    ]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in body_models:
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in model_schema.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components[model.__name__] = model_schema
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
