"""The record's tables: the Merkle tree's nodes, signed checkpoints and witness cosignatures.

These are not projections.  They are written inside the sequencer's transaction, together with
the events they commit to, and a rebuild never touches them; ``deconflict verify --db``
recomputes them from the events instead and reports any difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from deconflict.core.record.merkle import MissingNodeError, NodeConflictError, NodeId
from deconflict.storage import tables as t

_BATCH = 400  # rows per IN clause, well below SQLite's parameter limit


class SqlNodeStore:
    """A :class:`~deconflict.core.record.merkle.NodeStore` over ``merkle_nodes`` on one connection.

    It lives only as long as the transaction it is given: the tree above it is recreated per
    write, which costs one read of the O(log n) frontier and guarantees the tree never runs ahead
    of (or behind) what the database committed.
    """

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def _select(self, ids: Sequence[NodeId]) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = {}
        for start in range(0, len(ids), _BATCH):
            by_level: dict[int, list[int]] = {}
            for i in ids[start : start + _BATCH]:
                by_level.setdefault(i.level, []).append(i.index)
            # One (level = ? AND idx IN (...)) term per level, which every backend answers from
            # the primary key.  Written as plain SQL text because the statement's shape changes
            # with every proof, and building and compiling it as an expression cost more than
            # the lookup itself.
            terms: list[str] = []
            params: dict[str, int] = {}
            for lv, indices in by_level.items():
                names = []
                for index in indices:
                    names.append(f":i{len(params)}")
                    params[f"i{len(params)}"] = index
                params[f"l{lv}"] = lv
                terms.append(f"(level = :l{lv} AND idx IN ({', '.join(names)}))")
            # Only bind-parameter names are interpolated; every value is bound.
            sql = "SELECT level, idx, hash FROM merkle_nodes WHERE " + " OR ".join(terms)  # noqa: S608
            for row in self.conn.execute(sa.text(sql), params):
                found[(row.level, row.idx)] = bytes(row.hash)
        return found

    def get(self, level: int, index: int) -> bytes:
        return self.get_many([NodeId(level, index)])[0]

    def get_many(self, ids: Sequence[NodeId]) -> list[bytes]:
        found = self._select(ids)
        out = []
        for i in ids:
            node = found.get((i.level, i.index))
            if node is None:
                raise MissingNodeError(f"no node at level {i.level}, index {i.index}")
            out.append(node)
        return out

    def put(self, level: int, index: int, node: bytes) -> None:
        self.put_many([(NodeId(level, index), node)])

    def put_many(self, nodes: Sequence[tuple[NodeId, bytes]]) -> None:
        # Nodes are write-once; read any that already exist so that a rewrite with a different
        # hash fails loudly (and the same hash is a no-op), as the NodeStore contract demands.
        existing = self._select([key for key, _ in nodes])
        fresh: list[dict[str, Any]] = []
        for key, node in nodes:
            old = existing.get((key.level, key.index))
            if old is None:
                fresh.append({"level": key.level, "idx": key.index, "hash": bytes(node)})
            elif old != node:
                raise NodeConflictError(f"node {key} already differs")
        if fresh:
            self.conn.execute(t.merkle_nodes.insert(), fresh)


def tree_size(conn: sa.Connection) -> int:
    """Leaves stored: the number of the last leaf plus one."""
    n = t.merkle_nodes.c
    last = conn.execute(sa.select(sa.func.max(n.idx)).where(n.level == 0)).scalar_one_or_none()
    return 0 if last is None else int(last) + 1


def stored_leaves(conn: sa.Connection, after_index: int = -1) -> sa.CursorResult[Any]:
    n = t.merkle_nodes.c
    return conn.execute(
        sa.select(n.idx, n.hash).where(n.level == 0, n.idx > after_index).order_by(n.idx)
    )


def add_checkpoint(
    conn: sa.Connection, size: int, root_hash: bytes, note: str, issued_at: str
) -> None:
    conn.execute(
        t.checkpoints.insert().values(
            size=size, root_hash=root_hash, note=note, issued_at=issued_at
        )
    )


def checkpoint(conn: sa.Connection, size: int | None = None) -> sa.Row[Any] | None:
    """The checkpoint of ``size``, or the latest one."""
    c = t.checkpoints.c
    query = sa.select(t.checkpoints)
    query = query.order_by(c.size.desc()).limit(1) if size is None else query.where(c.size == size)
    return conn.execute(query).first()


def checkpoints(conn: sa.Connection) -> list[sa.Row[Any]]:
    return list(conn.execute(sa.select(t.checkpoints).order_by(t.checkpoints.c.size)))


def checkpoint_sizes(conn: sa.Connection) -> list[int]:
    c = t.checkpoints.c
    return [int(s) for s in conn.execute(sa.select(c.size).order_by(c.size)).scalars()]


def cosignature_lines(conn: sa.Connection, size: int) -> list[str]:
    c = t.cosignatures.c
    query = sa.select(c.line).where(c.size == size).order_by(c.witness)
    return [str(line) for line in conn.execute(query).scalars()]


def put_cosignature(
    conn: sa.Connection, size: int, witness: str, timestamp: int, line: str
) -> None:
    """Keep the newest cosignature of each witness on each checkpoint."""
    c = t.cosignatures.c
    old = conn.execute(
        sa.select(c.timestamp).where(c.size == size, c.witness == witness)
    ).scalar_one_or_none()
    if old is None:
        conn.execute(
            t.cosignatures.insert().values(
                size=size, witness=witness, timestamp=timestamp, line=line
            )
        )
    elif timestamp > old:
        conn.execute(
            t.cosignatures.update()
            .where(c.size == size, c.witness == witness)
            .values(timestamp=timestamp, line=line)
        )


def witness_vkeys(conn: sa.Connection) -> list[str]:
    w = t.witnesses.c
    return [str(v) for v in conn.execute(sa.select(w.vkey).order_by(w.name)).scalars()]


def party_keys(conn: sa.Connection, party_id: str | None = None) -> list[sa.Row[Any]]:
    k = t.party_keys.c
    query = sa.select(t.party_keys).order_by(k.registered_seq)
    if party_id is not None:
        query = query.where(k.party_id == party_id)
    return list(conn.execute(query))


def party_key(conn: sa.Connection, key_id: str) -> sa.Row[Any] | None:
    return conn.execute(sa.select(t.party_keys).where(t.party_keys.c.key_id == key_id)).first()


def advisory_raised_seq(conn: sa.Connection, advisory_id: str) -> int | None:
    a = t.advisories.c
    seq = conn.execute(sa.select(a.raised_seq).where(a.id == advisory_id)).scalar_one_or_none()
    return None if seq is None else int(seq)
