"""The Merkle tree behind the record: RFC 6962 / RFC 9162 hashing, an append-only tree and proofs.

The tree is the RFC 6962 Merkle Tree Hash (MTH) over the log's leaves, so that any party can check
inclusion and consistency proofs with off-the-shelf transparency-log tooling, and so that the
transparency-dev test vectors apply unchanged.

Storage model.  Only hashes of *perfect* subtrees are ever stored: node ``(level, index)`` is the
hash of the ``2**level`` leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the
leaf hashes.  Such a node is written once, when its last leaf is appended, and never changes, which
is what lets a database keep them in an append-only table.  Every other hash the protocol needs (the
root of a historical tree, the one non-perfect sibling on a proof path) is folded from at most
``log2(n)`` perfect nodes, so every read below is a single batch of O(log n) nodes.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_DOMAIN",
    "SALT_SIZE",
    "MemoryNodeStore",
    "MerkleTree",
    "MissingNodeError",
    "NodeConflictError",
    "NodeId",
    "NodeStore",
    "ProofError",
    "consistency_proof_length",
    "event_leaf_data",
    "event_leaf_hash",
    "inclusion_proof_length",
    "leaf_hash",
    "new_salt",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
SALT_SIZE = 16
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH of the empty tree (RFC 9162 §2.1.1): the hash of the empty string."""

LEAF_DOMAIN = b"deconflict/event-leaf/v1\n"
"""Prefix of the event commitment, so that it can never be mistaken for another SHA-256 input we
sign or hash (acknowledgements, notes), and so that a future format gets a new prefix."""

_MAX_SIZE = (1 << 64) - 1  # RFC 9162 tree sizes and indices are uint64.


class ProofError(ValueError):
    """A proof, hash or size was refused; the message says which check failed."""


class MissingNodeError(LookupError):
    """A node store lacks a node the tree needs: the store is behind the tree or was damaged."""


class NodeConflictError(ValueError):
    """A node was written twice with different hashes: history would have been rewritten."""


@dataclass(frozen=True, slots=True, order=True)
class NodeId:
    """Address of a perfect subtree: ``2**level`` leaves starting at ``index * 2**level``."""

    level: int
    index: int


class NodeStore(Protocol):
    """Where the tree keeps perfect-subtree hashes; the persistent one lives in the storage layer.

    Implementations must treat nodes as write-once: ``put`` of an existing node with the same hash
    is a no-op, with a different hash it must raise :class:`NodeConflictError`.  ``get`` of an
    absent node must raise :class:`MissingNodeError`.  The batch methods exist so that a database
    store can serve a whole proof or a whole append in one round trip; the tree only uses them.
    """

    def get(self, level: int, index: int) -> bytes: ...

    def put(self, level: int, index: int, node: bytes) -> None: ...

    def get_many(self, ids: Sequence[NodeId]) -> list[bytes]:
        """Return the hashes of ``ids`` in the same order."""
        ...

    def put_many(self, nodes: Sequence[tuple[NodeId, bytes]]) -> None: ...


class MemoryNodeStore:
    """A dict-backed :class:`NodeStore` for tests, tools and offline verification."""

    def __init__(self) -> None:
        self._nodes: dict[NodeId, bytes] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def get(self, level: int, index: int) -> bytes:
        try:
            return self._nodes[NodeId(level, index)]
        except KeyError:
            raise MissingNodeError(f"no node at level {level}, index {index}") from None

    def put(self, level: int, index: int, node: bytes) -> None:
        key = NodeId(level, index)
        old = self._nodes.get(key)
        if old is not None and old != node:
            raise NodeConflictError(f"node at level {level}, index {index} already differs")
        self._nodes[key] = bytes(node)

    def get_many(self, ids: Sequence[NodeId]) -> list[bytes]:
        return [self.get(i.level, i.index) for i in ids]

    def put_many(self, nodes: Sequence[tuple[NodeId, bytes]]) -> None:
        # Check everything first so that a conflict leaves the store untouched.
        for key, node in nodes:
            old = self._nodes.get(key)
            if old is not None and old != node:
                raise NodeConflictError(f"node {key} already differs")
        for key, node in nodes:
            self._nodes[key] = bytes(node)


