"""``deconflict backup`` and ``restore`` on both backends, and the operators' drill script.

A PostgreSQL backup restores under the name of the schema it was taken from, so on PostgreSQL
these tests back up a case's schema, drop it (the deployment is lost), and restore into the
same name; on SQLite the restore goes to a new file beside the original.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from deconflict.cli.main import app
from deconflict.core.record.merkle import verify_consistency
from deconflict.core.record.notes import Checkpoint, Cosigner, Signer, cosign, open_checkpoint
from deconflict.service import backup as backups
from deconflict.service.bundle import verify_database
from deconflict.service.deconflict import Deconflict
from deconflict.settings import Settings, sqlite_url
from deconflict.storage import merkle_store
from deconflict.storage import tables as t
from deconflict.storage.database import NOT_OURS
from tests.backends import POSTGRES_URL_VARIABLE, backend_params, database
from tests.test_event_log import busy_history, feature
from tests.world import World, build_world, site

runner = CliRunner()
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "backup-restore-check.sh"


@dataclass
class Deployment:
    backend: str
    url: str
    key: Path
    world: World


@pytest.fixture(params=backend_params())
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    """A deployment with a busy history and a witness's cosignature, its service still open."""
    directory = tmp_path / "live"
    directory.mkdir()
    with database(request.param, directory) as url:
        world = build_world(directory / "test.sqlite", database_url=url)
        witness = Cosigner.generate("witness.example/one")
        world.service.keys.register_witness(world.who(None), witness.verifier_key())
        busy_history(world)
        note = world.service.record.checkpoint()
        checkpoint, _ = open_checkpoint(note, [world.service.record.signer.verifier()])
        line = cosign(Checkpoint.to_body(checkpoint), witness, 1_700_000_000)
        world.service.record.add_cosignature(checkpoint.size, line)
        key = world.service.settings.signing_key_path
        assert key is not None
        yield Deployment(request.param, url, key, world)
        world.service.close()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)  # a PostGIS geometry: its hex EWKB


