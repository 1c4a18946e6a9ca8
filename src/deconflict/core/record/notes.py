"""Signed notes, checkpoints and cosignatures in the C2SP formats.

The record's tree heads are published as C2SP ``tlog-checkpoint`` notes signed with the service's
Ed25519 key (C2SP ``signed-note``), and witnesses add C2SP ``tlog-cosignature`` v1 lines.  Using
the published formats rather than our own means a party can check our checkpoints with existing
transparency-log tools and can point existing witnesses at us.

Parsing is strict on purpose: every accepted note has exactly one byte representation (canonical
base64, no stray whitespace, canonical decimal), so a signature can never be "moved" onto a
differently spelled but equivalent note, and any changed byte is detected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "Checkpoint",
    "Cosigner",
    "InvalidSignatureError",
    "MalformedKeyError",
    "MalformedNoteError",
    "NoteError",
    "OpenedNote",
    "Signer",
    "UnverifiedNoteError",
    "Verifier",
    "cosign",
    "cosignature_message",
    "key_id",
    "open_checkpoint",
    "open_note",
    "sign_note",
    "verify_cosignature",
    "verify_cosignatures",
]

ALG_ED25519 = 0x01
"""C2SP signed-note signature type: Ed25519 over the note text."""
ALG_COSIGNATURE_V1 = 0x04
"""C2SP tlog-cosignature type: timestamped Ed25519 over ``cosignature/v1`` + checkpoint body."""

MAX_SIGNATURES = 100
"""More than the spec's minimum of 16; bounds the work an attacker can make a verifier do."""

EM_DASH = "\u2014"
_SIG_PREFIX = EM_DASH + " "
_ED25519_SIG_SIZE = 64
_MAX_TIMESTAMP = (1 << 63) - 1
_MAX_TREE_SIZE = (1 << 64) - 1


class NoteError(ValueError):
    """Base of every refusal in this module, so callers can catch one type."""


class MalformedNoteError(NoteError):
    """The text is not a well-formed note, checkpoint or signature line."""


class MalformedKeyError(NoteError):
    """A key string or key name is not in the C2SP format."""


class InvalidSignatureError(NoteError):
    """A signature from a key we know failed to verify: the note was altered or forged."""


class UnverifiedNoteError(NoteError):
    """No signature from a key we know is on the note, so its text must not be trusted."""


# --- encoding helpers ----------------------------------------------------------------------------


def _b64decode(text: str, what: str) -> bytes:
    """Standard base64 that must round-trip, so that no two spellings decode to the same bytes."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise MalformedNoteError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedNoteError(f"{what} is not canonical base64")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _check_name(name: str) -> None:
    """C2SP signed-note §Format: non-empty, no Unicode spaces, no plus sign."""
    if not isinstance(name, str) or not name:
        raise MalformedKeyError("key name must be a non-empty string")
    if "+" in name or any(ch.isspace() or ord(ch) < 0x20 for ch in name):
        raise MalformedKeyError(f"key name {name!r} contains a space, control or plus character")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedKeyError("key name is not valid Unicode") from None


def _check_text(text: str) -> bytes:
    """C2SP signed-note: valid UTF-8 and no ASCII control characters other than newline."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedNoteError("note is not valid Unicode") from None
    if any(b < 0x20 and b != 0x0A for b in raw):
        raise MalformedNoteError("note contains a control character")
    return raw


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || type || public key)[:4]`` (C2SP signed-note §Signatures)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key).digest()[
        :4
    ]


def _public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


# --- keys ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # keys compare by identity, never by name alone
class _SigningKey:
    """An Ed25519 key under a name, for one signature type (set by the subclass)."""

    SIG_TYPE: ClassVar[int]
    name: str
    private_key: Ed25519PrivateKey = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_name(self.name)

    @property
    def public_key(self) -> bytes:
        return _public_bytes(self.private_key.public_key())

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.SIG_TYPE, self.public_key)

    def verifier_key(self) -> str:
        """The vkey string to hand to verifiers: ``name+hex(key id)+base64(type || key)``."""
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([self.SIG_TYPE]) + self.public_key)}"

    def verifier(self) -> Verifier:
        return Verifier.from_key(self.verifier_key())

    def private_key_string(self) -> str:
        """``PRIVATE+KEY+name+hex(key id)+base64(type || seed)``, as golang.org/x/mod/sumdb/note
        writes signer keys, so keys can move between our tools and Go ones.  Keep it secret."""
        seed = self.private_key.private_bytes_raw()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{_b64(bytes([self.SIG_TYPE]) + seed)}"

    @classmethod
    def _from_private_key_string(cls, text: str) -> tuple[str, Ed25519PrivateKey]:
        parts = text.split("+", 4)  # the base64 key material may itself contain '+'
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise MalformedKeyError("private key must look like PRIVATE+KEY+name+id+key")
        name, id_hex, material = parts[2], parts[3], parts[4]
        _check_name(name)
        try:
            raw = _b64decode(material, "private key")
        except MalformedNoteError as exc:
            raise MalformedKeyError(str(exc)) from None
        if len(raw) != 33 or raw[0] != cls.SIG_TYPE:
            raise MalformedKeyError("private key has the wrong type or length")
        private_key = Ed25519PrivateKey.from_private_bytes(raw[1:])
        expected = key_id(name, cls.SIG_TYPE, _public_bytes(private_key.public_key()))
        if id_hex != expected.hex():
            raise MalformedKeyError("private key id does not match the key")
        return name, private_key


