"""The channel: threads, messages, acknowledgements, deadlines, and leadership meetings."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from deconflict.api.auth import Caller, Service
from deconflict.api.bodies import body_schema, parse_body
from deconflict.api.routes.common import CURSOR_MAX_LENGTH, READ_ERRORS, WRITE_ERRORS, parse_cursor
from deconflict.core.channel import MAX_DEADLINE_S, Tier
from deconflict.core.declarations import PARTY_ID_PATTERN
from deconflict.core.meetings import MAX_EVERY_S, MIN_EVERY_S
from deconflict.service.channel import (
    MAX_BODY,
    MAX_REFERENCES,
    About,
    DeadlineRuleView,
    MessageView,
    PendingView,
    ThreadPage,
    ThreadView,
)
from deconflict.service.meetings import AgendaView, MeetingView

router = APIRouter(tags=["channel"])
Id = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
PartyIdItem = Annotated[str, Field(pattern=PARTY_ID_PATTERN, max_length=63)]
ObjectId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
MAX_NOTE = 2000


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class ReferencesIn(Strict):
    declarations: list[ObjectId] = Field(default_factory=list, max_length=MAX_REFERENCES)
    advisories: list[ObjectId] = Field(default_factory=list, max_length=MAX_REFERENCES)
    incidents: list[ObjectId] = Field(default_factory=list, max_length=MAX_REFERENCES)


class MessageIn(Strict):
    tier: Tier = Tier.tactical
    body: str = Field(min_length=1, max_length=MAX_BODY)
    references: ReferencesIn = Field(default_factory=ReferencesIn)
    needs_ack: bool = True

    def arguments(self) -> dict[str, object]:
        return {
            "tier": self.tier,
            "body": self.body,
            "references": self.references.model_dump(),
            "needs_ack": self.needs_ack,
        }


class AboutIn(Strict):
    kind: Literal["advisory", "incident"]
    id: ObjectId


class ThreadIn(Strict):
    parties: list[PartyIdItem] = Field(
        min_length=1, max_length=20, description="the other parties; yours is added"
    )
    subject: str = Field(min_length=1, max_length=300)
    about: AboutIn | None = None
    message: MessageIn | None = Field(None, description="an optional first message")


class AcknowledgeIn(Strict):
    note: str | None = Field(None, max_length=MAX_NOTE)


class DeadlinesIn(Strict):
    party_a: str = Field(pattern=PARTY_ID_PATTERN)
    party_b: str = Field(pattern=PARTY_ID_PATTERN)
    tactical_s: int = Field(ge=60, le=MAX_DEADLINE_S)
    operational_s: int = Field(ge=60, le=MAX_DEADLINE_S)
    leadership_s: int = Field(ge=60, le=MAX_DEADLINE_S)


class MeetingIn(Strict):
    parties: list[PartyIdItem] = Field(min_length=1, max_length=20)
    title: str = Field(min_length=1, max_length=300)
    first_at: AwareDatetime
    every_s: int = Field(7 * 24 * 3600, ge=MIN_EVERY_S, le=MAX_EVERY_S)


class MinutesIn(Strict):
    occurrence: AwareDatetime
    text: str = Field(min_length=1, max_length=50_000)


class MinutesAckIn(Strict):
    occurrence: AwareDatetime
    version: int = Field(ge=1, le=1_000_000)


BODY_MODELS: list[type[BaseModel]] = [
    ReferencesIn,
    MessageIn,
    AboutIn,
    ThreadIn,
    AcknowledgeIn,
    DeadlinesIn,
    MeetingIn,
    MinutesIn,
    MinutesAckIn,
]


@router.put(
    "/v1/ack-deadlines",
    openapi_extra=body_schema(DeadlinesIn),
    responses=WRITE_ERRORS,
    summary="Set the acknowledgement deadlines between two parties (host administrator)",
)
async def set_deadlines(request: Request, service: Service, who: Caller) -> DeadlineRuleView:
    body = await parse_body(request, DeadlinesIn)
    seconds = {
        Tier.tactical: body.tactical_s,
        Tier.operational: body.operational_s,
        Tier.leadership: body.leadership_s,
    }
    return await run_in_threadpool(
        service.channel.set_deadlines, who, body.party_a, body.party_b, seconds
    )


@router.get(
    "/v1/ack-deadlines",
    responses=READ_ERRORS,
    summary="Deadlines set between parties (defaults apply otherwise)",
)
def list_deadlines(service: Service, who: Caller) -> list[DeadlineRuleView]:
    return service.channel.deadline_rules(who)


@router.post(
    "/v1/threads",
    status_code=201,
    openapi_extra=body_schema(ThreadIn),
    responses=WRITE_ERRORS,
    summary="Open a thread with other parties (liaison or leadership)",
)
async def open_thread(
    request: Request, response: Response, service: Service, who: Caller
) -> ThreadView:
    body = await parse_body(request, ThreadIn)
    about = None if body.about is None else About(kind=body.about.kind, id=body.about.id)
    first = None if body.message is None else body.message.arguments()
    view = await run_in_threadpool(
        service.channel.open_thread, who, body.parties, body.subject, about, first
    )
    response.headers["Location"] = f"/v1/threads/{view.id}"
    return view


@router.get("/v1/threads", responses=READ_ERRORS, summary="Threads your party takes part in")
def list_threads(
    service: Service,
    who: Caller,
    cursor: Annotated[str | None, Query(max_length=CURSOR_MAX_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ThreadPage:
    return service.channel.threads(who, parse_cursor(cursor), limit)


@router.get(
    "/v1/threads/{thread_id}", responses=READ_ERRORS, summary="One thread with its messages"
)
def get_thread(thread_id: Id, service: Service, who: Caller) -> ThreadView:
    return service.channel.thread(who, thread_id)


@router.post(
    "/v1/threads/{thread_id}/messages",
    status_code=201,
    openapi_extra=body_schema(MessageIn),
    responses=WRITE_ERRORS,
    summary="Post a message (liaison or leadership)",
)
async def post_message(
    request: Request, thread_id: Id, service: Service, who: Caller
) -> MessageView:
    body = await parse_body(request, MessageIn)
    return await run_in_threadpool(
        service.channel.post,
        who,
        thread_id,
        body.tier,
        body.body,
        body.references.model_dump(),
        body.needs_ack,
    )


@router.get("/v1/messages/{message_id}", responses=READ_ERRORS, summary="One message")
def get_message(message_id: Id, service: Service, who: Caller) -> MessageView:
    return service.channel.message(who, message_id)


@router.post(
    "/v1/messages/{message_id}/acknowledge",
    openapi_extra=body_schema(AcknowledgeIn, required=False),
    responses=WRITE_ERRORS,
    summary="Acknowledge a message for your party (liaison or leadership)",
)
async def acknowledge_message(
    request: Request, message_id: Id, service: Service, who: Caller
) -> MessageView:
    body = await parse_body(request, AcknowledgeIn, optional=True)
    return await run_in_threadpool(service.channel.acknowledge, who, message_id, body.note)


@router.post(
    "/v1/messages/{message_id}/read",
    responses=WRITE_ERRORS,
    summary="Record that you read the message",
)
def read_message(message_id: Id, service: Service, who: Caller) -> MessageView:
    return service.channel.mark_read(who, message_id)


@router.get(
    "/v1/channel/pending",
    responses=READ_ERRORS,
    summary="Items waiting for your party's acknowledgement, with their tier and deadline",
)
def pending(service: Service, who: Caller) -> list[PendingView]:
    return service.channel.pending(who)


@router.post(
    "/v1/meetings",
    status_code=201,
    openapi_extra=body_schema(MeetingIn),
    responses=WRITE_ERRORS,
    summary="Schedule a recurring leadership meeting (leadership)",
)
async def schedule_meeting(request: Request, service: Service, who: Caller) -> MeetingView:
    body = await parse_body(request, MeetingIn)
    return await run_in_threadpool(
        service.meetings.schedule, who, body.parties, body.title, body.first_at, body.every_s
    )


@router.get("/v1/meetings", responses=READ_ERRORS, summary="Meetings your party takes part in")
def list_meetings(service: Service, who: Caller) -> list[MeetingView]:
    return service.meetings.all(who)


@router.get(
    "/v1/meetings/{meeting_id}", responses=READ_ERRORS, summary="One meeting with its minutes"
)
def get_meeting(meeting_id: Id, service: Service, who: Caller) -> MeetingView:
    return service.meetings.get(who, meeting_id)


@router.get(
    "/v1/meetings/{meeting_id}/agenda",
    responses=READ_ERRORS,
    summary="The agenda generated from the record, as your party may see it",
)
def agenda(
    meeting_id: Id,
    service: Service,
    who: Caller,
    at: Annotated[
        AwareDatetime | None, Query(description="an occurrence; default: the next")
    ] = None,
) -> AgendaView:
    return service.meetings.agenda(who, meeting_id, at)


@router.post(
    "/v1/meetings/{meeting_id}/minutes",
    openapi_extra=body_schema(MinutesIn),
    responses=WRITE_ERRORS,
    summary="Record minutes of an occurrence (leadership); a new version each time",
)
async def record_minutes(
    request: Request, meeting_id: Id, service: Service, who: Caller
) -> MeetingView:
    body = await parse_body(request, MinutesIn)
    return await run_in_threadpool(
        service.meetings.record_minutes, who, meeting_id, body.occurrence, body.text
    )


@router.post(
    "/v1/meetings/{meeting_id}/minutes/acknowledge",
    openapi_extra=body_schema(MinutesAckIn),
    responses=WRITE_ERRORS,
    summary="Acknowledge a version of the minutes for your party (leadership)",
)
async def acknowledge_minutes(
    request: Request, meeting_id: Id, service: Service, who: Caller
) -> MeetingView:
    body = await parse_body(request, MinutesAckIn)
    return await run_in_threadpool(
        service.meetings.acknowledge_minutes, who, meeting_id, body.occurrence, body.version
    )