def contents(url: str) -> dict[str, list[str]]:
    """Every row of every table the deployment has, the schema's revision included."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names()) - NOT_OURS
            assert names == {*(table.name for table in t.metadata.sorted_tables), "alembic_version"}
            tables = [
                *t.metadata.sorted_tables,
                sa.table("alembic_version", sa.column("version_num")),
            ]
            return {
                table.name: sorted(
                    repr(tuple(_plain(v) for v in row)) for row in conn.execute(sa.select(table))
                )
                for table in tables
            }
    finally:
        engine.dispose()


def lose(deployment: Deployment, tmp_path: Path) -> str:
    """Close the deployment and make the empty database a restore goes to: on PostgreSQL the
    same schema, dropped; on SQLite a new file."""
    deployment.world.service.close()
    if deployment.backend == "sqlite":
        return sqlite_url(tmp_path / "restored.sqlite")
    match = re.search(r"csearch_path%3D([^,&]+)", deployment.url)
    assert match, deployment.url
    admin = sa.create_engine(os.environ[POSTGRES_URL_VARIABLE])
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{match.group(1)}" CASCADE'))
    admin.dispose()
    return deployment.url


def test_a_restore_is_the_same_deployment_and_continues_the_log(
    deployment: Deployment, tmp_path: Path
) -> None:
    before = contents(deployment.url)
    backup = tmp_path / "backup"
    out = invoke(
        "backup",
        str(backup),
        "--database-url",
        deployment.url,
        "--signing-key",
        str(deployment.key),
        "--json",
    )
    manifest = json.loads(out)
    assert manifest["log"]["events"] == manifest["log"]["last_seq"] == len(before["events"])
    assert manifest["log"]["checkpoint_size"] == manifest["log"]["last_seq"]
    assert manifest["key_file"] == "signing.key"
    assert (backup / "signing.key").stat().st_mode & 0o777 == 0o600

    target = lose(deployment, tmp_path)
    restored_key = tmp_path / "restored.key"
    out = invoke(
        "restore", str(backup), "--database-url", target, "--signing-key", str(restored_key)
    )
    assert "VERIFIED" in out
    assert "signing key written to" in out
    assert contents(target) == before, "every table, record and projections, came back as it was"
    assert restored_key.read_text() == deployment.key.read_text()

    # The restored deployment goes on: same key, same tree, a new checkpoint consistent with
    # the last one before the backup.
    settings = Settings(
        database_url=target,
        signing_key_path=restored_key,
        expiry_interval_s=0,
        clock=deployment.world.clock,
    )
    service = Deconflict(settings)
    try:
        host = service.authenticate(deployment.world.host_token)
        service.parties.register(host, "delta", "Delta", [])
        old_size = manifest["log"]["checkpoint_size"]
        old_root = base64.b64decode(manifest["log"]["checkpoint_root"])
        proof = service.record.consistency(old_size, None)
        with service.db.connect() as conn:
            latest = merkle_store.checkpoint(conn)
            assert latest is not None
            verdict = verify_database(
                conn, Signer.from_private_key_string(restored_key.read_text().strip()).verifier()
            )
        assert verdict.ok, verdict.failures
        assert int(latest.size) == old_size + 1
        hashes = [base64.b64decode(h) for h in proof.hashes]
        verify_consistency(old_size, int(latest.size), hashes, old_root, bytes(latest.root_hash))
    finally:
        service.close()


def test_a_backup_taken_while_writing_is_the_log_as_of_one_commit(
    deployment: Deployment, tmp_path: Path
) -> None:
    world = deployment.world
    written: list[int] = []
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            while not stop.is_set():
                spot = site(41.3 + 0.001 * (len(written) % 50), 36.9, share_with="all")
                world.service.declarations.declare(world.who("charlie"), feature(spot))
                written.append(len(written))
        except BaseException as error:  # reported by the test, not lost in the thread
            failures.append(error)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        while len(written) < 3 and thread.is_alive():
            stop.wait(0.01)
        manifest = backups.backup(deployment.url, deployment.key, tmp_path / "backup")
        after = len(written)
        while len(written) < after + 3 and thread.is_alive():
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not failures, failures
    size = manifest.log.last_seq
    with world.service.db.connect() as conn:
        log = list(conn.execute(sa.select(t.events).order_by(t.events.c.seq)))
        signed = merkle_store.checkpoint(conn, size)
    assert signed is not None, "the backup's last write signed a checkpoint of its size"
    assert len(log) > size, "writes went on after the backup"
    assert manifest.log.checkpoint_root == base64.b64encode(bytes(signed.root_hash)).decode()

    target = lose(deployment, tmp_path)
    report = backups.restore(tmp_path / "backup", target, tmp_path / "restored.key")
    assert report.problems == []
    assert report.events == size
    engine = sa.create_engine(target, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        restored = list(conn.execute(sa.select(t.events).order_by(t.events.c.seq)))
    engine.dispose()
    assert [tuple(map(_plain, r)) for r in restored] == [tuple(map(_plain, r)) for r in log[:size]]


def test_restore_refuses_a_database_that_is_not_empty(
    deployment: Deployment, tmp_path: Path
) -> None:
    backup = tmp_path / "backup"
    invoke(
        "backup",
        str(backup),
        "--database-url",
        deployment.url,
        "--signing-key",
        str(deployment.key),
    )
    before = contents(deployment.url)
    new_key = tmp_path / "another.key"
    result = runner.invoke(
        app,
        ["restore", str(backup), "--database-url", deployment.url, "--signing-key", str(new_key)],
    )
    assert result.exit_code == 1, result.output
    assert "refusing to restore" in result.output
    assert "not empty" in result.output
    assert isinstance(result.exception, SystemExit), "a refusal, not a traceback"
    assert contents(deployment.url) == before
    assert not new_key.exists()


def test_the_key_is_placed_checked_or_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DECONFLICT_SIGNING_KEY_PATH", raising=False)  # DB.key, beside the file
    world = build_world(tmp_path / "live.sqlite")
    world.service.close()
    url = sqlite_url(tmp_path / "live.sqlite")
    key = tmp_path / "live.key"
    invoke(
        "backup",
        str(tmp_path / "keyless"),
        "--db",
        str(tmp_path / "live.sqlite"),
        "--signing-key",
        str(key),
        "--without-key",
    )
    assert not (tmp_path / "keyless" / "signing.key").exists()

    # Without the key in the backup, the restore wants it in place first, and says where it was.
    target = tmp_path / "restored.sqlite"
    result = runner.invoke(app, ["restore", str(tmp_path / "keyless"), "--db", str(target)])
    assert result.exit_code == 1
    assert "does not hold the signing key" in result.output
    assert not target.exists()

    # Another log's key where the restored service would read its own: refused, nothing written.
    other = Path(f"{target}.key")
    other.write_text(Signer.generate("deconflict.example/local").private_key_string() + "\n")
    result = runner.invoke(app, ["restore", str(tmp_path / "keyless"), "--db", str(target)])
    assert result.exit_code == 1
    assert "holds another key" in result.output
    assert not target.exists()

    other.write_text(key.read_text())
    out = invoke("restore", str(tmp_path / "keyless"), "--db", str(target))
    assert "already in place" in out
    assert contents(sqlite_url(target)) == contents(url)


def test_a_backup_without_pg_dump_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "log.key"
    key.write_text(Signer.generate("deconflict.example/local").private_key_string() + "\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = runner.invoke(
        app,
        [
            "backup",
            str(tmp_path / "backup"),
            "--database-url",
            "postgresql+psycopg://nobody@127.0.0.1:1/nothing",
            "--signing-key",
            str(key),
        ],
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), "a message, not a traceback"
    assert "pg_dump was not found" in result.output
    assert "postgresql-client" in result.output
    assert not (tmp_path / "backup").exists()


@pytest.mark.slow
@pytest.mark.parametrize("backend", backend_params())
def test_the_backup_restore_drill_script_passes(backend: str, tmp_path: Path) -> None:
    """scripts/backup-restore-check.sh, as an operator runs it: real processes, a live server."""
    environment = {
        **os.environ,
        "DECONFLICT": str(Path(sys.executable).parent / "deconflict"),
        "TMPDIR": str(tmp_path),
    }
    environment.pop("DECONFLICT_SIGNING_KEY_PATH", None)
    arguments = [os.environ[POSTGRES_URL_VARIABLE]] if backend == "postgres" else []
    result = subprocess.run(
        ["bash", str(SCRIPT), *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\nOK: the backup taken at seq" in result.stdout
