"""The meetings desk: recurring leadership meetings, their agendas, and acknowledged minutes.

The agenda is built at the moment it is asked for, from the record as the asking party may
see it (:func:`deconflict.core.meetings.build_agenda`); nothing about it is stored, so it
can never fall out of step with the record. Minutes are stored, versioned per meeting, and
count as agreed once every participating party acknowledged the same version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from deconflict.core.channel import ItemKind, check_moment
from deconflict.core.clock import utc_text
from deconflict.core.errors import (
    InvalidInput,
    NotFound,
    ProblemList,
    StateConflict,
    VersionConflict,
)
from deconflict.core.events import EventKind, NewEvent
from deconflict.core.meetings import (
    MAX_EVERY_S,
    MIN_EVERY_S,
    AdvisoryItem,
    Agenda,
    EscalationItem,
    IncidentItem,
    PendingItem,
    build_agenda,
    is_occurrence,
    next_occurrence,
)
from deconflict.core.parties import Action, Principal, new_id
from deconflict.core.visibility import Disclosure
from deconflict.service.channel import parse_time
from deconflict.service.sequencer import Transaction
from deconflict.storage import channel_queries as cq
from deconflict.storage import incident_queries as iq
from deconflict.storage import queries

if TYPE_CHECKING:
    from deconflict.service.deconflict import Deconflict


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class MinutesView(View):
    occurrence: datetime
    version: int
    text: str
    party_id: str
    recorded_at: datetime
    acknowledged_by: list[str]
    awaiting: list[str]


class MeetingView(View):
    id: str
    title: str
    parties: list[str]
    first_at: datetime
    every_s: int
    created_by: str
    next_at: datetime
    minutes: list[MinutesView]


class AgendaView(View):
    meeting_id: str
    title: str
    parties: list[str]
    meeting_at: datetime
    since: datetime | None
    open_advisories: list[dict[str, Any]]
    unanswered: list[dict[str, Any]]
    incidents: list[dict[str, Any]]
    escalations: list[dict[str, Any]]


@dataclass
class Meetings:
    service: Deconflict

    def schedule(
        self, who: Principal, parties: list[str], title: str, first_at: datetime, every_s: int
    ) -> MeetingView:
        party = who.require_party(Action.settle)
        meeting_id = new_id("mtg")
        check_moment("first_at", first_at)
        if not MIN_EVERY_S <= every_s <= MAX_EVERY_S:
            raise InvalidInput.at(
                "every_s", f"must be between {MIN_EVERY_S} and {MAX_EVERY_S} seconds"
            )

        def command(tx: Transaction) -> MeetingView:
            self.service.channel._sweep(tx)
            known = queries.party_ids(tx.conn)
            problems = ProblemList()
            for i, other in enumerate(parties):
                if other not in known:
                    problems.add(f"parties[{i}]", f"no party {other}")
            problems.raise_if_any()
            members = sorted({party, *parties})
            if len(members) < 2:
                raise InvalidInput.at(
                    "parties", "a meeting is between your party and at least one other"
                )
            tx.append(
                NewEvent(
                    EventKind.meeting_scheduled,
                    {
                        "meeting_id": meeting_id,
                        "title": title,
                        "parties": members,
                        "first_at": utc_text(first_at),
                        "every_s": every_s,
                        "created_by": party,
                    },
                    frozenset(members),
                    who.member_id,
                )
            )
            return self._view(tx.conn, meeting_id, party, tx.now)

        return self.service.sequencer.write(command)

    def all(self, who: Principal) -> list[MeetingView]:
        party = who.require_party(Action.read)
        now = self.service.clock.now()
        with self.service.db.connect() as conn:
            return [self._view(conn, row.id, party, now) for row in iq.meetings_for(conn, party)]

    def get(self, who: Principal, meeting_id: str) -> MeetingView:
        party = who.require_party(Action.read)
        with self.service.db.connect() as conn:
            return self._view(conn, meeting_id, party, self.service.clock.now())

    def record_minutes(
        self, who: Principal, meeting_id: str, occurrence: datetime, text: str
    ) -> MeetingView:
        party = who.require_party(Action.settle)

        def command(tx: Transaction) -> MeetingView:
            self.service.channel._sweep(tx)
            row, parties = self._meeting(tx.conn, meeting_id, party)
            self._check_occurrence(row, occurrence, tx.now)
            versions = [
                m.version
                for m in iq.minutes_of(tx.conn, meeting_id)
                if m.occurrence == utc_text(occurrence)
            ]
            tx.append(
                NewEvent(
                    EventKind.minutes_recorded,
                    {
                        "meeting_id": meeting_id,
                        "occurrence": utc_text(occurrence),
                        "version": max(versions, default=0) + 1,
                        "text": text,
                        "party_id": party,
                        "member_id": who.member_id,
                    },
                    frozenset(parties),
                    who.member_id,
                )
            )
            return self._view(tx.conn, meeting_id, party, tx.now)

        return self.service.sequencer.write(command)

    def acknowledge_minutes(
        self, who: Principal, meeting_id: str, occurrence: datetime, version: int
    ) -> MeetingView:
        party = who.require_party(Action.settle)

        def command(tx: Transaction) -> MeetingView:
            self.service.channel._sweep(tx)
            _, parties = self._meeting(tx.conn, meeting_id, party)
            check_moment("occurrence", occurrence)
            when = utc_text(occurrence)
            versions = [
                m.version for m in iq.minutes_of(tx.conn, meeting_id) if m.occurrence == when
            ]
            if not versions:
                raise StateConflict(f"no minutes recorded for the meeting of {when}")
            if version != max(versions):
                raise VersionConflict(f"the minutes are at version {max(versions)}, not {version}")
            done = {
                a.party_id
                for a in iq.minutes_acks(tx.conn, meeting_id)
                if a.occurrence == when and a.version == version
            }
            if party not in done:
                tx.append(
                    NewEvent(
                        EventKind.minutes_acknowledged,
                        {
                            "meeting_id": meeting_id,
                            "occurrence": when,
                            "version": version,
                            "party_id": party,
                            "member_id": who.member_id,
                        },
                        frozenset(parties),
                        who.member_id,
                    )
                )
            return self._view(tx.conn, meeting_id, party, tx.now)

        return self.service.sequencer.write(command)

    def agenda(self, who: Principal, meeting_id: str, at: datetime | None = None) -> AgendaView:
        """The agenda of the next meeting (or of the meeting at ``at``), as the caller's party sees it."""
        party = who.require_party(Action.read)
        now = self.service.clock.now()
        with self.service.db.connect() as conn:
            row, parties = self._meeting(conn, meeting_id, party)
            first, every = parse_time(row.first_at), timedelta(seconds=row.every_s)
            if at is None:
                at = (
                    first
                    if now < first
                    else next_occurrence(first, every, now - timedelta(microseconds=1))
                )
            elif not is_occurrence(first, every, at):
                raise InvalidInput.at(
                    "query.at", "is not the time of one of this meeting's occurrences"
                )
            since = at - every if at - every >= first else None
            agenda = build_agenda(
                frozenset(parties),
                at,
                since,
                self._advisories(conn, party),
                self._pending(conn, party),
                self._incidents(conn, party),
                self._escalations(conn, party),
            )
        return _agenda_view(meeting_id, row.title, parties, agenda)

    # --- what the agenda is built from, as ``party`` may see it --------------------------

    def _advisories(self, conn: sa.Connection, party: str) -> list[AdvisoryItem]:
        items = []
        for _, stored in queries.advisories_for(conn, party, status="open", limit=10_000):
            if stored.recipients.get(party) is Disclosure.full:
                parties = {p for p, d in stored.recipients.items() if d is Disclosure.full} | {
                    party
                }
            else:
                parties = {party}
            acked = {a.party_id for a in stored.acknowledgements}
            items.append(
                AdvisoryItem(
                    id=stored.id,
                    parties=frozenset({stored.a.party_id, stored.b.party_id}),
                    raised_at=stored.raised_at,
                    unacknowledged_by=tuple(sorted(parties - acked)),
                )
            )
        return items

    def _pending(self, conn: sa.Connection, party: str) -> list[PendingItem]:
        items = []
        for r in cq.unanswered(conn):
            if r.party_id != party and not self._sees_acknowledgement(conn, r, party):
                continue
            items.append(
                PendingItem(
                    item_kind=r.item_kind,
                    item_id=r.item_id,
                    party_id=r.party_id,
                    counterpart=r.counterpart,
                    tier=r.tier,
                    due_at=parse_time(r.due_at),
                    on_agenda=r.status == "on_agenda",
                )
            )
        return items

    def _sees_acknowledgement(self, conn: sa.Connection, row: Any, party: str) -> bool:
        """Whether ``party`` may know if ``row.party_id`` acknowledged the item."""
        if row.item_kind == ItemKind.message.value:
            message = cq.message(conn, row.item_id)
            return message is not None and party in cq.thread_parties(conn, message.thread_id)
        stored = queries.advisory(conn, row.item_id)
        if stored is None:
            return False
        full = {p for p, d in stored.recipients.items() if d is Disclosure.full}
        return party in full and row.party_id in full

    def _incidents(self, conn: sa.Connection, party: str) -> list[IncidentItem]:
        return [
            IncidentItem(
                id=r.id,
                type=r.type,
                status=r.status,
                occurred_at=parse_time(r.occurred_at),
                reported_at=parse_time(r.reported_at),
                involved=frozenset(
                    p for p, role in iq.viewers(conn, r.id).items() if role == "involved"
                ),
                accounts=iq.latest_versions(conn, r.id),
                place_name=r.place_name,
            )
            for r in iq.incidents_for(conn, party)
        ]

    def _escalations(self, conn: sa.Connection, party: str) -> list[EscalationItem]:
        return [
            EscalationItem(
                e.item_kind, e.item_id, e.party_id, e.to_tier or "agenda", parse_time(e.at)
            )
            for e in cq.escalations(conn)
            if party in e.audience
        ]

    # --- helpers ------------------------------------------------------------------------

    def _meeting(self, conn: sa.Connection, meeting_id: str, party: str) -> tuple[Any, list[str]]:
        row = iq.meeting(conn, meeting_id)
        parties = iq.meeting_parties(conn, meeting_id) if row is not None else []
        if row is None or party not in parties:
            raise NotFound(f"no meeting {meeting_id}")
        return row, parties

    @staticmethod
    def _check_occurrence(row: Any, occurrence: datetime, now: datetime) -> None:
        check_moment("occurrence", occurrence)
        first, every = parse_time(row.first_at), timedelta(seconds=row.every_s)
        if not is_occurrence(first, every, occurrence):
            raise InvalidInput.at(
                "occurrence", "is not the time of one of this meeting's occurrences"
            )
        if occurrence > now:
            raise InvalidInput.at("occurrence", "has not happened yet; minutes follow the meeting")

    def _view(self, conn: sa.Connection, meeting_id: str, party: str, now: datetime) -> MeetingView:
        row, parties = self._meeting(conn, meeting_id, party)
        acks: dict[tuple[str, int], set[str]] = {}
        for a in iq.minutes_acks(conn, meeting_id):
            acks.setdefault((a.occurrence, a.version), set()).add(a.party_id)
        minutes = [
            MinutesView(
                occurrence=parse_time(m.occurrence),
                version=m.version,
                text=m.text,
                party_id=m.party_id,
                recorded_at=parse_time(m.recorded_at),
                acknowledged_by=sorted(acks.get((m.occurrence, m.version), set())),
                awaiting=sorted(set(parties) - acks.get((m.occurrence, m.version), set())),
            )
            for m in iq.minutes_of(conn, meeting_id)
        ]
        first, every = parse_time(row.first_at), timedelta(seconds=row.every_s)
        return MeetingView(
            id=row.id,
            title=row.title,
            parties=parties,
            first_at=first,
            every_s=row.every_s,
            created_by=row.created_by,
            next_at=first if now < first else next_occurrence(first, every, now),
            minutes=minutes,
        )


