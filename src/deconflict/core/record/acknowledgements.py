"""Party signing keys and signed acknowledgements (DESIGN §5).

An acknowledgement is only evidence if the host cannot make one up and the party cannot deny
one, so the party signs it with an Ed25519 key whose private half never leaves the party.  What
it signs is the RFC 8785 canonical JSON of a small payload that pins down exactly what was
acknowledged: the advisory, the declaration versions the party was shown, and the leaf hash of
the ``advisory_raised`` event in the record.  The service checks each field against what it
recorded and then the signature; a party checks them again offline from its bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from deconflict.core.record.canonical import canonical_json
from deconflict.core.record.leaves import b64, unb64

__all__ = [
    "ACK_TYPE",
    "KEY_FILE_FORMAT",
    "AcknowledgementError",
    "PartyKey",
    "acknowledgement_template",
    "check_payload",
    "party_key_id",
    "sign_acknowledgement",
    "verify_acknowledgement",
]

ACK_TYPE = "deconflict/acknowledgement/v1"
"""The payload's ``type`` member: separates these signatures from anything else a key signs."""
KEY_FILE_FORMAT = "deconflict/party-key/v1"
_KEY_ID_DOMAIN = b"deconflict/party-key/v1\n"
PAYLOAD_FIELDS = (
    "type",
    "advisory_id",
    "party_id",
    "key_id",
    "acknowledged_at",
    "event",
    "versions",
    "note",
)


class AcknowledgementError(ValueError):
    """A signed acknowledgement was refused; ``field`` names the offending member."""

    def __init__(self, field_path: str, reason: str) -> None:
        super().__init__(f"{field_path}: {reason}")
        self.field = field_path
        self.reason = reason


def party_key_id(public_key: bytes) -> str:
    """16 hex digits of ``SHA-256("deconflict/party-key/v1\\n" || key)``: short, stable, unique."""
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return hashlib.sha256(_KEY_ID_DOMAIN + public_key).hexdigest()[:16]


def public_key_from_b64(text: str) -> bytes:
    raw = unb64(text, 32)
    Ed25519PublicKey.from_public_bytes(raw)
    return raw


@dataclass(frozen=True)
class PartyKey:
    """A party's private signing key, as kept in its key file (JSON, mode 0600)."""

    private_key: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> PartyKey:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes_raw()

    @property
    def public_key_b64(self) -> str:
        return b64(self.public_key)

    @property
    def key_id(self) -> str:
        return party_key_id(self.public_key)

    def sign(self, payload: dict[str, Any]) -> str:
        return b64(self.private_key.sign(canonical_json(payload)))

    def to_text(self) -> str:
        return (
            json.dumps(
                {
                    "format": KEY_FILE_FORMAT,
                    "key_id": self.key_id,
                    "public_key": self.public_key_b64,
                    "private_key": b64(self.private_key.private_bytes_raw()),
                },
                indent=2,
            )
            + "\n"
        )

    @classmethod
    def from_text(cls, text: str) -> PartyKey:
        try:
            data = json.loads(text)
            if data.get("format") != KEY_FILE_FORMAT:
                raise ValueError(f"not a {KEY_FILE_FORMAT} key file")
            key = cls(Ed25519PrivateKey.from_private_bytes(unb64(data["private_key"], 32)))
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a party key file: {exc}") from None
        if key.key_id != data.get("key_id"):
            raise ValueError("the key id in the key file does not match its key")
        return key

    def write(self, path: Path) -> None:
        """Create the file readable by its owner only; never overwrite an existing key."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.to_text())

    @classmethod
    def read(cls, path: Path) -> PartyKey:
        return cls.from_text(path.read_text())


def acknowledgement_template(
    advisory_id: str,
    party_id: str,
    event_seq: int,
    leaf_hash: bytes,
    versions: dict[str, Any],
) -> dict[str, Any]:
    """The payload as the service expects it, less what only the signer chooses."""
    return {
        "type": ACK_TYPE,
        "advisory_id": advisory_id,
        "party_id": party_id,
        "event": {"seq": event_seq, "leaf_hash": b64(leaf_hash)},
        "versions": versions,
    }


def sign_acknowledgement(
    template: dict[str, Any], key: PartyKey, at: datetime, note: str | None
) -> dict[str, Any]:
    """``{"payload", "signature"}``: the template completed with key id, time and note, signed."""
    payload = {
        **template,
        "key_id": key.key_id,
        "acknowledged_at": at.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "note": note,
    }
    return {"payload": payload, "signature": key.sign(payload)}


def check_payload(payload: Any, expected: dict[str, Any], note: str | None) -> None:
    """Compare a received payload with the expected template, naming the first field that differs."""
    prefix = "signed.payload"
    if not isinstance(payload, dict):
        raise AcknowledgementError(prefix, "must be an object")
    extra = sorted(set(payload) - set(PAYLOAD_FIELDS))
    if extra:
        raise AcknowledgementError(f"{prefix}.{extra[0]}", "is not a member of the payload")
    for name in PAYLOAD_FIELDS:
        if name not in payload:
            raise AcknowledgementError(f"{prefix}.{name}", "is missing")
    for name, want in expected.items():
        if payload[name] != want:
            raise AcknowledgementError(
                f"{prefix}.{name}", f"must be {json.dumps(want, sort_keys=True)}"
            )
    if payload["note"] != note:
        raise AcknowledgementError(f"{prefix}.note", "must equal the note of the request")
    if not isinstance(payload["acknowledged_at"], str):
        raise AcknowledgementError(f"{prefix}.acknowledged_at", "must be an RFC 3339 UTC time")


def verify_acknowledgement(payload: dict[str, Any], signature: Any, public_key: bytes) -> None:
    """Raise :class:`AcknowledgementError` unless ``signature`` signs ``payload`` with the key."""
    if not isinstance(signature, str):
        raise AcknowledgementError("signed.signature", "must be a base64 string")
    try:
        raw = unb64(signature, 64)
    except ValueError as exc:
        raise AcknowledgementError("signed.signature", str(exc)) from None
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(raw, canonical_json(payload))
    except InvalidSignature:
        raise AcknowledgementError(
            "signed.signature",
            f"does not verify with key {payload.get('key_id')} over the canonical payload",
        ) from None


def check_template(template: dict[str, Any], event: dict[str, Any] | None) -> None:
    """Before signing, check the service's template against the event it names, when the party
    may see that event: the leaf must be the hash of that event and salt, and the event must be
    the raising of this advisory.  A party must not sign a leaf hash it was merely told."""
    if event is None:
        return
    from deconflict.core.record.canonical import parse_canonical
    from deconflict.core.record.merkle import SALT_SIZE, event_leaf_hash

    named = template["event"]
    if event.get("seq") != named["seq"]:
        return
    raw = str(event["event"]).encode("utf-8")
    document = parse_canonical(raw)
    leaf = event_leaf_hash(unb64(event["salt"], SALT_SIZE), raw)
    if b64(leaf) != named["leaf_hash"]:
        raise ValueError(f"the service's leaf hash for event {named['seq']} is not that event's")
    body = document.get("body") or {}
    if (
        document.get("kind") != "advisory_raised"
        or body.get("advisory_id") != template["advisory_id"]
    ):
        raise ValueError(f"event {named['seq']} is not the raising of {template['advisory_id']}")
