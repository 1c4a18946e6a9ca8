"""The record's commands: keys, signed acknowledgements, the witness, export and verify.

Registered on the main ``deconflict`` app by :func:`register`.  Private keys are read from
files here and used here; only public keys and signatures go to the service.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from deconflict.cli.main import (
    DbOption,
    JsonOption,
    ServerOption,
    TokenOption,
    UrlOption,
    console,
    errors,
    run,
    show,
)
from deconflict.cli.main import client as any_client
from deconflict.cli.record_client import RecordClient
from deconflict.core.record.acknowledgements import PartyKey
from deconflict.core.record.notes import Cosigner, Signer

keys_app = typer.Typer(help="Signing keys of parties and witnesses.", no_args_is_help=True)
KeyFile = Annotated[Path, typer.Option("--key", help="Private key file")]


def client(db: Path | None, url: str | None, server: str | None, token: str) -> RecordClient:
    return cast(RecordClient, any_client(db, url, server, token))


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.command()(acknowledge)
    app.command()(witness)
    app.command()(export)
    app.command()(verify)


@keys_app.command("generate")
def keys_generate(
    out: Annotated[Path, typer.Option("--out", help="Where to write the new private key")],
    witness_name: Annotated[
        str | None,
        typer.Option("--witness", help="Make a witness key with this name (e.g. example.org/w1)"),
    ] = None,
) -> None:
    """Create a private key file (mode 0600); prints the public part to register."""
    if witness_name is not None:
        cosigner = Cosigner.generate(witness_name)
        fd = _create(out)
        with fd:
            fd.write(cosigner.private_key_string() + "\n")
        console.print("Witness key written. Its verifier key, for the host to register:")
        console.print(cosigner.verifier_key(), markup=False, highlight=False, soft_wrap=True)
        return
    key = PartyKey.generate()
    try:
        key.write(out)
    except FileExistsError:
        errors.print(f"[red]{out} exists; a key file is never overwritten[/red]")
        raise typer.Exit(1) from None
    console.print(f"Party key {key.key_id} written to {out}. Public key:")
    console.print(key.public_key_b64, markup=False, highlight=False)


def _create(path: Path) -> Any:
    import os

    try:
        return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w")
    except FileExistsError:
        errors.print(f"[red]{path} exists; a key file is never overwritten[/red]")
        raise typer.Exit(1) from None


def _party_key(path: Path) -> PartyKey:
    try:
        return PartyKey.read(path)
    except (OSError, ValueError) as exc:
        errors.print(f"[red]cannot read the key file {path}: {exc}[/red]")
        raise typer.Exit(2) from None


@keys_app.command("register")
def keys_register(
    key: KeyFile,
    token: TokenOption,
    replaces: Annotated[
        str | None, typer.Option(help="Key id this one replaces (revoked in the same write)")
    ] = None,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register the public half of a key file for your party (leadership)."""
    public = _party_key(key).public_key_b64
    result = run(
        lambda: client(db, database_url_, server, token).register_party_key(public, replaces)
    )
    show(result) if as_json else console.print(
        f"Key {result['key_id']} registered for {result['party_id']}."
    )


@keys_app.command("revoke")
def keys_revoke(
    key_id: str,
    token: TokenOption,
    reason: Annotated[str | None, typer.Option(help="Why, for the record")] = None,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
) -> None:
    """Revoke one of your party's keys (leadership)."""
    run(lambda: client(db, database_url_, server, token).revoke_party_key(key_id, reason))
    console.print(f"Key {key_id} revoked.")


@keys_app.command("list")
def keys_list(
    token: TokenOption,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
) -> None:
    """Every party's signing keys, revoked ones included."""
    show(run(lambda: client(db, database_url_, server, token).party_keys()))


@keys_app.command("add-witness")
def keys_add_witness(
    vkey: str,
    token: TokenOption,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
) -> None:
    """Register a witness's verifier key (host administrator)."""
    result = run(lambda: client(db, database_url_, server, token).register_witness(vkey))
    console.print(f"Witness {result['name']} registered.")