def _agenda_view(meeting_id: str, title: str, parties: list[str], agenda: Agenda) -> AgendaView:
    return AgendaView(
        meeting_id=meeting_id,
        title=title,
        parties=parties,
        meeting_at=agenda.meeting_at,
        since=agenda.since,
        open_advisories=[
            {
                "advisory_id": a.id,
                "parties": sorted(a.parties),
                "raised_at": utc_text(a.raised_at),
                "unacknowledged_by": list(a.unacknowledged_by),
            }
            for a in agenda.open_advisories
        ],
        unanswered=[
            {
                "item_kind": p.item_kind,
                "item_id": p.item_id,
                "party_id": p.party_id,
                "from": p.counterpart,
                "tier": p.tier,
                "due_at": utc_text(p.due_at),
                "on_leadership_agenda": p.on_agenda,
            }
            for p in agenda.unanswered
        ],
        incidents=[
            {
                "incident_id": i.id,
                "type": i.type,
                "status": i.status,
                "occurred_at": utc_text(i.occurred_at),
                "place_name": i.place_name,
                "involved": sorted(i.involved),
                "accounts": i.accounts,
                "accounts_missing": sorted(i.involved - set(i.accounts)),
            }
            for i in agenda.incidents
        ],
        escalations=[
            {
                "item_kind": e.item_kind,
                "item_id": e.item_id,
                "party_id": e.party_id,
                "to": e.to_tier,
                "at": utc_text(e.at),
            }
            for e in agenda.escalations
        ],
    )
