"""The ``deconflict`` command: set up a database, serve it, and act as a party from the shell.

Commands that act as a member take ``--token`` and either ``--db PATH`` (work on the file
directly) or ``--server URL`` (go through a running service's API); the answers are the
same either way.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from deconflict.cli.clients import Client, ClientError, HttpClient, LocalClient
from deconflict.core.parties import Role
from deconflict.service.deconflict import Deconflict
from deconflict.settings import Settings, sqlite_url

app = typer.Typer(help="Deconflict: declare, detect, talk, record, prove.", no_args_is_help=True)
party_app = typer.Typer(help="Parties (host administrator).", no_args_is_help=True)
member_app = typer.Typer(help="Members of a party (host administrator).", no_args_is_help=True)
rule_app = typer.Typer(help="Separation rules (host administrator).", no_args_is_help=True)
app.add_typer(party_app, name="party")
app.add_typer(member_app, name="member")
app.add_typer(rule_app, name="rule")
console = Console()
errors = Console(stderr=True)

DbOption = Annotated[
    Path | None, typer.Option("--db", help="SQLite database file to work on directly")
]
UrlOption = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL (e.g. postgresql+psycopg://...)"),
]
ServerOption = Annotated[str | None, typer.Option("--server", help="Base URL of a running service")]
TokenOption = Annotated[
    str, typer.Option("--token", envvar="DECONFLICT_TOKEN", help="Member token")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer")]


def database_url(db: Path | None, url: str | None) -> str:
    if url:
        return url
    if db:
        return sqlite_url(db)
    errors.print("[red]name a database with --db PATH or --database-url URL[/red]")
    raise typer.Exit(2)


def client(db: Path | None, url: str | None, server: str | None, token: str) -> Client:
    if server:
        return HttpClient(server, token)
    return LocalClient(
        Deconflict(
            Settings.from_environment(database_url=database_url(db, url), expiry_interval_s=0)
        ),
        token,
    )


def run(call: Any) -> Any:
    try:
        return call()
    except ClientError as error:
        problem = error.problem
        errors.print(
            f"[red]refused ({problem.get('status', '?')}): {problem.get('detail', '')}[/red]"
        )
        for item in problem.get("errors", []):
            errors.print(f"  [yellow]{item['field']}[/yellow]: {item['reason']}")
        raise typer.Exit(1) from error


def show(value: Any) -> None:
    console.print_json(json.dumps(value))


@app.command()
def init(db: DbOption = None, database_url_: UrlOption = None) -> None:
    """Create the database and print a host administrator token (shown only this once)."""
    service = Deconflict(
        Settings.from_environment(database_url=database_url(db, database_url_), expiry_interval_s=0)
    )
    token = service.add_host_administrator()
    console.print("Database ready. Host administrator token (store it now; it is not kept):")
    console.print(token, markup=False, highlight=False)


@app.command()
def serve(
    db: DbOption = None,
    database_url_: UrlOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    fd: Annotated[
        int | None,
        typer.Option(help="Serve on this already listening socket (from a supervisor) instead"),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the HTTP API (and its docs at /docs)."""
    import socket

    import uvicorn

    from deconflict.api.app import create_app

    settings = Settings.from_environment(database_url=database_url(db, database_url_))
    app = create_app(settings)
    if fd is None:
        uvicorn.run(app, host=host, port=port, log_level=log_level)
        return
    # A socket bound by the parent accepts connections before this process is ready, so a
    # supervisor (or a test) needs no readiness polling, and a restart loses no connection.
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level))
    server.run(sockets=[socket.socket(fileno=fd)])


@app.command()
def rebuild(
    db: DbOption = None,
    database_url_: UrlOption = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only say whether a rebuild would change anything")
    ] = False,
) -> None:
    """Rebuild every table from the event log (the log is the source of truth)."""
    if check:
        _backup.check_projections(db, database_url_)
        return
    service = Deconflict(
        Settings.from_environment(database_url=database_url(db, database_url_), expiry_interval_s=0)
    )
    count = service.rebuild()
    console.print(f"Rebuilt the projections from {count} events.")


