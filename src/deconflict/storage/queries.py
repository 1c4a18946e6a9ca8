"""Reads of the projections, returning domain objects; visibility is decided by the caller.

The queries narrow by what SQL can decide cheaply and safely (ownership, shares, status,
time). A bounding box is only a prefilter here, on the footprint (where every party's view
of a declaration lies), so it keeps a superset of what any viewer would see in the box; the
service then tests the geometry as the viewer sees it, so a filter never reveals more than
the view itself. The prefilter is the one place where the backends differ (see
:func:`_footprint_meets`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from deconflict.core.conflicts import Encounter
from deconflict.core.declarations import DeclarationFeature, Kind, Status
from deconflict.core.events import EVERY_PARTY, Event, EventKind
from deconflict.core.parties import Principal, Role, SeparationRule
from deconflict.core.visibility import (
    Acknowledgement,
    AdvisorySide,
    Disclosure,
    StoredAdvisory,
    StoredDeclaration,
)
from deconflict.storage import tables as t


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def feature_from_json(value: dict[str, Any] | str) -> DeclarationFeature:
    text = value if isinstance(value, str) else json.dumps(value)
    return DeclarationFeature.model_validate_json(text)


def encounter_to_json(encounter: Encounter) -> dict[str, Any]:
    return dataclasses.asdict(encounter)


def encounter_from_json(value: dict[str, Any]) -> Encounter:
    fields = dict(value)
    for name in ("point_a", "point_b", "place"):
        fields[name] = tuple(fields[name])
    return Encounter(**fields)


def principal_by_token_hash(conn: sa.Connection, token_hash: str) -> Principal | None:
    row = conn.execute(
        sa.select(t.members).where(
            t.members.c.token_hash == token_hash, t.members.c.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    return Principal(member_id=row.id, party_id=row.party_id, role=Role(row.role), name=row.name)


def party_ids(conn: sa.Connection) -> set[str]:
    return set(conn.execute(sa.select(t.parties.c.id)).scalars())


def party(conn: sa.Connection, party_id: str) -> sa.Row[Any] | None:
    return conn.execute(sa.select(t.parties).where(t.parties.c.id == party_id)).first()


def all_parties(conn: sa.Connection) -> list[sa.Row[Any]]:
    return list(conn.execute(sa.select(t.parties).order_by(t.parties.c.id)))


def members_of(conn: sa.Connection, party_id: str | None) -> list[sa.Row[Any]]:
    query = sa.select(t.members).order_by(t.members.c.added_at, t.members.c.id)
    if party_id is not None:
        query = query.where(t.members.c.party_id == party_id)
    return list(conn.execute(query))


def separation_rules(conn: sa.Connection) -> list[SeparationRule]:
    return [
        SeparationRule(r.party_a, r.party_b, r.category or None, r.distance_m)
        for r in conn.execute(sa.select(t.separation_rules))
    ]


# Every column but the footprint, which is for indexing only: on PostgreSQL reading it back
# would ship each row's geometry a second time.
_DECLARATION_COLUMNS = [c for c in t.declarations.c if c.name != "footprint"]


def _stored_declaration(row: Any) -> StoredDeclaration:
    return StoredDeclaration(
        id=row.id,
        party_id=row.party_id,
        version=row.version,
        status=Status(row.status),
        feature=feature_from_json(row.feature),
        created_at=parse_time(row.created_at),
        updated_at=parse_time(row.updated_at),
        confirmed_at=parse_time(row.confirmed_at),
    )


def declaration(conn: sa.Connection, declaration_id: str) -> StoredDeclaration | None:
    row = conn.execute(
        sa.select(*_DECLARATION_COLUMNS).where(t.declarations.c.id == declaration_id)
    ).first()
    return None if row is None else _stored_declaration(row)


def declaration_version(
    conn: sa.Connection, declaration_id: str, version: int
) -> DeclarationFeature | None:
    value = conn.execute(
        sa.select(t.declaration_versions.c.feature).where(
            t.declaration_versions.c.declaration_id == declaration_id,
            t.declaration_versions.c.version == version,
        )
    ).scalar_one_or_none()
    return None if value is None else feature_from_json(value)


def visible_declarations(
    conn: sa.Connection,
    party_id: str,
    *,
    after_seq: int = 0,
    kinds: list[Kind] | None = None,
    statuses: list[Status] | None = None,
    time_from: float | None = None,
    time_to: float | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    batch: int = 200,
) -> Iterator[tuple[int, StoredDeclaration]]:
    """Own declarations and those shared with ``party_id``, in the order they were declared.

    ``bbox`` (west, south, east, north) keeps those whose footprint meets it: a superset of
    those whose view, for any party, meets it, so the caller must still test the view.
    """
    d = t.declarations
    shared = sa.select(t.declaration_shares.c.declaration_id).where(
        t.declaration_shares.c.party_id.in_([party_id, EVERY_PARTY])
    )
    query = sa.select(*_DECLARATION_COLUMNS).where(
        sa.or_(d.c.party_id == party_id, d.c.id.in_(shared))
    )
    if kinds:
        query = query.where(d.c.kind.in_([k.value for k in kinds]))
    if statuses:
        query = query.where(d.c.status.in_([s.value for s in statuses]))
    if time_from is not None or time_to is not None:
        query = query.where(*_reach_meets(conn, time_from, time_to))
    if bbox is not None:
        query = query.where(_footprint_meets(conn, bbox))
    cursor = after_seq
    while True:
        rows = list(
            conn.execute(
                query.where(d.c.created_seq > cursor).order_by(d.c.created_seq).limit(batch)
            )
        )
        for row in rows:
            yield row.created_seq, _stored_declaration(row)
        if len(rows) < batch:
            return
        cursor = rows[-1].created_seq


def _reach_meets(
    conn: sa.Connection, time_from: float | None, time_to: float | None
) -> list[sa.ColumnElement[bool]]:
    """Declarations that can be active at some time from ``time_from`` to ``time_to``.

    The exact test is on the two columns. On PostgreSQL the same test is added as an overlap
    of whole-second ranges (a superset: both are widened outwards), which the GiST index
    answers and the planner can estimate. With ``time_from`` after ``time_to`` the exact test
    keeps what spans the gap between them, so the range runs from the earlier to the later.
    """
    d = t.declarations
    tests: list[sa.ColumnElement[bool]] = []
    if time_to is not None:
        tests.append(d.c.reach_start <= time_to)
    if time_from is not None:
        tests.append(sa.or_(d.c.reach_end.is_(None), d.c.reach_end >= time_from))
    if conn.dialect.name == "postgresql":
        given = [v for v in (time_from, time_to) if v is not None]
        low = math.floor(min(given)) if time_from is not None else None
        high = math.ceil(max(given)) if time_to is not None else None
        window = sa.func.int8range(
            sa.literal(low, sa.BigInteger), sa.literal(high, sa.BigInteger), sa.text("'[]'")
        )
        reach = t.reach_range(d.c.reach_start, d.c.reach_end)
        tests.append(reach.op("&&", return_type=sa.Boolean)(window))
    return tests


def _footprint_meets(
    conn: sa.Connection, bbox: tuple[float, float, float, float]
) -> sa.ColumnElement[bool]:
    """Declarations whose footprint meets the box (edges included): GiST-indexed on PostgreSQL.

    SQLite has no PostGIS, so there the footprint's bounds stand in for it. Both keep every
    declaration whose footprint's bounding box meets the box, and no view lies outside that.
    """
    d = t.declarations
    west, south, east, north = bbox
    if conn.dialect.name == "postgresql":
        envelope = sa.func.ST_MakeEnvelope(west, south, east, north, t.SRID)
        return d.c.footprint.op("&&", return_type=sa.Boolean)(envelope)
    return sa.and_(
        d.c.min_lon <= east, d.c.max_lon >= west, d.c.min_lat <= north, d.c.max_lat >= south
    )


def active_declarations(conn: sa.Connection) -> Iterator[StoredDeclaration]:
    rows = conn.execute(
        sa.select(*_DECLARATION_COLUMNS)
        .where(t.declarations.c.status == Status.active.value)
        .order_by(t.declarations.c.created_seq)
    )
    for row in rows:
        yield _stored_declaration(row)


def due_to_expire(conn: sa.Connection, now_iso: str) -> list[str]:
    d = t.declarations
    return list(
        conn.execute(
            sa.select(d.c.id)
            .where(
                d.c.status == Status.active.value,
                d.c.expires_at.is_not(None),
                d.c.expires_at <= now_iso,
            )
            .order_by(d.c.created_seq)
        ).scalars()
    )


def _stored_advisory(conn: sa.Connection, row: Any) -> StoredAdvisory:
    recipients = {
        r.party_id: Disclosure(r.disclosure)
        for r in conn.execute(
            sa.select(t.advisory_recipients).where(t.advisory_recipients.c.advisory_id == row.id)
        )
    }
    acks = [
        Acknowledgement(r.party_id, r.member_id, parse_time(r.at), r.note)
        for r in conn.execute(
            sa.select(t.advisory_acknowledgements)
            .where(t.advisory_acknowledgements.c.advisory_id == row.id)
            .order_by(t.advisory_acknowledgements.c.seq)
        )
    ]
    return StoredAdvisory(
        id=row.id,
        status=row.status,
        a=AdvisorySide(row.declaration_a, row.version_a, row.party_a),
        b=AdvisorySide(row.declaration_b, row.version_b, row.party_b),
        encounter=encounter_from_json(row.encounter),
        raised_at=parse_time(row.raised_at),
        resolved_at=None if row.resolved_at is None else parse_time(row.resolved_at),
        resolution=row.resolution,
        recipients=recipients,
        acknowledgements=acks,
        supersedes=row.supersedes,
    )


def advisory(conn: sa.Connection, advisory_id: str) -> StoredAdvisory | None:
    row = conn.execute(sa.select(t.advisories).where(t.advisories.c.id == advisory_id)).first()
    return None if row is None else _stored_advisory(conn, row)


def open_advisories_of(conn: sa.Connection, declaration_id: str) -> list[StoredAdvisory]:
    a = t.advisories
    rows = conn.execute(
        sa.select(a)
        .where(
            a.c.status == "open",
            sa.or_(a.c.declaration_a == declaration_id, a.c.declaration_b == declaration_id),
        )
        .order_by(a.c.raised_seq)
    )
    return [_stored_advisory(conn, row) for row in rows]


def advisories_for(
    conn: sa.Connection,
    party_id: str,
    *,
    after_seq: int = 0,
    status: str | None = None,
    declaration_id: str | None = None,
    limit: int = 100,
) -> list[tuple[int, StoredAdvisory]]:
    a = t.advisories
    r = t.advisory_recipients
    query = (
        sa.select(a)
        .join(r, r.c.advisory_id == a.c.id)
        .where(r.c.party_id == party_id, a.c.raised_seq > after_seq)
        .order_by(a.c.raised_seq)
        .limit(limit)
    )
    if status is not None:
        query = query.where(a.c.status == status)
    if declaration_id is not None:
        query = query.where(
            sa.or_(a.c.declaration_a == declaration_id, a.c.declaration_b == declaration_id)
        )
    return [(row.raised_seq, _stored_advisory(conn, row)) for row in conn.execute(query)]


def events(conn: sa.Connection, after_seq: int = 0, limit: int | None = None) -> Iterator[Event]:
    query = sa.select(t.events).where(t.events.c.seq > after_seq).order_by(t.events.c.seq)
    if limit is not None:
        query = query.limit(limit)
    for row in conn.execute(query):
        yield Event(
            seq=row.seq,
            kind=EventKind(row.kind),
            recorded_at=parse_time(row.recorded_at),
            body=row.body,
            audience=frozenset(row.audience),
            actor_member=row.actor_member,
            salt=bytes(row.salt),
        )
