"""The databases the suite runs on: SQLite always, PostgreSQL with PostGIS when reachable.

``.ci/run`` sets ``DECONFLICT_TEST_POSTGRES_URL``; without it the PostgreSQL cases are
skipped with that reason. In CI (``CI=true``) an unreachable PostgreSQL fails the run
instead, so that SQLite alone is never reported as a pass there. Each PostgreSQL case
gets a schema of its own, dropped afterwards, so cases never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
import sqlalchemy as sa

from deconflict.settings import sqlite_url

POSTGRES_URL_VARIABLE = "DECONFLICT_TEST_POSTGRES_URL"


@cache
def postgres_unavailable() -> str | None:
    """Why PostgreSQL cases cannot run here, or None when they can."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        return f"PostgreSQL tests need {POSTGRES_URL_VARIABLE} (set by .ci/run) naming a server with PostGIS"
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT postgis_version()"))
        engine.dispose()
    except Exception as error:  # any failure to reach it is a reason to skip, stated
        reason = f"PostgreSQL at {url} is not usable: {str(error).splitlines()[0]}"
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"{reason} (CI must run the PostgreSQL tests)") from error
        return reason
    return None


def backend_params() -> list[object]:
    reason = postgres_unavailable()
    postgres_marks = [pytest.mark.postgres] + ([pytest.mark.skip(reason=reason)] if reason else [])
    return ["sqlite", pytest.param("postgres", marks=postgres_marks)]


@contextmanager
def database(backend: str, directory: Path) -> Iterator[str]:
    """A fresh, empty database URL on ``backend``, removed afterwards."""
    if backend == "sqlite":
        yield sqlite_url(directory / "test.sqlite")
        return
    base = os.environ[POSTGRES_URL_VARIABLE]
    schema = f"test_{secrets.token_hex(6)}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema},public"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