@party_app.command("add")
def party_add(
    party_id: str,
    name: str,
    token: TokenOption,
    alias: Annotated[list[str] | None, typer.Option(help="Another name used for the party")] = None,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a party."""
    result = run(
        lambda: client(db, database_url_, server, token).create_party(party_id, name, alias or [])
    )
    show(result) if as_json else console.print(f"Party [bold]{result['id']}[/bold] registered.")


@member_app.command("add")
def member_add(
    party_id: str,
    name: str,
    token: TokenOption,
    role: Annotated[
        Role, typer.Option(help="operator, liaison, leadership or observer")
    ] = Role.operator,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a member to a party and print its token (shown only this once)."""
    result = run(lambda: client(db, database_url_, server, token).add_member(party_id, name, role))
    if as_json:
        show(result)
        return
    console.print(f"Member {result['name']} ({result['role']}) of {result['party_id']}. Token:")
    console.print(result["token"], markup=False, highlight=False)


@rule_app.command("set")
def rule_set(
    party_a: str,
    party_b: str,
    distance_m: float,
    token: TokenOption,
    category: Annotated[
        str | None, typer.Option(help="Only for declarations of this category")
    ] = None,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set the minimum separation between two parties."""
    result = run(
        lambda: client(db, database_url_, server, token).set_rule(
            party_a, party_b, category, distance_m
        )
    )
    show(result) if as_json else console.print(
        f"Separation {result['party_a']}–{result['party_b']}"
        f"{' (' + result['category'] + ')' if result['category'] else ''}: {result['distance_m']:g} m"
    )


def features_in(path: Path) -> list[dict[str, Any]]:
    data = json.loads(sys.stdin.read() if str(path) == "-" else path.read_text())
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        return list(data.get("features", []))
    return [data]


@app.command()
def declare(
    file: Annotated[
        Path, typer.Argument(help="A GeoJSON Feature or FeatureCollection; - for stdin")
    ],
    token: TokenOption,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
    dry_run: Annotated[
        bool, typer.Option("--check", help="Only show the advisories it would raise")
    ] = False,
) -> None:
    """Declare sites, areas or movements from a GeoJSON file."""
    target = client(db, database_url_, server, token)
    for feature in features_in(file):
        if dry_run:
            result = run(lambda f=feature: target.check(f))
            show(result) if as_json else print_advisories(result, title="Would raise")
            continue
        result = run(lambda f=feature: target.declare(f))
        if as_json:
            show(result)
            continue
        declaration = result["declaration"]
        console.print(
            f"Declared [bold]{declaration['id']}[/bold] (version {declaration['properties']['version']}), "
            f"{len(result['advisories'])} advisory(ies)."
        )
        if result["advisories"]:
            print_advisories(result["advisories"])


@app.command()
def advisories(
    token: TokenOption,
    status: Annotated[str | None, typer.Option(help="open or resolved")] = None,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """The advisories that reached your party."""
    result = run(lambda: client(db, database_url_, server, token).advisories(status))
    show(result) if as_json else print_advisories(result["items"])


def print_advisories(items: list[dict[str, Any]], title: str = "Advisories") -> None:
    table = Table(title=title)
    for column in (
        "id",
        "status",
        "own",
        "other",
        "distance",
        "where",
        "when (own)",
        "acknowledged by",
    ):
        table.add_column(column, overflow="fold")
    for item in items:
        approach = item["closest_approach"]
        other = item["other"]
        distance = approach["distance_m"]
        table.add_row(
            item["id"],
            item["status"],
            item["own"]["declaration_id"] or "",
            f"{other['party_id']} {other['declaration_id'] or '(undisclosed)'}",
            "?" if distance is None else f"{distance:,.0f} m / {approach['separation_m']:,.0f} m",
            f"{approach['place'][1]:.4f}N {approach['place'][0]:.4f}E",
            approach["instant_own"],
            ", ".join(a["party_id"] for a in item["acknowledgements"]) or "-",
        )
    console.print(table)


@app.command()
def demo(
    db: Annotated[Path, typer.Option("--db", help="Where to write the demo database")] = Path(
        "demo.sqlite"
    ),
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API afterwards")
    ] = True,
) -> None:
    """Load the northeast Syria (January 2020) scenario, print each party's tokens and view, then serve."""
    from deconflict.demo.load import load_demo, print_summary

    loaded = load_demo(db)
    print_summary(loaded, console, f"http://{host}:{port}")
    if serve_after:
        import uvicorn

        from deconflict.api.app import create_app

        uvicorn.run(
            create_app(loaded.service.settings, service=loaded.service), host=host, port=port
        )


from deconflict.cli import record as _record  # noqa: E402  (it builds on the helpers above)

_record.register(app)

from deconflict.cli import channel as _channel  # noqa: E402  (threads, incidents, review)

_channel.register(app)

from deconflict.cli import backup as _backup  # noqa: E402  (backup, restore, rebuild --check)

_backup.register(app)


def main() -> None:
    app()
