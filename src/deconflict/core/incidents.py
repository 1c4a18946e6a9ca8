"""Incidents: what happened when prevention failed, and each party's own account of it.

The service never decides what happened. It keeps every involved party's account side by
side, versioned and never overwritten, so the record can hold "an exchange of fire took
place" beside "we have no information on any exchange of fire". The status says how far
the parties have got in agreeing, nothing more:

``reported`` → ``under_discussion`` → ``settled`` (every involved party accepted the same
settlement text) or ``disputed`` (an involved party's leadership said it will not agree);
a disputed incident can still be settled by a later settlement text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from deconflict.core.errors import StateConflict


class IncidentType(StrEnum):
    blocked_passage = "blocked_passage"
    close_approach = "close_approach"
    verbal_altercation = "verbal_altercation"
    warning_shots = "warning_shots"
    exchange_of_fire = "exchange_of_fire"
    airspace_violation = "airspace_violation"
    collision = "collision"
    other = "other"


class IncidentStatus(StrEnum):
    reported = "reported"
    under_discussion = "under_discussion"
    settled = "settled"
    disputed = "disputed"


class ViewerRole(StrEnum):
    """Why a party can see an incident: it was involved, observed it, or was shown it."""

    involved = "involved"
    observer = "observer"
    shared = "shared"


class Move(StrEnum):
    """What can happen to an incident's status."""

    discuss = "discuss"  # an involved party opens discussion, or another party files an account
    propose = "propose"  # a settlement text is put forward
    settle = "settle"  # the last involved party accepted the settlement text
    dispute = "dispute"


ALLOWED: dict[Move, frozenset[IncidentStatus]] = {
    Move.discuss: frozenset({IncidentStatus.reported}),
    Move.propose: frozenset(
        {IncidentStatus.reported, IncidentStatus.under_discussion, IncidentStatus.disputed}
    ),
    Move.settle: frozenset({IncidentStatus.under_discussion, IncidentStatus.disputed}),
    Move.dispute: frozenset({IncidentStatus.reported, IncidentStatus.under_discussion}),
}

RESULT: dict[Move, IncidentStatus] = {
    Move.discuss: IncidentStatus.under_discussion,
    Move.propose: IncidentStatus.under_discussion,
    Move.settle: IncidentStatus.settled,
    Move.dispute: IncidentStatus.disputed,
}


def transition(status: IncidentStatus, move: Move) -> IncidentStatus:
    """The status after ``move``, or StateConflict (409) when the move does not fit.

    A settled incident stays settled: reopening a settlement the parties all accepted
    would make their acceptance worth nothing. A new incident can link to it instead.
    """
    if status not in ALLOWED[move]:
        raise StateConflict(f"an incident that is {status.value} cannot {move.value}")
    return RESULT[move]


def moves_on_account(status: IncidentStatus, filer: str, reporter: str) -> bool:
    """Whether an account filed by ``filer`` opens the discussion.

    The reporter's own account does not: discussion starts when another side answers.
    """
    return status is IncidentStatus.reported and filer != reporter


@dataclass(frozen=True)
class Settlement:
    version: int
    text: str
    proposed_by: str
    accepted_by: frozenset[str]


def settled_by(settlement: Settlement, involved: frozenset[str]) -> bool:
    """Settled when every involved party accepted this very version of the text."""
    return involved <= settlement.accepted_by


def who_may_file(viewers: dict[str, ViewerRole]) -> frozenset[str]:
    """Involved parties and observers file accounts; a party only shown the incident does not."""
    return frozenset(p for p, r in viewers.items() if r is not ViewerRole.shared)


def involved_parties(viewers: dict[str, ViewerRole]) -> frozenset[str]:
    return frozenset(p for p, r in viewers.items() if r is ViewerRole.involved)
