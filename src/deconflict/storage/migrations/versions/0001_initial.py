"""The schema as ``metadata.create_all`` built it before migrations existed: the baseline.

Every table is created only if absent, so that a database made earlier by ``create_all`` (which
has no ``alembic_version`` table) is adopted by this revision rather than failing on "table
already exists": its tables were built from these same definitions, and any table added to the
code since it was created is filled in here. Later revisions need no such care.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Only the default schema's own tables: on PostgreSQL the unqualified listing includes every
    # table visible on the search_path (PostGIS's, or another deployment's in ``public``).
    inspector = sa.inspect(op.get_bind())
    present = set(inspector.get_table_names(schema=inspector.default_schema_name))
    if "ack_deadline_rules" not in present:
        op.create_table(
            "ack_deadline_rules",
            sa.Column("party_a", sa.String(length=64), nullable=False),
            sa.Column("party_b", sa.String(length=64), nullable=False),
            sa.Column("tactical_s", sa.Integer(), nullable=False),
            sa.Column("operational_s", sa.Integer(), nullable=False),
            sa.Column("leadership_s", sa.Integer(), nullable=False),
            sa.Column("set_at", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("party_a", "party_b"),
        )
    if "ack_deadlines" not in present:
        op.create_table(
            "ack_deadlines",
            sa.Column("item_kind", sa.String(length=16), nullable=False),
            sa.Column("item_id", sa.String(length=64), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.Column("counterpart", sa.String(length=64), nullable=True),
            sa.Column("tier", sa.String(length=16), nullable=False),
            sa.Column("started_at", sa.String(length=40), nullable=False),
            sa.Column("due_at", sa.String(length=40), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("escalations", sa.Integer(), nullable=False),
            sa.Column("acknowledged_at", sa.String(length=40), nullable=True),
            sa.Column("acknowledged_tier", sa.String(length=16), nullable=True),
            sa.PrimaryKeyConstraint("item_kind", "item_id", "party_id"),
        )
        op.create_index("ix_ack_deadlines_due", "ack_deadlines", ["status", "due_at"], unique=False)
        op.create_index(
            "ix_ack_deadlines_party", "ack_deadlines", ["party_id", "status"], unique=False
        )
    if "advisories" not in present:
        op.create_table(
            "advisories",
            sa.Column("id", sa.String(length=64), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("declaration_a", sa.String(length=64), nullable=False),
            sa.Column("version_a", sa.Integer(), nullable=False),
            sa.Column("party_a", sa.String(length=64), nullable=False),
            sa.Column("declaration_b", sa.String(length=64), nullable=False),
            sa.Column("version_b", sa.Integer(), nullable=False),
            sa.Column("party_b", sa.String(length=64), nullable=False),
            sa.Column("encounter", sa.JSON(), nullable=False),
            sa.Column("raised_at", sa.String(length=40), nullable=False),
            sa.Column("raised_seq", sa.BigInteger(), nullable=False),
            sa.Column("resolved_at", sa.String(length=40), nullable=True),
            sa.Column("resolution", sa.String(length=64), nullable=True),
            sa.Column("supersedes", sa.String(length=64), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("raised_seq"),
        )
        op.create_index(
            "ix_advisories_declaration_a", "advisories", ["declaration_a", "status"], unique=False
        )
        op.create_index(
            "ix_advisories_declaration_b", "advisories", ["declaration_b", "status"], unique=False
        )
    if "checkpoints" not in present:
        op.create_table(
            "checkpoints",
            sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
            sa.Column("note", sa.Text(), nullable=False),
            sa.Column("issued_at", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("size"),
        )
    if "escalations" not in present:
        op.create_table(
            "escalations",
            sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("item_kind", sa.String(length=16), nullable=False),
            sa.Column("item_id", sa.String(length=64), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.Column("from_tier", sa.String(length=16), nullable=False),
            sa.Column("to_tier", sa.String(length=16), nullable=True),
            sa.Column("due_at", sa.String(length=40), nullable=False),
            sa.Column("at", sa.String(length=40), nullable=False),
            sa.Column("audience", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("seq"),
        )
    if "events" not in present:
        op.create_table(
            "events",
            sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("kind", sa.String(length=64), nullable=False),
            sa.Column("recorded_at", sa.String(length=40), nullable=False),
            sa.Column("actor_member", sa.String(length=64), nullable=True),
            sa.Column("audience", sa.JSON(), nullable=False),
            sa.Column("salt", sa.LargeBinary(length=16), nullable=False),
            sa.Column("body", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("seq"),
        )
    if "idempotency_keys" not in present:
        op.create_table(
            "idempotency_keys",
            sa.Column("member_id", sa.String(length=64), nullable=False),
            sa.Column("key", sa.String(length=200), nullable=False),
            sa.Column("fingerprint", sa.String(length=64), nullable=False),
            sa.Column("status", sa.SmallInteger(), nullable=False),
            sa.Column("response", sa.Text(), nullable=False),
            sa.Column("created_at", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("member_id", "key"),
        )
    if "incidents" not in present:
        op.create_table(
            "incidents",
            sa.Column("id", sa.String(length=64), nullable=False),
            sa.Column("type", sa.String(length=32), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("occurred_at", sa.String(length=40), nullable=False),
            sa.Column("time_precision_s", sa.Integer(), nullable=False),
            sa.Column("lon", sa.Float(), nullable=False),
            sa.Column("lat", sa.Float(), nullable=False),
            sa.Column("place_precision_m", sa.Float(), nullable=False),
            sa.Column("place_name", sa.String(length=300), nullable=True),
            sa.Column("summary", sa.Text(), nullable=False),
            sa.Column("casualties", sa.JSON(), nullable=False),
            sa.Column("links", sa.JSON(), nullable=False),
            sa.Column("reported_by", sa.String(length=64), nullable=False),
            sa.Column("reported_at", sa.String(length=40), nullable=False),
            sa.Column("reported_seq", sa.BigInteger(), nullable=False),
            sa.Column("updated_at", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("reported_seq"),
        )
    if "meetings" not in present:
        op.create_table(
            "meetings",
            sa.Column("id", sa.String(length=64), nullable=False),
            sa.Column("title", sa.String(length=300), nullable=False),
            sa.Column("first_at", sa.String(length=40), nullable=False),
            sa.Column("every_s", sa.Integer(), nullable=False),
            sa.Column("created_by", sa.String(length=64), nullable=False),
            sa.Column("created_seq", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("created_seq"),
        )
    if "merkle_nodes" not in present:
        op.create_table(
            "merkle_nodes",
            sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
            sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
            sa.PrimaryKeyConstraint("level", "idx"),
        )
    if "minutes_acknowledgements" not in present:
        op.create_table(
            "minutes_acknowledgements",
            sa.Column("meeting_id", sa.String(length=64), nullable=False),
            sa.Column("occurrence", sa.String(length=40), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.Column("at", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("meeting_id", "occurrence", "version", "party_id"),
        )
    if "parties" not in present:
        op.create_table(
            "parties",
            sa.Column("id", sa.String(length=64), nullable=False),
            sa.Column("name", sa.String(length=200), nullable=False),
            sa.Column("aliases", sa.JSON(), nullable=False),
            sa.Column("registered_at", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    if "party_keys" not in present:
        op.create_table(
            "party_keys",
            sa.Column("key_id", sa.String(length=32), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.Column("public_key", sa.String(length=64), nullable=False),
            sa.Column("registered_at", sa.String(length=40), nullable=False),
            sa.Column("registered_seq", sa.BigInteger(), nullable=False),
            sa.Column("revoked_at", sa.String(length=40), nullable=True),
            sa.Column("revoked_seq", sa.BigInteger(), nullable=True),
            sa.PrimaryKeyConstraint("key_id"),
        )
        op.create_index("ix_party_keys_party", "party_keys", ["party_id"], unique=False)
    if "receipts" not in present:
        op.create_table(
            "receipts",
            sa.Column("item_kind", sa.String(length=16), nullable=False),
            sa.Column("item_id", sa.String(length=64), nullable=False),
            sa.Column("recipient", sa.String(length=64), nullable=False),
            sa.Column("receipt", sa.String(length=16), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.Column("via", sa.String(length=16), nullable=False),
            sa.Column("at", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("item_kind", "item_id", "recipient", "receipt"),
        )
    if "separation_rules" not in present:
        op.create_table(
            "separation_rules",
            sa.Column("party_a", sa.String(length=64), nullable=False),
            sa.Column("party_b", sa.String(length=64), nullable=False),
            sa.Column("category", sa.String(length=64), nullable=False),
            sa.Column("distance_m", sa.Float(), nullable=False),
            sa.Column("set_at", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("party_a", "party_b", "category"),
        )
    if "settlement_acceptances" not in present:
        op.create_table(
            "settlement_acceptances",
            sa.Column("incident_id", sa.String(length=64), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.Column("at", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("incident_id", "version", "party_id"),
        )
    if "threads" not in present:
        op.create_table(
            "threads",
            sa.Column("id", sa.String(length=64), nullable=False),
            sa.Column("subject", sa.String(length=300), nullable=False),
            sa.Column("about_kind", sa.String(length=16), nullable=True),
            sa.Column("about_id", sa.String(length=64), nullable=True),
            sa.Column("opened_by", sa.String(length=64), nullable=False),
            sa.Column("opened_at", sa.String(length=40), nullable=False),
            sa.Column("opened_seq", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("opened_seq"),
        )
    if "webhook_deliveries" not in present:
        op.create_table(
            "webhook_deliveries",
            sa.Column("webhook_id", sa.String(length=64), nullable=False),
            sa.Column("event_seq", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("next_attempt_at", sa.String(length=40), nullable=True),
            sa.Column("last_attempt_at", sa.String(length=40), nullable=True),
            sa.Column("last_error", sa.String(length=500), nullable=True),
            sa.PrimaryKeyConstraint("webhook_id", "event_seq"),
        )
    if "webhook_secrets" not in present:
        op.create_table(
            "webhook_secrets",
            sa.Column("webhook_id", sa.String(length=64), nullable=False),
            sa.Column("secret", sa.String(length=128), nullable=False),
            sa.Column("cursor_seq", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("webhook_id"),
        )
    if "webhooks" not in present:
        op.create_table(
            "webhooks",
            sa.Column("id", sa.String(length=64), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.Column("url", sa.String(length=2000), nullable=False),
            sa.Column("secret_sha256", sa.String(length=64), nullable=False),
            sa.Column("registered_at", sa.String(length=40), nullable=False),
            sa.Column("registered_seq", sa.BigInteger(), nullable=False),
            sa.Column("removed_at", sa.String(length=40), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
    if "witnesses" not in present:
        op.create_table(
            "witnesses",
            sa.Column("name", sa.String(length=200), nullable=False),
            sa.Column("vkey", sa.String(length=400), nullable=False),
            sa.Column("registered_at", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("name"),
        )
    if "advisory_acknowledgements" not in present:
        op.create_table(
            "advisory_acknowledgements",
            sa.Column("advisory_id", sa.String(length=64), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.Column("member_id", sa.String(length=64), nullable=False),
            sa.Column("at", sa.String(length=40), nullable=False),
            sa.Column("note", sa.String(length=2000), nullable=True),
            sa.Column("seq", sa.BigInteger(), nullable=False),
            sa.ForeignKeyConstraint(["advisory_id"], ["advisories.id"]),
            sa.PrimaryKeyConstraint("advisory_id", "party_id"),
        )
    if "advisory_recipients" not in present:
        op.create_table(
            "advisory_recipients",
            sa.Column("advisory_id", sa.String(length=64), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.Column("disclosure", sa.String(length=16), nullable=False),
            sa.ForeignKeyConstraint(["advisory_id"], ["advisories.id"]),
            sa.PrimaryKeyConstraint("advisory_id", "party_id"),
        )
        op.create_index(
            "ix_advisory_recipients_party", "advisory_recipients", ["party_id"], unique=False
        )
    if "cosignatures" not in present:
        op.create_table(
            "cosignatures",
            sa.Column("size", sa.BigInteger(), nullable=False),
            sa.Column("witness", sa.String(length=200), nullable=False),
            sa.Column("timestamp", sa.BigInteger(), nullable=False),
            sa.Column("line", sa.Text(), nullable=False),
            sa.ForeignKeyConstraint(["size"], ["checkpoints.size"]),
            sa.PrimaryKeyConstraint("size", "witness"),
        )
    if "declarations" not in present:
        op.create_table(
            "declarations",
            sa.Column("id", sa.String(length=64), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("feature", sa.JSON(), nullable=False),
            sa.Column("reach_start", sa.Float(), nullable=False),
            sa.Column("reach_end", sa.Float(), nullable=True),
            sa.Column("min_lon", sa.Float(), nullable=False),
            sa.Column("min_lat", sa.Float(), nullable=False),
            sa.Column("max_lon", sa.Float(), nullable=False),
            sa.Column("max_lat", sa.Float(), nullable=False),
            sa.Column("expires_at", sa.String(length=40), nullable=True),
            sa.Column("created_at", sa.String(length=40), nullable=False),
            sa.Column("updated_at", sa.String(length=40), nullable=False),
            sa.Column("confirmed_at", sa.String(length=40), nullable=False),
            sa.Column("created_seq", sa.BigInteger(), nullable=False),
            sa.ForeignKeyConstraint(["party_id"], ["parties.id"]),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("created_seq"),
        )
        op.create_index(
            "ix_declarations_party", "declarations", ["party_id", "created_seq"], unique=False
        )
        op.create_index(
            "ix_declarations_status_expiry", "declarations", ["status", "expires_at"], unique=False
        )
    if "incident_accounts" not in present:
        op.create_table(
            "incident_accounts",
            sa.Column("incident_id", sa.String(length=64), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("casualties", sa.JSON(), nullable=True),
            sa.Column("filed_at", sa.String(length=40), nullable=False),
            sa.Column("seq", sa.BigInteger(), nullable=False),
            sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
            sa.PrimaryKeyConstraint("incident_id", "party_id", "version"),
            sa.UniqueConstraint("seq"),
        )
    if "incident_viewers" not in present:
        op.create_table(
            "incident_viewers",
            sa.Column("incident_id", sa.String(length=64), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.Column("role", sa.String(length=16), nullable=False),
            sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
            sa.PrimaryKeyConstraint("incident_id", "party_id"),
        )
        op.create_index("ix_incident_viewers_party", "incident_viewers", ["party_id"], unique=False)
    if "meeting_parties" not in present:
        op.create_table(
            "meeting_parties",
            sa.Column("meeting_id", sa.String(length=64), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"]),
            sa.PrimaryKeyConstraint("meeting_id", "party_id"),
        )
    if "members" not in present:
        op.create_table(
            "members",
            sa.Column("id", sa.String(length=64), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=True),
            sa.Column("role", sa.String(length=32), nullable=False),
            sa.Column("name", sa.String(length=200), nullable=False),
            sa.Column("token_hash", sa.String(length=64), nullable=False),
            sa.Column("added_at", sa.String(length=40), nullable=False),
            sa.Column("revoked_at", sa.String(length=40), nullable=True),
            sa.ForeignKeyConstraint(["party_id"], ["parties.id"]),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("token_hash"),
        )
    if "messages" not in present:
        op.create_table(
            "messages",
            sa.Column("id", sa.String(length=64), nullable=False),
            sa.Column("thread_id", sa.String(length=64), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.Column("member_id", sa.String(length=64), nullable=False),
            sa.Column("tier", sa.String(length=16), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("refs", sa.JSON(), nullable=False),
            sa.Column("needs_ack", sa.Boolean(), nullable=False),
            sa.Column("posted_at", sa.String(length=40), nullable=False),
            sa.Column("seq", sa.BigInteger(), nullable=False),
            sa.ForeignKeyConstraint(["thread_id"], ["threads.id"]),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("seq"),
        )
        op.create_index("ix_messages_thread", "messages", ["thread_id", "seq"], unique=False)
    if "minutes" not in present:
        op.create_table(
            "minutes",
            sa.Column("meeting_id", sa.String(length=64), nullable=False),
            sa.Column("occurrence", sa.String(length=40), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.Column("recorded_at", sa.String(length=40), nullable=False),
            sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"]),
            sa.PrimaryKeyConstraint("meeting_id", "occurrence", "version"),
        )
    if "settlements" not in present:
        op.create_table(
            "settlements",
            sa.Column("incident_id", sa.String(length=64), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("proposed_by", sa.String(length=64), nullable=False),
            sa.Column("proposed_at", sa.String(length=40), nullable=False),
            sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
            sa.PrimaryKeyConstraint("incident_id", "version"),
        )
    if "thread_parties" not in present:
        op.create_table(
            "thread_parties",
            sa.Column("thread_id", sa.String(length=64), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.ForeignKeyConstraint(["thread_id"], ["threads.id"]),
            sa.PrimaryKeyConstraint("thread_id", "party_id"),
        )
        op.create_index("ix_thread_parties_party", "thread_parties", ["party_id"], unique=False)
    if "declaration_shares" not in present:
        op.create_table(
            "declaration_shares",
            sa.Column("declaration_id", sa.String(length=64), nullable=False),
            sa.Column("party_id", sa.String(length=64), nullable=False),
            sa.ForeignKeyConstraint(["declaration_id"], ["declarations.id"]),
            sa.PrimaryKeyConstraint("declaration_id", "party_id"),
        )
        op.create_index(
            "ix_declaration_shares_party", "declaration_shares", ["party_id"], unique=False
        )
    if "declaration_versions" not in present:
        op.create_table(
            "declaration_versions",
            sa.Column("declaration_id", sa.String(length=64), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("feature", sa.JSON(), nullable=False),
            sa.Column("recorded_seq", sa.BigInteger(), nullable=False),
            sa.ForeignKeyConstraint(["declaration_id"], ["declarations.id"]),
            sa.PrimaryKeyConstraint("declaration_id", "version"),
        )


def downgrade() -> None:
    op.drop_table("declaration_versions")
    op.drop_index("ix_declaration_shares_party", table_name="declaration_shares")
    op.drop_table("declaration_shares")
    op.drop_index("ix_thread_parties_party", table_name="thread_parties")
    op.drop_table("thread_parties")
    op.drop_table("settlements")
    op.drop_table("minutes")
    op.drop_index("ix_messages_thread", table_name="messages")
    op.drop_table("messages")
    op.drop_table("members")
    op.drop_table("meeting_parties")
    op.drop_index("ix_incident_viewers_party", table_name="incident_viewers")
    op.drop_table("incident_viewers")
    op.drop_table("incident_accounts")
    op.drop_index("ix_declarations_status_expiry", table_name="declarations")
    op.drop_index("ix_declarations_party", table_name="declarations")
    op.drop_table("declarations")
    op.drop_table("cosignatures")
    op.drop_index("ix_advisory_recipients_party", table_name="advisory_recipients")
    op.drop_table("advisory_recipients")
    op.drop_table("advisory_acknowledgements")
    op.drop_table("witnesses")
    op.drop_table("webhooks")
    op.drop_table("webhook_secrets")
    op.drop_table("webhook_deliveries")
    op.drop_table("threads")
    op.drop_table("settlement_acceptances")
    op.drop_table("separation_rules")
    op.drop_table("receipts")
    op.drop_index("ix_party_keys_party", table_name="party_keys")
    op.drop_table("party_keys")
    op.drop_table("parties")
    op.drop_table("minutes_acknowledgements")
    op.drop_table("merkle_nodes")
    op.drop_table("meetings")
    op.drop_table("incidents")
    op.drop_table("idempotency_keys")
    op.drop_table("events")
    op.drop_table("escalations")
    op.drop_table("checkpoints")
    op.drop_index("ix_advisories_declaration_b", table_name="advisories")
    op.drop_index("ix_advisories_declaration_a", table_name="advisories")
    op.drop_table("advisories")
    op.drop_index("ix_ack_deadlines_party", table_name="ack_deadlines")
    op.drop_index("ix_ack_deadlines_due", table_name="ack_deadlines")
    op.drop_table("ack_deadlines")
    op.drop_table("ack_deadline_rules")
