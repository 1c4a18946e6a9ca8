"""The witness against a real server: it cosigns a growing log, and refuses loudly when the
service shows a history that does not extend the one it cosigned."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from deconflict.api.app import create_app
from deconflict.cli.main import app
from deconflict.core.record.notes import Cosigner, Verifier, verify_cosignatures
from deconflict.service.deconflict import Deconflict
from deconflict.settings import Settings, sqlite_url

runner = CliRunner()


@contextmanager
def serving(service: Deconflict) -> Iterator[str]:
    """A real HTTP server on a socket bound before it starts, so nothing waits for it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    config = uvicorn.Config(
        create_app(service.settings, service=service), log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def log(path: Path, key: Path, parties: int) -> Deconflict:
    """A log whose history is a host administrator and ``parties`` parties."""
    service = Deconflict(
        Settings(database_url=sqlite_url(path), expiry_interval_s=0, signing_key_path=key)
    )
    host = service.authenticate(service.add_host_administrator())
    for i in range(parties):
        service.parties.register(host, f"party-{path.stem}-{i}", f"P{i}", [])
    return service


@pytest.fixture
def witness_key(tmp_path: Path) -> tuple[Path, Cosigner]:
    cosigner = Cosigner.generate("witness.example/w1")
    path = tmp_path / "witness.key"
    path.write_text(cosigner.private_key_string() + "\n")
    return path, cosigner


def register(service: Deconflict, cosigner: Cosigner) -> None:
    host = service.authenticate(service.add_host_administrator("w"))
    service.keys.register_witness(host, cosigner.verifier_key())


def witness(url: str, key: Path, state: Path) -> tuple[int, str]:
    result = runner.invoke(
        app, ["witness", "--service", url, "--key", str(key), "--state", str(state), "--once"]
    )
    return result.exit_code, result.output


def test_the_witness_cosigns_a_growing_log_and_the_service_serves_it(
    tmp_path: Path, witness_key: tuple[Path, Cosigner]
) -> None:
    key_file, cosigner = witness_key
    service = log(tmp_path / "a.sqlite", tmp_path / "log.key", 2)
    register(service, cosigner)
    state = tmp_path / "state.json"
    with serving(service) as url:
        code, output = witness(url, key_file, state)
        assert code == 0, output
        assert "cosigned checkpoint" in output
        first = httpx.get(f"{url}/v1/record/checkpoint").text
        assert verify_cosignatures(first, [Verifier.from_key(cosigner.verifier_key())])
        service.parties.register(service.authenticate(_host(service)), "later", "Later", [])
        code, output = witness(url, key_file, state)
        assert code == 0, output
        latest = httpx.get(f"{url}/v1/record/checkpoint").text
        assert latest.split("\n")[1] == str(service.event_count())
        assert "witness.example/w1" in latest
    service.close()


def _host(service: Deconflict) -> str:
    return service.add_host_administrator("another")


@pytest.mark.parametrize(
    ("fork_parties", "message"),
    [
        pytest.param(4, "NOT consistent", id="forked-and-longer"),
        pytest.param(0, "shrank", id="rolled-back"),
        pytest.param(1, "forked", id="same-size-other-root"),
    ],
)
def test_the_witness_refuses_a_history_that_does_not_extend_what_it_cosigned(
    tmp_path: Path, witness_key: tuple[Path, Cosigner], fork_parties: int, message: str
) -> None:
    key_file, cosigner = witness_key
    shared_key = tmp_path / "log.key"
    honest = log(tmp_path / "honest.sqlite", shared_key, 1)
    register(honest, cosigner)
    state = tmp_path / "state.json"
    with serving(honest) as url:
        assert witness(url, key_file, state)[0] == 0
    size = honest.event_count()
    honest.close()
    # The same key and origin, another history: what a host would show to other parties.
    forked = log(tmp_path / "forked.sqlite", shared_key, fork_parties)
    register(forked, cosigner)
    assert (forked.event_count() > size) == (fork_parties > 1)
    with serving(forked) as url:
        code, output = witness(url, key_file, state)
    forked.close()
    assert code == 3, output
    assert "WITNESS REFUSES TO COSIGN" in output
    assert message in output


def test_the_witness_refuses_a_checkpoint_signed_by_another_key(
    tmp_path: Path, witness_key: tuple[Path, Cosigner]
) -> None:
    key_file, cosigner = witness_key
    first = log(tmp_path / "one.sqlite", tmp_path / "one.key", 1)
    register(first, cosigner)
    state = tmp_path / "state.json"
    with serving(first) as url:
        assert witness(url, key_file, state)[0] == 0
    first.close()
    impostor = log(tmp_path / "two.sqlite", tmp_path / "two.key", 3)
    register(impostor, cosigner)
    with serving(impostor) as url:
        code, output = witness(url, key_file, state)
    impostor.close()
    assert code == 3
    assert "signature does not verify" in output
