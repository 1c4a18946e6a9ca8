"""Backups a restore can prove: the database, the log's signing key, and what they must show.

A backup is a directory (mode 0700, since it holds a private key):

* ``database.sqlite`` (SQLite's online backup) or ``database.pgdump`` (``pg_dump
  --format=custom`` of the deployment's schema), taken while servers keep writing;
* ``signing.key``, the record's Ed25519 key. A log keeps its key for life: checkpoints
  signed with a lost key still verify, but the log can never be extended under them again,
  and witnesses would rightly refuse a new key. So the key is in the backup unless the
  operator says otherwise (``--without-key``), and then the manifest says where it was;
* ``manifest.json``, written last (a directory without it is not a backup): the size of the
  log and its latest signed checkpoint *as of the same snapshot as the dump*, the key's
  public half, and the dump's SHA-256.

A restore loads the dump only into an empty database, then checks what the manifest
promises: the same log, every checkpoint and signature verifying against the events (what
``deconflict verify`` does), the latest checkpoint the manifest's, and projections that a
replay of the log would not change.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from deconflict.core.clock import utc_text
from deconflict.core.record.leaves import b64
from deconflict.core.record.notes import NoteError, Signer, open_checkpoint
from deconflict.service.bundle import verify_database
from deconflict.service.replay import compare_with_replay
from deconflict.storage import dumps
from deconflict.storage import merkle_store as store
from deconflict.storage import tables as t
from deconflict.storage.database import create_schema, is_sqlite, open_engine
from deconflict.storage.dumps import DumpError

FORMAT = "deconflict-backup/1"
MANIFEST = "manifest.json"
KEY_FILE = "signing.key"
SQLITE_FILE = "database.sqlite"
POSTGRES_FILE = "database.pgdump"
NEEDED_EXTENSIONS = ("postgis",)
"""Extensions the schema's types come from (``public.geometry``); a dump does not carry them."""


class BackupError(DumpError):
    """A backup or restore that must not go ahead, or a restore that does not check out."""


@dataclass(frozen=True)
class LogState:
    """What a backup promises about the log, and what a restore must show again."""

    events: int
    last_seq: int
    checkpoint_size: int | None
    checkpoint_root: str | None
    """Base64, as in the checkpoint note."""


@dataclass(frozen=True)
class Manifest:
    created_at: str
    backend: str
    schema: str | None
    """The PostgreSQL schema dumped (restored under the same name); None for SQLite."""
    database_file: str
    database_sha256: str
    log: LogState
    origin: str
    verifier_key: str
    key_file: str | None
    """``signing.key`` when the key is in the backup, None when it was left out."""
    key_source: str
    """Where the key was read from when the backup was taken."""
    extensions: tuple[str, ...] = ()
    """Of :data:`NEEDED_EXTENSIONS`, those the source database had: the target needs them too."""
    format: str = FORMAT

    def write(self, directory: Path) -> None:
        text = json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"
        (directory / MANIFEST).write_text(text)

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        try:
            data = json.loads(path.read_text())
            if data.get("format") != FORMAT:
                raise BackupError(f"{path} is not a {FORMAT} manifest")
            extensions = tuple(data.get("extensions", ()))
            return cls(**{**data, "log": LogState(**data["log"]), "extensions": extensions})
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise BackupError(f"{directory} is not a complete backup: {error}") from error


@dataclass
class RestoreReport:
    manifest: Manifest
    events: int = 0
    checkpoints: int = 0
    projection_tables: int = 0
    key_path: Path | None = None
    key_written: bool = False
    problems: list[str] = field(default_factory=list)


