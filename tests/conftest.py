from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deconflict.api.app import create_app
from tests.backends import backend_params, database
from tests.world import World, build_world


@pytest.fixture(params=backend_params())
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The standard world, once on SQLite and once on PostgreSQL (see tests/backends.py)."""
    with database(request.param, tmp_path) as url:
        built = build_world(tmp_path / "test.sqlite", database_url=url)
        yield built
        built.service.close()


@pytest.fixture
def api(world: World) -> Iterator[TestClient]:
    app = create_app(world.service.settings, service=world.service)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
