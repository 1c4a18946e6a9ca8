"""Recurring leadership meetings and the agenda the record writes for them.

An agenda is not typed up by anyone: it is what the record says is open between the
meeting's parties. Since the record differs per party (each sees only what it may), the
agenda is built for one viewing party from the items that party can see; two parties at
the same meeting can read different agendas, and neither learns what the other's holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

MIN_EVERY_S = 3600
MAX_EVERY_S = 366 * 24 * 3600


def occurrence_at_or_before(first: datetime, every: timedelta, at: datetime) -> datetime | None:
    """The latest meeting that started at or before ``at`` (None before the first one)."""
    if at < first:
        return None
    return first + every * ((at - first) // every)


def next_occurrence(first: datetime, every: timedelta, at: datetime) -> datetime:
    """The first meeting strictly after ``at``."""
    last = occurrence_at_or_before(first, every, at)
    return first if last is None else last + every


def is_occurrence(first: datetime, every: timedelta, at: datetime) -> bool:
    return at >= first and (at - first) % every == timedelta(0)


@dataclass(frozen=True)
class AdvisoryItem:
    id: str
    parties: frozenset[str]
    raised_at: datetime
    unacknowledged_by: tuple[str, ...]


@dataclass(frozen=True)
class PendingItem:
    """An item still waiting for a party's acknowledgement."""

    item_kind: str
    item_id: str
    party_id: str
    counterpart: str | None
    tier: str
    due_at: datetime
    on_agenda: bool


@dataclass(frozen=True)
class IncidentItem:
    id: str
    type: str
    status: str
    occurred_at: datetime
    reported_at: datetime
    involved: frozenset[str]
    accounts: dict[str, int]  # party → latest account version
    place_name: str | None = None


@dataclass(frozen=True)
class EscalationItem:
    item_kind: str
    item_id: str
    party_id: str
    to_tier: str
    at: datetime


@dataclass(frozen=True)
class Agenda:
    meeting_at: datetime
    since: datetime | None
    open_advisories: list[AdvisoryItem] = field(default_factory=list)
    unanswered: list[PendingItem] = field(default_factory=list)
    incidents: list[IncidentItem] = field(default_factory=list)
    escalations: list[EscalationItem] = field(default_factory=list)


def build_agenda(
    parties: frozenset[str],
    meeting_at: datetime,
    since: datetime | None,
    advisories: list[AdvisoryItem],
    pending: list[PendingItem],
    incidents: list[IncidentItem],
    escalations: list[EscalationItem],
) -> Agenda:
    """The agenda of the meeting at ``meeting_at``; ``since`` is the previous meeting.

    * open advisories between two of the meeting's parties;
    * items a meeting party has not acknowledged (those that reached the top of the ladder
      first, then by deadline);
    * incidents involving a meeting party, reported since the previous meeting or still not
      settled, with whose accounts are on file;
    * escalations since the previous meeting.
    """

    def between(members: frozenset[str]) -> bool:
        return len(members & parties) >= 2

    def recent(moment: datetime) -> bool:
        return (since is None or moment > since) and moment <= meeting_at

    return Agenda(
        meeting_at=meeting_at,
        since=since,
        open_advisories=sorted(
            (a for a in advisories if between(a.parties) and a.raised_at <= meeting_at),
            key=lambda a: a.raised_at,
        ),
        unanswered=sorted(
            (
                p
                for p in pending
                if p.party_id in parties and (p.counterpart is None or p.counterpart in parties)
            ),
            key=lambda p: (not p.on_agenda, p.due_at),
        ),
        incidents=sorted(
            (
                i
                for i in incidents
                if i.involved & parties
                and i.reported_at <= meeting_at
                and (recent(i.reported_at) or i.status != "settled")
            ),
            key=lambda i: i.occurred_at,
        ),
        escalations=sorted(
            (e for e in escalations if e.party_id in parties and recent(e.at)),
            key=lambda e: e.at,
        ),
    )
