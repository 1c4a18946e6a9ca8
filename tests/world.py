"""A small world for tests: a host administrator and three parties with a member in every role."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from deconflict.core.clock import ManualClock
from deconflict.core.parties import PARTY_ROLES, Principal, Role
from deconflict.service.deconflict import Deconflict
from deconflict.settings import Settings, sqlite_url

START = datetime(2020, 1, 20, 6, 0, tzinfo=UTC)
PARTIES = ("alpha", "bravo", "charlie")


@dataclass
class World:
    service: Deconflict
    clock: ManualClock
    host_token: str
    tokens: dict[tuple[str, Role], str] = field(default_factory=dict)

    def who(self, party: str | None, role: Role = Role.operator) -> Principal:
        token = self.host_token if party is None else self.tokens[(party, role)]
        return self.service.authenticate(token)

    def token(self, party: str | None, role: Role = Role.operator) -> str:
        return self.host_token if party is None else self.tokens[(party, role)]


def build_world(path: Path, start: datetime = START, database_url: str | None = None) -> World:
    """A world on the SQLite file ``path``, or on ``database_url`` with its signing key beside ``path``."""
    clock = ManualClock(start)
    settings = Settings(
        database_url=database_url or sqlite_url(path),
        clock=clock,
        expiry_interval_s=0,
        signing_key_path=path.with_suffix(".key"),
    )
    service = Deconflict(settings)
    host_token = service.add_host_administrator()
    world = World(service, clock, host_token)
    host = service.authenticate(host_token)
    for party in PARTIES:
        service.parties.register(host, party, party.title(), [])
        for role in PARTY_ROLES:
            world.tokens[(party, role)] = service.parties.add_member(
                host, party, f"{party} {role}", role
            ).token
    return world


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def site(
    lon: float, lat: float, *, start: datetime = START, hours: float | None = 12, **props: Any
) -> dict[str, Any]:
    properties: dict[str, Any] = {"kind": "site", "start": iso(start)}
    if hours is not None:
        properties["end"] = iso(start + timedelta(hours=hours))
    properties.update(props)
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


def movement(
    coordinates: list[tuple[float, float]],
    *,
    start: datetime = START + timedelta(hours=2),
    minutes_per_leg: float = 30,
    **props: Any,
) -> dict[str, Any]:
    times = [iso(start + timedelta(minutes=minutes_per_leg * i)) for i in range(len(coordinates))]
    properties: dict[str, Any] = {"kind": "movement", "times": times}
    properties.update(props)
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [list(c) for c in coordinates]},
        "properties": properties,
    }


def cli_database(world: World) -> tuple[list[str], dict[str, str]]:
    """CLI options and environment that point the CLI at the world's own database, on either backend."""
    settings = world.service.settings
    environment = {"DECONFLICT_SIGNING_KEY_PATH": str(settings.signing_key_path)}
    return ["--database-url", settings.database_url], environment
