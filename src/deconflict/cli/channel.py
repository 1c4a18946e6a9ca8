"""The channel's commands: threads and messages, pending items, incidents, agendas, the review.

Registered on the main ``deconflict`` app by :func:`register`. Like the other commands they
work on a database file (``--db``) or through a running server (``--server``) and print the
same JSON either way: the local path calls the desks, the server path their routes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from deconflict.cli.main import (
    DbOption,
    JsonOption,
    ServerOption,
    TokenOption,
    UrlOption,
    console,
    database_url,
    errors,
    show,
)
from deconflict.core.channel import Tier
from deconflict.core.errors import DeconflictError
from deconflict.core.incidents import IncidentType
from deconflict.service.channel import About
from deconflict.service.deconflict import Deconflict
from deconflict.service.incidents import Casualties, IncidentReport
from deconflict.settings import Settings

thread_app = typer.Typer(help="Threads and messages of the channel.", no_args_is_help=True)
incident_app = typer.Typer(help="Incidents and each party's account.", no_args_is_help=True)
Local = Callable[[Deconflict, Any], Any]


class Target:
    """One call, either to the desks of a local service or to a server's route."""

    def __init__(self, db: Path | None, url: str | None, server: str | None, token: str) -> None:
        self.server = server
        self.token = token
        self.service = (
            None
            if server
            else Deconflict(
                Settings.from_environment(database_url=database_url(db, url), expiry_interval_s=0)
            )
        )

    def call(self, local: Local, method: str, path: str, **kwargs: Any) -> Any:
        try:
            if self.service is not None:
                result = local(self.service, self.service.authenticate(self.token))
                return result if isinstance(result, str) else _dump(result)
            response = httpx.request(
                method,
                f"{self.server.rstrip('/') if self.server else ''}{path}",
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=60,
                **kwargs,
            )
            if response.status_code >= 400:
                _refuse(response.json())
            return (
                response.text
                if "json" not in response.headers.get("content-type", "")
                else response.json()
            )
        except DeconflictError as error:
            _refuse(
                {
                    "status": error.status,
                    "detail": error.detail,
                    "errors": [{"field": p.field, "reason": p.reason} for p in error.problems],
                }
            )


def _dump(value: Any) -> Any:
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def _refuse(problem: dict[str, Any]) -> None:
    errors.print(f"[red]refused ({problem.get('status', '?')}): {problem.get('detail', '')}[/red]")
    for item in problem.get("errors", []):
        errors.print(f"  [yellow]{item['field']}[/yellow]: {item['reason']}")
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(thread_app, name="thread")
    app.add_typer(incident_app, name="incident")
    app.command()(pending)
    app.command()(agenda)
    app.command()(report)
    app.command()(escalate)


@thread_app.command("list")
def thread_list(
    token: TokenOption,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
) -> None:
    """Threads your party takes part in."""
    target = Target(db, database_url_, server, token)
    show(target.call(lambda s, w: s.channel.threads(w), "GET", "/v1/threads"))


@thread_app.command("show")
def thread_show(
    thread_id: str,
    token: TokenOption,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
) -> None:
    """One thread with its messages, deadlines and receipts."""
    target = Target(db, database_url_, server, token)
    show(
        target.call(lambda s, w: s.channel.thread(w, thread_id), "GET", f"/v1/threads/{thread_id}")
    )


@thread_app.command("open")
def thread_open(
    parties: Annotated[list[str], typer.Argument(help="The other parties")],
    token: TokenOption,
    subject: Annotated[str, typer.Option(help="What the thread is about")],
    message: Annotated[str | None, typer.Option(help="A first message")] = None,
    tier: Annotated[Tier, typer.Option(help="Tier of the first message")] = Tier.tactical,
    advisory: Annotated[str | None, typer.Option(help="The advisory it is about")] = None,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
) -> None:
    """Open a thread with other parties."""
    about = None if advisory is None else About(kind="advisory", id=advisory)
    first = (
        None
        if message is None
        else {"tier": tier, "body": message, "references": {}, "needs_ack": True}
    )
    body: dict[str, Any] = {"parties": parties, "subject": subject}
    if about is not None:
        body["about"] = about.model_dump()
    if first is not None:
        body["message"] = {"tier": tier.value, "body": message}
    target = Target(db, database_url_, server, token)
    show(
        target.call(
            lambda s, w: s.channel.open_thread(w, parties, subject, about, first),
            "POST",
            "/v1/threads",
            json=body,
        )
    )


