"""The channel desk: threads, messages, acknowledgement deadlines and their escalation.

Every write first sweeps the deadlines that have passed (as the declarations desk sweeps
expiry), and the server's ticker sweeps too, so escalations fire on time without anyone
writing. A deadline lives in the ``ack_deadlines`` table, moved only by events, so a
restart neither loses one nor fires one twice: an escalation that fired moved the row on
in the same transaction as its event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from deconflict.core.channel import (
    DEFAULT_RULE,
    TIER_ROLES,
    TIERS,
    DeadlineStatus,
    Escalate,
    ItemKind,
    Pending,
    Tier,
    pair,
    steps_due,
    validate_deadlines,
)
from deconflict.core.clock import utc_text
from deconflict.core.errors import InvalidInput, NotFound, ProblemList
from deconflict.core.events import HOST, EventKind, NewEvent
from deconflict.core.parties import Action, Principal, new_id
from deconflict.core.visibility import Disclosure, declaration_view
from deconflict.service.sequencer import Transaction
from deconflict.storage import channel_queries as cq
from deconflict.storage import queries
from deconflict.storage.channel_projection import deadline_rule

if TYPE_CHECKING:
    from deconflict.service.deconflict import Deconflict

MAX_BODY = 10_000
MAX_REFERENCES = 50
REFERENCE_KINDS = ("declarations", "advisories", "incidents")
AboutKind = Literal["advisory", "incident"]
ABOUT_KINDS = {"advisory": "advisories", "incident": "incidents"}


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class References(View):
    declarations: list[str] = []
    advisories: list[str] = []
    incidents: list[str] = []


class About(View):
    kind: AboutKind
    id: str


class AwaitingView(View):
    """One party's acknowledgement of an item: when it is due, at which tier, and whether given."""

    party_id: str
    tier: Tier
    due_at: datetime
    status: DeadlineStatus
    escalations: int
    acknowledged_at: datetime | None


class PartyReceiptView(View):
    party_id: str
    delivered_at: datetime | None
    read_at: datetime | None


class MessageView(View):
    id: str
    thread_id: str
    party_id: str
    tier: Tier
    body: str
    references: References
    needs_ack: bool
    posted_at: datetime
    awaiting: list[AwaitingView]
    receipts: list[PartyReceiptView]


class ThreadSummary(View):
    id: str
    subject: str
    about: About | None
    parties: list[str]
    opened_by: str
    opened_at: datetime


class ThreadView(ThreadSummary):
    messages: list[MessageView]


class ThreadPage(View):
    items: list[ThreadSummary]
    next_cursor: str | None


class PendingView(View):
    """An item waiting for the caller's party to acknowledge it."""

    item_kind: ItemKind
    item_id: str
    counterpart: str | None
    tier: Tier
    attention_roles: list[str]
    due_at: datetime
    status: DeadlineStatus
    escalations: int


class DeadlineRuleView(View):
    party_a: str
    party_b: str
    tactical_s: int
    operational_s: int
    leadership_s: int


def parse_time(value: str) -> datetime:
    return queries.parse_time(value)


def reference_visible(
    service: Deconflict, conn: sa.Connection, kind: str, item_id: str, party: str
) -> bool:
    """Whether ``party`` may see the object a message or incident refers to."""
    if kind == "declarations":
        stored = queries.declaration(conn, item_id)
        return (
            stored is not None and declaration_view(stored, party, service.clock.now()) is not None
        )
    if kind == "advisories":
        return service.advisories._visible(conn, item_id, party) is not None
    if kind == "incidents":
        return service.incidents.visible_to(conn, item_id, party)
    if kind == "messages":
        row = cq.message(conn, item_id)
        return row is not None and party in cq.thread_parties(conn, row.thread_id)
    return False


def check_references(
    service: Deconflict, conn: sa.Connection, refs: dict[str, list[str]], party: str, field: str
) -> None:
    """Refuses a reference the author cannot see: it would otherwise confirm a guessed id."""
    problems = ProblemList()
    for kind, ids in refs.items():
        for i, item_id in enumerate(ids):
            if not reference_visible(service, conn, kind, item_id, party):
                problems.add(f"{field}.{kind}[{i}]", f"no {kind[:-1]} {item_id} visible to {party}")
    problems.raise_if_any()


def visible_references(
    service: Deconflict, conn: sa.Connection, refs: dict[str, list[str]], viewer: str
) -> dict[str, list[str]]:
    """Only the references ``viewer`` may open: a link never reveals an id it could not see."""
    return {
        kind: [i for i in ids if reference_visible(service, conn, kind, i, viewer)]
        for kind, ids in refs.items()
    }


