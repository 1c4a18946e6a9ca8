"""Reads of the incident and meeting projections; the caller decides what a party may see."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from deconflict.core.incidents import IncidentStatus, IncidentType, Settlement, ViewerRole
from deconflict.storage import tables as t

Row = sa.Row[Any]


def incident(conn: sa.Connection, incident_id: str) -> Row | None:
    return conn.execute(sa.select(t.incidents).where(t.incidents.c.id == incident_id)).first()


def viewers(conn: sa.Connection, incident_id: str) -> dict[str, ViewerRole]:
    v = t.incident_viewers
    return {
        r.party_id: ViewerRole(r.role)
        for r in conn.execute(sa.select(v).where(v.c.incident_id == incident_id))
    }


def incidents_for(
    conn: sa.Connection,
    party: str,
    after_seq: int = 0,
    limit: int | None = None,
    status: IncidentStatus | None = None,
    type_: IncidentType | None = None,
) -> list[Row]:
    i = t.incidents
    v = t.incident_viewers
    query = (
        sa.select(i)
        .where(
            i.c.id.in_(sa.select(v.c.incident_id).where(v.c.party_id == party)),
            i.c.reported_seq > after_seq,
        )
        .order_by(i.c.reported_seq)
    )
    if status is not None:
        query = query.where(i.c.status == status.value)
    if type_ is not None:
        query = query.where(i.c.type == type_.value)
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query))


def accounts(conn: sa.Connection, incident_id: str) -> list[Row]:
    a = t.incident_accounts
    return list(
        conn.execute(
            sa.select(a).where(a.c.incident_id == incident_id).order_by(a.c.party_id, a.c.version)
        )
    )


def latest_account_version(conn: sa.Connection, incident_id: str, party: str) -> int:
    a = t.incident_accounts
    value = conn.execute(
        sa.select(sa.func.max(a.c.version)).where(
            a.c.incident_id == incident_id, a.c.party_id == party
        )
    ).scalar_one_or_none()
    return int(value or 0)


def latest_versions(conn: sa.Connection, incident_id: str) -> dict[str, int]:
    a = t.incident_accounts
    rows = conn.execute(
        sa.select(a.c.party_id, sa.func.max(a.c.version))
        .where(a.c.incident_id == incident_id)
        .group_by(a.c.party_id)
    )
    return {party: int(version) for party, version in rows}


def latest_settlement_version(conn: sa.Connection, incident_id: str) -> int:
    s = t.settlements
    value = conn.execute(
        sa.select(sa.func.max(s.c.version)).where(s.c.incident_id == incident_id)
    ).scalar_one_or_none()
    return int(value or 0)


def settlement_row(conn: sa.Connection, incident_id: str, version: int) -> Row:
    s = t.settlements
    row = conn.execute(
        sa.select(s).where(s.c.incident_id == incident_id, s.c.version == version)
    ).first()
    assert row is not None
    return row


def settlement(conn: sa.Connection, incident_id: str, version: int) -> Settlement | None:
    s = t.settlements
    row = conn.execute(
        sa.select(s).where(s.c.incident_id == incident_id, s.c.version == version)
    ).first()
    if row is None:
        return None
    a = t.settlement_acceptances
    accepted = conn.execute(
        sa.select(a.c.party_id).where(a.c.incident_id == incident_id, a.c.version == version)
    ).scalars()
    return Settlement(row.version, row.text, row.proposed_by, frozenset(accepted))


# --- meetings ---------------------------------------------------------------------------------


def meeting(conn: sa.Connection, meeting_id: str) -> Row | None:
    return conn.execute(sa.select(t.meetings).where(t.meetings.c.id == meeting_id)).first()


def meeting_parties(conn: sa.Connection, meeting_id: str) -> list[str]:
    mp = t.meeting_parties
    return sorted(
        conn.execute(sa.select(mp.c.party_id).where(mp.c.meeting_id == meeting_id)).scalars()
    )


def meetings_for(conn: sa.Connection, party: str) -> list[Row]:
    mp = t.meeting_parties
    mine = sa.select(mp.c.meeting_id).where(mp.c.party_id == party)
    return list(
        conn.execute(
            sa.select(t.meetings)
            .where(t.meetings.c.id.in_(mine))
            .order_by(t.meetings.c.created_seq)
        )
    )


def minutes_of(conn: sa.Connection, meeting_id: str) -> list[Row]:
    m = t.minutes
    return list(
        conn.execute(
            sa.select(m).where(m.c.meeting_id == meeting_id).order_by(m.c.occurrence, m.c.version)
        )
    )


def minutes_acks(conn: sa.Connection, meeting_id: str) -> list[Row]:
    a = t.minutes_acknowledgements
    return list(conn.execute(sa.select(a).where(a.c.meeting_id == meeting_id).order_by(a.c.at)))
