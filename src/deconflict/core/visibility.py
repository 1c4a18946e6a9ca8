"""What each party may see (DESIGN §4), as pure functions from the stored state to views.

Every read path in the service goes through these functions, so there is one place that
decides what leaves the service. The rules:

1. A party sees its own declarations in full.
2. Another party sees a declaration only if it is shared with it (or with ``all``), and at
   the precision granted to it: a coarsened geometry that contains the true one.
3. An advisory reaches a side only if the other side's declaration is visible to it, or,
   failing that, as an undisclosed-activity notice when the other side asked for that.
4. Everything else answers "not found".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from deconflict.core import geojson
from deconflict.core.clock import utc_text
from deconflict.core.conflicts import Encounter
from deconflict.core.declarations import DeclarationFeature, Kind, Status, from_epoch, is_stale
from deconflict.core.precision import (
    coarsen,
    coarsen_point,
    coarsened_bounds,
    round_distance,
    round_instant,
)

OWNER_ONLY_PROPERTIES = ("share_with", "precision_m", "disclose_conflicts", "reconfirm_every_s")


class Disclosure(StrEnum):
    """How much of an advisory a recipient gets."""

    full = "full"
    undisclosed = "undisclosed"


@dataclass(frozen=True)
class StoredDeclaration:
    id: str
    party_id: str
    version: int
    status: Status
    feature: DeclarationFeature
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime


@dataclass(frozen=True)
class AdvisorySide:
    declaration_id: str
    version: int
    party_id: str


@dataclass(frozen=True)
class Acknowledgement:
    party_id: str
    member_id: str
    at: datetime
    note: str | None


@dataclass(frozen=True)
class StoredAdvisory:
    id: str
    status: Literal["open", "resolved"]
    a: AdvisorySide
    b: AdvisorySide
    encounter: Encounter
    raised_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    recipients: dict[str, Disclosure]
    acknowledgements: list[Acknowledgement] = field(default_factory=list)
    supersedes: str | None = None


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


def shared_precision(
    feature: DeclarationFeature, owner: str, viewer: str | None
) -> tuple[bool, float | None]:
    """Whether ``viewer`` may see the declaration, and the precision it is granted (None: exact)."""
    if viewer is None:
        return (False, None)
    if viewer == owner:
        return (True, None)
    share = feature.properties.share_with
    if share != "all" and viewer not in share:
        return (False, None)
    return (True, feature.properties.precision_m.get(viewer))


class DeclarationView(View):
    """A declaration as a GeoJSON Feature, shaped for the party looking at it."""

    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any]
    properties: dict[str, Any]


def declaration_view(
    stored: StoredDeclaration, viewer: str | None, now: datetime
) -> DeclarationView | None:
    visible, precision = shared_precision(stored.feature, stored.party_id, viewer)
    if not visible:
        return None
    feature = stored.feature
    props = feature.properties.model_dump(mode="json", exclude_none=True)
    geometry = feature.geometry.model_dump()
    if viewer != stored.party_id:
        for name in OWNER_ONLY_PROPERTIES:
            props.pop(name, None)
    if feature.properties.kind is not Kind.movement:
        props.pop("schedule_tolerance_s", None)
    if precision is not None:
        geometry = geojson.to_geojson(coarsen(feature.shape(), precision))
        if feature.properties.kind is Kind.movement:
            times = props.pop("times")
            props["start"], props["end"] = times[0], times[-1]
    expires = _expires(feature)
    props.update(
        {
            "party_id": stored.party_id,
            "version": stored.version,
            "status": stored.status.value,
            "stale": stored.status is Status.active and is_stale(feature, stored.confirmed_at, now),
            "coarsened_to_m": precision,
            "created_at": utc_text(stored.created_at),
            "updated_at": utc_text(stored.updated_at),
            "expires_at": None if expires is None else utc_text(expires),
        }
    )
    return DeclarationView(id=stored.id, geometry=geometry, properties=props)


def view_footprint(feature: DeclarationFeature) -> BaseGeometry:
    """Where every party's view of the declaration lies, for indexing map and bbox queries.

    Exact views (the owner's, and shares without a precision) show the true geometry; a view
    at precision ``p`` lies within :func:`coarsened_bounds` for ``p``. So it is the true
    geometry when nobody is granted a precision, else the box around it and every coarsened
    view. Storage prefilters with it, never more narrowly than any view, and the service
    then tests the view itself, so a filter cannot tell a party more than its view does.
    """
    shape = feature.shape()
    precisions = sorted(set(feature.properties.precision_m.values()))
    if not precisions:
        return shape
    boxes = [shape.bounds, *(coarsened_bounds(shape, p) for p in precisions)]
    return box(
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _expires(feature: DeclarationFeature) -> datetime | None:
    from deconflict.core.declarations import expires_at

    return expires_at(feature)


def advisory_recipients(
    feature_a: DeclarationFeature, party_a: str, feature_b: DeclarationFeature, party_b: str
) -> dict[str, Disclosure]:
    """Who receives the advisory about a conflict between a and b, and how much of it."""
    recipients: dict[str, Disclosure] = {}
    for me, other_feature, other_party in (
        (party_a, feature_b, party_b),
        (party_b, feature_a, party_a),
    ):
        visible, _ = shared_precision(other_feature, other_party, me)
        if visible:
            recipients[me] = Disclosure.full
        elif other_feature.properties.disclose_conflicts:
            recipients[me] = Disclosure.undisclosed
    return recipients


class SideView(View):
    party_id: str
    declaration_id: str | None
    version: int | None


class ClosestApproachView(View):
    distance_m: float | None
    separation_m: float | None
    place: tuple[float, float]
    place_precision_m: float | None
    instant_own: datetime
    instant_other: datetime | None


class AcknowledgementView(View):
    party_id: str
    at: datetime
    note: str | None


class AdvisoryView(View):
    id: str
    status: Literal["open", "resolved"]
    disclosure: Disclosure
    own: SideView
    other: SideView
    closest_approach: ClosestApproachView
    window_start: datetime | None
    window_end: datetime | None
    raised_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    supersedes: str | None
    acknowledgements: list[AcknowledgementView]


@dataclass(frozen=True)
class DisclosurePolicy:
    """How coarse an undisclosed-activity notice is (DESIGN §4 rule 3: 10 km and 1 h by default)."""

    precision_m: float = 10_000.0
    time_step_s: int = 3600


def advisory_view(
    stored: StoredAdvisory,
    viewer: str | None,
    other_feature: DeclarationFeature,
    policy: DisclosurePolicy,
) -> AdvisoryView | None:
    """The advisory as ``viewer`` may see it; ``other_feature`` is the other side's declaration version."""
    if viewer is None or viewer not in stored.recipients:
        return None
    mine_is_a = stored.a.party_id == viewer
    own, other = (stored.a, stored.b) if mine_is_a else (stored.b, stored.a)
    enc = stored.encounter
    instant_own, instant_other = (
        (enc.instant_a, enc.instant_b) if mine_is_a else (enc.instant_b, enc.instant_a)
    )
    own_side = SideView(
        party_id=own.party_id, declaration_id=own.declaration_id, version=own.version
    )
    if stored.recipients[viewer] is Disclosure.undisclosed:
        return AdvisoryView(
            id=stored.id,
            status=stored.status,
            disclosure=Disclosure.undisclosed,
            own=own_side,
            other=SideView(party_id=other.party_id, declaration_id=None, version=None),
            closest_approach=ClosestApproachView(
                distance_m=None,
                separation_m=None,
                place=coarsen_point(enc.place[0], enc.place[1], policy.precision_m),
                place_precision_m=policy.precision_m,
                instant_own=from_epoch(round_instant(instant_own, policy.time_step_s)),
                instant_other=None,
            ),
            window_start=None,
            window_end=None,
            raised_at=stored.raised_at,
            resolved_at=stored.resolved_at,
            resolution=stored.resolution,
            supersedes=stored.supersedes,
            acknowledgements=_acks(stored, {viewer}),
        )
    _, precision = shared_precision(other_feature, other.party_id, viewer)
    place = enc.place if precision is None else coarsen_point(enc.place[0], enc.place[1], precision)
    distance = enc.distance_m if precision is None else round_distance(enc.distance_m, precision)
    return AdvisoryView(
        id=stored.id,
        status=stored.status,
        disclosure=Disclosure.full,
        own=own_side,
        other=SideView(
            party_id=other.party_id, declaration_id=other.declaration_id, version=other.version
        ),
        closest_approach=ClosestApproachView(
            distance_m=distance,
            separation_m=enc.separation_m,
            place=place,
            place_precision_m=precision,
            instant_own=from_epoch(instant_own),
            instant_other=from_epoch(instant_other),
        ),
        window_start=from_epoch(enc.window_start),
        window_end=None if enc.window_end is None else from_epoch(enc.window_end),
        raised_at=stored.raised_at,
        resolved_at=stored.resolved_at,
        resolution=stored.resolution,
        supersedes=stored.supersedes,
        acknowledgements=_acks(
            stored, {p for p, d in stored.recipients.items() if d is Disclosure.full}
        ),
    )


def _acks(stored: StoredAdvisory, parties: set[str]) -> list[AcknowledgementView]:
    return [
        AcknowledgementView(party_id=a.party_id, at=a.at, note=a.note)
        for a in stored.acknowledgements
        if a.party_id in parties
    ]


def advisory_feature(view: AdvisoryView) -> dict[str, Any]:
    """The advisory as a GeoJSON Feature at its (possibly coarsened) place of closest approach."""
    return {
        "type": "Feature",
        "id": view.id,
        "geometry": {"type": "Point", "coordinates": list(view.closest_approach.place)},
        "properties": view.model_dump(mode="json", exclude={"id"}),
    }
