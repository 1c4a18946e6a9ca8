"""Time as a dependency, so that deadlines and expiry can be tested without waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


def utc_text(moment: datetime) -> str:
    """An instant as stored and sent: RFC 3339 in UTC with a ``Z``.

    One instant has one spelling, so stored timestamps sort and compare correctly as text
    (the expiry sweep and deadline queries rely on that) on every backend.
    """
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class OffsetClock:
    """Wall-clock time shifted to start at a chosen moment.

    The demo replays January 2020 at real speed: deadlines still run in real minutes, but
    the dates match the scenario.
    """

    def __init__(self, starts_at: datetime) -> None:
        self._offset = starts_at - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, by: timedelta) -> None:
        """Jumps forward (never back, so the log's timestamps stay in order); the demo uses
        it to let a deadline pass while loading."""
        self._offset += max(by, timedelta(0))


class ManualClock:
    """A clock that only moves when told to; tests drive expiry and deadlines with it."""

    def __init__(self, at: datetime) -> None:
        self._at = at

    def now(self) -> datetime:
        return self._at

    def advance(self, by: timedelta) -> None:
        self._at += by

    def set(self, at: datetime) -> None:
        self._at = at
