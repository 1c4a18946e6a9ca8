"""The periodic review: charts and tables built only from what the asking party may see."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from deconflict.cli.main import app
from deconflict.core.declarations import DeclarationFeature
from deconflict.core.incidents import IncidentType
from deconflict.core.parties import Role
from deconflict.service.incidents import Casualties, IncidentReport
from tests.conftest import bearer
from tests.world import START, World, cli_database, movement, site

PNG = b"\x89PNG\r\n\x1a\n"
PERIOD = {"from": "2020-01-19T00:00:00Z", "to": "2020-01-22T00:00:00Z"}


def history(world: World) -> dict[str, str]:
    """An advisory acknowledged by alpha at once and by bravo late, and two incidents."""
    service = world.service
    f = DeclarationFeature.model_validate_json
    service.declarations.declare(
        world.who("alpha"), f(json.dumps(site(41.0, 36.5, share_with=["bravo"])))
    )
    outcome = service.declarations.declare(
        world.who("bravo"),
        f(json.dumps(movement([(40.98, 36.49), (41.02, 36.51)], share_with=["alpha"]))),
    )
    advisory = outcome.advisories[0].id
    world.clock.advance(timedelta(minutes=4))
    service.advisories.acknowledge(world.who("alpha", Role.liaison), advisory, None)
    world.clock.advance(timedelta(minutes=40))
    service.channel.escalate_due()
    service.advisories.acknowledge(world.who("bravo", Role.liaison), advisory, None)

    def incident(party: str, involved: list[str], name: str) -> str:
        report = IncidentReport(
            IncidentType.blocked_passage,
            START,
            600,
            (40.9, 36.7),
            500.0,
            name,
            "blocked",
            involved,
            [],
            Casualties(),
            {},
        )
        return service.incidents.report(world.who(party, Role.liaison), report).id

    return {
        "advisory": advisory,
        "shared": incident("alpha", ["alpha", "bravo"], "Hittin junction"),
        "private": incident("charlie", ["charlie"], "Charlie's own place"),
    }


def test_the_review_holds_what_the_party_may_see(world: World) -> None:
    ids = history(world)
    review = world.service.reports.review(
        world.who("alpha"), START - timedelta(days=1), START + timedelta(days=2)
    )
    data = review.data
    assert [a.id for a in data.advisories] == [ids["advisory"]]
    latency = {(x.party_id, x.tier): round(x.minutes) for x in data.latencies}
    assert latency == {("alpha", "tactical"): 4, ("bravo", "operational"): 44}
    assert [e["to"] for e in data.escalations] == ["operational"]
    assert [i["id"] for i in data.incidents] == [ids["shared"]]
    markdown = review.markdown()
    assert ids["private"] not in markdown
    assert "Charlie's own place" not in markdown
    assert "| bravo | operational | 1 |" in markdown
    assert set(review.charts) == {"advisories", "latency", "escalations", "incidents", "map"}
    assert all(png.startswith(PNG) for png in review.charts.values())
    charlie = world.service.reports.review(
        world.who("charlie"), START - timedelta(days=1), START + timedelta(days=2)
    )
    assert charlie.data.advisories == []
    assert charlie.data.latencies == []
    assert [i["id"] for i in charlie.data.incidents] == [ids["private"]]
    assert ids["advisory"] not in charlie.html()
    assert ids["shared"] not in charlie.html()


def test_the_report_endpoint_answers_html_and_markdown(world: World, api: TestClient) -> None:
    ids = history(world)
    headers = bearer(world.token("bravo"))
    html = api.get("/v1/reports/review", params=PERIOD, headers=headers)
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert html.text.count("data:image/png;base64,") == 5
    markdown = api.get(
        "/v1/reports/review", params=PERIOD | {"format": "markdown"}, headers=headers
    )
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert ids["shared"] in markdown.text
    assert ids["private"] not in markdown.text
    wrong = api.get(
        "/v1/reports/review", params={"from": PERIOD["to"], "to": PERIOD["from"]}, headers=headers
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "query.to"
    host = api.get("/v1/reports/review", params=PERIOD, headers=bearer(world.token(None)))
    assert host.status_code == 403


def test_the_report_command_writes_markdown_html_and_charts(world: World, tmp_path: Path) -> None:
    history(world)
    database, environment = cli_database(world)
    out = tmp_path / "review"
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--from",
            "2020-01-19",
            "--to",
            "2020-01-22",
            "--out",
            str(out),
            *database,
            "--token",
            world.token("alpha"),
        ],
        env=environment,
    )
    assert result.exit_code == 0, result.output
    assert (out / "map.png").read_bytes().startswith(PNG)
    markdown = (out / "report.md").read_text()
    assert "![Where incidents and advisories happened](map.png)" in markdown
    assert "<img" in (out / "report.html").read_text()


def test_cli_shows_an_incident_side_by_side(world: World) -> None:
    ids = history(world)
    common, environment = cli_database(world)
    runner = CliRunner(env=environment)
    for party, text in (
        ("alpha", "An exchange of fire took place"),
        ("bravo", "No information on any fire"),
    ):
        done = runner.invoke(
            app,
            [
                "incident",
                "account",
                ids["shared"],
                text,
                *common,
                "--token",
                world.token(party, Role.liaison),
            ],
        )
        assert done.exit_code == 0, done.output
    shown = runner.invoke(
        app, ["incident", "show", ids["shared"], *common, "--token", world.token("bravo")]
    )
    assert shown.exit_code == 0, shown.output
    assert "An exchange of fire" in shown.output
    assert "No information" in shown.output
    hidden = runner.invoke(
        app, ["incident", "show", ids["shared"], *common, "--token", world.token("charlie")]
    )
    assert hidden.exit_code == 1
    assert "refused (404)" in hidden.output
