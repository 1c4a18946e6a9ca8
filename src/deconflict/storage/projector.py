"""Applies events to the projection tables; the only code that writes them.

Live writes and ``deconflict rebuild`` both come through :func:`apply`, which is why a
rebuild reproduces the live state exactly: there is no second path to drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from deconflict.core.clock import utc_text
from deconflict.core.declarations import DeclarationFeature, Status, expires_at
from deconflict.core.events import EVERY_PARTY, Event, EventKind
from deconflict.core.visibility import view_footprint
from deconflict.storage import channel_projection
from deconflict.storage import tables as t

Apply = Callable[[sa.Connection, Event], None]


def iso(event: Event) -> str:
    return utc_text(event.recorded_at)


def _party_registered(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.parties.insert().values(
            id=b["party_id"], name=b["name"], aliases=b["aliases"], registered_at=iso(event)
        )
    )


def _member_added(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.members.insert().values(
            id=b["member_id"],
            party_id=b["party_id"],
            role=b["role"],
            name=b["name"],
            token_hash=b["token_hash"],
            added_at=iso(event),
        )
    )


def _member_revoked(conn: sa.Connection, event: Event) -> None:
    conn.execute(
        t.members.update()
        .where(t.members.c.id == event.body["member_id"])
        .values(revoked_at=iso(event))
    )


def _rule_set(conn: sa.Connection, event: Event) -> None:
    b = event.body
    key = {"party_a": b["party_a"], "party_b": b["party_b"], "category": b["category"] or ""}
    conn.execute(
        t.separation_rules.delete().where(
            *(getattr(t.separation_rules.c, column) == value for column, value in key.items())
        )
    )
    conn.execute(
        t.separation_rules.insert().values(**key, distance_m=b["distance_m"], set_at=iso(event))
    )


def footprint_columns(feature: DeclarationFeature) -> dict[str, Any]:
    """The footprint and its bounds (see ``tables.declarations``); revision 0002 backfills with it."""
    footprint = view_footprint(feature)
    min_lon, min_lat, max_lon, max_lat = footprint.bounds
    return {
        "footprint": footprint,
        "min_lon": min_lon,
        "min_lat": min_lat,
        "max_lon": max_lon,
        "max_lat": max_lat,
    }


def _declaration_columns(feature_json: dict[str, Any]) -> dict[str, Any]:
    feature = DeclarationFeature.model_validate(feature_json, strict=False)
    props = feature.properties
    if props.times is not None:
        reach_start = props.times[0].timestamp() - props.schedule_tolerance_s
        reach_end: float | None = props.times[-1].timestamp() + props.schedule_tolerance_s
    else:
        assert props.start is not None
        reach_start = props.start.timestamp()
        reach_end = None if props.end is None else props.end.timestamp()
    expiry = expires_at(feature)
    return {
        "kind": props.kind.value,
        "feature": feature_json,
        "reach_start": reach_start,
        "reach_end": reach_end,
        "expires_at": None if expiry is None else utc_text(expiry),
        **footprint_columns(feature),
    }


_SHARES_DELETE = t.declaration_shares.delete().where(
    t.declaration_shares.c.declaration_id == sa.bindparam("declaration_id")
)


def _write_shares(conn: sa.Connection, declaration_id: str, feature_json: dict[str, Any]) -> None:
    conn.execute(_SHARES_DELETE, {"declaration_id": declaration_id})
    share = feature_json["properties"].get("share_with", [])
    parties = [EVERY_PARTY] if share == "all" else list(share)
    if parties:
        conn.execute(
            t.declaration_shares.insert(),
            [{"declaration_id": declaration_id, "party_id": p} for p in parties],
        )


def _declared(conn: sa.Connection, event: Event) -> None:
    b = event.body
    at = iso(event)
    conn.execute(  # parameters, not .values(): the compiled insert is then reused
        t.declarations.insert(),
        dict(
            id=b["declaration_id"],
            party_id=b["party_id"],
            version=b["version"],
            status=Status.active.value,
            created_at=at,
            updated_at=at,
            confirmed_at=at,
            created_seq=event.seq,
            **_declaration_columns(b["feature"]),
        ),
    )
    _write_version(conn, event)


def _write_version(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.declaration_versions.insert(),
        {
            "declaration_id": b["declaration_id"],
            "version": b["version"],
            "feature": b["feature"],
            "recorded_seq": event.seq,
        },
    )
    _write_shares(conn, b["declaration_id"], b["feature"])


def _amended(conn: sa.Connection, event: Event) -> None:
    b = event.body
    at = iso(event)
    conn.execute(
        t.declarations.update()
        .where(t.declarations.c.id == b["declaration_id"])
        .values(
            version=b["version"],
            updated_at=at,
            confirmed_at=at,
            **_declaration_columns(b["feature"]),
        )
    )
    _write_version(conn, event)


def _status(status: Status) -> Apply:
    def apply_status(conn: sa.Connection, event: Event) -> None:
        conn.execute(
            t.declarations.update()
            .where(t.declarations.c.id == event.body["declaration_id"])
            .values(status=status.value, updated_at=iso(event))
        )

    return apply_status


def _reconfirmed(conn: sa.Connection, event: Event) -> None:
    conn.execute(
        t.declarations.update()
        .where(t.declarations.c.id == event.body["declaration_id"])
        .values(confirmed_at=iso(event))
    )


def _advisory_raised(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.advisories.insert(),
        {
            "id": b["advisory_id"],
            "status": "open",
            "declaration_a": b["a"]["declaration_id"],
            "version_a": b["a"]["version"],
            "party_a": b["a"]["party_id"],
            "declaration_b": b["b"]["declaration_id"],
            "version_b": b["b"]["version"],
            "party_b": b["b"]["party_id"],
            "encounter": b["encounter"],
            "raised_at": iso(event),
            "raised_seq": event.seq,
            "supersedes": b.get("supersedes"),
        },
    )
    recipients = [
        {"advisory_id": b["advisory_id"], "party_id": p, "disclosure": d}
        for p, d in b["recipients"].items()
    ]
    if (
        recipients
    ):  # a conflict neither side may be told of is still recorded, for the host's record
        conn.execute(t.advisory_recipients.insert(), recipients)


def _advisory_resolved(conn: sa.Connection, event: Event) -> None:
    conn.execute(
        t.advisories.update()
        .where(t.advisories.c.id == event.body["advisory_id"])
        .values(status="resolved", resolved_at=iso(event), resolution=event.body["reason"])
    )


def _advisory_acknowledged(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.advisory_acknowledgements.insert().values(
            advisory_id=b["advisory_id"],
            party_id=b["party_id"],
            member_id=b["member_id"],
            at=iso(event),
            note=b.get("note"),
            seq=event.seq,
        )
    )


def _party_key_registered(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        t.party_keys.insert().values(
            key_id=b["key_id"],
            party_id=b["party_id"],
            public_key=b["public_key"],
            registered_at=iso(event),
            registered_seq=event.seq,
        )
    )


def _party_key_revoked(conn: sa.Connection, event: Event) -> None:
    conn.execute(
        t.party_keys.update()
        .where(t.party_keys.c.key_id == event.body["key_id"])
        .values(revoked_at=iso(event), revoked_seq=event.seq)
    )


def _witness_registered(conn: sa.Connection, event: Event) -> None:
    b = event.body
    conn.execute(t.witnesses.delete().where(t.witnesses.c.name == b["name"]))
    conn.execute(
        t.witnesses.insert().values(name=b["name"], vkey=b["vkey"], registered_at=iso(event))
    )


APPLIERS: dict[EventKind, Apply] = {
    EventKind.party_registered: _party_registered,
    EventKind.member_added: _member_added,
    EventKind.member_revoked: _member_revoked,
    EventKind.separation_rule_set: _rule_set,
    EventKind.declaration_declared: _declared,
    EventKind.declaration_amended: _amended,
    EventKind.declaration_cancelled: _status(Status.cancelled),
    EventKind.declaration_expired: _status(Status.expired),
    EventKind.declaration_reconfirmed: _reconfirmed,
    EventKind.advisory_raised: _advisory_raised,
    EventKind.advisory_resolved: _advisory_resolved,
    EventKind.advisory_acknowledged: _advisory_acknowledged,
    EventKind.party_key_registered: _party_key_registered,
    EventKind.party_key_revoked: _party_key_revoked,
    EventKind.witness_registered: _witness_registered,
}


# The channel and incidents keep their appliers in their own module; ALSO lists the appliers
# that follow other desks' events too (an advisory is a channel item with a deadline).
APPLIERS.update(channel_projection.APPLIERS)
ALSO: dict[EventKind, list[Apply]] = channel_projection.ALSO


def apply(conn: sa.Connection, event: Event) -> None:
    APPLIERS[event.kind](conn, event)
    for also in ALSO.get(event.kind, ()):
        also(conn, event)


def replay(conn: sa.Connection) -> int:
    """Empty every projection and apply the whole log to it again; returns the events applied.

    The one definition of "projections from the log": ``deconflict rebuild`` commits it, and
    the replay check (``deconflict rebuild --check``, restore) runs it and rolls back.
    """
    from deconflict.storage import queries

    for table in t.PROJECTIONS:
        conn.execute(table.delete())
    count = 0
    for event in queries.events(conn):
        apply(conn, event)
        count += 1
    return count
