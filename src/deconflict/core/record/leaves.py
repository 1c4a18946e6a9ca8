"""What exactly a leaf of the record commits to, and who may see it.

The leaf format is a promise to every party that will ever check the record, so it is defined
in one place and documented in ``docs/record.md`` §1: the RFC 8785 canonical JSON of the
*event document* below, hashed with the event's salt (:func:`event_leaf_hash`).  Anything not
in the document (the salt itself, projections, checkpoints) is not committed to by the leaf.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from deconflict.core.events import Event, EventKind
from deconflict.core.record.canonical import canonical_json
from deconflict.core.record.merkle import event_leaf_hash

__all__ = [
    "b64",
    "event_bytes",
    "event_document",
    "event_leaf",
    "rfc3339",
    "unb64",
    "visible_in_record",
]


def rfc3339(moment: datetime) -> str:
    """UTC with a ``Z``, exactly as the events table stores ``recorded_at``."""
    return moment.isoformat().replace("+00:00", "Z")


def event_document(event: Event) -> dict[str, Any]:
    """The JSON value a leaf commits to: every recorded field of the event except its salt.

    Six members, none optional, so that no two encodings of one event can exist: ``seq``,
    ``kind``, ``recorded_at`` (RFC 3339 UTC), ``body``, ``audience`` (sorted) and
    ``actor_member`` (``null`` for the service itself).  ``seq`` is in the document so that a
    leaf cannot be replayed at another position; the audience is, so that the host cannot later
    claim an event was addressed to someone else.
    """
    return {
        "seq": event.seq,
        "kind": event.kind.value,
        "recorded_at": rfc3339(event.recorded_at),
        "body": event.body,
        "audience": sorted(event.audience),
        "actor_member": event.actor_member,
    }


def event_bytes(event: Event) -> bytes:
    return canonical_json(event_document(event))


def event_leaf(event: Event) -> bytes:
    """The Merkle leaf hash of ``event`` (RFC 6962 leaf of the salted commitment)."""
    return event_leaf_hash(event.salt, event_bytes(event))


def visible_in_record(event: Event, party: str | None) -> bool:
    """Whether ``party`` (None: the host administrator) may receive the event's body and salt.

    Being notified of an event (its audience) is not the same as being entitled to its body:
    a party granted a declaration at a precision sees a coarsened view, and a party told of
    a conflict only as an undisclosed activity, or whose view of the other side is coarsened,
    must not read the exact geometry or encounter the body holds (DESIGN §4 rules 2-3). Such
    a party can still check that the leaf it acknowledges is in the log, without its content.
    """
    if not event.visible_to(party):
        return False
    if party is None:
        return True
    body = event.body
    if event.kind in (EventKind.declaration_declared, EventKind.declaration_amended):
        precision = body["feature"]["properties"].get("precision_m") or {}
        return bool(party == body["party_id"] or party not in precision)
    if event.kind is EventKind.advisory_raised:
        return party in (body.get("exact") or [])
    return True


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def unb64(text: str, size: int | None = None) -> bytes:
    """Canonical standard base64 (and an exact length when given), or ``ValueError``."""
    if not isinstance(text, str):
        raise ValueError("must be a base64 string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise ValueError("is not valid base64") from None
    if b64(raw) != text:
        raise ValueError("is not canonical base64")
    if size is not None and len(raw) != size:
        raise ValueError(f"must decode to {size} bytes, not {len(raw)}")
    return raw