# --- hashing -------------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1 leaf hash; the 0x00 prefix keeps leaves and interior nodes apart."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1 interior node hash (prefix 0x01).

    Lengths are checked because a short or long input here is always a storage or caller bug, and
    hashing it anyway would produce a root nobody can reproduce.
    """
    if len(left) != HASH_SIZE or len(right) != HASH_SIZE:
        raise ProofError("node hash inputs must be 32 bytes each")
    return hashlib.sha256(b"\x01" + left + right).digest()


def new_salt() -> bytes:
    """A fresh random salt for one event; it must come from a CSPRNG or the commitment can leak."""
    return secrets.token_bytes(SALT_SIZE)


def event_leaf_data(salt: bytes, event_canonical_json: bytes) -> bytes:
    """The leaf data committing to one event: ``SHA-256(LEAF_DOMAIN || salt || event)``.

    A plain hash of the event would let anyone holding a proof test guesses of events they may not
    see (events are small and predictable); mixing in a secret 16-byte salt makes the leaf reveal
    nothing without the salt, while the holder of event and salt can recompute it exactly.  The salt
    has a fixed length, so ``salt || event`` is unambiguous.  The event must already be in
    canonical form (see :func:`deconflict.core.record.canonical.canonical_json`), otherwise two
    parties would hash different bytes for the same event.
    """
    if len(salt) != SALT_SIZE:
        raise ValueError(f"salt must be {SALT_SIZE} bytes, got {len(salt)}")
    if not event_canonical_json:
        raise ValueError("event must not be empty")
    return hashlib.sha256(LEAF_DOMAIN + salt + event_canonical_json).digest()


def event_leaf_hash(salt: bytes, event_canonical_json: bytes) -> bytes:
    """The Merkle leaf hash of one event, as stored in the tree and signed in acknowledgements."""
    return leaf_hash(event_leaf_data(salt, event_canonical_json))


# --- tree geometry --------------------------------------------------------------------------------


def _check_size(value: int, what: str) -> None:
    # bool is an int subclass; a True index is a bug, not leaf 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProofError(f"{what} must be an integer")
    if value < 0 or value > _MAX_SIZE:
        raise ProofError(f"{what} must be in [0, 2^64)")


def _subtree_ids(start: int, end: int) -> list[NodeId]:
    """Perfect nodes, largest first, whose right fold is MTH(D[start:end]).

    Valid when ``start`` is a multiple of a power of two not below ``end - start``, which holds for
    every subtree the RFC 6962 recursion visits (and for ``start == 0``).
    """
    ids: list[NodeId] = []
    offset = start
    width = end - start
    for level in range(width.bit_length() - 1, -1, -1):
        if (width >> level) & 1:
            ids.append(NodeId(level, offset >> level))
            offset += 1 << level
    return ids


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Right fold of descending perfect subtrees into their MTH (RFC 9162 §2.1.1 recursion)."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _inclusion_plan(index: int, size: int) -> list[list[NodeId]]:
    """For each element of the RFC 9162 inclusion path of ``index`` in ``size``, leaf side first,
    the perfect nodes that fold into it.

    Below the level where the paths to ``index`` and ``size - 1`` meet, siblings are perfect,
    except the topmost one, which may be the ragged right edge of the tree; above it, the path runs
    along the right border and only left siblings (all perfect) appear.
    """
    plan: list[list[NodeId]] = []
    inner = (index ^ (size - 1)).bit_length()
    for level in range(inner):
        start = ((index >> level) ^ 1) << level
        plan.append(_subtree_ids(start, min(start + (1 << level), size)))
    for level in range(inner, index.bit_length()):
        if (index >> level) & 1:
            plan.append([NodeId(level, (index >> level) - 1)])
    return plan


def _consistency_plan(size1: int, size2: int) -> list[list[NodeId]]:
    """RFC 9162 §2.1.4 consistency proof for ``0 < size1 < size2``, as node groups.

    The proof is the inclusion path of leaf ``size1 - 1`` in ``size2`` without its lowest
    ``shift`` elements (those lie inside the largest perfect subtree ending at ``size1``), preceded
    by that subtree's own hash unless it is the whole old tree, whose root the verifier has.
    """
    shift = (size1 & -size1).bit_length() - 1
    plan = _inclusion_plan(size1 - 1, size2)[shift:]
    if size1 != 1 << shift:
        plan.insert(0, [NodeId(shift, (size1 >> shift) - 1)])
    return plan


def inclusion_proof_length(index: int, size: int) -> int:
    """Number of hashes in a valid inclusion proof; lets an API refuse bad requests early."""
    _check_size(index, "index")
    _check_size(size, "tree size")
    if index >= size:
        raise ProofError(f"index {index} is not below tree size {size}")
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_proof_length(size1: int, size2: int) -> int:
    """Number of hashes in a valid consistency proof from ``size1`` to ``size2``."""
    _check_size(size1, "size1")
    _check_size(size2, "size2")
    if size1 > size2:
        raise ProofError(f"size1 {size1} exceeds size2 {size2}")
    if size1 == 0:
        raise ProofError("consistency with the empty tree is meaningless")
    if size1 == size2:
        return 0
    shift = (size1 & -size1).bit_length() - 1
    full = inclusion_proof_length(size1 - 1, size2) - shift
    return full if size1 == 1 << shift else full + 1


# --- the tree -------------------------------------------------------------------------------------


class MerkleTree:
    """Append-only RFC 6962 tree over a :class:`NodeStore`.

    The tree keeps the *frontier* (the perfect subtrees along the right edge, one per set bit of
    the size) in memory, so an append costs one leaf hash plus the merges that the new leaf
    completes and one ``put_many``; nothing is read.  ``size`` is supplied by the owner when
    resuming over an existing store, because the store's notion of "committed" (a database
    transaction) is the owner's, not the tree's.  Not thread-safe: the log has one writer.
    """

    def __init__(self, store: NodeStore | None = None, size: int = 0) -> None:
        _check_size(size, "tree size")
        self._store: NodeStore = store if store is not None else MemoryNodeStore()
        self._size = size
        self._frontier: list[bytes] | None = [] if size == 0 else None

    @property
    def size(self) -> int:
        return self._size

    @property
    def store(self) -> NodeStore:
        return self._store

    def _load_frontier(self) -> list[bytes]:
        if self._frontier is None:
            self._frontier = self._store.get_many(_subtree_ids(0, self._size))
        return self._frontier

    def append(self, leaf: bytes) -> int:
        """Add one leaf hash (see :func:`event_leaf_hash`); return its index."""
        first = self._size
        self.extend([leaf])
        return first

    def extend(self, leaves: Iterable[bytes]) -> range:
        """Add leaf hashes in order with a single ``put_many``; return their indices.

        Nothing changes (in memory or, given a transactional store, on disk) if the store refuses
        the write, so a failed append can simply be retried.
        """
        frontier = list(self._load_frontier())
        size = self._size
        written: list[tuple[NodeId, bytes]] = []
        for leaf in leaves:
            if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
                raise ValueError("leaf hashes must be 32 bytes")
            if size == _MAX_SIZE:
                raise ValueError("tree is full")
            written.append((NodeId(0, size), leaf))
            current, level = leaf, 0
            while (size >> level) & 1:
                current = node_hash(frontier.pop(), current)
                level += 1
                written.append((NodeId(level, size >> level), current))
            frontier.append(current)
            size += 1
        if written:
            self._store.put_many(written)
        first = self._size
        self._size, self._frontier = size, frontier
        return range(first, size)

    def _resolve(self, size: int | None) -> int:
        if size is None:
            return self._size
        _check_size(size, "tree size")
        if size > self._size:
            raise ValueError(f"tree size {size} is beyond the current size {self._size}")
        return size

    def _fetch(self, plan: list[list[NodeId]]) -> list[bytes]:
        """Read all nodes of a plan in one batch and fold each group into one hash."""
        flat = [node for group in plan for node in group]
        hashes = self._store.get_many(flat) if flat else []
        out: list[bytes] = []
        pos = 0
        for group in plan:
            out.append(_fold(hashes[pos : pos + len(group)]))
            pos += len(group)
        return out

    def leaf_hash_at(self, index: int) -> bytes:
        if not 0 <= index < self._size:
            raise IndexError(f"no leaf {index} in a tree of size {self._size}")
        return self._store.get(0, index)

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all), from at most log2(n) stored nodes."""
        size = self._resolve(size)
        if size == self._size and self._frontier is not None:
            return _fold(self._frontier)
        return self._fetch([_subtree_ids(0, size)])[0]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.3.1 inclusion path of leaf ``index`` in the tree of ``size`` leaves."""
        size = self._resolve(size)
        _check_size(index, "index")
        if index >= size:
            raise ValueError(f"index {index} is not below tree size {size}")
        return self._fetch(_inclusion_plan(index, size))

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.4.1 consistency proof that ``size1`` is a prefix of ``size2``."""
        size2 = self._resolve(size2)
        _check_size(size1, "size1")
        if size1 > size2:
            raise ValueError(f"size1 {size1} exceeds size2 {size2}")
        if size1 == 0:
            raise ValueError("consistency with the empty tree is meaningless")
        if size1 == size2:
            return []
        return self._fetch(_consistency_plan(size1, size2))


