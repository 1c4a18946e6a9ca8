"""The schema: the event log, and the projections derived from it.

Only ``events`` is authoritative. Every other table is written exclusively by
:mod:`deconflict.storage.projector` from events, so it can be dropped and rebuilt.
Timestamps are ISO 8601 UTC strings (``...Z``), which sort correctly as text on every
backend; epoch-second columns exist where the service filters by time.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from geoalchemy2 import Geometry
from geoalchemy2.shape import from_shape
from shapely.geometry.base import BaseGeometry

metadata = sa.MetaData()

SRID = 4326
"""WGS 84 longitude/latitude, the coordinates of every GeoJSON geometry the service stores."""


class Footprint(sa.types.TypeDecorator[Any]):
    """A PostGIS ``geometry(Geometry, 4326)`` on PostgreSQL; on SQLite a text column left NULL.

    One table definition serves both backends: SQLite has no PostGIS, so there the column
    exists (and migrations and ``metadata`` agree) but stays empty, and queries use the
    ``min_lon``..``max_lat`` columns instead. Written from a shapely geometry; never read back.
    """

    impl = Geometry  # geoalchemy2's DDL hooks read attributes such as spatial_index from it
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(geometry_type="GEOMETRY", srid=SRID, spatial_index=False)

    def load_dialect_impl(self, dialect: sa.Dialect | None) -> sa.types.TypeEngine[Any]:
        # geoalchemy2 calls this without a dialect while deciding which columns it manages.
        if dialect is not None and dialect.name == "postgresql":
            return Geometry(geometry_type="GEOMETRY", srid=SRID, spatial_index=False)
        return sa.Text()

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None or dialect.name != "postgresql":
            return None
        assert isinstance(value, BaseGeometry)
        return from_shape(value, srid=SRID, extended=True)


POSTGRESQL_ONLY: set[str] = set()
"""Names of the indexes built on PostgreSQL alone (see :func:`postgresql_only`)."""


def postgresql_only(index: sa.Index) -> sa.Index:
    """Build ``index`` on PostgreSQL only: GiST over PostGIS columns means nothing to SQLite.

    ``create_all`` honours ``ddl_if``; alembic's comparison does not, so the name is also
    listed for ``database.include_object_on`` to leave out on other backends.
    """
    index.ddl_if(dialect="postgresql")
    assert index.name is not None
    POSTGRESQL_ONLY.add(index.name)
    return index


events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.Column("actor_member", sa.String(64)),
    sa.Column("audience", sa.JSON, nullable=False),
    sa.Column("salt", sa.LargeBinary(16), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
)

parties = sa.Table(
    "parties",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("aliases", sa.JSON, nullable=False),
    sa.Column("registered_at", sa.String(40), nullable=False),
)

members = sa.Table(
    "members",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("party_id", sa.String(64), sa.ForeignKey("parties.id")),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("added_at", sa.String(40), nullable=False),
    sa.Column("revoked_at", sa.String(40)),
)

separation_rules = sa.Table(
    "separation_rules",
    metadata,
    sa.Column("party_a", sa.String(64), primary_key=True),
    sa.Column("party_b", sa.String(64), primary_key=True),
    sa.Column("category", sa.String(64), primary_key=True),
    sa.Column("distance_m", sa.Float, nullable=False),
    sa.Column("set_at", sa.String(40), nullable=False),
)

declarations = sa.Table(
    "declarations",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("party_id", sa.String(64), sa.ForeignKey("parties.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("feature", sa.JSON, nullable=False),
    # The window in which the activity can be anywhere: bounds of the time-window filter.
    sa.Column("reach_start", sa.Float, nullable=False),
    sa.Column("reach_end", sa.Float),
    # Where every party's view of it lies (core.visibility.view_footprint) and, so that SQLite
    # can prefilter too, that footprint's bounds: never narrower than any view (revision 0002).
    sa.Column("min_lon", sa.Float, nullable=False),
    sa.Column("min_lat", sa.Float, nullable=False),
    sa.Column("max_lon", sa.Float, nullable=False),
    sa.Column("max_lat", sa.Float, nullable=False),
    sa.Column("footprint", Footprint()),
    sa.Column("expires_at", sa.String(40)),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("confirmed_at", sa.String(40), nullable=False),
    sa.Column("created_seq", sa.BigInteger, nullable=False, unique=True),
)
sa.Index("ix_declarations_party", declarations.c.party_id, declarations.c.created_seq)
sa.Index("ix_declarations_status_expiry", declarations.c.status, declarations.c.expires_at)
postgresql_only(
    sa.Index("ix_declarations_footprint", declarations.c.footprint, postgresql_using="gist")
)


def reach_range(start: sa.ColumnElement[Any], end: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """PostgreSQL's ``int8range`` from ``floor(start)`` to ``ceil(end)`` inclusive (NULL: open).

    Whole seconds, widened outwards, so that it contains the exact window: overlapping such
    ranges is a superset test that a GiST index answers, and the planner estimates well (it
    cannot for ``reach_start <= to AND reach_end >= from`` on two columns).
    """
    return sa.func.int8range(
        sa.cast(sa.func.floor(start), sa.BigInteger),
        sa.cast(sa.func.ceil(end), sa.BigInteger),
        sa.text("'[]'"),
    )


postgresql_only(
    sa.Index(
        "ix_declarations_reach",
        reach_range(declarations.c.reach_start, declarations.c.reach_end),
        postgresql_using="gist",
    )
)

declaration_versions = sa.Table(
    "declaration_versions",
    metadata,
    sa.Column("declaration_id", sa.String(64), sa.ForeignKey("declarations.id"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("feature", sa.JSON, nullable=False),
    sa.Column("recorded_seq", sa.BigInteger, nullable=False),
)

declaration_shares = sa.Table(
    "declaration_shares",
    metadata,
    sa.Column("declaration_id", sa.String(64), sa.ForeignKey("declarations.id"), primary_key=True),
    sa.Column("party_id", sa.String(64), primary_key=True),
)
sa.Index("ix_declaration_shares_party", declaration_shares.c.party_id)

advisories = sa.Table(
    "advisories",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("declaration_a", sa.String(64), nullable=False),
    sa.Column("version_a", sa.Integer, nullable=False),
    sa.Column("party_a", sa.String(64), nullable=False),
    sa.Column("declaration_b", sa.String(64), nullable=False),
    sa.Column("version_b", sa.Integer, nullable=False),
    sa.Column("party_b", sa.String(64), nullable=False),
    sa.Column("encounter", sa.JSON, nullable=False),
    sa.Column("raised_at", sa.String(40), nullable=False),
    sa.Column("raised_seq", sa.BigInteger, nullable=False, unique=True),
    sa.Column("resolved_at", sa.String(40)),
    sa.Column("resolution", sa.String(64)),
    sa.Column("supersedes", sa.String(64)),
)
sa.Index("ix_advisories_declaration_a", advisories.c.declaration_a, advisories.c.status)
sa.Index("ix_advisories_declaration_b", advisories.c.declaration_b, advisories.c.status)

advisory_recipients = sa.Table(
    "advisory_recipients",
    metadata,
    sa.Column("advisory_id", sa.String(64), sa.ForeignKey("advisories.id"), primary_key=True),
    sa.Column("party_id", sa.String(64), primary_key=True),
    sa.Column("disclosure", sa.String(16), nullable=False),
)
sa.Index("ix_advisory_recipients_party", advisory_recipients.c.party_id)

advisory_acknowledgements = sa.Table(
    "advisory_acknowledgements",
    metadata,
    sa.Column("advisory_id", sa.String(64), sa.ForeignKey("advisories.id"), primary_key=True),
    sa.Column("party_id", sa.String(64), primary_key=True),
    sa.Column("member_id", sa.String(64), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("note", sa.String(2000)),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

# --- the record (docs/record.md) ----------------------------------------------------------------
# Projections of the key and witness events:

party_keys = sa.Table(
    "party_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("party_id", sa.String(64), nullable=False),
    sa.Column("public_key", sa.String(64), nullable=False),
    sa.Column("registered_at", sa.String(40), nullable=False),
    sa.Column("registered_seq", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.String(40)),
    sa.Column("revoked_seq", sa.BigInteger),
)
sa.Index("ix_party_keys_party", party_keys.c.party_id)

witnesses = sa.Table(
    "witnesses",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("vkey", sa.String(400), nullable=False),
    sa.Column("registered_at", sa.String(40), nullable=False),
)

# Not projections: the tree and its signed heads are part of the record itself, written by
# deconflict.service.record in the same transaction as the events, and never rebuilt.

merkle_nodes = sa.Table(
    "merkle_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("issued_at", sa.String(40), nullable=False),
)

cosignatures = sa.Table(
    "cosignatures",
    metadata,
    sa.Column("size", sa.BigInteger, sa.ForeignKey("checkpoints.size"), primary_key=True),
    sa.Column("witness", sa.String(200), primary_key=True),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("line", sa.Text, nullable=False),
)

RECORD_TABLES = [cosignatures, checkpoints, merkle_nodes]
"""The tree and its signed heads: part of the record, so a rebuild leaves them alone."""

PROJECTIONS = [
    party_keys,
    witnesses,
    advisory_acknowledgements,
    advisory_recipients,
    advisories,
    declaration_shares,
    declaration_versions,
    declarations,
    separation_rules,
    members,
    parties,
]
"""Every derived table, children first, in the order a rebuild empties them."""

# --- the channel and incidents (docs/channel.md, docs/incidents.md) ------------------------------
# Projections, written only by the projector (deconflict.storage.channel_projection).

ack_deadline_rules = sa.Table(
    "ack_deadline_rules",
    metadata,
    sa.Column("party_a", sa.String(64), primary_key=True),
    sa.Column("party_b", sa.String(64), primary_key=True),
    sa.Column("tactical_s", sa.Integer, nullable=False),
    sa.Column("operational_s", sa.Integer, nullable=False),
    sa.Column("leadership_s", sa.Integer, nullable=False),
    sa.Column("set_at", sa.String(40), nullable=False),
)

threads = sa.Table(
    "threads",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("about_kind", sa.String(16)),
    sa.Column("about_id", sa.String(64)),
    sa.Column("opened_by", sa.String(64), nullable=False),
    sa.Column("opened_at", sa.String(40), nullable=False),
    sa.Column("opened_seq", sa.BigInteger, nullable=False, unique=True),
)

thread_parties = sa.Table(
    "thread_parties",
    metadata,
    sa.Column("thread_id", sa.String(64), sa.ForeignKey("threads.id"), primary_key=True),
    sa.Column("party_id", sa.String(64), primary_key=True),
)
sa.Index("ix_thread_parties_party", thread_parties.c.party_id)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("thread_id", sa.String(64), sa.ForeignKey("threads.id"), nullable=False),
    sa.Column("party_id", sa.String(64), nullable=False),
    sa.Column("member_id", sa.String(64), nullable=False),
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("refs", sa.JSON, nullable=False),
    sa.Column("needs_ack", sa.Boolean, nullable=False),
    sa.Column("posted_at", sa.String(40), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False, unique=True),
)
sa.Index("ix_messages_thread", messages.c.thread_id, messages.c.seq)

ack_deadlines = sa.Table(
    "ack_deadlines",
    metadata,
    sa.Column("item_kind", sa.String(16), primary_key=True),
    sa.Column("item_id", sa.String(64), primary_key=True),
    sa.Column("party_id", sa.String(64), primary_key=True),
    sa.Column("counterpart", sa.String(64)),
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("due_at", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("escalations", sa.Integer, nullable=False),
    sa.Column("acknowledged_at", sa.String(40)),
    sa.Column("acknowledged_tier", sa.String(16)),
)
sa.Index("ix_ack_deadlines_due", ack_deadlines.c.status, ack_deadlines.c.due_at)
sa.Index("ix_ack_deadlines_party", ack_deadlines.c.party_id, ack_deadlines.c.status)

escalations = sa.Table(
    "escalations",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("item_kind", sa.String(16), nullable=False),
    sa.Column("item_id", sa.String(64), nullable=False),
    sa.Column("party_id", sa.String(64), nullable=False),
    sa.Column("from_tier", sa.String(16), nullable=False),
    sa.Column("to_tier", sa.String(16)),  # None: put on the leadership agenda
    sa.Column("due_at", sa.String(40), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("audience", sa.JSON, nullable=False),
)

receipts = sa.Table(
    "receipts",
    metadata,
    sa.Column("item_kind", sa.String(16), primary_key=True),
    sa.Column("item_id", sa.String(64), primary_key=True),
    sa.Column("recipient", sa.String(64), primary_key=True),  # a member id, or webhook id
    sa.Column("receipt", sa.String(16), primary_key=True),  # delivered | read
    sa.Column("party_id", sa.String(64), nullable=False),
    sa.Column("via", sa.String(16), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("party_id", sa.String(64), nullable=False),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("registered_at", sa.String(40), nullable=False),
    sa.Column("registered_seq", sa.BigInteger, nullable=False),
    sa.Column("removed_at", sa.String(40)),
)

meetings = sa.Table(
    "meetings",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("first_at", sa.String(40), nullable=False),
    sa.Column("every_s", sa.Integer, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_seq", sa.BigInteger, nullable=False, unique=True),
)

meeting_parties = sa.Table(
    "meeting_parties",
    metadata,
    sa.Column("meeting_id", sa.String(64), sa.ForeignKey("meetings.id"), primary_key=True),
    sa.Column("party_id", sa.String(64), primary_key=True),
)

minutes = sa.Table(
    "minutes",
    metadata,
    sa.Column("meeting_id", sa.String(64), sa.ForeignKey("meetings.id"), primary_key=True),
    sa.Column("occurrence", sa.String(40), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("party_id", sa.String(64), nullable=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
)

minutes_acknowledgements = sa.Table(
    "minutes_acknowledgements",
    metadata,
    sa.Column("meeting_id", sa.String(64), primary_key=True),
    sa.Column("occurrence", sa.String(40), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("party_id", sa.String(64), primary_key=True),
    sa.Column("at", sa.String(40), nullable=False),
)

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("occurred_at", sa.String(40), nullable=False),
    sa.Column("time_precision_s", sa.Integer, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("place_precision_m", sa.Float, nullable=False),
    sa.Column("place_name", sa.String(300)),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("casualties", sa.JSON, nullable=False),
    sa.Column("links", sa.JSON, nullable=False),
    sa.Column("reported_by", sa.String(64), nullable=False),
    sa.Column("reported_at", sa.String(40), nullable=False),
    sa.Column("reported_seq", sa.BigInteger, nullable=False, unique=True),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

incident_viewers = sa.Table(
    "incident_viewers",
    metadata,
    sa.Column("incident_id", sa.String(64), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("party_id", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
)
sa.Index("ix_incident_viewers_party", incident_viewers.c.party_id)

incident_accounts = sa.Table(
    "incident_accounts",
    metadata,
    sa.Column("incident_id", sa.String(64), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("party_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("casualties", sa.JSON),
    sa.Column("filed_at", sa.String(40), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False, unique=True),
)

settlements = sa.Table(
    "settlements",
    metadata,
    sa.Column("incident_id", sa.String(64), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("proposed_by", sa.String(64), nullable=False),
    sa.Column("proposed_at", sa.String(40), nullable=False),
)

settlement_acceptances = sa.Table(
    "settlement_acceptances",
    metadata,
    sa.Column("incident_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("party_id", sa.String(64), primary_key=True),
    sa.Column("at", sa.String(40), nullable=False),
)

# Not projections: webhook secrets (kept out of the log, which parties export and show to
# others) and the delivery cursor and attempts, which are the dispatcher's working state.

webhook_secrets = sa.Table(
    "webhook_secrets",
    metadata,
    sa.Column("webhook_id", sa.String(64), primary_key=True),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("cursor_seq", sa.BigInteger, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("webhook_id", sa.String(64), primary_key=True),
    sa.Column("event_seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.String(40)),
    sa.Column("last_attempt_at", sa.String(40)),
    sa.Column("last_error", sa.String(500)),
)

CHANNEL_PROJECTIONS = [
    settlement_acceptances,
    settlements,
    incident_accounts,
    incident_viewers,
    incidents,
    minutes_acknowledgements,
    minutes,
    meeting_parties,
    meetings,
    webhooks,
    receipts,
    escalations,
    ack_deadlines,
    messages,
    thread_parties,
    threads,
    ack_deadline_rules,
]
PROJECTIONS[:0] = CHANNEL_PROJECTIONS  # children of nothing outside themselves: emptied first

# --- operational state outside the record -------------------------------------------------------

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    # Written by the sequencer in the transaction of the write it answers for, so a stored answer
    # exists exactly when the write does; not derived from events, so a rebuild leaves it alone.
    sa.Column("member_id", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)
