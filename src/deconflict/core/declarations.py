"""Declarations: what a party tells the others about where it will be.

A declaration arrives as a GeoJSON Feature (RFC 7946) and is checked here, once, for every
way in: the API, the CLI and the demo all pass through :class:`DeclarationFeature`. What
the conflict engine needs is then distilled into an :class:`Activity`, with times as
epoch seconds and the geometry as a shapely object, so that the engine's inner loops do
not touch pydantic or datetime.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry.base import BaseGeometry

from deconflict.core import geojson
from deconflict.core.errors import InvalidInput

DEFAULT_SCHEDULE_TOLERANCE_S = 900.0
DEFAULT_RECONFIRM_EVERY = timedelta(days=7)
MAX_TOLERANCE_S = 7 * 24 * 3600.0
MAX_BUFFER_M = 100_000.0
MAX_PRECISION_M = 1_000_000.0
PARTY_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"


class Kind(StrEnum):
    site = "site"
    area = "area"
    movement = "movement"


GEOMETRY_TYPES_BY_KIND: dict[Kind, frozenset[str]] = {
    Kind.site: frozenset({"Point", "Polygon", "MultiPolygon"}),
    Kind.area: frozenset({"Polygon", "MultiPolygon"}),
    Kind.movement: frozenset({"LineString"}),
}


class Status(StrEnum):
    active = "active"
    cancelled = "cancelled"
    expired = "expired"


class StrictModel(BaseModel):
    """Refuses unknown fields, NaN and silent type coercion: a typo must not become a default."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class Altitude(StrictModel):
    """A vertical band in metres above mean sea level; absent means from the surface up."""

    min_m: float = Field(ge=-500.0, le=100_000.0)
    max_m: float = Field(ge=-500.0, le=100_000.0)

    @model_validator(mode="after")
    def _ordered(self) -> Altitude:
        if self.max_m < self.min_m:
            raise ValueError("max_m must not be below min_m")
        return self


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(
    9999, 1, 1, tzinfo=UTC
)  # leaves room to add a tolerance or round up without overflowing


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "timestamp must carry a time zone (RFC 3339), for example 2020-01-20T09:00:00Z"
        )
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError("timestamp must lie between 1970-01-01T00:00:00Z and 9999-01-01T00:00:00Z")
    return utc


# Validated per value, so that an error in a list names its index (``properties.times[2]``).
UtcDatetime = Annotated[
    datetime, AfterValidator(_as_utc), Field(description="RFC 3339 timestamp; normalised to UTC")
]


class DeclarationProperties(StrictModel):
    kind: Kind
    start: UtcDatetime | None = Field(None, description="site/area: when it becomes active")
    end: UtcDatetime | None = Field(
        None, description="site/area: when it ends; absent means open-ended"
    )
    times: list[UtcDatetime] | None = Field(
        None, description="movement: one timestamp per vertex, non-decreasing"
    )
    schedule_tolerance_s: float = Field(
        DEFAULT_SCHEDULE_TOLERANCE_S,
        ge=0.0,
        le=MAX_TOLERANCE_S,
        description="movement: how early or late it may run",
    )
    buffer_m: float = Field(0.0, ge=0.0, le=MAX_BUFFER_M)
    altitude: Altitude | None = None
    category: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    label: str | None = Field(None, max_length=200)
    share_with: list[str] | Literal["all"] = Field(
        default_factory=list, description='party ids, or "all"'
    )
    precision_m: dict[str, float] = Field(
        default_factory=dict,
        description="per recipient party: coarsen what it sees to this many metres",
    )
    disclose_conflicts: bool = False
    reconfirm_every_s: int | None = Field(
        None,
        ge=3600,
        le=365 * 24 * 3600,
        description="open-ended site: how often it must be reconfirmed",
    )

    @field_validator("share_with")
    @classmethod
    def _share_ids(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, list):
            import re

            for i, party in enumerate(value):
                if not re.match(PARTY_ID_PATTERN, party):
                    raise InvalidInput.at(
                        f"properties.share_with[{i}]", f"{party!r} is not a party id"
                    )
                if party in value[:i]:
                    raise InvalidInput.at(
                        f"properties.share_with[{i}]", f"lists party {party} twice"
                    )
        return value

    @field_validator("precision_m")
    @classmethod
    def _precisions(cls, value: dict[str, float]) -> dict[str, float]:
        for party, metres in value.items():
            if not math.isfinite(metres) or metres <= 0 or metres > MAX_PRECISION_M:
                raise ValueError(
                    f"precision_m[{party}] must be between 0 and {MAX_PRECISION_M:g} metres"
                )
        return value


class FeatureGeometry(StrictModel):
    """A GeoJSON geometry; its coordinates are checked by :mod:`deconflict.core.geojson`."""

    type: Literal["Point", "LineString", "Polygon", "MultiPolygon"]
    coordinates: list[Any]


