"""Offline verification of a party's bundle: the proof, years later, of who was told what.

A bundle is one JSON document (format ``deconflict/bundle/v1``, docs/record.md §8) holding the
events a party may see with their salts and inclusion proofs, the latest signed checkpoint with
its cosignatures, the earlier checkpoints in which those events first appeared (each with a
consistency proof to the latest), and the keys needed to check them.  Verification needs no
network and no trust in whoever hands over the bundle: keys may be given out of band, and every
failure names the entry (event seq, checkpoint size) it concerns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deconflict.core.events import EventKind
from deconflict.core.record.acknowledgements import (
    AcknowledgementError,
    check_payload,
    verify_acknowledgement,
)
from deconflict.core.record.canonical import CanonicalizationError, parse_canonical
from deconflict.core.record.leaves import b64, unb64
from deconflict.core.record.merkle import (
    HASH_SIZE,
    SALT_SIZE,
    ProofError,
    event_leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from deconflict.core.record.notes import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    NoteError,
    Verifier,
    open_checkpoint,
    verify_cosignatures,
)

__all__ = ["BUNDLE_FORMAT", "Failure", "Verdict", "verify_bundle"]

BUNDLE_FORMAT = "deconflict/bundle/v1"


@dataclass(frozen=True)
class Failure:
    entry: str
    reason: str

    def __str__(self) -> str:
        return f"{self.entry}: {self.reason}"


@dataclass
class Verdict:
    """What was checked; ``ok`` only when nothing failed."""

    party_id: str | None = None
    origin: str | None = None
    tree_size: int | None = None
    events: int = 0
    checkpoints: int = 0
    cosignatures: dict[str, int] = field(default_factory=dict)
    signed_acknowledgements: int = 0
    unsigned_acknowledgements: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, entry: str, reason: str) -> None:
        self.failures.append(Failure(entry, reason))


@dataclass(frozen=True)
class _Key:
    party_id: str
    public_key: bytes
    registered_seq: int
    revoked_seq: int | None = None


def _entry_of_note(note: Any) -> str:
    """``checkpoint <size>`` from a note's second line, as far as it can be read."""
    lines = note.split("\n") if isinstance(note, str) else []
    size = lines[1] if len(lines) > 1 and lines[1].isdigit() else "?"
    return f"checkpoint {size}"


def _hashes(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list):
        raise ValueError(f"{what} must be a list of base64 hashes")
    return [unb64(v, HASH_SIZE) for v in values]


def _open(
    note: Any, log_key: Verifier, witnesses: list[Verifier], verdict: Verdict
) -> Checkpoint | None:
    """Open a signed checkpoint; every signature line on it must verify with a known key, so
    that a changed byte anywhere in a cosignature is caught as surely as one in the log's."""
    entry = _entry_of_note(note)
    if not isinstance(note, str):
        verdict.fail(entry, "the signed note must be a string")
        return None
    try:
        checkpoint, _ = open_checkpoint(note, [log_key])
        cosigned = verify_cosignatures(note, witnesses)
    except NoteError as exc:
        verdict.fail(entry, str(exc))
        return None
    if checkpoint.origin != log_key.name:
        verdict.fail(entry, f"origin {checkpoint.origin!r} is not the log's {log_key.name!r}")
        return None
    lines = note[note.rfind("\n\n") + 2 :].rstrip("\n").split("\n")
    if len(lines) != 1 + len(cosigned):
        verdict.fail(
            entry,
            f"{len(lines)} signature lines, but only {1 + len(cosigned)} verify with the log key "
            "and the witness keys",
        )
        return None
    for name in cosigned:
        verdict.cosignatures[name] = verdict.cosignatures.get(name, 0) + 1
    verdict.checkpoints += 1
    return checkpoint


def verify_bundle(
    bundle: Any, log_key: str | None = None, witness_keys: list[str] | None = None
) -> Verdict:
    """Check everything in ``bundle``; keys given here override the copies in the bundle."""
    verdict = Verdict()
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        verdict.fail("bundle", f"not a {BUNDLE_FORMAT} document")
        return verdict
    verdict.party_id = bundle.get("party_id")
    try:
        log = Verifier.from_key(log_key or bundle.get("log_key", ""))
        witnesses = [Verifier.from_key(k) for k in (witness_keys or bundle.get("witness_keys", []))]
    except (NoteError, TypeError, AttributeError) as exc:
        verdict.fail("keys", str(exc))
        return verdict
    verdict.origin = log.name
    if any(w.sig_type != ALG_COSIGNATURE_V1 for w in witnesses):
        verdict.fail("keys", "a witness key must be a cosignature (type 0x04) key")
        return verdict
    latest = _open(bundle.get("checkpoint"), log, witnesses, verdict)
    if latest is None:
        return verdict
    verdict.tree_size = latest.size
    for item in bundle.get("checkpoints", []):
        _check_older(item, latest, log, witnesses, verdict)
    events = _check_events(bundle.get("events", []), latest, verdict)
    _check_acknowledgements(events, verdict)
    return verdict


