"""Two ways for the CLI to reach a Deconflict: through its HTTP API, or straight to a database file.

Both answer with the JSON the API would send, so every command prints the same thing
whichever way it went; the tests hold them to that.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import httpx
from pydantic import ValidationError

from deconflict.cli.record_client import HttpRecordClient, LocalRecordClient
from deconflict.core.declarations import DeclarationFeature
from deconflict.core.errors import DeconflictError, validation_problems
from deconflict.core.parties import Role
from deconflict.service.deconflict import Deconflict

JSON = Any


class ClientError(Exception):
    """A refusal from the service, carrying its problem document."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail", "request failed"))
        self.problem = problem


class Client(Protocol):
    def me(self) -> JSON: ...
    def create_party(self, party_id: str, name: str, aliases: list[str]) -> JSON: ...
    def add_member(self, party_id: str, name: str, role: Role) -> JSON: ...
    def set_rule(
        self, party_a: str, party_b: str, category: str | None, distance_m: float
    ) -> JSON: ...
    def declare(self, feature: dict[str, Any]) -> JSON: ...
    def check(self, feature: dict[str, Any]) -> JSON: ...
    def declarations(self) -> JSON: ...
    def advisories(self, status: str | None) -> JSON: ...
    def acknowledge(self, advisory_id: str, note: str | None) -> JSON: ...


def _dump(value: Any) -> JSON:
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value.model_dump(mode="json")


class LocalClient(LocalRecordClient):
    """Calls the service object directly, with the same authentication as the API."""

    def __init__(self, service: Deconflict, token: str) -> None:
        self.service = service
        self.token = token

    def _call(self, method: Any, *args: Any) -> JSON:
        try:
            return _dump(method(self.service.authenticate(self.token), *args))
        except DeconflictError as error:
            raise ClientError(
                {
                    "title": error.title,
                    "status": error.status,
                    "detail": error.detail,
                    "errors": [{"field": p.field, "reason": p.reason} for p in error.problems],
                }
            ) from error

    def _feature(self, feature: dict[str, Any]) -> DeclarationFeature:
        try:
            return DeclarationFeature.model_validate_json(json.dumps(feature))
        except DeconflictError as error:
            raise ClientError(
                {
                    "status": error.status,
                    "detail": error.detail,
                    "errors": [{"field": p.field, "reason": p.reason} for p in error.problems],
                }
            ) from error
        except ValidationError as error:
            problems = validation_problems(error.errors())
            raise ClientError(
                {
                    "status": 422,
                    "detail": str(error).splitlines()[0],
                    "errors": [{"field": p.field, "reason": p.reason} for p in problems],
                }
            ) from error

    def me(self) -> JSON:
        return self._call(self.service.parties.me)

    def create_party(self, party_id: str, name: str, aliases: list[str]) -> JSON:
        return self._call(self.service.parties.register, party_id, name, aliases)

    def add_member(self, party_id: str, name: str, role: Role) -> JSON:
        return self._call(self.service.parties.add_member, party_id, name, role)

    def set_rule(self, party_a: str, party_b: str, category: str | None, distance_m: float) -> JSON:
        return self._call(self.service.parties.set_rule, party_a, party_b, category, distance_m)

    def declare(self, feature: dict[str, Any]) -> JSON:
        return self._call(self.service.declarations.declare, self._feature(feature))

    def check(self, feature: dict[str, Any]) -> JSON:
        return self._call(self.service.declarations.check, self._feature(feature))

    def declarations(self) -> JSON:
        from deconflict.service.declarations import DeclarationQuery

        return self._call(self.service.declarations.visible, DeclarationQuery(limit=500))

    def advisories(self, status: str | None) -> JSON:
        return self._call(self.service.advisories.visible, status)

    def acknowledge(self, advisory_id: str, note: str | None) -> JSON:
        return self._call(self.service.advisories.acknowledge, advisory_id, note)


class HttpClient(HttpRecordClient):
    """Speaks to a running server over its ``/v1`` API."""

    def __init__(
        self, base_url: str, token: str, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30.0,
            transport=transport,
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> JSON:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"status": response.status_code, "detail": response.text}
            raise ClientError(problem)
        return response.json()

    def me(self) -> JSON:
        return self._send("GET", "/v1/me")

    def create_party(self, party_id: str, name: str, aliases: list[str]) -> JSON:
        return self._send(
            "POST", "/v1/parties", json={"id": party_id, "name": name, "aliases": aliases}
        )

    def add_member(self, party_id: str, name: str, role: Role) -> JSON:
        return self._send(
            "POST", f"/v1/parties/{party_id}/members", json={"name": name, "role": role.value}
        )

    def set_rule(self, party_a: str, party_b: str, category: str | None, distance_m: float) -> JSON:
        return self._send(
            "PUT",
            "/v1/separation-rules",
            json={
                "party_a": party_a,
                "party_b": party_b,
                "category": category,
                "distance_m": distance_m,
            },
        )

    def declare(self, feature: dict[str, Any]) -> JSON:
        return self._send("POST", "/v1/declarations", json=feature)

    def check(self, feature: dict[str, Any]) -> JSON:
        return self._send("POST", "/v1/declarations/check", json=feature)

    def declarations(self) -> JSON:
        return self._send("GET", "/v1/declarations", params={"limit": 500})

    def advisories(self, status: str | None) -> JSON:
        return self._send("GET", "/v1/advisories", params={"status": status} if status else {})

    def acknowledge(self, advisory_id: str, note: str | None) -> JSON:
        return self._send("POST", f"/v1/advisories/{advisory_id}/acknowledge", json={"note": note})
