"""Live delivery: events shaped for one party, streamed to members as server-sent events.

An event reaches a party only if the party is in its audience, and then only as the views
allow: a declaration through :func:`declaration_view` (coarsened where a precision was
granted), an advisory through :func:`advisory_view` (or as an undisclosed notice), a message
with only the references the party may open. The same shaping feeds the webhooks
(:mod:`deconflict.service.webhooks`), so the two doors cannot disagree.

The stream waits on commits, not on a timer: the sequencer's follower wakes every waiting
stream when a write commits. A heartbeat comment every ``heartbeat_s`` keeps proxies from
closing an idle stream, and re-reads the log, which also picks up writes committed by
another process sharing the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from deconflict.core.channel import TIER_ROLES, ItemKind, Tier
from deconflict.core.clock import utc_text
from deconflict.core.declarations import Status
from deconflict.core.events import Event, EventKind
from deconflict.core.parties import Action, Principal, Role
from deconflict.core.visibility import Disclosure, StoredDeclaration, declaration_view
from deconflict.service.sequencer import Transaction
from deconflict.storage import queries

if TYPE_CHECKING:
    from deconflict.service.deconflict import Deconflict

SECRET_KEYS = frozenset({"token_hash", "secret", "member_id"})
"""Never sent on: a token's hash, a secret, and which member of another party acted."""

BATCH = 200

RECEIPTED: dict[EventKind, tuple[ItemKind, str]] = {
    EventKind.message_posted: (ItemKind.message, "message_id"),
    EventKind.advisory_raised: (ItemKind.advisory, "advisory_id"),
}
"""The events whose delivery to a member (or a party's webhook) is recorded as a receipt."""


def shape(
    service: Deconflict, conn: sa.Connection, event: Event, party: str
) -> dict[str, Any] | None:
    """The event as ``party`` may receive it, or None when it may not."""
    if not event.visible_to(party):
        return None
    b = event.body
    kind = event.kind
    if kind in (EventKind.declaration_declared, EventKind.declaration_amended):
        stored = StoredDeclaration(
            id=b["declaration_id"],
            party_id=b["party_id"],
            version=b["version"],
            status=Status.active,
            feature=queries.feature_from_json(b["feature"]),
            created_at=event.recorded_at,
            updated_at=event.recorded_at,
            confirmed_at=event.recorded_at,
        )
        view = declaration_view(stored, party, event.recorded_at)
        if view is None:  # an amendment stopped sharing it with this party
            return {"declaration_id": b["declaration_id"], "visible": False}
        return {"declaration": view.model_dump(mode="json")}
    if kind is EventKind.advisory_raised:
        advisory = service.advisories._visible(conn, b["advisory_id"], party)
        return None if advisory is None else {"advisory": advisory.model_dump(mode="json")}
    if kind is EventKind.advisory_acknowledged:
        stored_advisory = queries.advisory(conn, b["advisory_id"])
        full = (
            set()
            if stored_advisory is None
            else {p for p, d in stored_advisory.recipients.items() if d is Disclosure.full}
        )
        if party != b["party_id"] and not {party, b["party_id"]} <= full:
            return None
        return {"advisory_id": b["advisory_id"], "party_id": b["party_id"], "note": b.get("note")}
    if kind is EventKind.message_posted:
        message = service.channel._message_view(conn, b["message_id"], party)
        return {"message": message.model_dump(mode="json")}
    if kind is EventKind.thread_opened:
        return {
            "thread": service.channel._summary(
                conn, service.channel._thread_row(conn, b["thread_id"], party), party
            ).model_dump(mode="json")
        }
    if kind is EventKind.incident_reported:
        incident = service.incidents._view(conn, b["incident_id"], party)
        return {"incident": incident.model_dump(mode="json", exclude={"accounts"})}
    return {k: v for k, v in b.items() if k not in SECRET_KEYS}


def attention(event: Event, role: Role, party: str) -> bool:
    """Whether the event asks for the attention of a member with ``role`` (its tier's roles)."""
    b = event.body
    if event.kind is EventKind.message_posted and b["party_id"] != party and b["needs_ack"]:
        return role in TIER_ROLES[Tier(b["tier"])]
    if event.kind is EventKind.advisory_raised:
        return role in TIER_ROLES[Tier.tactical]
    if event.kind is EventKind.item_escalated and b["party_id"] == party:
        return role.value in b["to_roles"]
    if event.kind is EventKind.item_put_on_agenda and b["party_id"] == party:
        return role is Role.leadership
    return False


