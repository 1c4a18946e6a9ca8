"""The record desk: keeps the Merkle tree and signed checkpoints in step with the event log.

Every write transaction extends the tree with the leaves of its events and signs a checkpoint
of the new size, before it commits (a sequencer hook, run once per group-committed batch of
writes).  So a write the service acknowledged is already covered by a signed tree head, there
is never a tree without its events or events without their leaves, and the promise "a
checkpoint at least every minute while the log grows" holds trivially: one per batch.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from deconflict.core.clock import utc_text
from deconflict.core.errors import InvalidInput, NotFound
from deconflict.core.events import Event
from deconflict.core.parties import Action, Principal
from deconflict.core.record.leaves import b64, event_bytes, event_leaf, visible_in_record
from deconflict.core.record.merkle import MerkleTree
from deconflict.core.record.notes import (
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    sign_note,
    verify_cosignature,
)
from deconflict.service.sequencer import Transaction
from deconflict.settings import Settings
from deconflict.storage import merkle_store as store
from deconflict.storage import queries

if TYPE_CHECKING:
    from deconflict.service.deconflict import Deconflict

log = logging.getLogger("deconflict.record")
SCAN_FACTOR = 20
"""An event page reads at most this many times ``limit`` rows, so a party with little to see
cannot make one request scan the whole log; ``next_after`` resumes where the scan stopped."""


class RecordEvent(BaseModel):
    model_config = ConfigDict(frozen=True)
    seq: int
    kind: str
    event: str
    """The event document's RFC 8785 canonical JSON: hash exactly these UTF-8 bytes."""
    salt: str
    leaf_hash: str


class RecordEventPage(BaseModel):
    model_config = ConfigDict(frozen=True)
    events: list[RecordEvent]
    next_after: int | None


class InclusionProof(BaseModel):
    model_config = ConfigDict(frozen=True)
    seq: int
    leaf_index: int
    tree_size: int
    leaf_hash: str
    hashes: list[str]


class ConsistencyProof(BaseModel):
    model_config = ConfigDict(frozen=True)
    size1: int
    size2: int
    hashes: list[str]


def default_key_path(settings: Settings) -> Path | None:
    """``<database file>.key`` for a SQLite file; None where there is no file to sit next to."""
    if settings.signing_key_path is not None:
        return settings.signing_key_path
    url = sa.engine.make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(f"{url.database}.key")
    return None


def load_signer(settings: Settings) -> Signer:
    """The service's Ed25519 note signer, created on first start (mode 0600) and then reused.

    The key must outlive the process: checkpoints signed with a lost key can still be verified,
    but the log could no longer extend them, which witnesses would rightly report.
    """
    path = default_key_path(settings)
    if path is None:
        raise RuntimeError(
            "set signing_key_path (DECONFLICT_SIGNING_KEY_PATH) for a database that is not a "
            "SQLite file: the record's signing key must be kept"
        )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        signer = Signer.from_private_key_string(path.read_text().strip())
    else:
        signer = Signer.generate(settings.record_origin)
        with os.fdopen(fd, "w") as out:
            out.write(signer.private_key_string() + "\n")
        log.info("created the record signing key %s", path)
    if signer.name != settings.record_origin:
        raise RuntimeError(
            f"the signing key {path} is for origin {signer.name!r}, but record_origin is "
            f"{settings.record_origin!r}; a log keeps one origin for life"
        )
    return signer


def checkpoint_body(row: sa.Row[Any]) -> str:
    """The note text of a stored checkpoint, without its signature lines."""
    note = str(row.note)
    return note[: note.rfind("\n\n") + 1]


