from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deconflict.api.app import create_app
from tests.world import World, build_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path / "test.sqlite")
    yield built
    built.service.close()


@pytest.fixture
def api(world: World) -> Iterator[TestClient]:
    app = create_app(world.service.settings, service=world.service)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