def _log_state(conn: sa.Connection) -> LogState:
    count, last = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(t.events.c.seq), 0))
    ).one()
    latest = store.checkpoint(conn)
    return LogState(
        events=int(count),
        last_seq=int(last),
        checkpoint_size=None if latest is None else int(latest.size),
        checkpoint_root=None if latest is None else b64(bytes(latest.root_hash)),
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_signer(path: Path) -> Signer:
    try:
        return Signer.from_private_key_string(path.read_text().strip())
    except (OSError, ValueError) as error:
        raise BackupError(f"cannot read the record's signing key {path}: {error}") from error


def _check_signed_by(conn: sa.Connection, signer: Signer, key_path: Path) -> None:
    """A backup with the wrong key file is worse than none: it would be found out at restore."""
    latest = store.checkpoint(conn)
    if latest is None:
        return
    try:
        open_checkpoint(str(latest.note), [signer.verifier()])
    except NoteError as error:
        raise BackupError(
            f"the key {key_path} did not sign this log's latest checkpoint ({error}): "
            "name the deployment's own key with --signing-key or DECONFLICT_SIGNING_KEY_PATH"
        ) from error


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


# --- backup ----------------------------------------------------------------------------------


def backup(url: str, key_path: Path | None, dest: Path, include_key: bool = True) -> Manifest:
    """Write a backup of the deployment at ``url`` into the new directory ``dest``."""
    if key_path is None:
        raise BackupError(
            "name the record's signing key (DECONFLICT_SIGNING_KEY_PATH or --signing-key): "
            "a backup must hold it or at least check it"
        )
    signer = _read_signer(key_path)
    if not _is_sqlite_url(url):
        dumps.tool("pg_dump")  # before anything is written: say at once what is missing
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty directory")
    created = not dest.exists()
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        manifest = _take(url, signer, key_path, dest, include_key)
    except BaseException:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for child in dest.iterdir():
                child.unlink()
        raise
    return manifest


def _take(url: str, signer: Signer, key_path: Path, dest: Path, include_key: bool) -> Manifest:
    created_at = utc_text(datetime.now(UTC))
    engine = open_engine(url)
    try:
        schema: str | None = None
        extensions: tuple[str, ...] = ()
        if is_sqlite(engine):
            out = dest / SQLITE_FILE
            dumps.sqlite_copy(dumps.sqlite_file(url), out)
            # Read the promise from the copy itself: it is exactly what a restore will load.
            copy = sa.create_engine(f"sqlite:///{out}", poolclass=sa.pool.NullPool)
            try:
                with copy.connect() as conn:
                    _require_deployment(conn, url)
                    state = _log_state(conn)
                    _check_signed_by(conn, signer, key_path)
            finally:
                copy.dispose()
        else:
            out = dest / POSTGRES_FILE
            schema, state, extensions = _postgres_dump(engine, url, signer, key_path, out)
    finally:
        engine.dispose()
    out.chmod(0o600)
    if include_key:
        _write_private(dest / KEY_FILE, signer.private_key_string() + "\n")
    manifest = Manifest(
        created_at=created_at,
        backend=engine.dialect.name,
        schema=schema,
        database_file=out.name,
        database_sha256=_sha256(out),
        log=state,
        origin=signer.name,
        verifier_key=signer.verifier_key(),
        key_file=KEY_FILE if include_key else None,
        key_source=str(key_path.resolve()),
        extensions=extensions,
    )
    manifest.write(dest)
    return manifest


def _is_sqlite_url(url: str) -> bool:
    return sa.engine.make_url(url).get_backend_name() == "sqlite"


def _require_deployment(conn: sa.Connection, url: str) -> None:
    if not sa.inspect(conn).has_table("events"):
        raise BackupError(f"no Deconflict database at {dumps.display(url)}")


def _postgres_dump(
    engine: sa.Engine, url: str, signer: Signer, key_path: Path, out: Path
) -> tuple[str, LogState, tuple[str, ...]]:
    """Dump under an exported snapshot held open meanwhile, so that the manifest's log size
    and checkpoint are those of the dump, not of a moment later with more writes."""
    with engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = str(conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one())
            schema = dumps.deployment_schema(conn)
            if schema is None:
                raise BackupError(f"no Deconflict database at {dumps.display(url)}")
            state = _log_state(conn)
            _check_signed_by(conn, signer, key_path)
            extensions = dumps.extensions(conn, NEEDED_EXTENSIONS)
            dumps.postgres_dump(url, schema, snapshot, out)
    return schema, state, extensions


# --- restore ---------------------------------------------------------------------------------


def restore(source: Path, url: str, key_path: Path | None) -> RestoreReport:
    """Load the backup ``source`` into the empty database at ``url`` and check it.

    Everything that can be refused is refused before the database is touched: an incomplete
    or altered backup, a non-empty target, a key path that holds another log's key. Problems
    found after loading are reported (``RestoreReport.problems``), not hidden: the data stays
    for the operator to inspect.
    """
    manifest = Manifest.read(source)
    dump = source / manifest.database_file
    if not dump.is_file() or _sha256(dump) != manifest.database_sha256:
        raise BackupError(f"{dump} is missing or differs from the one the manifest describes")
    if manifest.backend != sa.engine.make_url(url).get_backend_name():
        raise BackupError(
            f"this is a {manifest.backend} backup; restore it into a {manifest.backend} database"
        )
    if not _is_sqlite_url(url):
        dumps.tool("pg_restore")
    signer = _signer_of(source, manifest)
    report = RestoreReport(manifest, key_path=key_path)
    write_key = _key_to_place(manifest, signer, key_path)
    engine = open_engine(url)
    try:
        if is_sqlite(engine):
            target = dumps.sqlite_file(url)
            tables = dumps.sqlite_tables(target)
            if tables:
                raise BackupError(_not_empty(url, tables))
            engine.dispose()  # nothing may hold the file open while it is written
            dumps.sqlite_copy(dump, target)
        else:
            _postgres_load(engine, url, manifest, dump)
        if write_key:
            assert key_path is not None
            assert signer is not None
            _write_private(key_path, signer.private_key_string() + "\n")
            report.key_written = True
        create_schema(engine)  # a backup from an older version is migrated like any start
        _check_restored(engine, manifest, report)
    finally:
        engine.dispose()
    return report


def _signer_of(source: Path, manifest: Manifest) -> Signer | None:
    if manifest.key_file is None:
        return None
    signer = _read_signer(source / manifest.key_file)
    if signer.verifier_key() != manifest.verifier_key:
        raise BackupError(f"{source / manifest.key_file} is not the key the manifest names")
    return signer


def _key_to_place(manifest: Manifest, signer: Signer | None, key_path: Path | None) -> bool:
    """Whether the restore must write the backup's key to ``key_path``; refuses a clash."""
    if key_path is None:
        raise BackupError(
            "name where the restored service will read its signing key "
            "(DECONFLICT_SIGNING_KEY_PATH or --signing-key)"
        )
    if key_path.exists():
        present = _read_signer(key_path)
        if present.verifier_key() != manifest.verifier_key:
            raise BackupError(
                f"{key_path} holds another key ({present.verifier_key()}); this log's key is "
                f"{manifest.verifier_key}. Move it away or name another path"
            )
        return False
    if signer is None:
        raise BackupError(
            f"this backup does not hold the signing key (taken with --without-key; the key "
            f"was at {manifest.key_source}). Put that key at {key_path} first: its verifier "
            f"key is {manifest.verifier_key}"
        )
    return True


def _not_empty(url: str, tables: list[str]) -> str:
    shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
    return (
        f"refusing to restore into {dumps.display(url)}: it is not empty ({len(tables)} "
        f"table(s): {shown}). Restore into a new, empty database"
    )


def _postgres_load(engine: sa.Engine, url: str, manifest: Manifest, dump: Path) -> None:
    assert manifest.schema is not None
    with engine.connect() as conn:
        schema = dumps.intended_schema(conn)
        if schema != manifest.schema:
            raise BackupError(
                f"this backup is of schema {manifest.schema!r} and restores under that name, "
                f"but {dumps.display(url)} would use {schema!r}: name it first in the URL's "
                f"search_path (options=-csearch_path%3D{manifest.schema},public)"
            )
        present = dumps.schema_exists(conn, schema)
        tables = dumps.schema_tables(conn, schema) if present else []
        missing = sorted(set(manifest.extensions) - set(dumps.extensions(conn, NEEDED_EXTENSIONS)))
    if tables:
        raise BackupError(_not_empty(url, tables))
    if missing:
        raise BackupError(
            f"{dumps.display(url)} lacks the extension(s) the deployment used: run "
            + "; ".join(f"CREATE EXTENSION {name}" for name in missing)
            + " in it first"
        )
    dumps.postgres_restore(url, dump, schema, present)


def _check_restored(engine: sa.Engine, manifest: Manifest, report: RestoreReport) -> None:
    verifier = Signer.from_private_key_string(
        Path(str(report.key_path)).read_text().strip()
    ).verifier()
    with engine.connect() as conn, conn.begin():
        verdict = verify_database(conn, verifier)
        state = _log_state(conn)
    report.events, report.checkpoints = verdict.events, verdict.checkpoints
    report.problems.extend(f"{entry}: {reason}" for entry, reason in verdict.failures)
    for name, promised in asdict(manifest.log).items():
        found = getattr(state, name)
        if found != promised:
            report.problems.append(f"{name} is {found}, the backup's manifest says {promised}")
    replay = compare_with_replay(engine)
    report.projection_tables = replay.tables
    report.problems.extend(f"projection {name} differs from a replay" for name in replay.differing)
