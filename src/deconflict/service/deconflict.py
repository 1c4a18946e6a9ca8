"""The one object behind the API, the CLI and the tests.

``Deconflict`` owns the database, the sequencer, the conflict engine and the separation
rules, and exposes the domain through three desks: ``parties``, ``declarations`` and
``advisories``. Whatever door a request comes through, it meets the same checks.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import sqlalchemy as sa

from deconflict.core.declarations import Activity, expires_at
from deconflict.core.errors import Unauthenticated
from deconflict.core.events import HOST, Event, EventKind, NewEvent
from deconflict.core.index import IndexedEngine
from deconflict.core.parties import (
    Principal,
    Role,
    SeparationRule,
    SeparationRules,
    hash_token,
    new_id,
    new_token,
)
from deconflict.core.visibility import DisclosurePolicy
from deconflict.service.advisories import Advisories
from deconflict.service.declarations import Declarations
from deconflict.service.features import FeatureCache
from deconflict.service.keys import Keys
from deconflict.service.parties import Parties
from deconflict.service.principals import PrincipalCache
from deconflict.service.record import Record
from deconflict.service.sequencer import Sequencer, Transaction
from deconflict.settings import Settings
from deconflict.storage import projector, queries
from deconflict.storage import tables as t
from deconflict.storage.database import create_schema, open_engine


class Deconflict:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = settings.clock
        self.db = open_engine(settings.database_url)
        create_schema(self.db)
        self.reads = (
            self.db.execution_options(isolation_level="AUTOCOMMIT")
            if self.db.dialect.name == "postgresql"
            else self.db
        )
        """For reads of one statement, which need no transaction: on PostgreSQL this saves the
        round trips of BEGIN and ROLLBACK (a third of a point read's); SQLite's cost nothing."""
        self.sequencer = Sequencer(self.db, self.clock)
        self.record = Record(self)  # before any write: it hooks into every transaction
        self.keys = Keys(self)
        self.engine = IndexedEngine()
        self.features = FeatureCache()
        self.principals = PrincipalCache()
        self.rules = SeparationRules(default_m=settings.default_separation_m)
        self.disclosure = DisclosurePolicy(
            settings.disclosure_precision_m, settings.disclosure_time_s
        )
        self.parties = Parties(self)
        self.declarations = Declarations(self)
        self.advisories = Advisories(self)
        self._add_channel_desks()
        # The engine and rules are read by the next command of the same batch, so they follow
        # each command as it finishes (and are reloaded if its batch does not commit).
        self.sequencer.track(self._follow, self._load_followers)
        self.sequencer.track(self.principals.follow, self.principals.forget)
        self.sequencer.follow(self.principals.follow)  # and once more when the revocation commits
        self.sequencer.reload()

    def _add_channel_desks(self) -> None:
        """The channel and incident desks (docs/channel.md, docs/incidents.md)."""
        from deconflict.service.channel import Channel
        from deconflict.service.delivery import Delivery
        from deconflict.service.incidents import Incidents
        from deconflict.service.meetings import Meetings
        from deconflict.service.report import Reports
        from deconflict.service.webhooks import Webhooks

        self.channel = Channel(self)
        self.incidents = Incidents(self)
        self.meetings = Meetings(self)
        self.delivery = Delivery(self, heartbeat_s=self.settings.stream_heartbeat_s)
        self.webhooks = Webhooks(self)
        self.reports = Reports(self)
        self.sequencer.follow(self.delivery.follow)

    def close(self) -> None:
        self.db.dispose()

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated("a bearer token is required")
        token_hash = hash_token(token)
        principal = self.principals.get(token_hash)
        if principal is not None:
            return principal
        generation = self.principals.generation
        with self.db.connect() as conn:
            principal = queries.principal_by_token_hash(conn, token_hash)
        if principal is None:
            raise Unauthenticated("the bearer token is not valid")
        self.principals.put(token_hash, principal, generation)
        return principal

    def remembered_principal(self, token: str | None) -> Principal | None:
        """The token's principal if it is remembered (see PrincipalCache), without any I/O;
        None means :meth:`authenticate` must be asked."""
        return self.principals.get(hash_token(token)) if token else None

    def add_host_administrator(self, name: str = "host administrator") -> str:
        """A new host administrator's token; only someone with the database file can do this."""
        token = new_token()

        def command(tx: Transaction) -> None:
            tx.append(
                NewEvent(
                    EventKind.member_added,
                    {
                        "member_id": new_id("mbr"),
                        "party_id": None,
                        "role": Role.host.value,
                        "name": name,
                        "token_hash": hash_token(token),
                    },
                    frozenset({HOST}),
                )
            )

        self.sequencer.write(command)
        return token

    def rebuild(self) -> int:
        """Empty every projection and replay the log into it; returns the number of events replayed."""

        def command(tx: Transaction) -> int:
            return projector.replay(tx.conn)

        count = self.sequencer.write(command)
        self.sequencer.reload()
        return count

    def _load_followers(self) -> None:
        """Rebuild the in-memory engine and rules from the committed state."""
        self.engine.clear()
        self.features.clear()
        self.declarations.forget_expiries()
        with self.db.connect() as conn:
            self.rules = SeparationRules(
                queries.separation_rules(conn), self.settings.default_separation_m
            )
            activities = (
                Activity.of(stored.id, stored.version, stored.party_id, stored.feature)
                for stored in queries.active_declarations(conn)
            )
            # In batches: the engine keeps activities compactly, so a million active
            # declarations never exist as objects all at once (docs/performance.md, W4).
            self.engine.load(_batches(activities, LOAD_BATCH))

    def _follow(self, events: Iterable[Event]) -> None:
        for event in events:
            body = event.body
            if event.kind in (EventKind.declaration_declared, EventKind.declaration_amended):
                feature = self.features.parsed(
                    body["declaration_id"], body["version"], body["feature"]
                )
                self.engine.upsert(
                    Activity.of(body["declaration_id"], body["version"], body["party_id"], feature)
                )
                self.declarations.expiring_at(expires_at(feature))
            elif event.kind in (EventKind.declaration_cancelled, EventKind.declaration_expired):
                self.engine.remove(body["declaration_id"])
            elif event.kind is EventKind.separation_rule_set:
                self.rules.set(
                    SeparationRule(
                        body["party_a"], body["party_b"], body["category"], body["distance_m"]
                    )
                )

    def event_count(self) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t.events)).scalar_one())


LOAD_BATCH = 20_000
"""Active declarations parsed and handed to the engine at a time when it is rebuilt."""


def _batches(items: Iterator[Activity], size: int) -> Iterator[list[Activity]]:
    while batch := list(itertools.islice(items, size)):
        yield batch