def _check_older(
    item: Any, latest: Checkpoint, log: Verifier, witnesses: list[Verifier], verdict: Verdict
) -> None:
    note = item.get("note") if isinstance(item, dict) else None
    older = _open(note, log, witnesses, verdict)
    if older is None:
        return
    entry = f"checkpoint {older.size}"
    try:
        proof = _hashes(item.get("consistency"), "consistency")
        verify_consistency(older.size, latest.size, proof, older.root_hash, latest.root_hash)
    except (ValueError, ProofError) as exc:
        verdict.fail(entry, f"not consistent with checkpoint {latest.size}: {exc}")


def _check_events(
    items: Any, latest: Checkpoint, verdict: Verdict
) -> dict[int, tuple[dict[str, Any], bytes]]:
    """Verified events by seq, with their leaf hashes."""
    good: dict[int, tuple[dict[str, Any], bytes]] = {}
    previous = 0
    for item in items if isinstance(items, list) else []:
        seq = item.get("seq") if isinstance(item, dict) else None
        entry = f"event {seq}"
        if not isinstance(seq, int) or isinstance(seq, bool) or seq <= previous:
            verdict.fail(entry, "seq must be an integer above the previous event's")
            continue
        previous = seq
        try:
            text = item["event"]
            raw = text.encode("utf-8")
            document = parse_canonical(raw)
            if not isinstance(document, dict) or document.get("seq") != seq:
                raise ValueError("the event document does not carry this seq")
            salt = unb64(item["salt"], SALT_SIZE)
            leaf = event_leaf_hash(salt, raw)
            proof = _hashes(item["inclusion"], "inclusion")
            verify_inclusion(leaf, seq - 1, latest.size, proof, latest.root_hash)
        except (KeyError, TypeError, AttributeError, UnicodeEncodeError) as exc:
            verdict.fail(entry, f"malformed entry: {exc!r}")
            continue
        except (ValueError, ProofError, CanonicalizationError) as exc:
            verdict.fail(entry, f"not in checkpoint {latest.size}: {exc}")
            continue
        good[seq] = (document, leaf)
        verdict.events += 1
    return good


def _check_acknowledgements(
    events: dict[int, tuple[dict[str, Any], bytes]], verdict: Verdict
) -> None:
    keys: dict[str, _Key] = {}
    for seq, (document, _) in sorted(events.items()):
        body = document.get("body") or {}
        kind = document.get("kind")
        if kind == EventKind.party_key_registered:
            try:
                keys[body["key_id"]] = _Key(body["party_id"], unb64(body["public_key"], 32), seq)
            except (KeyError, TypeError, ValueError) as exc:
                verdict.fail(f"event {seq}", f"malformed key registration: {exc!r}")
        elif kind == EventKind.party_key_revoked and body.get("key_id") in keys:
            old = keys[body["key_id"]]
            keys[body["key_id"]] = _Key(old.party_id, old.public_key, old.registered_seq, seq)
        elif kind == EventKind.advisory_acknowledged:
            try:
                _check_ack(body, seq, keys, events)
            except AcknowledgementError as exc:
                verdict.fail(f"event {seq}", f"acknowledgement: {exc}")
                continue
            if "signature" in body:
                verdict.signed_acknowledgements += 1
            else:
                verdict.unsigned_acknowledgements += 1


def _check_ack(
    body: dict[str, Any],
    seq: int,
    keys: dict[str, _Key],
    events: dict[int, tuple[dict[str, Any], bytes]],
) -> None:
    signed = body.get("signature")
    if signed is None:
        return
    payload = signed.get("payload") if isinstance(signed, dict) else None
    if not isinstance(payload, dict):
        raise AcknowledgementError("signature.payload", "is missing")
    expected = {"advisory_id": body.get("advisory_id"), "party_id": body.get("party_id")}
    check_payload(payload, expected, body.get("note"))
    key = keys.get(payload["key_id"])
    if key is None or key.party_id != body.get("party_id"):
        raise AcknowledgementError("signed.payload.key_id", "is not a registered key of the party")
    if key.registered_seq > seq or (key.revoked_seq is not None and key.revoked_seq < seq):
        raise AcknowledgementError("signed.payload.key_id", "was not active at the time")
    raised = payload.get("event") or {}
    if raised.get("seq") in events:
        document, leaf = events[raised["seq"]]
        if document.get("kind") != EventKind.advisory_raised or raised.get("leaf_hash") != b64(
            leaf
        ):
            raise AcknowledgementError(
                "signed.payload.event", "does not match the advisory_raised event in the bundle"
            )
    verify_acknowledgement(payload, signed.get("signature"), key.public_key)