@dataclass
class Channel:
    service: Deconflict

    # --- host configuration -------------------------------------------------------------

    def set_deadlines(
        self, who: Principal, party_a: str, party_b: str, seconds: dict[Tier, int]
    ) -> DeadlineRuleView:
        who.require(Action.administer)
        if party_a == party_b:
            raise InvalidInput.at("party_b", "deadlines are set between two different parties")
        problems = ProblemList()
        for field, reason in validate_deadlines(seconds):
            problems.add(field, reason)
        problems.raise_if_any()
        low, high = pair(party_a, party_b)

        def command(tx: Transaction) -> DeadlineRuleView:
            self._sweep(tx)
            known = queries.party_ids(tx.conn)
            for field, party in (("party_a", party_a), ("party_b", party_b)):
                if party not in known:
                    raise InvalidInput.at(field, f"no party {party}")
            body = {"party_a": low, "party_b": high, **{f"{t.value}_s": seconds[t] for t in TIERS}}
            tx.append(
                NewEvent(
                    EventKind.ack_deadlines_set, body, frozenset({HOST, low, high}), who.member_id
                )
            )
            return DeadlineRuleView.model_validate(body)

        return self.service.sequencer.write(command)

    def deadline_rules(self, who: Principal) -> list[DeadlineRuleView]:
        """The host sees every pair's deadlines; a party those that bind it."""
        if who.party_id is None:
            who.require(Action.administer)
        else:
            who.require(Action.read)
        with self.service.db.connect() as conn:
            rows = cq.deadline_rules(conn)
        return [
            DeadlineRuleView(
                party_a=r.party_a,
                party_b=r.party_b,
                tactical_s=r.tactical_s,
                operational_s=r.operational_s,
                leadership_s=r.leadership_s,
            )
            for r in rows
            if who.party_id is None or who.party_id in (r.party_a, r.party_b)
        ]

    # --- threads and messages ------------------------------------------------------------

    def open_thread(
        self,
        who: Principal,
        parties: list[str],
        subject: str,
        about: About | None,
        first: dict[str, Any] | None = None,
    ) -> ThreadView:
        party = who.require_party(Action.communicate)
        thread_id = new_id("thr")

        def command(tx: Transaction) -> ThreadView:
            self._sweep(tx)
            known = queries.party_ids(tx.conn)
            for i, other in enumerate(parties):
                if other not in known:
                    raise InvalidInput.at(f"parties[{i}]", f"no party {other}")
            members = sorted({party, *parties})
            if len(members) < 2:
                raise InvalidInput.at(
                    "parties", "a thread is between your party and at least one other"
                )
            if about is not None and not reference_visible(
                self.service, tx.conn, ABOUT_KINDS[about.kind], about.id, party
            ):
                raise InvalidInput.at("about.id", f"no {about.kind} {about.id} visible to {party}")
            tx.append(
                NewEvent(
                    EventKind.thread_opened,
                    {
                        "thread_id": thread_id,
                        "parties": members,
                        "subject": subject,
                        "about": None if about is None else about.model_dump(),
                        "opened_by": party,
                    },
                    frozenset(members),
                    who.member_id,
                )
            )
            if first is not None:
                self._post(tx, who, party, thread_id, **first, field="message.references")
            return self._thread_view(tx.conn, thread_id, party)

        return self.service.sequencer.write(command)

    def threads(self, who: Principal, cursor: int = 0, limit: int = 100) -> ThreadPage:
        party = who.require_party(Action.read)
        with self.service.db.connect() as conn:
            rows = cq.threads_for(conn, party, cursor, limit + 1)
            items = [self._summary(conn, row, party) for row in rows[:limit]]
        more = len(rows) > limit
        return ThreadPage(
            items=items, next_cursor=str(rows[limit - 1].opened_seq) if more else None
        )

    def thread(self, who: Principal, thread_id: str) -> ThreadView:
        party = who.require_party(Action.read)
        with self.service.db.connect() as conn:
            return self._thread_view(conn, thread_id, party)

    def post(
        self,
        who: Principal,
        thread_id: str,
        tier: Tier,
        body: str,
        references: dict[str, list[str]],
        needs_ack: bool,
    ) -> MessageView:
        party = who.require_party(Action.communicate)

        def command(tx: Transaction) -> MessageView:
            self._sweep(tx)
            self._thread_row(tx.conn, thread_id, party)
            message_id = self._post(tx, who, party, thread_id, tier, body, references, needs_ack)
            return self._message_view(tx.conn, message_id, party)

        return self.service.sequencer.write(command)

    def _post(
        self,
        tx: Transaction,
        who: Principal,
        party: str,
        thread_id: str,
        tier: Tier,
        body: str,
        references: dict[str, list[str]],
        needs_ack: bool,
        field: str = "references",
    ) -> str:
        check_references(self.service, tx.conn, references, party, field)
        message_id = new_id("msg")
        tx.append(
            NewEvent(
                EventKind.message_posted,
                {
                    "message_id": message_id,
                    "thread_id": thread_id,
                    "party_id": party,
                    "member_id": who.member_id,
                    "tier": tier.value,
                    "body": body,
                    "references": {k: list(references.get(k, [])) for k in REFERENCE_KINDS},
                    "needs_ack": needs_ack,
                },
                frozenset(cq.thread_parties(tx.conn, thread_id)),
                who.member_id,
            )
        )
        return message_id

    def message(self, who: Principal, message_id: str) -> MessageView:
        party = who.require_party(Action.read)
        with self.service.db.connect() as conn:
            return self._message_view(conn, message_id, party)

    def acknowledge(self, who: Principal, message_id: str, note: str | None) -> MessageView:
        """The caller's party has taken note of the message.

        Acknowledging twice, or acknowledging a message that never awaited the party (its
        own, or one sent without ``needs_ack``), changes nothing: the answer shows, under
        ``awaiting``, whose acknowledgement the message does wait for.
        """
        party = who.require_party(Action.acknowledge)

        def command(tx: Transaction) -> MessageView:
            self._sweep(tx)
            row = self._message_row(tx.conn, message_id, party)
            waiting = cq.deadline(tx.conn, ItemKind.message.value, message_id, party)
            if waiting is not None and waiting.status in (
                DeadlineStatus.pending,
                DeadlineStatus.on_agenda,
            ):
                tx.append(
                    NewEvent(
                        EventKind.message_acknowledged,
                        {
                            "message_id": message_id,
                            "party_id": party,
                            "member_id": who.member_id,
                            "note": note,
                        },
                        frozenset(cq.thread_parties(tx.conn, row.thread_id)),
                        who.member_id,
                    )
                )
            return self._message_view(tx.conn, message_id, party)

        return self.service.sequencer.write(command)

    def mark_read(self, who: Principal, message_id: str) -> MessageView:
        """A read receipt: this member opened the message (recorded once per member)."""
        party = who.require_party(Action.read)

        def command(tx: Transaction) -> MessageView:
            row = self._message_row(tx.conn, message_id, party)
            self.receipt(
                tx,
                "read",
                ItemKind.message,
                message_id,
                party,
                who.member_id,
                "api",
                frozenset({party, row.party_id}),
            )
            return self._message_view(tx.conn, message_id, party)

        return self.service.sequencer.write(command)

    def receipt(
        self,
        tx: Transaction,
        receipt: Literal["delivered", "read"],
        kind: ItemKind,
        item_id: str,
        party: str,
        recipient: str,
        via: str,
        audience: frozenset[str],
    ) -> bool:
        """Records a delivery or read receipt unless this recipient already has one."""
        if cq.has_receipt(tx.conn, kind.value, item_id, recipient, receipt):
            return False
        tx.append(
            NewEvent(
                EventKind.item_delivered if receipt == "delivered" else EventKind.item_read,
                {
                    "item_kind": kind.value,
                    "item_id": item_id,
                    "party_id": party,
                    "recipient": recipient,
                    "via": via,
                },
                audience,
                recipient if via != "webhook" else None,
            )
        )
        return True

    def pending(self, who: Principal) -> list[PendingView]:
        """What the caller's party still owes an acknowledgement for, soonest due first."""
        party = who.require_party(Action.read)
        with self.service.db.connect() as conn:
            rows = cq.unanswered(conn, party)
        return [
            PendingView(
                item_kind=ItemKind(r.item_kind),
                item_id=r.item_id,
                counterpart=r.counterpart,
                tier=Tier(r.tier),
                attention_roles=sorted(role.value for role in TIER_ROLES[Tier(r.tier)]),
                due_at=parse_time(r.due_at),
                status=DeadlineStatus(r.status),
                escalations=r.escalations,
            )
            for r in rows
        ]

    # --- escalation ---------------------------------------------------------------------

    def escalate_due(self) -> int:
        """Fires every escalation that is due; run by the server's ticker and before writes."""
        return self.service.sequencer.write(self._sweep)

    def _sweep(self, tx: Transaction) -> int:
        fired = 0
        for row in cq.due(tx.conn, utc_text(tx.now)):
            pending = Pending(
                ItemKind(row.item_kind),
                row.item_id,
                row.party_id,
                Tier(row.tier),
                parse_time(row.due_at),
            )
            rule = (
                DEFAULT_RULE
                if row.counterpart is None
                else deadline_rule(tx.conn, row.party_id, row.counterpart)
            )
            audience = self._escalation_audience(tx.conn, row)
            for step in steps_due(pending, rule, tx.now):
                body: dict[str, Any] = {
                    "item_kind": step.pending.item_kind.value,
                    "item_id": step.pending.item_id,
                    "party_id": step.pending.party_id,
                    "from_tier": step.pending.tier.value,
                    "due_at": utc_text(step.pending.due_at),
                }
                if isinstance(step, Escalate):
                    body |= {
                        "to_tier": step.to_tier.value,
                        "next_due_at": utc_text(step.next_due_at),
                        "to_roles": sorted(r.value for r in TIER_ROLES[step.to_tier]),
                    }
                    tx.append(NewEvent(EventKind.item_escalated, body, audience))
                else:
                    tx.append(NewEvent(EventKind.item_put_on_agenda, body, audience))
                fired += 1
        return fired

    def _escalation_audience(self, conn: sa.Connection, row: Any) -> frozenset[str]:
        """The late party, and those who may see whether it acknowledged (its counterpart)."""
        if row.item_kind == ItemKind.message.value:
            message = cq.message(conn, row.item_id)
            assert message is not None
            return frozenset(cq.thread_parties(conn, message.thread_id))
        stored = queries.advisory(conn, row.item_id)
        assert stored is not None
        full = {p for p, d in stored.recipients.items() if d is Disclosure.full}
        return frozenset({row.party_id} | (full & {row.counterpart}))

    # --- views --------------------------------------------------------------------------

    def _thread_row(self, conn: sa.Connection, thread_id: str, party: str) -> Any:
        row = cq.thread(conn, thread_id)
        if row is None or party not in cq.thread_parties(conn, thread_id):
            raise NotFound(f"no thread {thread_id}")
        return row

    def _message_row(self, conn: sa.Connection, message_id: str, party: str) -> Any:
        row = cq.message(conn, message_id)
        if row is None or party not in cq.thread_parties(conn, row.thread_id):
            raise NotFound(f"no message {message_id}")
        return row

    def _summary(self, conn: sa.Connection, row: Any, party: str) -> ThreadSummary:
        """A thread about something the viewer cannot see shows as a general thread to it."""
        about = None
        if row.about_kind is not None and reference_visible(
            self.service, conn, ABOUT_KINDS[row.about_kind], row.about_id, party
        ):
            about = About(kind=row.about_kind, id=row.about_id)
        return ThreadSummary(
            id=row.id,
            subject=row.subject,
            about=about,
            parties=cq.thread_parties(conn, row.id),
            opened_by=row.opened_by,
            opened_at=parse_time(row.opened_at),
        )

    def _thread_view(self, conn: sa.Connection, thread_id: str, party: str) -> ThreadView:
        row = self._thread_row(conn, thread_id, party)
        summary = self._summary(conn, row, party)
        return ThreadView(
            **summary.model_dump(),
            messages=[self._render(conn, m, party) for m in cq.messages_of(conn, thread_id)],
        )

    def _message_view(self, conn: sa.Connection, message_id: str, party: str) -> MessageView:
        return self._render(conn, self._message_row(conn, message_id, party), party)

    def _render(self, conn: sa.Connection, row: Any, party: str) -> MessageView:
        receipts: dict[str, dict[str, datetime]] = {}
        for r in cq.receipts_of(conn, ItemKind.message.value, row.id):
            receipts.setdefault(r.party_id, {}).setdefault(r.receipt, parse_time(r.at))
        return MessageView(
            id=row.id,
            thread_id=row.thread_id,
            party_id=row.party_id,
            tier=Tier(row.tier),
            body=row.body,
            references=References(**visible_references(self.service, conn, row.refs, party)),
            needs_ack=row.needs_ack,
            posted_at=parse_time(row.posted_at),
            awaiting=[
                AwaitingView(
                    party_id=d.party_id,
                    tier=Tier(d.tier),
                    due_at=parse_time(d.due_at),
                    status=DeadlineStatus(d.status),
                    escalations=d.escalations,
                    acknowledged_at=None
                    if d.acknowledged_at is None
                    else parse_time(d.acknowledged_at),
                )
                for d in cq.deadlines_of(conn, ItemKind.message.value, row.id)
            ],
            receipts=[
                PartyReceiptView(party_id=p, delivered_at=v.get("delivered"), read_at=v.get("read"))
                for p, v in sorted(receipts.items())
            ],
        )
