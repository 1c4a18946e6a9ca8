"""Webhooks: a party's events pushed to its own systems, signed, in order, retried.

Each webhook has a cursor into the log. The dispatcher takes the next event the party may
see after the cursor, shapes it exactly as the stream would (:func:`delivery.shape`), signs
it with HMAC-SHA256 and POSTs it. A 2xx moves the cursor on; anything else is retried with
exponential backoff (``backoff_s``, doubling, capped at ``max_backoff_s``) until
``max_attempts``, after which the event is marked failed, left listed for the party to see,
and the cursor moves on so one bad event cannot stall the rest.

The secret is kept out of the log: the log is exported and shown to others as proof, and
a secret in it would let anyone holding a bundle forge deliveries. The log records a
SHA-256 fingerprint of the secret instead. Cursor and attempts are the dispatcher's working
state, stored beside the projections but not derived from events.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from deconflict.core.clock import utc_text
from deconflict.core.errors import InvalidInput, NotFound
from deconflict.core.events import Event, EventKind, NewEvent
from deconflict.core.parties import Action, Principal, new_id
from deconflict.service.delivery import RECEIPTED, shape
from deconflict.service.sequencer import Transaction
from deconflict.storage import queries
from deconflict.storage import tables as t

if TYPE_CHECKING:
    from deconflict.service.deconflict import Deconflict

SIGNATURE_HEADER = "Deconflict-Signature"
TIMESTAMP_HEADER = "Deconflict-Timestamp"
EVENT_HEADER = "Deconflict-Event-Id"
SCAN_LIMIT = 2000


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``<timestamp>.<body>``: the timestamp is signed too,
    so a receiver that rejects old timestamps cannot be fed a recorded delivery again."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, now: datetime, tolerance_s: int = 300
) -> bool:
    """What a receiver checks: the signature, in constant time, and that the timestamp is recent."""
    if not timestamp.isdigit() or abs(now.timestamp() - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class WebhookView(View):
    id: str
    url: str
    registered_at: datetime
    removed_at: datetime | None
    delivered_up_to: int
    failed: int


class NewWebhook(WebhookView):
    secret: str
    """Shown once: sign-checking key for ``Deconflict-Signature``."""


class DeliveryView(View):
    webhook_id: str
    event_seq: int
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput.at("url", "must be an absolute http or https URL")
    if parts.username or parts.password:
        raise InvalidInput.at("url", "must not carry credentials; verify the signature instead")


@dataclass
class Webhooks:
    service: Deconflict
    max_attempts: int = 8
    backoff_s: float = 30.0
    max_backoff_s: float = 3600.0
    timeout_s: float = 5.0

    def register(self, who: Principal, url: str) -> NewWebhook:
        party = who.require_party(Action.manage_webhooks)
        check_url(url)
        secret = "whsec_" + secrets.token_urlsafe(32)
        webhook_id = new_id("whk")

        def command(tx: Transaction) -> NewWebhook:
            event = tx.append(
                NewEvent(
                    EventKind.webhook_registered,
                    {
                        "webhook_id": webhook_id,
                        "party_id": party,
                        "url": url,
                        "secret_sha256": hashlib.sha256(secret.encode()).hexdigest(),
                    },
                    frozenset({party}),
                    who.member_id,
                )
            )
            tx.conn.execute(
                t.webhook_secrets.insert().values(
                    webhook_id=webhook_id, secret=secret, cursor_seq=event.seq
                )
            )
            view = self._view(tx.conn, webhook_id, party)
            return NewWebhook(**view.model_dump(), secret=secret)

        return self.service.sequencer.write(command)

    def remove(self, who: Principal, webhook_id: str) -> WebhookView:
        party = who.require_party(Action.manage_webhooks)

        def command(tx: Transaction) -> WebhookView:
            row = self._row(tx.conn, webhook_id, party)
            if row.removed_at is None:
                tx.append(
                    NewEvent(
                        EventKind.webhook_removed,
                        {"webhook_id": webhook_id},
                        frozenset({party}),
                        who.member_id,
                    )
                )
            return self._view(tx.conn, webhook_id, party)

        return self.service.sequencer.write(command)

    def all(self, who: Principal) -> list[WebhookView]:
        party = who.require_party(Action.read)
        with self.service.db.connect() as conn:
            ids = conn.execute(
                sa.select(t.webhooks.c.id)
                .where(t.webhooks.c.party_id == party)
                .order_by(t.webhooks.c.registered_seq)
            ).scalars()
            return [self._view(conn, i, party) for i in ids]

    def deliveries(self, who: Principal, status: str | None = None) -> list[DeliveryView]:
        """The deliveries not (yet) made, so a party sees what its systems missed and why."""
        party = who.require_party(Action.read)
        d = t.webhook_deliveries
        mine = sa.select(t.webhooks.c.id).where(t.webhooks.c.party_id == party)
        query = sa.select(d).where(d.c.webhook_id.in_(mine)).order_by(d.c.webhook_id, d.c.event_seq)
        if status is not None:
            query = query.where(d.c.status == status)
        with self.service.db.connect() as conn:
            return [
                DeliveryView(
                    webhook_id=r.webhook_id,
                    event_seq=r.event_seq,
                    status=r.status,
                    attempts=r.attempts,
                    next_attempt_at=_time(r.next_attempt_at),
                    last_attempt_at=_time(r.last_attempt_at),
                    last_error=r.last_error,
                )
                for r in conn.execute(query)
            ]

    # --- the dispatcher -----------------------------------------------------------------

    def dispatch_due(self, client: httpx.Client | None = None, budget: int = 100) -> int:
        """Makes every delivery attempt that is due; returns how many were made."""
        own = client is None
        http = client or httpx.Client(timeout=self.timeout_s)
        attempts = 0
        try:
            with self.service.db.connect() as conn:
                hooks = list(
                    conn.execute(sa.select(t.webhooks).where(t.webhooks.c.removed_at.is_(None)))
                )
            for hook in hooks:
                while attempts < budget:
                    outcome = self._attempt_next(http, hook)
                    if outcome is None:
                        break
                    attempts += 1
                    if not outcome:
                        break
        finally:
            if own:
                http.close()
        return attempts

    def _attempt_next(self, http: httpx.Client, hook: Any) -> bool | None:
        """One attempt for ``hook``'s next event: True delivered, False failed, None nothing due."""
        now = self.service.clock.now()
        head = self._head(hook)
        if head is None:
            return None
        event, data, row = head
        if (
            row is not None
            and row.next_attempt_at is not None
            and row.next_attempt_at > utc_text(now)
        ):
            return None
        payload = {
            "seq": event.seq,
            "kind": event.kind.value,
            "recorded_at": utc_text(event.recorded_at),
            "data": data,
        }
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = int(now.timestamp())
        with self.service.db.connect() as conn:
            secret = conn.execute(
                sa.select(t.webhook_secrets.c.secret).where(
                    t.webhook_secrets.c.webhook_id == hook.id
                )
            ).scalar_one()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            TIMESTAMP_HEADER: str(timestamp),
            EVENT_HEADER: str(event.seq),
        }
        error: str | None = None
        try:
            response = http.post(hook.url, content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        attempts = (0 if row is None else row.attempts) + 1
        if error is None:
            self._advance(hook.id, event.seq, delete=True)
            self._receipt(hook, event)
            return True
        self._failed(hook.id, event.seq, attempts, error, now)
        return False

    def _head(self, hook: Any) -> tuple[Event, dict[str, Any], Any] | None:
        """The event this webhook must deliver next, with its shaped body and delivery row."""
        d = t.webhook_deliveries
        with self.service.db.connect() as conn:
            cursor = conn.execute(
                sa.select(t.webhook_secrets.c.cursor_seq).where(
                    t.webhook_secrets.c.webhook_id == hook.id
                )
            ).scalar_one()
            row = conn.execute(
                sa.select(d)
                .where(d.c.webhook_id == hook.id, d.c.status == "pending")
                .order_by(d.c.event_seq)
            ).first()
            start = cursor if row is None else row.event_seq - 1
            scanned = start
            for event in queries.events(conn, after_seq=start, limit=SCAN_LIMIT):
                scanned = event.seq
                data = shape(self.service, conn, event, hook.party_id)
                if data is not None:
                    return event, data, row
        if scanned != cursor:
            self._advance(hook.id, scanned, delete=False)
        return None

    def _advance(self, webhook_id: str, seq: int, delete: bool) -> None:
        d = t.webhook_deliveries
        with self.service.db.begin() as conn:
            conn.execute(
                t.webhook_secrets.update()
                .where(t.webhook_secrets.c.webhook_id == webhook_id)
                .values(cursor_seq=seq)
            )
            if delete:
                conn.execute(d.delete().where(d.c.webhook_id == webhook_id, d.c.event_seq == seq))

    def _failed(self, webhook_id: str, seq: int, attempts: int, error: str, now: datetime) -> None:
        d = t.webhook_deliveries
        gave_up = attempts >= self.max_attempts
        delay = min(self.backoff_s * 2 ** (attempts - 1), self.max_backoff_s)
        values = {
            "status": "failed" if gave_up else "pending",
            "attempts": attempts,
            "next_attempt_at": None if gave_up else utc_text(now + timedelta(seconds=delay)),
            "last_attempt_at": utc_text(now),
            "last_error": error,
        }
        with self.service.db.begin() as conn:
            conn.execute(d.delete().where(d.c.webhook_id == webhook_id, d.c.event_seq == seq))
            conn.execute(d.insert().values(webhook_id=webhook_id, event_seq=seq, **values))
            if gave_up:
                conn.execute(
                    t.webhook_secrets.update()
                    .where(t.webhook_secrets.c.webhook_id == webhook_id)
                    .values(cursor_seq=seq)
                )

    def _receipt(self, hook: Any, event: Event) -> None:
        if event.kind not in RECEIPTED:
            return
        kind, key = RECEIPTED[event.kind]

        def command(tx: Transaction) -> None:
            self.service.channel.receipt(
                tx,
                "delivered",
                kind,
                event.body[key],
                hook.party_id,
                hook.id,
                "webhook",
                frozenset({hook.party_id}),
            )

        self.service.sequencer.write(command)

    # --- views --------------------------------------------------------------------------

    def _row(self, conn: sa.Connection, webhook_id: str, party: str) -> Any:
        row = conn.execute(sa.select(t.webhooks).where(t.webhooks.c.id == webhook_id)).first()
        if row is None or row.party_id != party:
            raise NotFound(f"no webhook {webhook_id}")
        return row

    def _view(self, conn: sa.Connection, webhook_id: str, party: str) -> WebhookView:
        row = self._row(conn, webhook_id, party)
        cursor = conn.execute(
            sa.select(t.webhook_secrets.c.cursor_seq).where(
                t.webhook_secrets.c.webhook_id == webhook_id
            )
        ).scalar_one_or_none()
        d = t.webhook_deliveries
        failed = conn.execute(
            sa.select(sa.func.count()).where(d.c.webhook_id == webhook_id, d.c.status == "failed")
        ).scalar_one()
        return WebhookView(
            id=row.id,
            url=row.url,
            registered_at=queries.parse_time(row.registered_at),
            removed_at=_time(row.removed_at),
            delivered_up_to=int(cursor or row.registered_seq),
            failed=int(failed),
        )


def _time(value: str | None) -> datetime | None:
    return None if value is None else queries.parse_time(value)
