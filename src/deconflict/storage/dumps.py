"""Copying a deployment's database to one file and back, while servers keep writing.

Only the mechanics live here: SQLite's online backup API, and ``pg_dump``/``pg_restore``
for PostgreSQL. What a backup must also hold (the signing key, a manifest) and how a
restore is checked are :mod:`deconflict.service.backup`'s business.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import sqlalchemy as sa

from deconflict.storage.database import NOT_OURS


class DumpError(Exception):
    """A copy that cannot be made or loaded; the message says why, for an operator."""


def display(url: str) -> str:
    """The URL as it may be printed: never with its password."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


# --- SQLite ----------------------------------------------------------------------------------


def sqlite_file(url: str) -> Path:
    database = sa.engine.make_url(url).database
    if database in (None, "", ":memory:"):
        raise DumpError(f"{url} is not a SQLite file")
    return Path(str(database))


def sqlite_copy(source: Path, target: Path) -> None:
    """Copy ``source`` into ``target`` with SQLite's backup API, in one step.

    One step means one read transaction on the source: the copy is the database as of one
    commit, however many writers are active (in WAL mode they are not blocked). The copy is
    switched out of WAL mode so that it is one self-contained file.
    """
    if not source.is_file():
        raise DumpError(f"no database file at {source}")
    reader = sqlite3.connect(source, timeout=30)
    try:
        writer = sqlite3.connect(target)
        try:
            reader.backup(writer)
            writer.execute("PRAGMA journal_mode=DELETE")
        finally:
            writer.close()
    except sqlite3.Error as error:
        raise DumpError(f"cannot copy {source} to {target}: {error}") from error
    finally:
        reader.close()


def sqlite_tables(path: Path) -> list[str]:
    """The tables of a SQLite file; none for a file that does not exist (nothing is created)."""
    if not path.exists():
        return []
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise DumpError(f"{path} is not a readable SQLite database: {error}") from error
    return sorted(str(name) for (name,) in rows)


# --- PostgreSQL ------------------------------------------------------------------------------


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """The SQLAlchemy URL as a libpq connection URI for the command-line tools, and their
    environment: the password goes in ``PGPASSWORD``, not on a command line others can read."""
    parsed = sa.engine.make_url(url)
    environment = dict(os.environ)
    if parsed.password is not None:
        environment["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), environment


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise DumpError(
            f"{name} was not found on PATH: install the PostgreSQL client tools of the server's "
            "major version (Debian: postgresql-client)"
        )
    return found


def _run(command: list[str], environment: dict[str, str], what: str) -> str:
    # No shell, a tool found on PATH, and arguments from the operator's own URL and paths.
    result = subprocess.run(  # noqa: S603
        command, env=environment, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise DumpError(f"{what} failed (exit {result.returncode}):\n{detail}")
    return result.stdout


def _pattern(schema: str) -> str:
    # pg_dump reads -n as a pattern: double quotes keep the name's case and make * and ? literal.
    return '"' + schema.replace('"', '""') + '"'


def deployment_schema(conn: sa.Connection) -> str | None:
    """The schema whose ``events`` table the connection's search_path finds: the deployment."""
    return conn.execute(
        sa.text(
            "SELECT n.nspname FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = to_regclass('events')"
        )
    ).scalar_one_or_none()


def intended_schema(conn: sa.Connection) -> str:
    """The schema a deployment at this URL would create its tables in, existing or not.

    PostgreSQL itself creates in the first *existing* schema of the search_path; a restore
    into a new database must instead honour the first one named (``options=-csearch_path=x``),
    which the restore is about to create. ``"$user"`` counts only if that schema exists.
    """
    path = str(conn.execute(sa.text("SHOW search_path")).scalar_one())
    user = str(conn.execute(sa.text("SELECT current_user")).scalar_one())
    for entry in (part.strip() for part in path.split(",")):
        name = entry[1:-1].replace('""', '"') if entry.startswith('"') else entry.lower()
        if name == "$user":
            if schema_exists(conn, user):
                return user
            continue
        if name:
            return name
    return "public"


def extensions(conn: sa.Connection, names: tuple[str, ...]) -> tuple[str, ...]:
    """Which of ``names`` are installed in the connection's database."""
    query = sa.text("SELECT extname FROM pg_catalog.pg_extension")
    installed = set(conn.execute(query).scalars())
    return tuple(name for name in names if name in installed)


def schema_exists(conn: sa.Connection, schema: str) -> bool:
    query = sa.text("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = :schema")
    return conn.execute(query, {"schema": schema}).first() is not None


def schema_tables(conn: sa.Connection, schema: str) -> list[str]:
    """Tables and views in ``schema``, less those that belong to others (PostGIS's)."""
    query = sa.text(
        "SELECT c.relname FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1"
    )
    names = conn.execute(query, {"schema": schema}).scalars()
    return [str(name) for name in names if name not in NOT_OURS]


def postgres_dump(url: str, schema: str, snapshot: str | None, out: Path) -> None:
    """``pg_dump --format=custom`` of one schema, as of ``snapshot`` (an exported snapshot
    that the caller keeps open, so that what it read and the dump agree to the commit).

    Tables that are not ours are left out: in ``public`` PostGIS's ``spatial_ref_sys`` would
    come along as data, and a restore into a database without PostGIS would then fail on it.
    """
    conninfo, environment = libpq(url)
    command = [
        tool("pg_dump"),
        "--format=custom",
        f"--schema={_pattern(schema)}",
        *(f"--exclude-table={_pattern(schema)}.{_pattern(name)}" for name in sorted(NOT_OURS)),
        "--no-password",
        f"--file={out}",
        f"--dbname={conninfo}",
    ]
    if snapshot is not None:
        command.insert(2, f"--snapshot={snapshot}")
    _run(command, environment, "pg_dump")


def postgres_restore(url: str, dump: Path, schema: str, schema_present: bool) -> None:
    """``pg_restore`` in one transaction: it loads everything or, on the first error, nothing.

    The dump recreates its schema; when that schema already exists (``public`` always does)
    its ``CREATE SCHEMA`` and comment are left out of the list of what to restore. Owners and
    grants are not restored: the restoring role owns what it creates.
    """
    conninfo, environment = libpq(url)
    restore = tool("pg_restore")
    command = [
        restore,
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        "--no-password",
        f"--dbname={conninfo}",
    ]
    with tempfile.TemporaryDirectory(prefix="deconflict-restore-") as scratch:
        if schema_present:
            listing = _run([restore, "--list", str(dump)], environment, "pg_restore --list")
            skip = (f" SCHEMA - {schema} ", f" COMMENT - SCHEMA {schema} ")
            kept = [
                line
                for line in listing.splitlines()
                if not any(line.endswith(s.rstrip()) or s in line for s in skip)
            ]
            use_list = Path(scratch) / "toc.list"
            use_list.write_text("\n".join(kept) + "\n")
            command.append(f"--use-list={use_list}")
        command.append(str(dump))
        _run(command, environment, "pg_restore")
