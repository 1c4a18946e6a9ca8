"""The host administrator's desk: parties, members and separation rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from deconflict.core.declarations import PARTY_ID_PATTERN
from deconflict.core.errors import InvalidInput, NotFound, StateConflict
from deconflict.core.events import HOST, EventKind, NewEvent
from deconflict.core.parties import (
    PARTY_ROLES,
    Action,
    Principal,
    Role,
    SeparationRules,
    hash_token,
    new_id,
    new_token,
)
from deconflict.service.sequencer import Transaction
from deconflict.storage import queries

if TYPE_CHECKING:
    from deconflict.service.deconflict import Deconflict

MAX_SEPARATION_M = 500_000.0


class PartyView(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    name: str
    aliases: list[str]


class MemberView(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    party_id: str | None
    role: Role
    name: str


class NewMember(MemberView):
    token: str


class RuleView(BaseModel):
    model_config = ConfigDict(frozen=True)
    party_a: str
    party_b: str
    category: str | None
    distance_m: float


class MeView(BaseModel):
    model_config = ConfigDict(frozen=True)
    member: MemberView
    party: PartyView | None


@dataclass
class Parties:
    service: Deconflict

    def register(self, who: Principal, party_id: str, name: str, aliases: list[str]) -> PartyView:
        who.require(Action.administer)
        if not re.match(PARTY_ID_PATTERN, party_id):
            raise InvalidInput.at("id", "a party id is 2-63 lower-case letters, digits and hyphens")

        def command(tx: Transaction) -> PartyView:
            if queries.party(tx.conn, party_id) is not None:
                raise StateConflict(f"party {party_id} already exists")
            tx.append(
                NewEvent(
                    EventKind.party_registered,
                    {"party_id": party_id, "name": name, "aliases": aliases},
                    frozenset({HOST, party_id}),
                    who.member_id,
                )
            )
            return PartyView(id=party_id, name=name, aliases=aliases)

        return self.service.sequencer.write(command)

    def add_member(self, who: Principal, party_id: str, name: str, role: Role) -> NewMember:
        who.require(Action.administer)
        if role not in PARTY_ROLES:
            raise InvalidInput.at(
                "role", f"a party member's role is one of {', '.join(PARTY_ROLES)}"
            )
        token = new_token()
        member_id = new_id("mbr")

        def command(tx: Transaction) -> NewMember:
            if queries.party(tx.conn, party_id) is None:
                raise NotFound(f"no party {party_id}")
            tx.append(
                NewEvent(
                    EventKind.member_added,
                    {
                        "member_id": member_id,
                        "party_id": party_id,
                        "role": role.value,
                        "name": name,
                        "token_hash": hash_token(token),
                    },
                    frozenset({HOST, party_id}),
                    who.member_id,
                )
            )
            return NewMember(id=member_id, party_id=party_id, role=role, name=name, token=token)

        return self.service.sequencer.write(command)

    def all(self, who: Principal) -> list[PartyView]:
        """Every party's id and name: a party must know whom it can share with."""
        with self.service.db.connect() as conn:
            return [
                PartyView(id=r.id, name=r.name, aliases=r.aliases)
                for r in queries.all_parties(conn)
            ]

    def members(self, who: Principal, party_id: str) -> list[MemberView]:
        who.require(Action.administer)
        with self.service.db.connect() as conn:
            if queries.party(conn, party_id) is None:
                raise NotFound(f"no party {party_id}")
            return [
                MemberView(id=r.id, party_id=r.party_id, role=Role(r.role), name=r.name)
                for r in queries.members_of(conn, party_id)
                if r.revoked_at is None
            ]

    def me(self, who: Principal) -> MeView:
        member = MemberView(id=who.member_id, party_id=who.party_id, role=who.role, name=who.name)
        if who.party_id is None:
            return MeView(member=member, party=None)
        with self.service.db.connect() as conn:
            row = queries.party(conn, who.party_id)
        assert row is not None
        return MeView(member=member, party=PartyView(id=row.id, name=row.name, aliases=row.aliases))

    def set_rule(
        self, who: Principal, party_a: str, party_b: str, category: str | None, distance_m: float
    ) -> RuleView:
        who.require(Action.administer)
        if party_a == party_b:
            raise InvalidInput.at("party_b", "a separation rule is between two different parties")
        if not 0.0 <= distance_m <= MAX_SEPARATION_M:
            raise InvalidInput.at(
                "distance_m", f"must be between 0 and {MAX_SEPARATION_M:g} metres"
            )
        low, high = sorted((party_a, party_b))

        def command(tx: Transaction) -> RuleView:
            known = queries.party_ids(tx.conn)
            for field, party in (("party_a", party_a), ("party_b", party_b)):
                if party not in known:
                    raise InvalidInput.at(field, f"no party {party}")
            tx.append(
                NewEvent(
                    EventKind.separation_rule_set,
                    {
                        "party_a": low,
                        "party_b": high,
                        "category": category,
                        "distance_m": distance_m,
                    },
                    frozenset({HOST, low, high}),
                    who.member_id,
                )
            )
            return RuleView(party_a=low, party_b=high, category=category, distance_m=distance_m)

        return self.service.sequencer.write(command)

    def rules(self, who: Principal) -> list[RuleView]:
        """The host sees every rule; a party sees the rules that bind it.

        Read from the database rather than from the engine's copy, which may already hold a
        rule of a batch of writes that has not committed (see the sequencer)."""
        with self.service.db.connect() as conn:
            rules = SeparationRules(queries.separation_rules(conn)).all()
        if who.role is not Role.host:
            who.require(Action.read)
            rules = [r for r in rules if who.party_id in (r.party_a, r.party_b)]
        return [
            RuleView(
                party_a=r.party_a, party_b=r.party_b, category=r.category, distance_m=r.distance_m
            )
            for r in rules
        ]

    def default_separation(self) -> float:
        return self.service.rules.default_m