@thread_app.command("post")
def thread_post(
    thread_id: str,
    body: str,
    token: TokenOption,
    tier: Annotated[Tier, typer.Option(help="tactical, operational or leadership")] = Tier.tactical,
    needs_ack: Annotated[
        bool, typer.Option("--ack/--no-ack", help="Whether it needs an acknowledgement")
    ] = True,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
) -> None:
    """Post a message to a thread."""
    target = Target(db, database_url_, server, token)
    show(
        target.call(
            lambda s, w: s.channel.post(w, thread_id, tier, body, {}, needs_ack),
            "POST",
            f"/v1/threads/{thread_id}/messages",
            json={"body": body, "tier": tier.value, "needs_ack": needs_ack},
        )
    )


@thread_app.command("ack")
def thread_ack(
    message_id: str,
    token: TokenOption,
    note: Annotated[str | None, typer.Option(help="A note for the record")] = None,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
) -> None:
    """Acknowledge a message for your party."""
    target = Target(db, database_url_, server, token)
    show(
        target.call(
            lambda s, w: s.channel.acknowledge(w, message_id, note),
            "POST",
            f"/v1/messages/{message_id}/acknowledge",
            json={"note": note},
        )
    )


def pending(
    token: TokenOption,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Items waiting for your party's acknowledgement, with their tier and deadline."""
    target = Target(db, database_url_, server, token)
    items = target.call(lambda s, w: s.channel.pending(w), "GET", "/v1/channel/pending")
    if as_json:
        show(items)
        return
    table = Table(title="Waiting for your acknowledgement")
    for column in ("item", "id", "from", "tier", "who must act", "due", "status"):
        table.add_column(column, overflow="fold")
    for i in items:
        table.add_row(
            i["item_kind"],
            i["item_id"],
            i["counterpart"] or "",
            i["tier"],
            ", ".join(i["attention_roles"]),
            i["due_at"],
            i["status"],
        )
    console.print(table)


def agenda(
    meeting_id: str,
    token: TokenOption,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
) -> None:
    """The agenda of a meeting's next occurrence, generated from the record."""
    target = Target(db, database_url_, server, token)
    show(
        target.call(
            lambda s, w: s.meetings.agenda(w, meeting_id),
            "GET",
            f"/v1/meetings/{meeting_id}/agenda",
        )
    )


@incident_app.command("list")
def incident_list(
    token: TokenOption,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
) -> None:
    """Incidents your party may see."""
    target = Target(db, database_url_, server, token)
    show(target.call(lambda s, w: s.incidents.visible(w), "GET", "/v1/incidents"))


@incident_app.command("show")
def incident_show(
    incident_id: str,
    token: TokenOption,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """An incident with every party's latest account side by side."""
    target = Target(db, database_url_, server, token)
    view = target.call(
        lambda s, w: s.incidents.get(w, incident_id), "GET", f"/v1/incidents/{incident_id}"
    )
    if as_json:
        show(view)
        return
    console.print(
        f"[bold]{view['type']}[/bold] at {view['place_name'] or view['place']} "
        f"(±{view['place_precision_m']:g} m), {view['occurred_at']} (±{view['time_precision_s']} s): "
        f"{view['status']}"
    )
    table = Table(title="Accounts, side by side")
    for side in view["accounts"]:
        table.add_column(f"{side['party_id']} ({side['role']})", overflow="fold")
    table.add_row(
        *[
            f"v{s['latest']['version']}: {s['latest']['text']}"
            if s["latest"]
            else "(no account filed)"
            for s in view["accounts"]
        ]
    )
    console.print(table)


@incident_app.command("report")
def incident_report(
    token: TokenOption,
    type_: Annotated[IncidentType, typer.Option("--type", help="What kind of incident")],
    at: Annotated[
        datetime,
        typer.Option(
            help="When it happened (UTC)", formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"]
        ),
    ],
    lon: Annotated[float, typer.Option(help="Longitude")],
    lat: Annotated[float, typer.Option(help="Latitude")],
    involved: Annotated[list[str], typer.Option(help="A party involved (repeat)")],
    summary: Annotated[str, typer.Option(help="What happened, in one paragraph")],
    place_name: Annotated[str | None, typer.Option(help="Name of the place")] = None,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
) -> None:
    """Report an incident."""
    report_ = IncidentReport(
        type_, at, 0, (lon, lat), 0.0, place_name, summary, involved, [], Casualties(), {}
    )
    body = {
        "type": type_.value,
        "occurred_at": at.isoformat(),
        "place": [lon, lat],
        "summary": summary,
        "involved": involved,
        "place_name": place_name,
    }
    target = Target(db, database_url_, server, token)
    show(
        target.call(lambda s, w: s.incidents.report(w, report_), "POST", "/v1/incidents", json=body)
    )


@incident_app.command("account")
def incident_account(
    incident_id: str,
    text: str,
    token: TokenOption,
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
) -> None:
    """File your party's account of an incident (a new version; earlier ones stay)."""
    target = Target(db, database_url_, server, token)
    show(
        target.call(
            lambda s, w: s.incidents.file_account(w, incident_id, text, None),
            "POST",
            f"/v1/incidents/{incident_id}/accounts",
            json={"text": text},
        )
    )


def report(
    token: TokenOption,
    start: Annotated[
        datetime,
        typer.Option(
            "--from",
            help="Start (UTC), e.g. 2020-01-13T00:00:00+00:00",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d%z", "%Y-%m-%d"],
        ),
    ],
    end: Annotated[
        datetime,
        typer.Option(
            "--to", help="End (UTC)", formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d%z", "%Y-%m-%d"]
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Directory for report.md, report.html and the charts")
    ] = Path("review"),
    db: DbOption = None,
    database_url_: UrlOption = None,
    server: ServerOption = None,
) -> None:
    """The periodic review as Markdown and HTML with PNG charts, for your party."""
    from datetime import UTC

    start, end = (d if d.tzinfo else d.replace(tzinfo=UTC) for d in (start, end))
    out.mkdir(parents=True, exist_ok=True)
    target = Target(db, database_url_, server, token)
    if target.service is not None:
        review = target.call(lambda s, w: s.reports.review(w, start, end), "GET", "")
        for name, png in review.charts.items():
            (out / f"{name}.png").write_bytes(png)
        (out / "report.md").write_text(review.markdown(image_prefix=""))
        (out / "report.html").write_text(review.html())
    else:
        params = {"from": start.isoformat(), "to": end.isoformat()}
        for fmt, name in (("html", "report.html"), ("markdown", "report.md")):
            text = target.call(
                lambda s, w: None, "GET", "/v1/reports/review", params={**params, "format": fmt}
            )
            (out / name).write_text(text)
    console.print(f"Review written to {out}/report.md and {out}/report.html")


def escalate(db: DbOption = None, database_url_: UrlOption = None) -> None:
    """Fire due escalations and push due webhook deliveries (what the server's ticker does)."""
    service = Deconflict(
        Settings.from_environment(database_url=database_url(db, database_url_), expiry_interval_s=0)
    )
    fired = service.channel.escalate_due()
    pushed = service.webhooks.dispatch_due()
    console.print(f"{fired} escalation(s) fired, {pushed} webhook delivery attempt(s) made.")