@dataclass(frozen=True, eq=False)
class Signer(_SigningKey):
    """Signs notes (checkpoints) with plain Ed25519, signature type 0x01."""

    SIG_TYPE: ClassVar[int] = ALG_ED25519

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_private_key_string(cls, text: str) -> Signer:
        return cls(*cls._from_private_key_string(text))

    def sign(self, body: str) -> str:
        """One signature line over ``body`` (the note text, final newline included)."""
        raw = _check_body(body)
        return _line(self.name, self.key_id + self.private_key.sign(raw))


@dataclass(frozen=True, eq=False)
class Cosigner(_SigningKey):
    """A witness key: timestamped cosignatures, signature type 0x04 (C2SP tlog-cosignature v1).

    A separate class, not a flag on :class:`Signer`, because the same Ed25519 key must never be
    used for both types and the v1 message does not commit to the cosigner's name.
    """

    SIG_TYPE: ClassVar[int] = ALG_COSIGNATURE_V1

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_private_key_string(cls, text: str) -> Cosigner:
        return cls(*cls._from_private_key_string(text))


class Verifier:
    """A public key we trust, parsed from a C2SP vkey string.

    Both note signatures (type 0x01) and v1 cosignatures (type 0x04) are supported, so one list of
    verifiers can check a checkpoint together with its witnesses' cosignatures.
    """

    __slots__ = ("_key", "key_id", "name", "public_key", "sig_type", "vkey")

    def __init__(self, name: str, public_key: bytes, sig_type: int = ALG_ED25519) -> None:
        _check_name(name)
        if sig_type not in (ALG_ED25519, ALG_COSIGNATURE_V1):
            raise MalformedKeyError(f"unsupported signature type 0x{sig_type:02x}")
        if len(public_key) != 32:
            raise MalformedKeyError("an Ed25519 public key is 32 bytes")
        self.name = name
        self.sig_type = sig_type
        self.public_key = bytes(public_key)
        self.key_id = key_id(name, sig_type, self.public_key)
        self.vkey = f"{name}+{self.key_id.hex()}+{_b64(bytes([sig_type]) + self.public_key)}"
        try:
            self._key = Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError:
            raise MalformedKeyError("not a valid Ed25519 public key") from None

    @classmethod
    def from_key(cls, vkey: str) -> Verifier:
        """Parse ``name+hex(key id)+base64(type || key)``; the id must match the key."""
        parts = vkey.split("+", 2)  # the base64 key material may itself contain '+'
        if len(parts) != 3:
            raise MalformedKeyError("verifier key must have three '+'-separated parts")
        name, id_hex, material = parts
        _check_name(name)
        if len(id_hex) != 8 or any(c not in "0123456789abcdef" for c in id_hex):
            raise MalformedKeyError("key id must be 8 lowercase hex digits")
        try:
            raw = _b64decode(material, "verifier key")
        except MalformedNoteError as exc:
            raise MalformedKeyError(str(exc)) from None
        if not raw:
            raise MalformedKeyError("verifier key is empty")
        verifier = cls(name, raw[1:], raw[0])
        if verifier.key_id.hex() != id_hex:
            raise MalformedKeyError("key id does not match the verifier key")
        return verifier

    def __repr__(self) -> str:
        return f"Verifier({self.vkey!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Verifier) and other.vkey == self.vkey

    def __hash__(self) -> int:
        return hash(self.vkey)

    def check(self, body: str, payload: bytes) -> int | None:
        """Verify a signature payload (after the key id) over ``body``.

        Return the cosignature timestamp for type 0x04, ``None`` for type 0x01; raise
        :class:`InvalidSignatureError` otherwise.
        """
        raw = _check_body(body)
        timestamp: int | None = None
        if self.sig_type == ALG_COSIGNATURE_V1:
            if len(payload) != 8 + _ED25519_SIG_SIZE:
                raise InvalidSignatureError(f"cosignature from {self.name} has the wrong length")
            timestamp = int.from_bytes(payload[:8], "big")
            if timestamp > _MAX_TIMESTAMP:
                raise InvalidSignatureError(f"cosignature from {self.name} has a bad timestamp")
            message = cosignature_message(body, timestamp)
            signature = payload[8:]
        else:
            if len(payload) != _ED25519_SIG_SIZE:
                raise InvalidSignatureError(f"signature from {self.name} has the wrong length")
            message, signature = raw, payload
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            raise InvalidSignatureError(f"invalid signature from {self.name}") from None
        return timestamp


