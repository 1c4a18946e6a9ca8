"""Declarations get a footprint, indexed for map, bounding-box and time-window queries.

The footprint is where every party's view of a declaration lies (``view_footprint``): the
true geometry, grown to cover every coarsened view. On PostgreSQL it is a PostGIS geometry
with a GiST index, and the time window gets a GiST index over ``tables.reach_range`` (the
planner does not use btree indexes on ``reach_start``/``reach_end`` for a window: it cannot
estimate an overlap from two columns, and scans by ``created_seq``). SQLite has no PostGIS:
there the column is plain nullable text left empty, and the prefilter reads ``min_lon`` to
``max_lat``, which until now held the true geometry's bounds and now hold the footprint's.

Existing rows are backfilled from their stored feature with the projector's own function, so
they end up as ``deconflict rebuild`` would write them. A database adopted by 0001 from
``create_all`` can already have the column and indexes, so each is added only if absent.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

from deconflict.core.declarations import DeclarationFeature
from deconflict.storage.projector import footprint_columns
from deconflict.storage.tables import Footprint, reach_range

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

BATCH = 500

declarations = sa.table(
    "declarations",
    sa.column("id", sa.String),
    sa.column("feature", sa.JSON),
    sa.column("footprint", Footprint()),
    sa.column("min_lon", sa.Float),
    sa.column("min_lat", sa.Float),
    sa.column("max_lon", sa.Float),
    sa.column("max_lat", sa.Float),
)

# PostgreSQL only: GiST over the footprint, and over the window in whole seconds.
INDEXES: dict[str, sa.ColumnElement[Any] | str] = {
    "ix_declarations_footprint": "footprint",
    "ix_declarations_reach": reach_range(sa.column("reach_start"), sa.column("reach_end")),
}


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    schema = inspector.default_schema_name
    columns = {c["name"] for c in inspector.get_columns("declarations", schema=schema)}
    if "footprint" not in columns:
        op.add_column("declarations", sa.Column("footprint", Footprint(), nullable=True))
    _rewrite(bind, footprint_columns)
    if bind.dialect.name != "postgresql":
        return
    present = {i["name"] for i in inspector.get_indexes("declarations", schema=schema)}
    for name, expression in INDEXES.items():
        if name not in present:
            op.create_index(name, "declarations", [expression], postgresql_using="gist")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name in INDEXES:
            op.drop_index(name, table_name="declarations")
    op.drop_column("declarations", "footprint")
    bounds = ("min_lon", "min_lat", "max_lon", "max_lat")
    _rewrite(bind, lambda feature: dict(zip(bounds, feature.shape().bounds, strict=True)))


def _rewrite(
    bind: sa.Connection, columns_of: Callable[[DeclarationFeature], dict[str, Any]]
) -> None:
    """Set ``columns_of(feature)`` on every declaration, a batch at a time, in id order."""
    last = ""
    while True:
        rows = bind.execute(
            sa.select(declarations.c.id, declarations.c.feature)
            .where(declarations.c.id > last)
            .order_by(declarations.c.id)
            .limit(BATCH)
        ).all()
        for row in rows:
            feature = DeclarationFeature.model_validate(row.feature, strict=False)
            bind.execute(
                declarations.update()
                .where(declarations.c.id == row.id)
                .values(**columns_of(feature))
            )
        if len(rows) < BATCH:
            return
        last = rows[-1].id
