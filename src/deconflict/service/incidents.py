"""The incidents desk: report, share, file accounts, discuss, settle or dispute.

An incident is visible to the parties involved, to observers named in the report, and to
the parties an involved party shared it with; to anyone else it does not exist (404).
Accounts are appended, never replaced: a party that changes its story files version 2, and
version 1 stays beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from deconflict.core.channel import check_moment
from deconflict.core.clock import utc_text
from deconflict.core.errors import (
    InvalidInput,
    NotFound,
    NotPermitted,
    ProblemList,
    VersionConflict,
)
from deconflict.core.events import EventKind, NewEvent
from deconflict.core.incidents import (
    IncidentStatus,
    IncidentType,
    Move,
    Settlement,
    ViewerRole,
    involved_parties,
    moves_on_account,
    settled_by,
    transition,
    who_may_file,
)
from deconflict.core.parties import Action, Principal, new_id
from deconflict.service.channel import check_references, parse_time, visible_references
from deconflict.service.sequencer import Transaction
from deconflict.storage import incident_queries as iq
from deconflict.storage import queries

if TYPE_CHECKING:
    from deconflict.service.deconflict import Deconflict

LINK_KINDS = ("declarations", "advisories", "messages")


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class Casualties(View):
    """Casualties as reported by one party; None means that party did not say."""

    killed: int | None = None
    injured: int | None = None
    note: str | None = None


class Links(View):
    declarations: list[str] = []
    advisories: list[str] = []
    messages: list[str] = []


class AccountView(View):
    party_id: str
    version: int
    text: str
    casualties: Casualties | None
    filed_at: datetime


class PartyAccounts(View):
    """One party's side: its latest account first in ``latest``, every version in ``versions``."""

    party_id: str
    role: ViewerRole
    latest: AccountView | None
    versions: list[AccountView]


class SettlementView(View):
    version: int
    text: str
    proposed_by: str
    proposed_at: datetime
    accepted_by: list[str]
    awaiting: list[str]


class IncidentSummary(View):
    id: str
    type: IncidentType
    status: IncidentStatus
    occurred_at: datetime
    time_precision_s: int
    place: tuple[float, float]
    place_precision_m: float
    place_name: str | None
    summary: str
    reported_by: str
    reported_at: datetime
    updated_at: datetime
    involved: list[str]
    observers: list[str]
    shared_with: list[str]
    accounts_filed: dict[str, int]


class IncidentView(IncidentSummary):
    casualties: Casualties
    links: Links
    accounts: list[PartyAccounts]
    settlement: SettlementView | None


class IncidentPage(View):
    items: list[IncidentSummary]
    next_cursor: str | None


@dataclass(frozen=True)
class IncidentReport:
    type: IncidentType
    occurred_at: datetime
    time_precision_s: int
    place: tuple[float, float]
    place_precision_m: float
    place_name: str | None
    summary: str
    involved: list[str]
    observers: list[str]
    casualties: Casualties
    links: dict[str, list[str]]