# --- notes ---------------------------------------------------------------------------------------


def _check_body(body: str) -> bytes:
    if not isinstance(body, str) or not body.endswith("\n"):
        raise MalformedNoteError("note text must end with a newline")
    return _check_text(body)


def _line(name: str, signature: bytes) -> str:
    return f"{_SIG_PREFIX}{name} {_b64(signature)}\n"


class _SignatureLine(NamedTuple):
    name: str
    key_id: bytes
    payload: bytes


class OpenedNote(NamedTuple):
    """A note whose text is now trusted: ``body`` and the names of keys that verified it."""

    body: str
    signers: tuple[str, ...]


def _split(text: str | bytes) -> tuple[str, list[_SignatureLine]]:
    """Split a signed note into its text and parsed signature lines (C2SP signed-note §Format)."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedNoteError("note is not valid UTF-8") from None
    _check_text(text)
    cut = text.rfind("\n\n")
    if cut < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    body, block = text[: cut + 1], text[cut + 2 :]
    if not block.endswith("\n"):
        raise MalformedNoteError("note has no signatures, or the last one lacks a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"note has more than {MAX_SIGNATURES} signatures")
    parsed: list[_SignatureLine] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise MalformedNoteError("signature line must start with an em dash and a space")
        fields = line[len(_SIG_PREFIX) :].split(" ")
        if len(fields) != 2:
            raise MalformedNoteError("signature line must be: em dash, name, signature")
        name, encoded = fields
        try:
            _check_name(name)
        except MalformedKeyError as exc:
            raise MalformedNoteError(str(exc)) from None
        raw = _b64decode(encoded, f"signature from {name}")
        if len(raw) < 5:
            raise MalformedNoteError(f"signature from {name} is too short")
        parsed.append(_SignatureLine(name, raw[:4], raw[4:]))
    return body, parsed


def _index(verifiers: Iterable[Verifier]) -> dict[tuple[str, bytes], Verifier]:
    known: dict[tuple[str, bytes], Verifier] = {}
    for v in verifiers:
        other = known.setdefault((v.name, v.key_id), v)
        if other != v:
            raise MalformedKeyError(
                f"two different keys share name and id {v.name}+{v.key_id.hex()}"
            )
    return known


def sign_note(body: str, signers: Sequence[Signer]) -> str:
    """The signed note: ``body``, a blank line, then one signature line per signer."""
    _check_body(body)
    if not signers:
        raise ValueError("a note needs at least one signer")
    return body + "\n" + "".join(s.sign(body) for s in signers)


def open_note(text: str | bytes, verifiers: Iterable[Verifier]) -> OpenedNote:
    """Check a signed note against trusted keys and return its text and verified signers.

    Per C2SP signed-note: signatures from unknown keys (name and id not both matching) are
    ignored; a bad signature from a known key rejects the whole note; and a note with no verified
    signature is rejected, because its text is then only a claim.
    """
    body, lines = _split(text)
    known = _index(verifiers)
    signers: list[str] = []
    for line in lines:
        verifier = known.get((line.name, line.key_id))
        if verifier is None:
            continue
        verifier.check(body, line.payload)
        if line.name not in signers:
            signers.append(line.name)
    if not signers:
        raise UnverifiedNoteError("note has no signature from a trusted key")
    return OpenedNote(body, tuple(signers))


# --- checkpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A tree head in the C2SP tlog-checkpoint note text format.

    ``extensions`` are opaque extra lines; the spec discourages them because monitors cannot audit
    them, and the record does not use them, but we keep them so that foreign checkpoints parse.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin or "\n" in self.origin:
            raise MalformedNoteError("origin must be one non-empty line")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise MalformedNoteError("tree size must be an integer")
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise MalformedNoteError("tree size must be in [0, 2^64)")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != 32:
            raise MalformedNoteError("root hash must be 32 bytes")
        for line in self.extensions:
            if not isinstance(line, str) or not line or "\n" in line:
                raise MalformedNoteError("extension lines must be non-empty single lines")
        _check_text(self.origin + "".join(self.extensions))

    def to_body(self) -> str:
        lines = [self.origin, str(self.size), _b64(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Parse note text; refuse anything that would not re-serialize to the same bytes."""
        _check_body(body)
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedNoteError("checkpoint needs origin, size and root hash lines")
        origin, size_text, hash_text, *extensions = lines
        digits = "0123456789"
        if not size_text or any(c not in digits for c in size_text):
            raise MalformedNoteError("tree size must be ASCII decimal")
        if size_text != "0" and size_text.startswith("0"):
            raise MalformedNoteError("tree size must not have leading zeros")
        if len(size_text) > 20:
            raise MalformedNoteError("tree size is too large")
        root_hash = _b64decode(hash_text, "root hash")
        checkpoint = cls(origin, int(size_text), root_hash, tuple(extensions))
        if checkpoint.to_body() != body:  # a parse that loses bytes would void signatures
            raise MalformedNoteError("checkpoint does not re-serialize identically")
        return checkpoint


