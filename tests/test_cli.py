"""The CLI works on a database file or through a running server, with the same answers."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from deconflict.api.app import create_app
from deconflict.cli.main import app
from deconflict.settings import Settings, sqlite_url
from tests.world import movement, site

runner = CliRunner()
TOKEN = re.compile(r"dcf_[A-Za-z0-9_-]{43}")


def invoke(*args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.output


def token_in(output: str) -> str:
    match = TOKEN.search(output)
    assert match, output
    return match.group(0)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "ops.sqlite"


@pytest.fixture
def server(database: Path) -> Iterator[str]:
    """A real HTTP server on a socket bound before it starts, so no test waits for it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    settings = Settings(database_url=sqlite_url(database), expiry_interval_s=0)
    config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)
    listener.close()


def set_up(database: Path) -> dict[str, str]:
    host = token_in(invoke("init", "--db", str(database)))
    db = ["--db", str(database), "--token", host]
    invoke("party", "add", "alpha", "Alpha", *db)
    invoke("party", "add", "bravo", "Bravo", "--alias", "B", *db)
    invoke("rule", "set", "alpha", "bravo", "1500", *db)
    tokens = {"host": host}
    for party in ("alpha", "bravo"):
        for role in ("operator", "liaison"):
            tokens[f"{party}-{role}"] = token_in(
                invoke("member", "add", party, f"{party} {role}", "--role", role, *db)
            )
    return tokens


def write_feature(path: Path, feature: dict[str, Any]) -> Path:
    path.write_text(json.dumps(feature))
    return path


def without_ids(value: Any) -> Any:
    """The answer with generated ids and the moment of asking blanked out."""
    text = json.dumps(value, sort_keys=True)
    text = re.sub(r"(dcl|adv)_[0-9a-f]{20}", "<id>", text)
    return json.loads(re.sub(r'"raised_at": "[^"]+"', '"raised_at": "<now>"', text))


def test_declare_and_list_advisories_the_same_way_through_file_and_server(
    database: Path, tmp_path: Path, server: str
) -> None:
    tokens = set_up(database)
    clinic = write_feature(
        tmp_path / "clinic.geojson", site(41.0, 36.5, hours=None, share_with="all")
    )
    invoke("declare", str(clinic), "--db", str(database), "--token", tokens["alpha-operator"])
    patrol_feature = movement([(40.98, 36.49), (41.02, 36.51)], share_with=["alpha"])
    patrol_feature["properties"]["times"] = ["2099-01-20T08:00:00Z", "2099-01-20T08:30:00Z"]
    patrol_file = write_feature(tmp_path / "patrol.geojson", patrol_feature)

    via_server = json.loads(
        invoke(
            "declare",
            str(patrol_file),
            "--server",
            server,
            "--token",
            tokens["bravo-operator"],
            "--json",
        )
    )
    assert len(via_server["advisories"]) == 1, "the server saw the clinic declared through the file"
    assert via_server["advisories"][0]["closest_approach"]["separation_m"] == 1500

    dry_file = json.loads(
        invoke(
            "declare",
            str(patrol_file),
            "--check",
            "--db",
            str(database),
            "--token",
            tokens["bravo-operator"],
            "--json",
        )
    )
    dry_server = json.loads(
        invoke(
            "declare",
            str(patrol_file),
            "--check",
            "--server",
            server,
            "--token",
            tokens["bravo-operator"],
            "--json",
        )
    )
    assert without_ids(dry_file) == without_ids(dry_server)
    assert len(dry_file) == 1, "the clinic conflicts; bravo's own patrol never does"

    for who in ("alpha-liaison", "bravo-liaison"):
        from_file = invoke("advisories", "--db", str(database), "--token", tokens[who], "--json")
        from_server = invoke("advisories", "--server", server, "--token", tokens[who], "--json")
        assert json.loads(from_file) == json.loads(from_server)
        assert len(json.loads(from_file)["items"]) == 1


def test_refusals_are_printed_with_the_field_and_reason(database: Path, tmp_path: Path) -> None:
    tokens = set_up(database)
    bad = write_feature(tmp_path / "bad.geojson", site(500.0, 36.5))
    result = runner.invoke(
        app, ["declare", str(bad), "--db", str(database), "--token", tokens["alpha-operator"]]
    )
    assert result.exit_code == 1
    assert "geometry.coordinates[0]" in result.output
    assert "longitude 500 is outside -180..180" in result.output


def test_observers_cannot_declare_from_the_cli(database: Path, tmp_path: Path) -> None:
    tokens = set_up(database)
    clinic = write_feature(tmp_path / "clinic.geojson", site(41.0, 36.5))
    result = runner.invoke(
        app, ["declare", str(clinic), "--db", str(database), "--token", tokens["alpha-liaison"]]
    )
    assert result.exit_code == 1
    assert "refused (403)" in result.output


def test_rebuild_command_replays_the_log(database: Path) -> None:
    set_up(database)
    output = invoke("rebuild", "--db", str(database))
    # one host administrator, two parties, one rule, four members
    assert "from 8 events" in output
