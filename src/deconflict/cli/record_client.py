"""The record's part of the CLI clients: keys, witnesses, events and signed acknowledgements.

Mixed into :class:`~deconflict.cli.clients.LocalClient` and
:class:`~deconflict.cli.clients.HttpClient`.  Signing happens here, in the party's own process,
with its key file: the service only ever receives the signature.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from deconflict.core.record.acknowledgements import (
    PartyKey,
    check_template,
    sign_acknowledgement,
)

if TYPE_CHECKING:
    import httpx

    from deconflict.service.deconflict import Deconflict

JSON = Any


class RecordClient(Protocol):
    """What the record's commands need from either client."""

    def acknowledge(self, advisory_id: str, note: str | None) -> JSON: ...
    def register_party_key(self, public_key: str, replaces: str | None) -> JSON: ...
    def revoke_party_key(self, key_id: str, reason: str | None) -> JSON: ...
    def party_keys(self) -> JSON: ...
    def register_witness(self, vkey: str) -> JSON: ...
    def record_events(self, after: int, limit: int) -> JSON: ...
    def bundle(self) -> JSON: ...
    def acknowledge_signed(self, advisory_id: str, note: str | None, key: PartyKey) -> JSON: ...


def _first_event(page: JSON, seq: int) -> dict[str, Any] | None:
    events = page.get("events") or []
    return events[0] if events and events[0].get("seq") == seq else None


class LocalRecordClient:
    service: Deconflict

    def _call(self, method: Any, *args: Any) -> JSON:
        raise NotImplementedError

    def register_party_key(self, public_key: str, replaces: str | None) -> JSON:
        return self._call(self.service.keys.register, public_key, replaces)

    def revoke_party_key(self, key_id: str, reason: str | None) -> JSON:
        return self._call(self.service.keys.revoke, key_id, reason)

    def party_keys(self) -> JSON:
        return self._call(self.service.keys.all)

    def register_witness(self, vkey: str) -> JSON:
        return self._call(self.service.keys.register_witness, vkey)

    def record_events(self, after: int, limit: int) -> JSON:
        return self._call(self.service.record.events, after, limit)

    def bundle(self) -> JSON:
        from deconflict.service.bundle import export_bundle

        return self._call(lambda who: export_bundle(self.service, who.party_id, who))

    def acknowledge_signed(self, advisory_id: str, note: str | None, key: PartyKey) -> JSON:
        template = self._call(self.service.keys.template, advisory_id)["payload"]
        seq = template["event"]["seq"]
        check_template(template, _first_event(self.record_events(seq - 1, 1), seq))
        signed = sign_acknowledgement(template, key, self.service.clock.now(), note)
        return self._call(self.service.advisories.acknowledge, advisory_id, note, signed)


class HttpRecordClient:
    http: httpx.Client

    def _send(self, method: str, path: str, **kwargs: Any) -> JSON:
        raise NotImplementedError

    def register_party_key(self, public_key: str, replaces: str | None) -> JSON:
        body = {"public_key": public_key, "replaces": replaces}
        return self._send("POST", "/v1/record/party-keys", json=body)

    def revoke_party_key(self, key_id: str, reason: str | None) -> JSON:
        return self._send("POST", f"/v1/record/party-keys/{key_id}/revoke", json={"reason": reason})

    def party_keys(self) -> JSON:
        return self._send("GET", "/v1/record/party-keys")

    def register_witness(self, vkey: str) -> JSON:
        return self._send("POST", "/v1/record/witnesses", json={"vkey": vkey})

    def record_events(self, after: int, limit: int) -> JSON:
        return self._send("GET", "/v1/record/events", params={"after": after, "limit": limit})

    def bundle(self) -> JSON:
        return self._send("GET", "/v1/record/bundle")

    def acknowledge_signed(self, advisory_id: str, note: str | None, key: PartyKey) -> JSON:
        template = self._send("GET", f"/v1/record/advisories/{advisory_id}/acknowledgement")
        template = template["payload"]
        seq = template["event"]["seq"]
        check_template(template, _first_event(self.record_events(seq - 1, 1), seq))
        signed = sign_acknowledgement(template, key, datetime.now(UTC), note)
        return self._send(
            "POST",
            f"/v1/advisories/{advisory_id}/acknowledge",
            json={"note": note, "signed": signed},
        )