def frame(event: Event, data: dict[str, Any], attend: bool) -> bytes:
    """One server-sent event; its id is the log's seq, so ``Last-Event-ID`` resumes exactly."""
    payload = {
        "seq": event.seq,
        "kind": event.kind.value,
        "recorded_at": utc_text(event.recorded_at),
        "attention": attend,
        "data": data,
    }
    text = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    return f"id: {event.seq}\nevent: {event.kind.value}\ndata: {text}\n\n".encode()


@dataclass
class _Waiter:
    loop: asyncio.AbstractEventLoop
    wake: asyncio.Event


@dataclass
class Notifier:
    """Wakes waiting streams when a write commits; fed by the sequencer's follower."""

    latest: int = 0
    _waiters: list[_Waiter] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def committed(self, events: Iterable[Event]) -> None:
        seqs = [e.seq for e in events]
        if not seqs:
            return
        with self._lock:
            self.latest = max(self.latest, *seqs)
            waiters = list(self._waiters)
        for waiter in waiters:
            with contextlib.suppress(RuntimeError):  # that stream's loop has closed
                waiter.loop.call_soon_threadsafe(waiter.wake.set)

    async def wait_after(self, seq: int, timeout: float) -> None:
        """Returns once a commit beyond ``seq`` is known, or after ``timeout`` seconds."""
        waiter = _Waiter(asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.append(waiter)
            if self.latest > seq:
                waiter.wake.set()
        try:
            await asyncio.wait_for(waiter.wake.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.remove(waiter)


@dataclass
class Delivery:
    service: Deconflict
    notifier: Notifier = field(default_factory=Notifier)
    heartbeat_s: float = 15.0

    def follow(self, events: list[Event]) -> None:
        self.notifier.committed(events)

    def batch(self, who: Principal, after: int) -> tuple[list[tuple[Event, bytes]], int]:
        """The next frames for ``who`` after seq ``after``, and the seq scanned up to."""
        party = who.require_party(Action.read)
        frames: list[tuple[Event, bytes]] = []
        scanned = after
        with self.service.db.connect() as conn:
            for event in queries.events(conn, after_seq=after, limit=BATCH):
                scanned = event.seq
                data = shape(self.service, conn, event, party)
                if data is not None:
                    frames.append((event, frame(event, data, attention(event, who.role, party))))
        return frames, scanned

    def delivered(self, who: Principal, events: list[Event]) -> None:
        """Delivery receipts for the messages and advisories a member's stream just carried."""
        party = who.require_party(Action.read)
        items = [(RECEIPTED[e.kind], e) for e in events if e.kind in RECEIPTED]
        if not items:
            return

        def command(tx: Transaction) -> None:
            for (kind, key), event in items:
                self.service.channel.receipt(
                    tx,
                    "delivered",
                    kind,
                    event.body[key],
                    party,
                    who.member_id,
                    "stream",
                    frozenset({party}),
                )

        self.service.sequencer.write(command)

    async def stream(
        self, who: Principal, after: int, limit: int | None = None
    ) -> AsyncIterator[bytes]:
        """Server-sent events for ``who`` from seq ``after`` on; ends after ``limit`` events if given."""
        from starlette.concurrency import run_in_threadpool

        sent = 0
        cursor = after
        yield b": deconflict event stream\nretry: 3000\n\n"
        while limit is None or sent < limit:
            frames, scanned = await run_in_threadpool(self.batch, who, cursor)
            if limit is not None:
                frames = frames[: limit - sent]
                if frames and len(frames) == limit - sent:
                    scanned = frames[-1][0].seq
            for _, data in frames:
                yield data
            sent += len(frames)
            if frames:
                await run_in_threadpool(self.delivered, who, [e for e, _ in frames])
            if scanned == cursor:
                await self.notifier.wait_after(cursor, self.heartbeat_s)
                if self.notifier.latest <= cursor:
                    yield b": keep-alive\n\n"
            cursor = scanned
