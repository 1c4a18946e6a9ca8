"""The conflict engine: which active declarations of other parties a declaration conflicts with.

The engine keeps the active declarations in memory, as :class:`Activity` objects, and is
kept in step with the committed state by the sequencer. It is deliberately small: one
``check`` that finds encounters, and ``upsert``/``remove`` to follow changes, so that a
faster index can replace the plain scan without touching its callers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from deconflict.core.conflicts import Encounter, find_encounter
from deconflict.core.declarations import Activity
from deconflict.core.parties import SeparationRules

METRES_PER_DEGREE_LAT_MIN = 110_574.0
MAX_LAT_FOR_BOX = 89.0


@dataclass(frozen=True)
class Finding:
    """One conflict found: the other declaration and how close they come."""

    other: Activity
    encounter: Encounter


class ConflictEngine(Protocol):
    def upsert(self, activity: Activity) -> None: ...
    def remove(self, declaration_id: str) -> None: ...
    def clear(self) -> None: ...
    def check(self, activity: Activity, rules: SeparationRules) -> list[Finding]: ...
    def __len__(self) -> int: ...


class ScanEngine:
    """Checks every active declaration in turn, after a cheap time and bounding-box test.

    Correct and simple; the reference the faster engines are measured against.
    """

    def __init__(self) -> None:
        self._active: dict[str, Activity] = {}

    def __len__(self) -> int:
        return len(self._active)

    def upsert(self, activity: Activity) -> None:
        self._active[activity.declaration_id] = activity

    def remove(self, declaration_id: str) -> None:
        self._active.pop(declaration_id, None)

    def clear(self) -> None:
        self._active.clear()

    def active(self) -> Iterable[Activity]:
        return self._active.values()

    def check(self, activity: Activity, rules: SeparationRules) -> list[Finding]:
        reach_start, reach_end = activity.reach
        margin_m = rules.largest_m + activity.buffer_m
        findings = []
        for other in self._active.values():
            if (
                other.party_id == activity.party_id
                or other.declaration_id == activity.declaration_id
            ):
                continue
            other_start, other_end = other.reach
            if other_start > reach_end or reach_start > other_end:
                continue
            if not boxes_within(activity, other, margin_m + other.buffer_m):
                continue
            rule_m = rules.between(
                activity.party_id, other.party_id, activity.category, other.category
            )
            encounter = find_encounter(activity, other, rule_m)
            if encounter is not None:
                findings.append(Finding(other, encounter))
        findings.sort(key=lambda f: (f.encounter.distance_m, f.other.declaration_id))
        return findings


def boxes_within(a: Activity, b: Activity, distance_m: float) -> bool:
    """Whether the bounding boxes could be within ``distance_m``; never wrongly says no."""
    a_box = a.geometry.bounds
    b_box = b.geometry.bounds
    worst_lat = min(
        MAX_LAT_FOR_BOX, max(abs(a_box[1]), abs(a_box[3]), abs(b_box[1]), abs(b_box[3]))
    )
    dlat = distance_m / METRES_PER_DEGREE_LAT_MIN
    dlon = distance_m / (METRES_PER_DEGREE_LAT_MIN * math.cos(math.radians(worst_lat)))
    return not (
        a_box[0] - dlon > b_box[2]
        or b_box[0] - dlon > a_box[2]
        or a_box[1] - dlat > b_box[3]
        or b_box[1] - dlat > a_box[3]
    )
