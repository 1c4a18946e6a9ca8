"""The shipped migrations build exactly the schema the code declares, on both backends.

``create_schema`` runs the migrations at every start, so these also pin down what start-up
must tolerate: a fresh database, an up-to-date one, one made by ``create_all`` before
migrations existed, and two processes starting on the same database at once.
"""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from geoalchemy2.shape import to_shape

from deconflict.core.declarations import DeclarationFeature
from deconflict.core.visibility import view_footprint
from deconflict.storage.database import (
    MIGRATIONS,
    create_schema,
    include_name,
    include_object_on,
    open_engine,
)
from deconflict.storage.tables import declarations, metadata, parties
from tests.backends import backend_params, database
from tests.world import site

HEAD = "0002"


@pytest.fixture(params=backend_params())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    with database(request.param, tmp_path) as url:
        built = open_engine(url)
        yield built
        built.dispose()


def schema_diff(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect expression indexes, so alembic says it skips one; that one is
        # built on PostgreSQL alone, where it is compared.
        warnings.filterwarnings("ignore", "autogenerate skipping .* 'ix_declarations_reach'")
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": include_name,
                "include_object": include_object_on(engine.dialect.name),
            },
        )
        return list(compare_metadata(context, metadata))


def revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def test_upgrading_an_empty_database_builds_exactly_the_declared_schema(engine: sa.Engine) -> None:
    create_schema(engine)
    assert schema_diff(engine) == []
    assert revision(engine) == HEAD


def test_create_schema_on_an_up_to_date_database_changes_nothing(engine: sa.Engine) -> None:
    create_schema(engine)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        create_schema(engine)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert not [
        s
        for s in statements
        if s.lstrip().upper().startswith(("CREATE", "ALTER", "DROP", "INSERT", "UPDATE"))
    ]
    assert schema_diff(engine) == []
    assert revision(engine) == HEAD


def test_a_database_made_by_create_all_is_adopted_with_its_rows(engine: sa.Engine) -> None:
    # As an older build left it: no alembic_version, and missing a table added since.
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE idempotency_keys"))
        conn.execute(
            parties.insert().values(
                id="p", name="P", aliases=[], registered_at="2026-01-01T00:00:00Z"
            )
        )
    create_schema(engine)
    assert schema_diff(engine) == []
    assert revision(engine) == HEAD
    with engine.connect() as conn:
        assert conn.execute(sa.select(parties.c.id)).scalars().all() == ["p"]


def test_two_processes_starting_at_once_both_come_up(engine: sa.Engine) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def boot() -> None:
        # A separate engine each, as separate processes would have.
        own = open_engine(engine.url.render_as_string(hide_password=False))
        try:
            start.wait()
            create_schema(own)
        except BaseException as error:
            errors.append(error)
        finally:
            own.dispose()

    threads = [threading.Thread(target=boot) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert schema_diff(engine) == []
    assert revision(engine) == HEAD


def test_revision_0002_backfills_the_footprint_of_existing_declarations(
    engine: sa.Engine,
) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    value = site(41.0, 36.5, share_with=["bravo"], precision_m={"bravo": 5000})
    feature = DeclarationFeature.model_validate_json(json.dumps(value))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(
            parties.insert().values(
                id="p", name="P", aliases=[], registered_at="2026-01-01T00:00:00Z"
            )
        )
        # As revision 0001's projector wrote it: no footprint, the true geometry's bounds.
        conn.execute(
            sa.text(
                "INSERT INTO declarations (id, party_id, version, kind, status, feature,"
                " reach_start, min_lon, min_lat, max_lon, max_lat, created_at, updated_at,"
                " confirmed_at, created_seq) VALUES ('d', 'p', 1, 'site', 'active', :feature,"
                " 0, 41.0, 36.5, 41.0, 36.5, 'x', 'x', 'x', 1)"
            ),
            {"feature": json.dumps(feature.model_dump(mode="json", exclude_none=True))},
        )
    create_schema(engine)
    assert revision(engine) == HEAD
    expected = view_footprint(feature)
    with engine.connect() as conn:
        row = conn.execute(sa.select(declarations)).one()
    assert (row.min_lon, row.min_lat, row.max_lon, row.max_lat) == expected.bounds
    assert expected.bounds[0] < 41.0 < expected.bounds[2], "grown to cover the coarsened view"
    if engine.dialect.name == "postgresql":
        assert to_shape(row.footprint).equals_exact(expected, 0.0)
