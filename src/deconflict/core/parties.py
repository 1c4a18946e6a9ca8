"""Parties, their members, what each role may do, and the separation rules between parties."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from deconflict.core.errors import NotPermitted

TOKEN_PREFIX = "dcf_"  # noqa: S105 - a prefix that makes leaked tokens easy to scan for, not a secret
DEFAULT_SEPARATION_M = 1000.0


class Role(StrEnum):
    """A member's role; ``host`` is the host administrator, who belongs to no party."""

    host = "host"
    operator = "operator"
    liaison = "liaison"
    leadership = "leadership"
    observer = "observer"


PARTY_ROLES = (Role.operator, Role.liaison, Role.leadership, Role.observer)


class Action(StrEnum):
    administer = "administer"
    declare = "declare"
    acknowledge = "acknowledge"
    read = "read"
    manage_keys = "manage_keys"  # register, rotate, revoke the party's signing keys
    communicate = "communicate"  # threads, messages, incidents and accounts (docs/channel.md)
    settle = "settle"  # meetings, minutes, settlements: the leadership's word for the party
    manage_webhooks = "manage_webhooks"  # where the party's events are pushed, with which secret


PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.administer: frozenset({Role.host}),
    Action.declare: frozenset({Role.operator}),
    Action.acknowledge: frozenset({Role.liaison, Role.leadership}),
    Action.read: frozenset(PARTY_ROLES),
    # A party's signing key speaks for the whole party, so only its leadership manages keys;
    # the host may not, or it could register a key of its own choosing for a party.
    Action.manage_keys: frozenset({Role.leadership}),
    Action.communicate: frozenset({Role.liaison, Role.leadership}),
    Action.settle: frozenset({Role.leadership}),
    # A webhook receives everything the party may see, so it is the leadership's to grant.
    Action.manage_webhooks: frozenset({Role.leadership}),
}


@dataclass(frozen=True)
class Principal:
    """Who is asking: a member of a party, or the host administrator (``party_id`` is None)."""

    member_id: str
    party_id: str | None
    role: Role
    name: str

    def may(self, action: Action) -> bool:
        return self.role in PERMISSIONS[action]

    def require(self, action: Action) -> None:
        if not self.may(action):
            raise NotPermitted(f"a member with role {self.role} may not {action}")

    def require_party(self, action: Action) -> str:
        """The caller's party id, for actions only party members take."""
        self.require(action)
        assert self.party_id is not None, "every role allowed to act for a party belongs to one"
        return self.party_id


def new_token() -> str:
    """A bearer token with 32 random bytes; it is shown once and only its hash is kept."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 suffices: the token is 256 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_id(prefix: str) -> str:
    """Random ids, so that another party's object cannot be found by counting."""
    return f"{prefix}_{secrets.token_hex(10)}"


@dataclass(frozen=True)
class SeparationRule:
    party_a: str
    party_b: str
    category: str | None
    distance_m: float

    @staticmethod
    def key(party_a: str, party_b: str, category: str | None) -> tuple[str, str, str]:
        low, high = sorted((party_a, party_b))
        return (low, high, category or "")


class SeparationRules:
    """Minimum distances between parties.

    For two declarations with categories c₁ and c₂, the rules for that pair of parties
    with category c₁ or c₂ apply, and the larger wins (the cautious reading when a patrol
    meets a convoy and both categories have rules); otherwise the pair's rule without a
    category; otherwise the default.
    """

    def __init__(
        self, rules: list[SeparationRule] | None = None, default_m: float = DEFAULT_SEPARATION_M
    ):
        self.default_m = default_m
        self.revision = 0
        """Counts changes, so that a caller caching answers knows when they went stale."""
        self._by_key: dict[tuple[str, str, str], float] = {}
        for rule in rules or []:
            self.set(rule)

    def set(self, rule: SeparationRule) -> None:
        self.revision += 1
        self._by_key[SeparationRule.key(rule.party_a, rule.party_b, rule.category)] = (
            rule.distance_m
        )

    def between(
        self, party_a: str, party_b: str, category_a: str | None, category_b: str | None
    ) -> float:
        low, high = sorted((party_a, party_b))
        specific = [
            self._by_key[(low, high, c)]
            for c in {category_a, category_b}
            if c is not None and (low, high, c) in self._by_key
        ]
        if specific:
            return max(specific)
        return self._by_key.get((low, high, ""), self.default_m)

    @property
    def largest_m(self) -> float:
        """An upper bound on any separation, used to size the engine's search box."""
        return max([self.default_m, *self._by_key.values()])

    def all(self) -> list[SeparationRule]:
        return [SeparationRule(a, b, c or None, d) for (a, b, c), d in sorted(self._by_key.items())]