def acknowledge(
    advisory: Annotated[str, typer.Argument(help="Advisory id")],
    token: TokenOption,
    key: Annotated[
        Path | None, typer.Option("--key", help="Your party's private key file: sign locally")
    ] = None,
    note: Annotated[str | None, typer.Option(help="A note for the other side")] = None,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Acknowledge an advisory for your party, signed with --key."""
    target = client(db, database_url_, server, token)
    if key is None:
        result = run(lambda: target.acknowledge(advisory, note))
    else:
        party_key = _party_key(key)
        result = run(lambda: target.acknowledge_signed(advisory, note, party_key))
    show(result) if as_json else console.print(
        f"Acknowledged {advisory}{' (signed)' if key else ' (unsigned)'}."
    )


def witness(
    service: Annotated[str, typer.Option("--service", help="Base URL of the service")],
    key: Annotated[Path, typer.Option("--key", help="The witness's private key file")],
    state: Annotated[
        Path, typer.Option("--state", help="Where the witness remembers the last checkpoint")
    ] = Path("witness-state.json"),
    log_key: Annotated[
        str | None, typer.Option("--log-key", help="The log's verifier key (else first use)")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Check and cosign once, then exit")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between polls")] = 10.0,
) -> None:
    """Follow the service's checkpoints; cosign each one consistent with the last one seen."""
    import httpx

    from deconflict.cli.witness import Witness, WitnessRefusal

    try:
        cosigner = Cosigner.from_private_key_string(key.read_text().strip())
    except (OSError, ValueError) as exc:
        errors.print(f"[red]cannot read the witness key {key}: {exc}[/red]")
        raise typer.Exit(2) from None
    with httpx.Client(base_url=service.rstrip("/"), timeout=30.0) as http:
        follower = Witness(http, cosigner, state, lambda: int(time.time()), log_key)
        while True:
            try:
                console.print(follower.once())
            except WitnessRefusal as refusal:
                errors.print("[bold red]WITNESS REFUSES TO COSIGN[/bold red]")
                errors.print(str(refusal), markup=False, highlight=False)
                raise typer.Exit(3) from None
            except (RuntimeError, OSError) as exc:  # the service may be down; try again later
                errors.print(f"[yellow]{exc}[/yellow]")
                if once:
                    raise typer.Exit(1) from None
            if once:
                return
            time.sleep(interval)


def export(
    out: Annotated[Path, typer.Option("--out", help="Where to write the bundle (JSON)")],
    party: Annotated[
        str | None, typer.Option("--party", help="Party whose view to export (with --db)")
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", envvar="DECONFLICT_TOKEN", help="With --server")
    ] = None,
    db: DbOption = None,
    server: ServerOption = None,
    signing_key: Annotated[
        Path | None,
        typer.Option("--signing-key", help="The service's key file (default: DB.key), with --db"),
    ] = None,
) -> None:
    """Write a party's bundle: its events with salts and proofs, checkpoints, cosignatures."""
    if server:
        if not token:
            errors.print("[red]--server needs --token[/red]")
            raise typer.Exit(2)
        bundle = run(lambda: client(None, None, server, token).bundle())
    else:
        from deconflict.service.bundle import export_bundle
        from deconflict.service.deconflict import Deconflict
        from deconflict.settings import Settings, sqlite_url

        if db is None or party is None:
            errors.print("[red]name the database with --db and the party with --party[/red]")
            raise typer.Exit(2)
        key_path = signing_key or Path(f"{db}.key")
        if not key_path.exists():  # never let an export create a new service key
            errors.print(f"[red]no service signing key at {key_path}; pass --signing-key[/red]")
            raise typer.Exit(2)
        settings = Settings(
            database_url=sqlite_url(db), expiry_interval_s=0, signing_key_path=key_path
        )
        settings.record_origin = Signer.from_private_key_string(key_path.read_text().strip()).name
        service = Deconflict(settings)
        try:
            bundle = export_bundle(service, party)
        finally:
            service.close()
    out.write_text(json.dumps(bundle, indent=1, ensure_ascii=False) + "\n")
    console.print(f"Bundle for {bundle['party_id']} with {len(bundle['events'])} events: {out}")


def verify(
    bundle: Annotated[Path | None, typer.Argument(help="A bundle written by export")] = None,
    db: DbOption = None,
    database_url_: UrlOption = None,
    log_key: Annotated[
        str | None, typer.Option("--log-key", help="The service's verifier key, from out of band")
    ] = None,
    witness_key: Annotated[
        list[str] | None, typer.Option("--witness-key", help="A witness verifier key you trust")
    ] = None,
) -> None:
    """Verify a bundle offline, or a database (--db, --database-url) against its signed record."""
    if (bundle is None) == (db is None and database_url_ is None):
        errors.print("[red]give either a BUNDLE or --db PATH (or --database-url URL)[/red]")
        raise typer.Exit(2)
    if bundle is None:
        _verify_database(db, database_url_, log_key)
        return
    from deconflict.core.record.bundle import verify_bundle

    assert bundle is not None
    try:
        data = json.loads(bundle.read_text())
    except (OSError, ValueError) as exc:
        errors.print(f"[bold red]INVALID[/bold red]: cannot read {bundle}: {exc}")
        raise typer.Exit(1) from None
    verdict = verify_bundle(data, log_key, witness_key)
    if not verdict.ok:
        errors.print(f"[bold red]INVALID[/bold red]: {len(verdict.failures)} problem(s)")
        for failure in verdict.failures:
            errors.print(f"  {failure.entry}: {failure.reason}", markup=False, highlight=False)
        raise typer.Exit(1)
    cosigned = ", ".join(f"{w} ({n})" for w, n in sorted(verdict.cosignatures.items())) or "none"
    console.print(
        f"[bold green]VALID[/bold green]: {verdict.events} events of {verdict.party_id or 'the host'} "
        f"are in checkpoint {verdict.tree_size} of {verdict.origin}, signed by the log key; "
        f"{verdict.checkpoints} checkpoint(s) consistent; cosigned by {cosigned}; "
        f"{verdict.signed_acknowledgements} signed and {verdict.unsigned_acknowledgements} "
        "unsigned acknowledgement(s)."
    )
    if log_key is None:
        console.print(
            "[yellow]The log key was taken from the bundle; compare it with one you "
            "obtained out of band, or pass --log-key.[/yellow]"
        )


def _verify_database(db: Path | None, url: str | None, log_key: str | None) -> None:
    from deconflict.cli.main import database_url
    from deconflict.core.record.notes import NoteError, Verifier
    from deconflict.service.bundle import verify_database
    from deconflict.service.record import default_key_path
    from deconflict.settings import Settings
    from deconflict.storage.database import open_engine

    if db is not None and url is None and not db.exists():
        errors.print(f"[red]no database at {db}[/red]")
        raise typer.Exit(2)
    target = database_url(db, url)
    # The service's own key (DECONFLICT_SIGNING_KEY_PATH, or DB.key beside a SQLite file).
    key_path = default_key_path(Settings.from_environment(database_url=target))
    verifier = None
    try:
        if log_key:
            verifier = Verifier.from_key(log_key)
        elif key_path is not None and key_path.exists():
            verifier = Signer.from_private_key_string(key_path.read_text().strip()).verifier()
    except NoteError as exc:
        errors.print(f"[red]bad log key: {exc}[/red]")
        raise typer.Exit(2) from None
    engine = open_engine(target)
    try:
        with engine.connect() as conn, conn.begin():
            verdict = verify_database(conn, verifier)
    finally:
        engine.dispose()
    if not verdict.ok:
        errors.print(f"[bold red]TAMPERED[/bold red]: {len(verdict.failures)} problem(s)")
        for entry, reason in verdict.failures:
            errors.print(f"  {entry}: {reason}", markup=False, highlight=False)
        raise typer.Exit(1)
    signed = "and their signatures " if verdict.signatures_checked else ""
    console.print(
        f"[bold green]INTACT[/bold green]: {verdict.events} events recompute the stored tree; "
        f"{verdict.checkpoints} checkpoint roots {signed}verify."
    )