@dataclass
class Incidents:
    service: Deconflict

    def visible_to(self, conn: sa.Connection, incident_id: str, party: str) -> bool:
        return party in iq.viewers(conn, incident_id)

    # --- writes -------------------------------------------------------------------------

    def report(self, who: Principal, report: IncidentReport) -> IncidentView:
        party = who.require_party(Action.communicate)
        incident_id = new_id("inc")
        check_moment("occurred_at", report.occurred_at)

        def command(tx: Transaction) -> IncidentView:
            self.service.channel._sweep(tx)
            self._check_report(tx, report, party)
            tx.append(
                NewEvent(
                    EventKind.incident_reported,
                    {
                        "incident_id": incident_id,
                        "type": report.type.value,
                        "occurred_at": utc_text(report.occurred_at),
                        "time_precision_s": report.time_precision_s,
                        "place": list(report.place),
                        "place_precision_m": report.place_precision_m,
                        "place_name": report.place_name,
                        "summary": report.summary,
                        "involved": sorted(set(report.involved)),
                        "observers": sorted(set(report.observers)),
                        "casualties": report.casualties.model_dump(),
                        "links": {k: list(report.links.get(k, [])) for k in LINK_KINDS},
                        "reported_by": party,
                    },
                    frozenset(report.involved) | frozenset(report.observers),
                    who.member_id,
                )
            )
            return self._view(tx.conn, incident_id, party)

        return self.service.sequencer.write(command)

    def _check_report(self, tx: Transaction, report: IncidentReport, party: str) -> None:
        problems = ProblemList()
        known = queries.party_ids(tx.conn)
        for field in ("involved", "observers"):
            for i, other in enumerate(getattr(report, field)):
                if other not in known:
                    problems.add(f"{field}[{i}]", f"no party {other}")
        if len(set(report.involved)) < 1:
            problems.add("involved", "name at least one party involved")
        if set(report.involved) & set(report.observers):
            problems.add("observers", "a party is either involved or an observer, not both")
        if party not in set(report.involved) | set(report.observers):
            problems.add("involved", f"your party ({party}) must be involved or an observer")
        if report.occurred_at - timedelta(seconds=report.time_precision_s) > tx.now:
            problems.add("occurred_at", "is in the future; report what has happened")
        problems.raise_if_any()
        check_references(self.service, tx.conn, report.links, party, "links")

    def file_account(
        self, who: Principal, incident_id: str, text: str, casualties: Casualties | None
    ) -> IncidentView:
        party = who.require_party(Action.communicate)

        def command(tx: Transaction) -> IncidentView:
            self.service.channel._sweep(tx)
            row, viewers = self._row(tx.conn, incident_id, party)
            if party not in who_may_file(viewers):
                raise NotPermitted("only involved parties and observers file accounts")
            version = iq.latest_account_version(tx.conn, incident_id, party) + 1
            tx.append(
                NewEvent(
                    EventKind.incident_account_filed,
                    {
                        "incident_id": incident_id,
                        "party_id": party,
                        "version": version,
                        "text": text,
                        "casualties": None if casualties is None else casualties.model_dump(),
                        "member_id": who.member_id,
                    },
                    frozenset(viewers),
                    who.member_id,
                )
            )
            status = IncidentStatus(row.status)
            if moves_on_account(status, party, row.reported_by):
                self._status(
                    tx, incident_id, viewers, transition(status, Move.discuss), party, who, None
                )
            return self._view(tx.conn, incident_id, party)

        return self.service.sequencer.write(command)

    def share(self, who: Principal, incident_id: str, with_party: str) -> IncidentView:
        party = who.require_party(Action.communicate)

        def command(tx: Transaction) -> IncidentView:
            self.service.channel._sweep(tx)
            _, viewers = self._involved(tx.conn, incident_id, party)
            if with_party not in queries.party_ids(tx.conn):
                raise InvalidInput.at("party_id", f"no party {with_party}")
            if with_party not in viewers:
                tx.append(
                    NewEvent(
                        EventKind.incident_shared,
                        {"incident_id": incident_id, "party_id": with_party, "by": party},
                        frozenset(viewers) | {with_party},
                        who.member_id,
                    )
                )
            return self._view(tx.conn, incident_id, party)

        return self.service.sequencer.write(command)

    def discuss(self, who: Principal, incident_id: str) -> IncidentView:
        return self._move(who, incident_id, Move.discuss, Action.communicate, None)

    def dispute(self, who: Principal, incident_id: str, reason: str | None) -> IncidentView:
        return self._move(who, incident_id, Move.dispute, Action.settle, reason)

    def _move(
        self, who: Principal, incident_id: str, move: Move, action: Action, reason: str | None
    ) -> IncidentView:
        party = who.require_party(action)

        def command(tx: Transaction) -> IncidentView:
            self.service.channel._sweep(tx)
            row, viewers = self._involved(tx.conn, incident_id, party)
            new = transition(IncidentStatus(row.status), move)
            self._status(tx, incident_id, viewers, new, party, who, reason)
            return self._view(tx.conn, incident_id, party)

        return self.service.sequencer.write(command)

    def propose_settlement(self, who: Principal, incident_id: str, text: str) -> IncidentView:
        """A settlement text; the proposing party accepts it by proposing it."""
        party = who.require_party(Action.settle)

        def command(tx: Transaction) -> IncidentView:
            self.service.channel._sweep(tx)
            row, viewers = self._involved(tx.conn, incident_id, party)
            status = IncidentStatus(row.status)
            new = transition(status, Move.propose)
            version = iq.latest_settlement_version(tx.conn, incident_id) + 1
            audience = frozenset(viewers)
            tx.append(
                NewEvent(
                    EventKind.settlement_proposed,
                    {
                        "incident_id": incident_id,
                        "version": version,
                        "text": text,
                        "proposed_by": party,
                    },
                    audience,
                    who.member_id,
                )
            )
            if new is not status:
                self._status(tx, incident_id, viewers, new, party, who, None)
            self._accept(tx, incident_id, viewers, version, party, who)
            return self._view(tx.conn, incident_id, party)

        return self.service.sequencer.write(command)

    def accept_settlement(self, who: Principal, incident_id: str, version: int) -> IncidentView:
        party = who.require_party(Action.settle)

        def command(tx: Transaction) -> IncidentView:
            self.service.channel._sweep(tx)
            _, viewers = self._involved(tx.conn, incident_id, party)
            latest = iq.latest_settlement_version(tx.conn, incident_id)
            if latest == 0:
                raise VersionConflict(f"incident {incident_id} has no settlement text to accept")
            if version != latest:
                raise VersionConflict(
                    f"the settlement text is at version {latest}, not {version}; read it again"
                )
            self._accept(tx, incident_id, viewers, version, party, who)
            return self._view(tx.conn, incident_id, party)

        return self.service.sequencer.write(command)

    def _accept(
        self,
        tx: Transaction,
        incident_id: str,
        viewers: dict[str, ViewerRole],
        version: int,
        party: str,
        who: Principal,
    ) -> None:
        settlement = iq.settlement(tx.conn, incident_id, version)
        assert settlement is not None
        if party in settlement.accepted_by:
            return
        tx.append(
            NewEvent(
                EventKind.settlement_accepted,
                {"incident_id": incident_id, "version": version, "party_id": party},
                frozenset(viewers),
                who.member_id,
            )
        )
        settlement = iq.settlement(tx.conn, incident_id, version)
        assert settlement is not None
        row = iq.incident(tx.conn, incident_id)
        assert row is not None
        status = IncidentStatus(row.status)
        if settled_by(settlement, involved_parties(viewers)):
            self._status(
                tx, incident_id, viewers, transition(status, Move.settle), party, who, None
            )

    def _status(
        self,
        tx: Transaction,
        incident_id: str,
        viewers: dict[str, ViewerRole],
        status: IncidentStatus,
        party: str,
        who: Principal,
        reason: str | None,
    ) -> None:
        tx.append(
            NewEvent(
                EventKind.incident_status_changed,
                {"incident_id": incident_id, "status": status.value, "by": party, "reason": reason},
                frozenset(viewers),
                who.member_id,
            )
        )

    # --- reads --------------------------------------------------------------------------

    def get(self, who: Principal, incident_id: str) -> IncidentView:
        party = who.require_party(Action.read)
        with self.service.db.connect() as conn:
            return self._view(conn, incident_id, party)

    def visible(
        self,
        who: Principal,
        status: IncidentStatus | None = None,
        type_: IncidentType | None = None,
        cursor: int = 0,
        limit: int = 100,
    ) -> IncidentPage:
        party = who.require_party(Action.read)
        with self.service.db.connect() as conn:
            rows = iq.incidents_for(conn, party, cursor, limit + 1, status, type_)
            items = [self._summary(conn, row) for row in rows[:limit]]
        more = len(rows) > limit
        return IncidentPage(
            items=items, next_cursor=str(rows[limit - 1].reported_seq) if more else None
        )

    def _row(
        self, conn: sa.Connection, incident_id: str, party: str
    ) -> tuple[Any, dict[str, ViewerRole]]:
        row = iq.incident(conn, incident_id)
        viewers = iq.viewers(conn, incident_id)
        if row is None or party not in viewers:
            raise NotFound(f"no incident {incident_id}")
        return row, viewers

    def _involved(
        self, conn: sa.Connection, incident_id: str, party: str
    ) -> tuple[Any, dict[str, ViewerRole]]:
        row, viewers = self._row(conn, incident_id, party)
        if viewers[party] is not ViewerRole.involved:
            raise NotPermitted("only a party involved in the incident may do this")
        return row, viewers

    def _summary(self, conn: sa.Connection, row: Any) -> IncidentSummary:
        viewers = iq.viewers(conn, row.id)

        def having(role: ViewerRole) -> list[str]:
            return sorted(p for p, r in viewers.items() if r is role)

        return IncidentSummary(
            id=row.id,
            type=IncidentType(row.type),
            status=IncidentStatus(row.status),
            occurred_at=parse_time(row.occurred_at),
            time_precision_s=row.time_precision_s,
            place=(row.lon, row.lat),
            place_precision_m=row.place_precision_m,
            place_name=row.place_name,
            summary=row.summary,
            reported_by=row.reported_by,
            reported_at=parse_time(row.reported_at),
            updated_at=parse_time(row.updated_at),
            involved=having(ViewerRole.involved),
            observers=having(ViewerRole.observer),
            shared_with=having(ViewerRole.shared),
            accounts_filed=iq.latest_versions(conn, row.id),
        )

    def _view(self, conn: sa.Connection, incident_id: str, party: str) -> IncidentView:
        row, viewers = self._row(conn, incident_id, party)
        summary = self._summary(conn, row)
        by_party: dict[str, list[AccountView]] = {}
        for a in iq.accounts(conn, incident_id):
            by_party.setdefault(a.party_id, []).append(
                AccountView(
                    party_id=a.party_id,
                    version=a.version,
                    text=a.text,
                    casualties=None if a.casualties is None else Casualties(**a.casualties),
                    filed_at=parse_time(a.filed_at),
                )
            )
        sides = [
            PartyAccounts(
                party_id=p,
                role=viewers[p],
                latest=by_party[p][-1] if by_party.get(p) else None,
                versions=by_party.get(p, []),
            )
            for p in sorted(who_may_file(viewers))
        ]
        latest = iq.latest_settlement_version(conn, incident_id)
        settlement = None
        if latest:
            s = iq.settlement(conn, incident_id, latest)
            assert s is not None
            proposed = iq.settlement_row(conn, incident_id, latest)
            settlement = SettlementView(
                version=s.version,
                text=s.text,
                proposed_by=s.proposed_by,
                proposed_at=parse_time(proposed.proposed_at),
                accepted_by=sorted(s.accepted_by),
                awaiting=sorted(involved_parties(viewers) - s.accepted_by),
            )
        return IncidentView(
            **summary.model_dump(),
            casualties=Casualties(**row.casualties),
            links=Links(**visible_references(self.service, conn, row.links, party)),
            accounts=sides,
            settlement=settlement,
        )


def settlement_of(row: Any, accepted: set[str]) -> Settlement:
    return Settlement(row.version, row.text, row.proposed_by, frozenset(accepted))