def open_checkpoint(
    text: str | bytes, verifiers: Iterable[Verifier]
) -> tuple[Checkpoint, tuple[str, ...]]:
    """:func:`open_note` followed by :meth:`Checkpoint.parse`: the usual way to read a tree head."""
    body, signers = open_note(text, verifiers)
    return Checkpoint.parse(body), signers


# --- cosignatures --------------------------------------------------------------------------------


def cosignature_message(checkpoint_body: str, timestamp: int) -> bytes:
    """The bytes a v1 cosignature signs (C2SP tlog-cosignature §Ed25519 signed message)."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise ValueError("timestamp must be an integer")
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise ValueError("timestamp must be in [0, 2^63)")
    return f"cosignature/v1\ntime {timestamp}\n".encode() + _check_body(checkpoint_body)


def cosign(checkpoint_body: str, cosigner: Cosigner, timestamp: int) -> str:
    """A cosignature line to append to the signed checkpoint note.

    The caller (a witness) must first have verified the log's signature and the checkpoint's
    consistency with the last one it cosigned: that check is what the cosignature asserts.
    """
    Checkpoint.parse(checkpoint_body)
    message = cosignature_message(checkpoint_body, timestamp)
    payload = timestamp.to_bytes(8, "big") + cosigner.private_key.sign(message)
    return _line(cosigner.name, cosigner.key_id + payload)


def verify_cosignature(checkpoint_body: str, line: str, verifier: Verifier) -> int:
    """Check one cosignature line against a cosigner key; return its timestamp."""
    if verifier.sig_type != ALG_COSIGNATURE_V1:
        raise MalformedKeyError("verifier is not a cosignature (type 0x04) key")
    Checkpoint.parse(checkpoint_body)
    _, parsed = _split(checkpoint_body + "\n" + line)
    if len(parsed) != 1:
        raise MalformedNoteError("expected exactly one signature line")
    sig = parsed[0]
    if (sig.name, sig.key_id) != (verifier.name, verifier.key_id):
        raise InvalidSignatureError("cosignature is not from this cosigner")
    timestamp = verifier.check(checkpoint_body, sig.payload)
    if timestamp is None:  # unreachable for a 0x04 key; keeps the return type honest
        raise InvalidSignatureError("cosignature carries no timestamp")
    return timestamp


def verify_cosignatures(text: str | bytes, cosigners: Iterable[Verifier]) -> dict[str, int]:
    """Verified cosigner names and timestamps on a signed checkpoint note.

    The log's own signature is not checked here (use :func:`open_checkpoint`); counting
    cosigners against a quorum is the caller's policy.  A bad cosignature from a known cosigner
    rejects the note, as for any known key.
    """
    body, lines = _split(text)
    Checkpoint.parse(body)
    known = _index(v for v in cosigners if v.sig_type == ALG_COSIGNATURE_V1)
    seen: dict[str, int] = {}
    for line in lines:
        verifier = known.get((line.name, line.key_id))
        if verifier is None:
            continue
        timestamp = verifier.check(body, line.payload)
        if timestamp is not None:
            seen[line.name] = max(timestamp, seen.get(line.name, 0))
    return seen