# --- verification ---------------------------------------------------------------------------------


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes")


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 §2.1.3.2 steps 1-4)."""
    expected = inclusion_proof_length(index, size)
    _check_hash(leaf, "leaf hash")
    if len(proof) != expected:
        raise ProofError(f"inclusion proof has {len(proof)} hashes, expected {expected}")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof[{i}]")
    # RFC 9162 §2.1.3.2 as written; its own length checks (sn) cannot fire after the exact-length
    # check above, but keeping the algorithm whole makes it easy to audit against the RFC.
    fn, sn, r = index, size - 1, bytes(leaf)
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(bytes(p), r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, bytes(p))
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows leaf ``index`` of ``size`` under ``root``.

    The size must come from the same signed checkpoint as the root: RFC 6962 roots do not commit to
    the size on their own, and a proof for one size can fold to the same root under another size.
    """
    _check_hash(root, "root")
    if root_from_inclusion_proof(leaf, index, size, proof) != bytes(root):
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Raise :class:`ProofError` unless tree ``(size1, root1)`` is a prefix of ``(size2, root2)``.

    Follows RFC 9162 §2.1.4.2.  Equal sizes need no proof and consistency reduces to the roots
    being the same bytes.  ``size1 == 0`` is refused, as in the transparency-dev reference: every
    tree extends the empty one, so such a "proof" would prove nothing, and a witness starts from
    the first non-empty checkpoint it sees.
    """
    expected = consistency_proof_length(size1, size2)
    if len(proof) != expected:
        raise ProofError(f"consistency proof has {len(proof)} hashes, expected {expected}")
    if size1 == size2:
        if bytes(root1) != bytes(root2):
            raise ProofError("equal tree sizes with different roots")
        return
    _check_hash(root1, "root1")
    _check_hash(root2, "root2")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof[{i}]")
    path = [bytes(p) for p in proof]
    if size1 & (size1 - 1) == 0:
        path.insert(0, bytes(root1))
    # RFC 9162 §2.1.4.2 steps 3-7, kept whole as in root_from_inclusion_proof.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != bytes(root1):
        raise ProofError("consistency proof does not lead to root1")
    if sr != bytes(root2):
        raise ProofError("consistency proof does not lead to root2")
