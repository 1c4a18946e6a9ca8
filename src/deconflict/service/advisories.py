"""The advisories desk: read advisories as each side may see them, and acknowledge them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from deconflict.core.errors import NotFound
from deconflict.core.events import EventKind, NewEvent
from deconflict.core.parties import Action, Principal
from deconflict.core.visibility import AdvisoryView, StoredAdvisory, advisory_view
from deconflict.service.sequencer import Transaction
from deconflict.storage import queries

if TYPE_CHECKING:
    from deconflict.service.deconflict import Deconflict

MAX_NOTE = 2000


class AdvisoryPage(BaseModel):
    model_config = ConfigDict(frozen=True)
    items: list[AdvisoryView]
    next_cursor: str | None


@dataclass
class Advisories:
    service: Deconflict

    def _view(self, conn: sa.Connection, stored: StoredAdvisory, party: str) -> AdvisoryView | None:
        other = stored.b if stored.a.party_id == party else stored.a
        feature = queries.declaration_version(conn, other.declaration_id, other.version)
        if feature is None:
            return None
        return advisory_view(stored, party, feature, self.service.disclosure)

    def get(self, who: Principal, advisory_id: str) -> AdvisoryView:
        party = who.require_party(Action.read)
        with self.service.db.connect() as conn:
            view = self._visible(conn, advisory_id, party)
        if view is None:
            raise NotFound(f"no advisory {advisory_id}")
        return view

    def _visible(self, conn: sa.Connection, advisory_id: str, party: str) -> AdvisoryView | None:
        stored = queries.advisory(conn, advisory_id)
        return None if stored is None else self._view(conn, stored, party)

    def visible(
        self,
        who: Principal,
        status: Literal["open", "resolved"] | None = None,
        declaration_id: str | None = None,
        cursor: int = 0,
        limit: int = 100,
    ) -> AdvisoryPage:
        party = who.require_party(Action.read)
        with self.service.db.connect() as conn:
            rows = queries.advisories_for(
                conn,
                party,
                after_seq=cursor,
                status=status,
                declaration_id=declaration_id,
                limit=limit + 1,
            )
            items = []
            for _, stored in rows[:limit]:
                view = self._view(conn, stored, party)
                if view is not None:
                    items.append(view)
        more = len(rows) > limit
        return AdvisoryPage(items=items, next_cursor=str(rows[limit - 1][0]) if more else None)

    def acknowledge(
        self,
        who: Principal,
        advisory_id: str,
        note: str | None,
        signed: dict[str, Any] | None = None,
    ) -> AdvisoryView:
        """Record that the caller's party has taken note; acknowledging twice changes nothing.

        ``signed`` is the party's signature over the acknowledgement (see
        :mod:`deconflict.service.keys` for when it is required); it is checked and kept in the event.
        """
        party = who.require_party(Action.acknowledge)

        def command(tx: Transaction) -> AdvisoryView:
            stored = queries.advisory(tx.conn, advisory_id)
            if stored is None or self._visible(tx.conn, advisory_id, party) is None:
                raise NotFound(f"no advisory {advisory_id}")
            if not any(a.party_id == party for a in stored.acknowledgements):
                signature = self.service.keys.check(
                    tx.conn, party, advisory_id, note, signed, tx.now
                )
                tx.append(
                    NewEvent(
                        EventKind.advisory_acknowledged,
                        {
                            "advisory_id": advisory_id,
                            "party_id": party,
                            "member_id": who.member_id,
                            "note": note,
                            **({} if signature is None else {"signature": signature}),
                        },
                        frozenset(stored.recipients),
                        who.member_id,
                    )
                )
                stored = queries.advisory(tx.conn, advisory_id)
                assert stored is not None
            view = self._view(tx.conn, stored, party)
            assert view is not None
            return view

        return self.service.sequencer.write(command)
