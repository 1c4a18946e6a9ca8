"""Reads of the channel and incident projections; what a party may see is decided by the caller."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from deconflict.core.channel import DeadlineStatus
from deconflict.storage import tables as t

Row = sa.Row[Any]


def thread(conn: sa.Connection, thread_id: str) -> Row | None:
    return conn.execute(sa.select(t.threads).where(t.threads.c.id == thread_id)).first()


def thread_parties(conn: sa.Connection, thread_id: str) -> list[str]:
    tp = t.thread_parties
    return sorted(
        conn.execute(sa.select(tp.c.party_id).where(tp.c.thread_id == thread_id)).scalars()
    )


def threads_for(conn: sa.Connection, party: str, after_seq: int, limit: int) -> list[Row]:
    tp = t.thread_parties
    mine = sa.select(tp.c.thread_id).where(tp.c.party_id == party)
    return list(
        conn.execute(
            sa.select(t.threads)
            .where(t.threads.c.id.in_(mine), t.threads.c.opened_seq > after_seq)
            .order_by(t.threads.c.opened_seq)
            .limit(limit)
        )
    )


def messages_of(conn: sa.Connection, thread_id: str) -> list[Row]:
    m = t.messages
    return list(conn.execute(sa.select(m).where(m.c.thread_id == thread_id).order_by(m.c.seq)))


def message(conn: sa.Connection, message_id: str) -> Row | None:
    return conn.execute(sa.select(t.messages).where(t.messages.c.id == message_id)).first()


def deadlines_of(conn: sa.Connection, item_kind: str, item_id: str) -> list[Row]:
    d = t.ack_deadlines
    return list(
        conn.execute(
            sa.select(d)
            .where(d.c.item_kind == item_kind, d.c.item_id == item_id)
            .order_by(d.c.party_id)
        )
    )


def deadline(conn: sa.Connection, item_kind: str, item_id: str, party: str) -> Row | None:
    d = t.ack_deadlines
    return conn.execute(
        sa.select(d).where(
            d.c.item_kind == item_kind, d.c.item_id == item_id, d.c.party_id == party
        )
    ).first()


def due(conn: sa.Connection, now_iso: str) -> list[Row]:
    d = t.ack_deadlines
    return list(
        conn.execute(
            sa.select(d)
            .where(d.c.status == DeadlineStatus.pending.value, d.c.due_at <= now_iso)
            .order_by(d.c.due_at, d.c.item_id, d.c.party_id)
        )
    )


def unanswered(conn: sa.Connection, party: str | None = None) -> list[Row]:
    """Deadlines still waiting (pending or on the agenda), of one party or of all."""
    d = t.ack_deadlines
    query = sa.select(d).where(
        d.c.status.in_([DeadlineStatus.pending.value, DeadlineStatus.on_agenda.value])
    )
    if party is not None:
        query = query.where(d.c.party_id == party)
    return list(conn.execute(query.order_by(d.c.due_at, d.c.item_id)))


def all_deadlines(conn: sa.Connection) -> list[Row]:
    d = t.ack_deadlines
    return list(conn.execute(sa.select(d).order_by(d.c.started_at, d.c.item_id, d.c.party_id)))


def escalations(conn: sa.Connection) -> list[Row]:
    e = t.escalations
    return list(conn.execute(sa.select(e).order_by(e.c.seq)))


def receipts_of(conn: sa.Connection, item_kind: str, item_id: str) -> list[Row]:
    r = t.receipts
    return list(
        conn.execute(
            sa.select(r).where(r.c.item_kind == item_kind, r.c.item_id == item_id).order_by(r.c.at)
        )
    )


def has_receipt(
    conn: sa.Connection, item_kind: str, item_id: str, recipient: str, receipt: str
) -> bool:
    r = t.receipts
    return (
        conn.execute(
            sa.select(r.c.at).where(
                r.c.item_kind == item_kind,
                r.c.item_id == item_id,
                r.c.recipient == recipient,
                r.c.receipt == receipt,
            )
        ).first()
        is not None
    )


def deadline_rules(conn: sa.Connection) -> list[Row]:
    r = t.ack_deadline_rules
    return list(conn.execute(sa.select(r).order_by(r.c.party_a, r.c.party_b)))


def members_in_roles(conn: sa.Connection, party: str, roles: list[str]) -> list[str]:
    m = t.members
    return list(
        conn.execute(
            sa.select(m.c.id)
            .where(m.c.party_id == party, m.c.role.in_(roles), m.c.revoked_at.is_(None))
            .order_by(m.c.id)
        ).scalars()
    )
