"""Exporting a party's bundle, and checking the database against its own signed record.

``export_bundle`` gathers, in one read transaction (one consistent snapshot), what
:func:`deconflict.core.record.bundle.verify_bundle` checks offline.  ``verify_database`` is the
host-side counterpart: it recomputes every leaf from the ``events`` table and every signed root
from those leaves, so an edit behind the service's back is found and located by seq.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from deconflict.core.parties import Action, Principal
from deconflict.core.record.bundle import BUNDLE_FORMAT
from deconflict.core.record.leaves import b64, event_bytes, event_leaf, rfc3339, visible_in_record
from deconflict.core.record.merkle import MerkleTree, MissingNodeError, NodeId
from deconflict.core.record.notes import NoteError, Verifier, open_checkpoint
from deconflict.storage import merkle_store as store
from deconflict.storage import queries

if TYPE_CHECKING:
    from deconflict.service.deconflict import Deconflict


def export_bundle(
    service: Deconflict, party: str | None, who: Principal | None = None
) -> dict[str, Any]:
    """Everything ``party`` (None: the host administrator) may see, with proofs to the latest
    checkpoint.  ``who`` is checked when the export is asked for through the API; the CLI's
    ``export --db`` runs with the database owner's authority and passes None."""
    if who is not None and who.party_id is not None:
        who.require(Action.read)
    with service.db.connect() as conn, conn.begin():
        latest = store.checkpoint(conn)
        if latest is None:
            events: list[dict[str, Any]] = []
            return _bundle(service, conn, party, None, [], events)
        size = int(latest.size)
        tree = MerkleTree(store.SqlNodeStore(conn), size=size)
        sizes = store.checkpoint_sizes(conn)
        first_seen: set[int] = set()
        events = []
        for event in queries.events(conn, 0, size):
            if not visible_in_record(event, party):
                continue
            events.append(
                {
                    "seq": event.seq,
                    "event": event_bytes(event).decode("utf-8"),
                    "salt": b64(event.salt),
                    "inclusion": [b64(h) for h in tree.inclusion_proof(event.seq - 1, size)],
                }
            )
            first_seen.add(sizes[bisect.bisect_left(sizes, event.seq)])
        older = []
        for old_size in sorted(first_seen - {size}):
            row = store.checkpoint(conn, old_size)
            assert row is not None
            older.append(
                {
                    "note": str(row.note) + "".join(store.cosignature_lines(conn, old_size)),
                    "consistency": [b64(h) for h in tree.consistency_proof(old_size, size)],
                }
            )
        return _bundle(service, conn, party, latest, older, events)


def _bundle(
    service: Deconflict,
    conn: sa.Connection,
    party: str | None,
    latest: Any,
    older: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> dict[str, Any]:
    note = None
    if latest is not None:
        note = str(latest.note) + "".join(store.cosignature_lines(conn, int(latest.size)))
    return {
        "format": BUNDLE_FORMAT,
        "party_id": party,
        "exported_at": rfc3339(service.clock.now()),
        "log_key": service.record.verifier_key(),
        "witness_keys": store.witness_vkeys(conn),
        "checkpoint": note,
        "checkpoints": older,
        "events": events,
    }


# --- the database against its own record ---------------------------------------------------------


class _Discard:
    """A node store that keeps nothing: recomputing roots needs only the tree's frontier."""

    def get(self, level: int, index: int) -> bytes:
        raise MissingNodeError("nothing is kept")

    def put(self, level: int, index: int, node: bytes) -> None:
        pass

    def get_many(self, ids: Sequence[NodeId]) -> list[bytes]:
        raise MissingNodeError("nothing is kept")

    def put_many(self, nodes: Sequence[tuple[NodeId, bytes]]) -> None:
        pass


@dataclass
class DatabaseVerdict:
    events: int = 0
    checkpoints: int = 0
    signatures_checked: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def verify_database(
    conn: sa.Connection, log_key: Verifier | None, limit_failures: int = 50
) -> DatabaseVerdict:
    """Recompute the record from the ``events`` table and compare it with what is stored.

    Finds: an event whose recomputed leaf differs from the stored one (the row was edited after
    it was recorded), gaps in the log, leaves without events, and signed roots that the events
    no longer produce (the nodes were edited too).  ``log_key`` (None: skip) checks every
    checkpoint's signature.
    """
    verdict = DatabaseVerdict(signatures_checked=log_key is not None)

    def fail(entry: str, reason: str) -> None:
        if len(verdict.failures) < limit_failures:
            verdict.failures.append((entry, reason))

    rows = iter(store.checkpoints(conn))
    pending = next(rows, None)
    stored = iter(store.stored_leaves(conn))
    recomputed = MerkleTree(_Discard())
    for event in queries.events(conn):
        verdict.events += 1
        if event.seq != recomputed.size + 1:
            fail(f"event {event.seq}", f"the log jumps from seq {recomputed.size} to {event.seq}")
        leaf = event_leaf(event)
        node = next(stored, None)
        if node is None or node.idx != event.seq - 1:
            fail(f"event {event.seq}", "has no leaf in the Merkle tree")
        elif bytes(node.hash) != leaf:
            fail(f"event {event.seq}", "was changed after it was recorded: its leaf hash differs")
        recomputed.append(leaf)
        while pending is not None and int(pending.size) == recomputed.size:
            _check_checkpoint(conn, pending, recomputed.root(), log_key, fail)
            verdict.checkpoints += 1
            pending = next(rows, None)
    for node in stored:
        fail(f"leaf {node.idx}", "has no event in the log")
    while pending is not None:
        fail(f"checkpoint {pending.size}", "is larger than the log")
        pending = next(rows, None)
    return verdict


def _check_checkpoint(
    conn: sa.Connection, row: Any, root: bytes, log_key: Verifier | None, fail: Any
) -> None:
    entry = f"checkpoint {row.size}"
    if bytes(row.root_hash) != root:
        fail(entry, "its root is not the root of the events in the log")
    if log_key is not None:
        try:
            checkpoint, _ = open_checkpoint(str(row.note), [log_key])
        except NoteError as exc:
            fail(entry, f"signature: {exc}")
            return
        if checkpoint.size != int(row.size) or checkpoint.root_hash != root:
            fail(entry, "the signed note does not match the recomputed tree")
    try:
        stored_root = MerkleTree(store.SqlNodeStore(conn), size=int(row.size)).root()
    except MissingNodeError as exc:
        fail(entry, f"stored tree is incomplete: {exc}")
        return
    if stored_root != root:
        fail(entry, "the stored Merkle nodes do not give the recomputed root")
