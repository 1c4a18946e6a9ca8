"""Idempotent writes: a retried request answers with the original result and writes nothing.

A client that sends ``Idempotency-Key`` and never hears back (a timeout, a dropped
connection, a server killed mid-request) can send the same request again. The API layer
puts a :class:`Claim` in a context variable; the sequencer, holding the write lock, first
looks the key up (a second submission, even a concurrent one, finds the first's answer and
raises :class:`Replayed`) and otherwise stores the answer *in the same transaction* as the
write's events. So there is no moment at which the write is committed but its answer is not,
and a crash between the two cannot turn a retry into a second write.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from deconflict.storage import tables as t

MAX_KEY_LENGTH = 200


@dataclass
class Claim:
    """The request being served under an idempotency key; stored by the first write that can."""

    member_id: str
    key: str
    fingerprint: str
    status: int
    encode: Callable[[Any], str | None]
    """The response body for a command's result, or None when the result is not the answer
    (a preliminary write of the same request); the next write of the request then stores it."""
    stored: bool = False


@dataclass(frozen=True)
class StoredAnswer:
    fingerprint: str
    status: int
    response: str


class Replayed(Exception):
    """The key was used before; ``answer`` is what the first request was told."""

    def __init__(self, answer: StoredAnswer) -> None:
        super().__init__("idempotency key already used")
        self.answer = answer


CURRENT: contextvars.ContextVar[Claim | None] = contextvars.ContextVar(
    "deconflict_idempotency_claim", default=None
)


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests "the same": method, target and body, byte for byte."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def lookup(conn: sa.Connection, member_id: str, key: str) -> StoredAnswer | None:
    row = conn.execute(
        sa.select(
            t.idempotency_keys.c.fingerprint,
            t.idempotency_keys.c.status,
            t.idempotency_keys.c.response,
        ).where(t.idempotency_keys.c.member_id == member_id, t.idempotency_keys.c.key == key)
    ).first()
    return None if row is None else StoredAnswer(row.fingerprint, int(row.status), row.response)


def before_write(conn: sa.Connection) -> Claim | None:
    """Called by the sequencer under the write lock: the claim to honour, or :class:`Replayed`."""
    claim = CURRENT.get()
    if claim is None or claim.stored:
        return None
    answer = lookup(conn, claim.member_id, claim.key)
    if answer is not None:
        raise Replayed(answer)
    return claim


def after_write(conn: sa.Connection, claim: Claim, result: Any, now: str) -> None:
    """Called by the sequencer before the commit: keep the answer with the write."""
    response = claim.encode(result)
    if response is None:
        return
    conn.execute(
        t.idempotency_keys.insert(),
        {
            "member_id": claim.member_id,
            "key": claim.key,
            "fingerprint": claim.fingerprint,
            "status": claim.status,
            "response": response,
            "created_at": now,
        },
    )
    claim.stored = True
