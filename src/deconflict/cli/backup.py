"""The operator's commands for backups: ``backup``, ``restore``, and the check behind
``rebuild --check``.

Registered on the main ``deconflict`` app by :func:`register`. They work on the database
directly (``--db`` or ``--database-url``), never through a server: a backup is taken next to
running servers, and a restore is made before any server is started on it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer

from deconflict.cli.main import DbOption, JsonOption, UrlOption, console, database_url, errors
from deconflict.service import backup as backups
from deconflict.service.record import default_key_path
from deconflict.settings import Settings
from deconflict.storage.dumps import DumpError, display, sqlite_file

KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--signing-key",
        help="The record's signing key file (default: DECONFLICT_SIGNING_KEY_PATH, "
        "or DB.key beside a SQLite file)",
    ),
]


def register(app: typer.Typer) -> None:
    app.command()(backup)
    app.command()(restore)


def _key_path(url: str, option: Path | None) -> Path | None:
    return default_key_path(Settings.from_environment(database_url=url, signing_key_path=option))


def _refuse(error: Exception) -> typer.Exit:
    errors.print(str(error), style="red", markup=False, highlight=False)
    return typer.Exit(1)


def backup(
    dest: Annotated[Path, typer.Argument(help="A new (or empty) directory to write the backup to")],
    db: DbOption = None,
    database_url_: UrlOption = None,
    signing_key: KeyOption = None,
    without_key: Annotated[
        bool,
        typer.Option(
            "--without-key", help="Leave the signing key out; you must then back it up yourself"
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Back up the database and the record's signing key, consistently, while servers run."""
    url = database_url(db, database_url_)
    try:
        manifest = backups.backup(url, _key_path(url, signing_key), dest, not without_key)
    except DumpError as error:
        raise _refuse(error) from None
    if as_json:
        console.print_json(json.dumps(asdict(manifest)))
    else:
        log = manifest.log
        console.print(
            f"Backup of {display(url)} written to {dest}: {log.events} events up to seq "
            f"{log.last_seq}, checkpoint {log.checkpoint_size} (root {log.checkpoint_root}).",
            markup=False,
            highlight=False,
        )
    if without_key:
        errors.print(
            "[bold yellow]THE RECORD'S SIGNING KEY IS NOT IN THIS BACKUP.[/bold yellow] "
            f"It is at {manifest.key_source}; without it the log cannot be continued after a "
            "restore. Back it up separately.",
            highlight=False,
        )
    elif not as_json:
        console.print(
            f"It holds the record's signing key ({dest / backups.KEY_FILE}): "
            "keep the backup as safe as the key itself.",
            markup=False,
            highlight=False,
        )


def restore(
    src: Annotated[Path, typer.Argument(help="A backup directory written by deconflict backup")],
    db: DbOption = None,
    database_url_: UrlOption = None,
    signing_key: KeyOption = None,
) -> None:
    """Restore a backup into an empty database, then verify it as `deconflict verify` does."""
    url = database_url(db, database_url_)
    try:
        report = backups.restore(src, url, _key_path(url, signing_key))
    except DumpError as error:
        raise _refuse(error) from None
    manifest, log = report.manifest, report.manifest.log
    key_note = "written to" if report.key_written else "already in place at"
    console.print(
        f"Restored the backup of {manifest.created_at} into {display(url)}; "
        f"signing key {key_note} {report.key_path}.",
        markup=False,
        highlight=False,
    )
    if report.problems:
        errors.print(
            f"[bold red]RESTORED, BUT IT DOES NOT CHECK OUT[/bold red]: "
            f"{len(report.problems)} problem(s)"
        )
        for problem in report.problems:
            errors.print(f"  {problem}", markup=False, highlight=False)
        raise typer.Exit(1)
    console.print(
        f"[bold green]VERIFIED[/bold green]: {report.events} events (last seq {log.last_seq}) "
        f"recompute the stored tree; {report.checkpoints} checkpoint roots and their signatures "
        f"verify; the latest, {log.checkpoint_size} with root {log.checkpoint_root}, is the "
        f"backup's; {report.projection_tables} projections equal a replay of the log.",
        highlight=False,
    )
    if Settings.from_environment().record_origin != manifest.origin:
        console.print(
            f"Serve it with DECONFLICT_RECORD_ORIGIN={manifest.origin} (the log's origin).",
            markup=False,
            highlight=False,
        )


def check_projections(db: Path | None, url: str | None) -> None:
    """``rebuild --check``: say whether the projections equal a replay; change nothing."""
    from deconflict.service.replay import compare_with_replay
    from deconflict.storage.database import open_engine

    target = database_url(db, url)
    if target.startswith("sqlite") and not sqlite_file(target).exists():
        raise _refuse(DumpError(f"no database file at {sqlite_file(target)}"))
    engine = open_engine(target)
    try:
        verdict = compare_with_replay(engine)
    except sa.exc.SQLAlchemyError as error:
        raise _refuse(DumpError(f"cannot replay {display(target)}: {error}")) from None
    finally:
        engine.dispose()
    if not verdict.ok:
        errors.print(
            f"[bold red]DIFFERENT[/bold red]: {', '.join(verdict.differing)} would change in a "
            f"replay of the {verdict.events} events; `deconflict rebuild` rewrites them."
        )
        raise typer.Exit(1)
    console.print(
        f"[bold green]CONSISTENT[/bold green]: the {verdict.tables} projections equal a replay "
        f"of the {verdict.events} events."
    )
