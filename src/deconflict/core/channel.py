"""The channel's rules: tiers, acknowledgement deadlines, and when silence escalates.

Pure functions over plain data, so that the sequencer's sweep, the projector's replay and the
tests all reach the same verdict. Nothing here reads a clock: every function is told ``now``.

Tiers and who they reach (docs/channel.md §Tiers):

* ``tactical``: the duty level, the party's operators and liaison officers;
* ``operational``: the liaison officers, who run the channel for their party;
* ``leadership``: the party's leadership, the top of the ladder.

An item that needs an acknowledgement waits at its tier for that tier's deadline; unanswered,
it moves one tier up and waits again; unanswered at the top, it goes on the leadership
agenda, where it stays until someone acknowledges it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from deconflict.core.errors import InvalidInput
from deconflict.core.parties import Role


class Tier(StrEnum):
    tactical = "tactical"
    operational = "operational"
    leadership = "leadership"


TIERS: tuple[Tier, ...] = (Tier.tactical, Tier.operational, Tier.leadership)

TIER_ROLES: dict[Tier, frozenset[Role]] = {
    Tier.tactical: frozenset({Role.operator, Role.liaison}),
    Tier.operational: frozenset({Role.liaison}),
    Tier.leadership: frozenset({Role.leadership}),
}
"""Whose attention an item at each tier asks for. Visibility is by party, never by tier:
every member of a party may read what reaches the party; the tier says who must act."""

DEFAULT_DEADLINES_S: dict[Tier, int] = {
    Tier.tactical: 15 * 60,
    Tier.operational: 2 * 3600,
    Tier.leadership: 24 * 3600,
}
"""DESIGN §2: 15 minutes, 2 hours, 24 hours."""

MAX_DEADLINE_S = 30 * 24 * 3600
"""A longer deadline is not a deadline; the host may not set one beyond 30 days."""


class ItemKind(StrEnum):
    """What can wait for an acknowledgement: a channel message or an advisory."""

    message = "message"
    advisory = "advisory"


class DeadlineStatus(StrEnum):
    pending = "pending"
    acknowledged = "acknowledged"
    on_agenda = "on_agenda"
    closed = "closed"  # the item no longer needs an answer (an advisory was resolved)


def next_tier(tier: Tier) -> Tier | None:
    index = TIERS.index(tier)
    return TIERS[index + 1] if index + 1 < len(TIERS) else None


def tier_for(role: Role) -> Tier | None:
    """The highest tier whose attention ``role`` is asked for, or None (observer, host)."""
    for tier in reversed(TIERS):
        if role in TIER_ROLES[tier]:
            return tier
    return None


def attends(role: Role, tier: Tier) -> bool:
    return role in TIER_ROLES[tier]


@dataclass(frozen=True)
class DeadlineRule:
    """The deadlines of one pair of parties (or the defaults, when ``parties`` is None)."""

    seconds: dict[Tier, int]
    parties: tuple[str, str] | None = None

    def for_tier(self, tier: Tier) -> timedelta:
        return timedelta(seconds=self.seconds[tier])


DEFAULT_RULE = DeadlineRule(dict(DEFAULT_DEADLINES_S))


def pair(party_a: str, party_b: str) -> tuple[str, str]:
    low, high = sorted((party_a, party_b))
    return (low, high)


def validate_deadlines(seconds: dict[Tier, int]) -> list[tuple[str, str]]:
    """Problems with a set of deadlines, as (field, reason); a higher tier may not be quicker.

    A quicker higher tier would make an escalated item fall due before the item it
    escalates had been given its own time, which reads as a mistake in the rule.
    """
    problems = []
    for tier in TIERS:
        value = seconds[tier]
        if not 60 <= value <= MAX_DEADLINE_S:
            problems.append((f"{tier.value}_s", f"must be between 60 and {MAX_DEADLINE_S} seconds"))
    for low, high in pairwise(TIERS):
        if seconds[high] < seconds[low]:
            problems.append(
                (f"{high.value}_s", f"must not be shorter than the {low.value} deadline")
            )
    return problems


@dataclass(frozen=True)
class Pending:
    """One party's outstanding acknowledgement of one item, as the deadlines table holds it."""

    item_kind: ItemKind
    item_id: str
    party_id: str
    tier: Tier
    due_at: datetime


@dataclass(frozen=True)
class Escalate:
    """Move the item one tier up; it is due again ``next_due_at``."""

    pending: Pending
    to_tier: Tier
    next_due_at: datetime


@dataclass(frozen=True)
class ToAgenda:
    """The top tier's deadline passed: the item goes on the leadership agenda."""

    pending: Pending


Step = Escalate | ToAgenda


def steps_due(pending: Pending, rule: DeadlineRule, now: datetime) -> list[Step]:
    """Every escalation that is due for ``pending`` by ``now``, in order.

    Each next deadline runs from the previous one, not from the moment the sweep noticed:
    a sweep that runs late (a restart, a busy server) fires the same escalations with the
    same deadlines as one that ran on time, and may fire several at once.
    """
    steps: list[Step] = []
    current = pending
    while current.due_at <= now:
        upper = next_tier(current.tier)
        if upper is None:
            steps.append(ToAgenda(current))
            break
        next_due = current.due_at + rule.for_tier(upper)
        steps.append(Escalate(current, upper, next_due))
        current = Pending(current.item_kind, current.item_id, current.party_id, upper, next_due)
    return steps


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def check_moment(field: str, moment: datetime) -> None:
    """Refuses instants outside 1970–2200 (and naive ones): nothing the channel records lies
    there, and arithmetic near the ends of the calendar would overflow."""
    if moment.tzinfo is None:
        raise InvalidInput.at(field, "must carry a time zone (RFC 3339)")
    if not EARLIEST <= moment < LATEST:
        raise InvalidInput.at(field, "must lie between 1970 and 2200")
