"""Live delivery: the server-sent-event stream, and webhooks a party registers for its systems."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from deconflict.api.auth import Caller, Service
from deconflict.api.bodies import body_schema, parse_body
from deconflict.api.routes.common import READ_ERRORS, WRITE_ERRORS
from deconflict.core.errors import InvalidInput
from deconflict.core.parties import Action
from deconflict.service.webhooks import DeliveryView, NewWebhook, WebhookView

router = APIRouter(tags=["delivery"])
Id = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
SEQ_MAX_LENGTH = 18


class WebhookIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    url: str = Field(
        min_length=8, max_length=2000, description="http(s) URL that receives signed POSTs"
    )


BODY_MODELS: list[type[BaseModel]] = [WebhookIn]


def _seq(value: str | None, field: str) -> int:
    if value is None:
        return 0
    if not (value.isascii() and value.isdigit()) or len(value) > SEQ_MAX_LENGTH:
        raise InvalidInput.at(
            field, "must be the seq of an event, as sent in a stream's `id:` line"
        )
    return int(value)


# Not in the OpenAPI document: a stream never ends, which OpenAPI cannot describe and a
# generated test client cannot read; docs/channel.md documents it instead.
@router.get("/v1/events/stream", include_in_schema=False)
async def stream(
    service: Service,
    who: Caller,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
    after: Annotated[str | None, Query(max_length=40, description="resume after this seq")] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=100_000, description="close after this many events")
    ] = None,
) -> StreamingResponse:
    """Server-sent events of everything your party may see, as it is committed.

    Each event's ``id`` is its seq in the log; reconnect with ``Last-Event-ID`` (or
    ``?after=``) to resume exactly where the stream stopped.
    """
    who.require_party(Action.read)
    start = (
        _seq(last_event_id, "header.last-event-id")
        if last_event_id is not None
        else _seq(after, "query.after")
    )
    return StreamingResponse(
        service.delivery.stream(who, start, limit),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/v1/webhooks",
    status_code=201,
    openapi_extra=body_schema(WebhookIn),
    responses=WRITE_ERRORS,
    summary="Register a webhook for your party (leadership); the secret is shown once",
)
async def register_webhook(request: Request, service: Service, who: Caller) -> NewWebhook:
    body = await parse_body(request, WebhookIn)
    return await run_in_threadpool(service.webhooks.register, who, body.url)


@router.get("/v1/webhooks", responses=READ_ERRORS, summary="Your party's webhooks")
def list_webhooks(service: Service, who: Caller) -> list[WebhookView]:
    return service.webhooks.all(who)


@router.get(
    "/v1/webhooks/deliveries",
    responses=READ_ERRORS,
    summary="Deliveries still being retried, or given up on, with the last error",
)
def webhook_deliveries(
    service: Service,
    who: Caller,
    status: Annotated[Literal["pending", "failed"] | None, Query()] = None,
) -> list[DeliveryView]:
    return service.webhooks.deliveries(who, status)


@router.delete(
    "/v1/webhooks/{webhook_id}", responses=WRITE_ERRORS, summary="Stop a webhook (leadership)"
)
def remove_webhook(webhook_id: Id, service: Service, who: Caller) -> WebhookView:
    return service.webhooks.remove(who, webhook_id)
