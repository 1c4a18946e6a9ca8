"""Loading the northeast Syria scenario into a fresh service, and telling a new user what it holds.

The demo's clock starts at 05:30 UTC on the scenario's day (20 January 2020) and runs at
real speed, so the patrols of that morning are still ahead when the demo starts, and
deadlines and expiry behave as they would on the day.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from deconflict.core.clock import OffsetClock
from deconflict.core.declarations import DeclarationFeature
from deconflict.core.parties import Role
from deconflict.demo.channel import DemoChannel, load_channel, print_channel_summary
from deconflict.demo.scenario import Scenario, build_scenario
from deconflict.service.declarations import DeclarationQuery
from deconflict.service.deconflict import Deconflict
from deconflict.settings import Settings, sqlite_url

DEMO_CLOCK_START = time(5, 30)


@dataclass
class LoadedDemo:
    service: Deconflict
    scenario: Scenario
    host_token: str
    tokens: dict[tuple[str, Role], str] = field(default_factory=dict)
    declaration_ids: dict[str, str] = field(default_factory=dict)
    channel: DemoChannel | None = None


def load_demo(db: Path, scenario: Scenario | None = None) -> LoadedDemo:
    """A new demo database at ``db`` (any old one there is replaced)."""
    scenario = scenario or build_scenario()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    clock = OffsetClock(datetime.combine(scenario.day, DEMO_CLOCK_START, tzinfo=UTC))
    service = Deconflict(Settings(database_url=sqlite_url(db), clock=clock))
    loaded = LoadedDemo(
        service, scenario, service.add_host_administrator("demo host administrator")
    )
    host = service.authenticate(loaded.host_token)
    for party in scenario.parties:
        service.parties.register(host, party.id, party.name, list(party.aliases))
    for member in scenario.members:
        role = Role(member.role)
        created = service.parties.add_member(host, member.party_id, member.name, role)
        loaded.tokens.setdefault((member.party_id, role), created.token)
    for rule in scenario.rules:
        service.parties.set_rule(host, rule.party_a, rule.party_b, rule.category, rule.distance_m)
    for declaration in scenario.declarations:
        operator = service.authenticate(loaded.tokens[(declaration.party_id, Role.operator)])
        feature = DeclarationFeature.model_validate_json(json.dumps(declaration.feature))
        outcome = service.declarations.declare(operator, feature)
        loaded.declaration_ids[declaration.key] = outcome.declaration.id
    loaded.channel = load_channel(loaded)  # threads, escalation, meeting, incidents
    return loaded


def print_summary(loaded: LoadedDemo, console: Console, base_url: str) -> None:
    service = loaded.service
    names = {v: k for k, v in loaded.declaration_ids.items()}
    console.rule("Deconflict demo: northeast Syria, 20 January 2020")
    console.print(f"Demo clock: {service.clock.now():%Y-%m-%d %H:%M} UTC, running at real speed.")
    tokens = Table(title="Member tokens (use as: Authorization: Bearer <token>)")
    for column in ("party", "role", "token"):
        tokens.add_column(column)
    tokens.add_row("(host)", "host", loaded.host_token)
    for (party_id, role), token in sorted(loaded.tokens.items()):
        tokens.add_row(party_id, role.value, token)
    console.print(tokens)
    for party in loaded.scenario.parties:
        who = (
            service.authenticate(loaded.tokens[(party.id, Role.observer)])
            if (party.id, Role.observer) in loaded.tokens
            else service.authenticate(loaded.tokens[(party.id, Role.liaison)])
        )
        seen = service.declarations.visible(who, DeclarationQuery(limit=500)).items
        own = sum(1 for d in seen if d.properties["party_id"] == party.id)
        coarse = sum(1 for d in seen if d.properties.get("coarsened_to_m"))
        table = Table(
            title=f"{party.name} ({party.id}) sees {own} own and {len(seen) - own} shared "
            f"declarations ({coarse} coarsened), and these advisories:"
        )
        for column in (
            "advisory",
            "own declaration",
            "other side",
            "closest",
            "where (lat, lon)",
            "when",
        ):
            table.add_column(column, overflow="fold")
        for advisory in service.advisories.visible(who).items:
            approach = advisory.closest_approach
            other = advisory.other
            table.add_row(
                advisory.id,
                names.get(advisory.own.declaration_id or "", "?"),
                f"{other.party_id}: {names.get(other.declaration_id or '', 'undisclosed activity')}",
                "—"
                if approach.distance_m is None
                else f"{approach.distance_m:,.0f} m (< {approach.separation_m:,.0f})",
                f"{approach.place[1]:.3f}, {approach.place[0]:.3f}"
                + (f" ±{approach.place_precision_m:,.0f} m" if approach.place_precision_m else ""),
                f"{approach.instant_own:%H:%M} UTC",
            )
        console.print(table)
    example = loaded.tokens[(loaded.scenario.parties[0].id, Role.liaison)]
    print_channel_summary(loaded, console, base_url)
    console.print(f"Operations console: {base_url}/ (log in with a member token above)")
    console.print(f"API docs: {base_url}/docs")
    console.print(
        f"Try: curl -H 'Authorization: Bearer {example}' {base_url}/v1/advisories",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
