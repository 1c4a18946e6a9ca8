"""Alembic's entry point for Deconflict's migrations.

:func:`deconflict.storage.database.create_schema` runs this with its own connection in
``config.attributes["connection"]``, already inside a transaction that holds the migration lock,
so alembic must neither open another connection nor commit: it runs in the caller's
transaction. A ``sqlalchemy.url`` option is honoured too, for drafting a new revision by hand.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from deconflict.storage.database import include_name, include_object_on, open_engine
from deconflict.storage.tables import metadata


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode (copy and move) is how later revisions
        # change a table there, and autogenerate drafts them that way when this is set.
        render_as_batch=True,
        compare_type=True,
        include_name=include_name,
        include_object=include_object_on(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("migrations run from create_schema, or with sqlalchemy.url set")
    engine = open_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


run()
