"""Errors the domain raises; the API turns each into an RFC 9457 problem document.

Each error carries the field it concerns (a dotted path into the request body, such as
``properties.times[3]``) so that a client can point its user at the exact input to fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    """One reason an input was refused, tied to the field that caused it."""

    field: str
    reason: str


class DeconflictError(Exception):
    """Base of every error the domain raises on purpose."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, problems: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems: list[FieldProblem] = problems or []


class InvalidInput(DeconflictError):
    """The input is well-formed JSON but breaks a rule of the domain."""

    status = 422
    title = "Invalid input"

    @classmethod
    def at(cls, field_path: str, reason: str) -> InvalidInput:
        return cls(f"{field_path}: {reason}", [FieldProblem(field_path, reason)])


class NotFound(DeconflictError):
    """The object does not exist, or exists but the caller may not know that it does."""

    status = 404
    title = "Not found"


class NotPermitted(DeconflictError):
    """The caller may see the object but their role may not perform this action on it."""

    status = 403
    title = "Forbidden"


class Unauthenticated(DeconflictError):
    status = 401
    title = "Unauthenticated"


class VersionConflict(DeconflictError):
    """An update named a version that is no longer the current one."""

    status = 409
    title = "Version conflict"


class StateConflict(DeconflictError):
    """The action does not fit the object's current state (for example, amending a cancelled declaration)."""

    status = 409
    title = "Conflict with current state"


@dataclass
class ProblemList:
    """Collects several field problems so that a client learns about all of them at once."""

    problems: list[FieldProblem] = field(default_factory=list)

    def add(self, field_path: str, reason: str) -> None:
        self.problems.append(FieldProblem(field_path, reason))

    def raise_if_any(self) -> None:
        if self.problems:
            first = self.problems[0]
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            raise InvalidInput(f"{first.field}: {first.reason}{more}", self.problems)


def field_path(location: Sequence[Any]) -> str:
    """``('body', 'properties', 'times', 3)`` becomes ``properties.times[3]``."""
    parts = list(location)
    prefix = ""
    if parts and parts[0] == "body":
        parts = parts[1:]
    elif parts and parts[0] in ("query", "path", "header"):
        prefix = f"{parts[0]}."
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return prefix + (text or "body")


def validation_problems(errors: Sequence[Any]) -> list[FieldProblem]:
    problems = []
    for error in errors:
        location = [p for p in error.get("loc", ()) if not _is_union_tag(p)]
        reason = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        problems.append(FieldProblem(field_path(location), reason))
    return problems


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the union member's type in the location (e.g. "list[str]"); a client never named it.
    return isinstance(part, str) and ("[" in part or "(" in part)