class DeclarationFeature(StrictModel):
    """The body of a declaration: a GeoJSON Feature with the properties of DESIGN §3."""

    type: Literal["Feature"]
    geometry: FeatureGeometry
    properties: DeclarationProperties
    id: str | int | None = Field(None, description="ignored; the service assigns ids")
    bbox: list[float] | None = Field(None, description="ignored; recomputed by the service")

    def shape(self) -> BaseGeometry:
        """The validated shapely geometry (lon/lat, 2-D)."""
        return geojson.to_shape(self.geometry.model_dump(), field="geometry")

    @model_validator(mode="after")
    def _consistent(self) -> DeclarationFeature:
        props = self.properties
        allowed = GEOMETRY_TYPES_BY_KIND[props.kind]
        if self.geometry.type not in allowed:
            raise InvalidInput.at(
                "geometry.type",
                f"a {props.kind} must be one of {', '.join(sorted(allowed))}, not {self.geometry.type}",
            )
        shape = self.shape()
        if props.kind is Kind.movement:
            _check_movement_times(props, vertex_count=len(shape.coords))
        else:
            _check_window(props)
        for party in props.precision_m:
            if props.share_with != "all" and party not in props.share_with:
                raise InvalidInput.at(
                    f"properties.precision_m.{party}",
                    "precision given for a party the declaration is not shared with",
                )
        return self


def _check_movement_times(props: DeclarationProperties, vertex_count: int) -> None:
    if props.start is not None or props.end is not None:
        raise InvalidInput.at(
            "properties.start", "a movement is timed by properties.times, not start/end"
        )
    if props.times is None:
        raise InvalidInput.at("properties.times", "a movement needs one timestamp per vertex")
    if len(props.times) != vertex_count:
        raise InvalidInput.at(
            "properties.times",
            f"has {len(props.times)} timestamps for {vertex_count} vertices; give one per vertex",
        )
    for i in range(1, len(props.times)):
        if props.times[i] < props.times[i - 1]:
            raise InvalidInput.at(
                f"properties.times[{i}]", "goes back in time; timestamps must be non-decreasing"
            )
    if props.reconfirm_every_s is not None:
        raise InvalidInput.at(
            "properties.reconfirm_every_s", "only open-ended sites are reconfirmed"
        )


def _check_window(props: DeclarationProperties) -> None:
    if props.times is not None:
        raise InvalidInput.at(
            "properties.times", f"a {props.kind} is timed by start and end, not times"
        )
    if props.start is None:
        raise InvalidInput.at("properties.start", f"a {props.kind} needs a start time")
    if props.end is not None and props.end <= props.start:
        raise InvalidInput.at("properties.end", "must be after properties.start")
    if props.reconfirm_every_s is not None and props.end is not None:
        raise InvalidInput.at(
            "properties.reconfirm_every_s", "only open-ended sites are reconfirmed"
        )


def epoch(value: datetime) -> float:
    return value.timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True, eq=False)
class Activity:
    """What the conflict engine needs to know about one version of one declaration.

    Times are epoch seconds. For a movement, ``times[i]`` is when it is scheduled at vertex
    ``i`` and ``start``/``end`` are its first and last times; for a site or area, ``times``
    is ``None`` and ``end`` is ``None`` when open-ended. ``tolerance_s`` is 0 for sites and
    areas.
    """

    declaration_id: str
    version: int
    party_id: str
    kind: Kind
    geometry: BaseGeometry
    start: float
    end: float | None
    times: np.ndarray[Any, np.dtype[np.float64]] | None
    tolerance_s: float
    buffer_m: float
    altitude: tuple[float, float] | None
    category: str | None

    @property
    def reach(self) -> tuple[float, float]:
        """The earliest and latest instants at which the activity can be anywhere."""
        end = math.inf if self.end is None else self.end + self.tolerance_s
        return (self.start - self.tolerance_s, end)

    @classmethod
    def of(
        cls, declaration_id: str, version: int, party_id: str, feature: DeclarationFeature
    ) -> Activity:
        props = feature.properties
        shape = feature.shape()
        altitude = None if props.altitude is None else (props.altitude.min_m, props.altitude.max_m)
        if props.kind is Kind.movement:
            assert props.times is not None
            times = np.array([epoch(t) for t in props.times], dtype=np.float64)
            return cls(
                declaration_id,
                version,
                party_id,
                props.kind,
                shape,
                float(times[0]),
                float(times[-1]),
                times,
                props.schedule_tolerance_s,
                props.buffer_m,
                altitude,
                props.category,
            )
        assert props.start is not None
        end = None if props.end is None else epoch(props.end)
        return cls(
            declaration_id,
            version,
            party_id,
            props.kind,
            shape,
            epoch(props.start),
            end,
            None,
            0.0,
            props.buffer_m,
            altitude,
            props.category,
        )


def expires_at(feature: DeclarationFeature) -> datetime | None:
    """When the declaration stops being active on its own; ``None`` for open-ended sites."""
    props = feature.properties
    if props.kind is Kind.movement:
        assert props.times is not None
        return props.times[-1] + timedelta(seconds=props.schedule_tolerance_s)
    return props.end


def is_stale(feature: DeclarationFeature, confirmed_at: datetime, now: datetime) -> bool:
    """An open-ended site not reconfirmed in time is still checked, but shown as stale."""
    props = feature.properties
    if props.kind is Kind.movement or props.end is not None:
        return False
    every = (
        timedelta(seconds=props.reconfirm_every_s)
        if props.reconfirm_every_s
        else DEFAULT_RECONFIRM_EVERY
    )
    return now - confirmed_at > every
