"""Party signing keys, witness keys, and the check of signed acknowledgements.

Who registers what, and why (docs/record.md §7):

* A party's **leadership** registers, rotates and revokes the party's Ed25519 keys.  The host
  administrator may not: a key the host chose could sign acknowledgements the party never gave.
  Every change is an event addressed to every party and the host, so each party sees in its own
  bundle every key ever registered in its name and can repudiate one it did not register.
* The **host administrator** registers witness verifier keys: witnesses cosign the host's own
  log, and a party decides for itself which witnesses it trusts when it verifies.
* While a party has **no active key**, it may acknowledge unsigned (the record marks the
  acknowledgement as unsigned: its body has no ``signature``).  Once it has one, every
  acknowledgement must be signed, so that the host cannot fall back to unsigned ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from deconflict.core.errors import InvalidInput, NotFound, StateConflict
from deconflict.core.events import EVERY_PARTY, HOST, EventKind, NewEvent
from deconflict.core.parties import Action, Principal
from deconflict.core.record.acknowledgements import (
    AcknowledgementError,
    acknowledgement_template,
    check_payload,
    party_key_id,
    public_key_from_b64,
    verify_acknowledgement,
)
from deconflict.core.record.leaves import unb64
from deconflict.core.record.notes import ALG_COSIGNATURE_V1, NoteError, Verifier
from deconflict.core.visibility import AdvisoryView
from deconflict.service.sequencer import Transaction
from deconflict.storage import merkle_store as store
from deconflict.storage import queries

if TYPE_CHECKING:
    from deconflict.service.deconflict import Deconflict

MAX_CLOCK_SKEW = timedelta(minutes=5)
"""How far the signed ``acknowledged_at`` may be from the service's clock."""
PUBLIC = frozenset({HOST, EVERY_PARTY})


class PartyKeyView(BaseModel):
    model_config = ConfigDict(frozen=True)
    key_id: str
    party_id: str
    public_key: str
    registered_at: str
    registered_seq: int
    revoked_at: str | None
    revoked_seq: int | None