@dataclass
class Record:
    service: Deconflict
    signer: Signer = field(init=False)

    def __post_init__(self) -> None:
        self.signer = load_signer(self.service.settings)
        self.service.sequencer.on_finish(self._on_finish)

    # --- writing: inside the sequencer's transaction ---------------------------------------------

    def _on_finish(self, tx: Transaction) -> None:
        """``tx.events``: every event of the batch, which commits with the leaves or not at all."""
        first = tx.events[0].seq
        size = store.tree_size(tx.conn)
        if size > first - 1:
            raise RuntimeError(f"the Merkle tree has {size} leaves but the log only {first - 1}")
        # Events committed without leaves (a database older than the record) join the tree
        # first, in order, so that leaf index is always seq - 1.
        backlog = (
            [event_leaf(e) for e in queries.events(tx.conn, size, first - 1 - size)]
            if size < first - 1
            else []
        )
        tree = MerkleTree(store.SqlNodeStore(tx.conn), size=size)
        tree.extend([*backlog, *(event_leaf(e) for e in tx.events)])
        if tree.size != tx.events[-1].seq:
            raise RuntimeError("the Merkle tree and the log disagree on the number of events")
        self._sign(tx.conn, tree, utc_text(tx.now))

    def _sign(self, conn: sa.Connection, tree: MerkleTree, issued_at: str) -> None:
        root = tree.root()
        body = Checkpoint(self.signer.name, tree.size, root).to_body()
        store.add_checkpoint(conn, tree.size, root, sign_note(body, [self.signer]), issued_at)

    # --- reading ---------------------------------------------------------------------------------

    def verifier_key(self) -> str:
        """The C2SP vkey string parties and witnesses use to check checkpoints."""
        return self.signer.verifier_key()

    def checkpoint(self, size: int | None = None) -> str:
        """The signed checkpoint note (latest, or of ``size``) with its witnesses' cosignatures."""
        with self.service.db.connect() as conn:
            row = store.checkpoint(conn, size)
            if row is None:
                raise NotFound(
                    "no checkpoint yet" if size is None else f"no checkpoint of size {size}"
                )
            return str(row.note) + "".join(store.cosignature_lines(conn, int(row.size)))

    def size(self, conn: sa.Connection) -> int:
        row = store.checkpoint(conn)
        return 0 if row is None else int(row.size)

    def consistency(self, size1: int, size2: int | None) -> ConsistencyProof:
        with self.service.db.connect() as conn:
            latest = self.size(conn)
            size2 = latest if size2 is None else size2
            if not 1 <= size2 <= latest:
                raise InvalidInput.at("query.to", f"must be a tree size from 1 to {latest}")
            if not 1 <= size1 <= size2:
                raise InvalidInput.at("query.from", f"must be a tree size from 1 to {size2}")
            tree = MerkleTree(store.SqlNodeStore(conn), size=latest)
            hashes = tree.consistency_proof(size1, size2)
        return ConsistencyProof(size1=size1, size2=size2, hashes=[b64(h) for h in hashes])

    def _reader(self, who: Principal) -> str | None:
        """The party whose view applies, or None for the host administrator."""
        if who.party_id is None:
            return None
        return who.require_party(Action.read)

    def events(self, who: Principal, after: int = 0, limit: int = 100) -> RecordEventPage:
        """Events the caller may see, with salts, from seq ``after + 1`` on."""
        party = self._reader(who)
        scanned = 0
        out: list[RecordEvent] = []
        last = after
        with self.service.db.connect() as conn:
            for event in queries.events(conn, after, limit * SCAN_FACTOR):
                scanned += 1
                last = event.seq
                if visible_in_record(event, party):
                    out.append(self.record_event(event))
                    if len(out) == limit:
                        break
            more = scanned == limit * SCAN_FACTOR or (
                len(out) == limit and next(iter(queries.events(conn, last, 1)), None) is not None
            )
        return RecordEventPage(events=out, next_after=last if more else None)

    @staticmethod
    def record_event(event: Event) -> RecordEvent:
        return RecordEvent(
            seq=event.seq,
            kind=event.kind.value,
            event=event_bytes(event).decode("utf-8"),
            salt=b64(event.salt),
            leaf_hash=b64(event_leaf(event)),
        )

    def inclusion(self, who: Principal, seq: int, size: int | None = None) -> InclusionProof:
        party = self._reader(who)
        with self.service.db.connect() as conn:
            event = next(iter(queries.events(conn, seq - 1, 1)), None) if seq >= 1 else None
            if event is None or event.seq != seq or not visible_in_record(event, party):
                raise NotFound(f"no event {seq} visible to you")
            latest = self.size(conn)
            size = latest if size is None else size
            if not seq <= size <= latest:
                raise InvalidInput.at("query.size", f"must be a tree size from {seq} to {latest}")
            tree = MerkleTree(store.SqlNodeStore(conn), size=latest)
            hashes = tree.inclusion_proof(seq - 1, size)
            leaf = tree.leaf_hash_at(seq - 1)
        return InclusionProof(
            seq=seq,
            leaf_index=seq - 1,
            tree_size=size,
            leaf_hash=b64(leaf),
            hashes=[b64(h) for h in hashes],
        )

    # --- witnesses -------------------------------------------------------------------------------

    def add_cosignature(self, size: int, line: str) -> str:
        """Verify a witness's cosignature on checkpoint ``size`` against the registered witness
        keys, keep it, and return the checkpoint with all its cosignatures."""
        if not line.endswith("\n"):
            line += "\n"
        name = line.removeprefix("\u2014 ").split(" ", 1)[0]

        def command(tx: Transaction) -> None:
            row = store.checkpoint(tx.conn, size)
            if row is None:
                raise NotFound(f"no checkpoint of size {size}")
            keys = [Verifier.from_key(v) for v in store.witness_vkeys(tx.conn)]
            verifier = next((k for k in keys if k.name == name), None)
            if verifier is None:
                raise InvalidInput.at("cosignature", f"{name!r} is not a registered witness")
            try:
                timestamp = verify_cosignature(checkpoint_body(row), line, verifier)
            except NoteError as exc:
                raise InvalidInput.at("cosignature", str(exc)) from None
            store.put_cosignature(tx.conn, size, name, timestamp, line)

        self.service.sequencer.write(command)
        return self.checkpoint(size)