class WitnessView(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    vkey: str


class AcknowledgementTemplate(BaseModel):
    """What a party signs, less ``key_id``, ``acknowledged_at`` and ``note``, which it adds."""

    model_config = ConfigDict(frozen=True)
    payload: dict[str, Any]


def _key_view(row: Any) -> PartyKeyView:
    return PartyKeyView(
        key_id=row.key_id,
        party_id=row.party_id,
        public_key=row.public_key,
        registered_at=row.registered_at,
        registered_seq=row.registered_seq,
        revoked_at=row.revoked_at,
        revoked_seq=row.revoked_seq,
    )


def versions_of(view: AdvisoryView) -> dict[str, Any]:
    """The declaration versions the party was shown: its own, and the other side's if disclosed."""
    return {
        "own": {"declaration_id": view.own.declaration_id, "version": view.own.version},
        "other": {
            "party_id": view.other.party_id,
            "declaration_id": view.other.declaration_id,
            "version": view.other.version,
        },
    }


@dataclass
class Keys:
    service: Deconflict

    # --- party keys ------------------------------------------------------------------------------

    def register(
        self, who: Principal, public_key: str, replaces: str | None = None
    ) -> PartyKeyView:
        """Register a key for the caller's party; with ``replaces``, revoke that key in the same
        write (a rotation), so there is no moment with neither or both."""
        party = who.require_party(Action.manage_keys)
        try:
            raw = public_key_from_b64(public_key)
        except ValueError as exc:
            raise InvalidInput.at("public_key", f"an Ed25519 public key in base64: {exc}") from None
        key_id = party_key_id(raw)

        def command(tx: Transaction) -> PartyKeyView:
            if store.party_key(tx.conn, key_id) is not None:
                raise StateConflict(f"key {key_id} is already registered")
            if replaces is not None:
                self._active_key_of(tx.conn, party, replaces, "replaces")
            tx.append(
                NewEvent(
                    EventKind.party_key_registered,
                    {"party_id": party, "key_id": key_id, "public_key": public_key},
                    PUBLIC,
                    who.member_id,
                )
            )
            if replaces is not None:
                self._revoke(tx, who, party, replaces, f"rotated to {key_id}")
            row = store.party_key(tx.conn, key_id)
            return _key_view(row)

        return self.service.sequencer.write(command)

    def revoke(self, who: Principal, key_id: str, reason: str | None = None) -> PartyKeyView:
        party = who.require_party(Action.manage_keys)

        def command(tx: Transaction) -> PartyKeyView:
            self._active_key_of(tx.conn, party, key_id, "key_id")
            self._revoke(tx, who, party, key_id, reason)
            return _key_view(store.party_key(tx.conn, key_id))

        return self.service.sequencer.write(command)

    def _active_key_of(self, conn: sa.Connection, party: str, key_id: str, field_name: str) -> Any:
        row = store.party_key(conn, key_id)
        if row is None or row.party_id != party:
            raise NotFound(f"no key {key_id} of party {party}")
        if row.revoked_seq is not None:
            raise StateConflict(f"key {key_id} was already revoked")
        return row

    def _revoke(
        self, tx: Transaction, who: Principal, party: str, key_id: str, reason: str | None
    ) -> None:
        tx.append(
            NewEvent(
                EventKind.party_key_revoked,
                {"party_id": party, "key_id": key_id, "reason": reason},
                PUBLIC,
                who.member_id,
            )
        )

    def all(self, who: Principal, party_id: str | None = None) -> list[PartyKeyView]:
        """Every party's keys, revoked ones included: public keys are public, and a verifier
        needs the history to judge a signature made before a revocation."""
        if who.party_id is not None:
            who.require(Action.read)
        with self.service.db.connect() as conn:
            return [_key_view(r) for r in store.party_keys(conn, party_id)]

    # --- witnesses -------------------------------------------------------------------------------

    def register_witness(self, who: Principal, vkey: str) -> WitnessView:
        who.require(Action.administer)
        try:
            verifier = Verifier.from_key(vkey)
        except NoteError as exc:
            raise InvalidInput.at("vkey", str(exc)) from None
        if verifier.sig_type != ALG_COSIGNATURE_V1:
            raise InvalidInput.at("vkey", "a witness key has signature type 0x04 (cosignature/v1)")

        def command(tx: Transaction) -> WitnessView:
            tx.append(
                NewEvent(
                    EventKind.witness_registered,
                    {"name": verifier.name, "vkey": verifier.vkey},
                    PUBLIC,
                    who.member_id,
                )
            )
            return WitnessView(name=verifier.name, vkey=verifier.vkey)

        return self.service.sequencer.write(command)

    def witnesses(self) -> list[WitnessView]:
        with self.service.db.connect() as conn:
            return [
                WitnessView(name=Verifier.from_key(v).name, vkey=v)
                for v in store.witness_vkeys(conn)
            ]

    # --- acknowledgements ------------------------------------------------------------------------

    def template(self, who: Principal, advisory_id: str) -> AcknowledgementTemplate:
        party = who.require_party(Action.read)
        with self.service.db.connect() as conn:
            return AcknowledgementTemplate(payload=self.expected(conn, party, advisory_id))

    def expected(self, conn: sa.Connection, party: str, advisory_id: str) -> dict[str, Any]:
        stored = queries.advisory(conn, advisory_id)
        view = None if stored is None else self.service.advisories._view(conn, stored, party)
        seq = store.advisory_raised_seq(conn, advisory_id)
        if view is None or seq is None:
            raise NotFound(f"no advisory {advisory_id}")
        leaf = store.SqlNodeStore(conn).get(0, seq - 1)
        return acknowledgement_template(advisory_id, party, seq, leaf, versions_of(view))

    def check(
        self,
        conn: sa.Connection,
        party: str,
        advisory_id: str,
        note: str | None,
        signed: dict[str, Any] | None,
        now: datetime,
    ) -> dict[str, Any] | None:
        """The ``signature`` member for the acknowledgement event, or None for an unsigned one.

        Raises :class:`InvalidInput` naming the field of a bad signed acknowledgement, or asking
        for a signature when the party has an active key.
        """
        active = [r for r in store.party_keys(conn, party) if r.revoked_seq is None]
        if signed is None:
            if active:
                raise InvalidInput.at(
                    "signed",
                    f"party {party} has an active signing key ({active[0].key_id}); "
                    "acknowledgements must be signed with it",
                )
            return None
        try:
            return self._verify(conn, party, advisory_id, note, signed, now)
        except AcknowledgementError as exc:
            raise InvalidInput.at(exc.field, exc.reason) from None

    def _verify(
        self,
        conn: sa.Connection,
        party: str,
        advisory_id: str,
        note: str | None,
        signed: dict[str, Any],
        now: datetime,
    ) -> dict[str, Any]:
        payload = signed.get("payload")
        check_payload(payload, self.expected(conn, party, advisory_id), note)
        assert isinstance(payload, dict)
        at = payload["acknowledged_at"]
        try:
            moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise AcknowledgementError(
                "signed.payload.acknowledged_at", "must be an RFC 3339 UTC time"
            ) from None
        if not at.endswith("Z") or moment.utcoffset() is None or abs(moment - now) > MAX_CLOCK_SKEW:
            raise AcknowledgementError(
                "signed.payload.acknowledged_at",
                f"must be the current UTC time ending in Z, within {MAX_CLOCK_SKEW} "
                "of the service's clock",
            )
        key = (
            store.party_key(conn, payload["key_id"]) if isinstance(payload["key_id"], str) else None
        )
        if key is None or key.party_id != party:
            raise AcknowledgementError("signed.payload.key_id", f"is not a key of party {party}")
        if key.revoked_seq is not None:
            raise AcknowledgementError("signed.payload.key_id", "was revoked")
        verify_acknowledgement(payload, signed.get("signature"), unb64(key.public_key, 32))
        return {"payload": payload, "signature": signed["signature"]}
