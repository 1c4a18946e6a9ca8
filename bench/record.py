"""Benchmark of the record (DESIGN §7, "Record"): append, proofs, full verification.

Run with ``make bench`` (all benchmarks) or ``python -m bench.record``.  Set
``BENCH_RECORD_SCALE=small`` for a quick run (10⁵ instead of 10⁶/10⁷ leaves).  Targets:
append ≥ 5,000 events/s with the Merkle update; inclusion and consistency proofs ≤ 1 ms at
n = 10⁷; full verification of 10⁶ entries ≤ 10 s.
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from deconflict.core.events import Event, EventKind, NewEvent
from deconflict.core.record.leaves import event_bytes
from deconflict.core.record.merkle import (
    MerkleTree,
    MissingNodeError,
    NodeId,
    event_leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from deconflict.core.record.notes import Checkpoint, Signer, open_checkpoint, sign_note
from deconflict.service.bundle import _Discard
from deconflict.service.deconflict import Deconflict
from deconflict.settings import Settings, sqlite_url
from deconflict.storage import tables as t
from deconflict.storage.merkle_store import SqlNodeStore

SMALL = os.environ.get("BENCH_RECORD_SCALE") == "small"


class ArrayNodeStore:
    """Perfect-subtree hashes in one bytearray per level: 32 bytes a node, so 10⁷ leaves fit in
    about 640 MB where a dict of node objects would need several GB."""

    def __init__(self, levels: list[bytearray]) -> None:
        self.levels = levels

    def get(self, level: int, index: int) -> bytes:
        data = self.levels[level] if level < len(self.levels) else b""
        if (index + 1) * 32 > len(data):
            raise MissingNodeError(f"no node at level {level}, index {index}")
        return bytes(data[index * 32 : index * 32 + 32])

    def put(self, level: int, index: int, node: bytes) -> None:
        raise NotImplementedError("built in bulk")

    def get_many(self, ids: Sequence[NodeId]) -> list[bytes]:
        return [self.get(i.level, i.index) for i in ids]

    def put_many(self, nodes: Sequence[tuple[NodeId, bytes]]) -> None:
        raise NotImplementedError("built in bulk")


def synthetic_levels(n: int) -> list[bytearray]:
    """Every perfect node over ``n`` synthetic leaves, level by level (RFC 6962 hashing)."""
    sha = hashlib.sha256
    level = bytearray()
    for i in range(n):
        level += sha(b"\x00" + i.to_bytes(8, "big")).digest()
    levels = [level]
    while len(level) >= 64:
        above = bytearray()
        for offset in range(0, len(level) - 63, 64):
            above += sha(b"\x01" + level[offset : offset + 64]).digest()
        levels.append(above)
        level = above
    return levels


def timed(call: Callable[[], Any], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    """Median and p99, in milliseconds."""
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[int(0.99 * (len(ordered) - 1))] * 1e3


def proofs(tree: MerkleTree, repeat: int) -> dict[str, tuple[float, float]]:
    n = tree.size
    rng = random.Random(7)
    root = tree.root()
    inclusion = []
    consistency = []
    for _ in range(repeat):
        index = rng.randrange(n)
        start = time.perf_counter()
        proof = tree.inclusion_proof(index, n)
        inclusion.append(time.perf_counter() - start)
        verify_inclusion(tree.leaf_hash_at(index), index, n, proof, root)
        old = rng.randrange(1, n)
        start = time.perf_counter()
        proof = tree.consistency_proof(old, n)
        consistency.append(time.perf_counter() - start)
        if rng.random() < 0.05:  # check some, so the timing is of correct proofs
            verify_consistency(old, n, proof, tree.root(old), root)
    return {"inclusion": summary(inclusion), "consistency": summary(consistency)}


def bench_append(console: Console, directory: Path) -> dict[str, Any]:
    """Events through the real sequencer on SQLite: projection, leaves, nodes, signed checkpoint."""
    service = Deconflict(
        Settings(database_url=sqlite_url(directory / "append.sqlite"), expiry_interval_s=0)
    )
    out: dict[str, Any] = {}
    try:
        for per_write, writes in ((1, 300 if SMALL else 1000), (100, 20 if SMALL else 100)):
            latencies = []

            def write(tx: Any, count: int = per_write) -> None:
                for _ in range(count):
                    tx.append(
                        NewEvent(
                            EventKind.witness_registered,
                            {"name": f"w{secrets.token_hex(6)}", "vkey": "x" * 80},
                            frozenset({"host", "*"}),
                        )
                    )

            start = time.perf_counter()
            for _ in range(writes):
                began = time.perf_counter()
                service.sequencer.write(write)
                latencies.append(time.perf_counter() - began)
            elapsed = time.perf_counter() - start
            rate = per_write * writes / elapsed
            median, p99 = summary(latencies)
            out[f"append_{per_write}_per_write_events_per_s"] = rate
            console.print(
                f"append, {per_write} event(s) per write: {rate:,.0f} events/s "
                f"(write median {median:.2f} ms, p99 {p99:.2f} ms)"
            )
    finally:
        service.close()
    tree = MerkleTree()
    leaves = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(100_000)]
    start = time.perf_counter()
    for leaf in leaves:
        tree.append(leaf)
    rate = len(leaves) / (time.perf_counter() - start)
    out["tree_append_in_memory_per_s"] = rate
    console.print(f"tree append alone (in memory): {rate:,.0f} leaves/s")
    return out


def bench_proofs(console: Console, directory: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    table = Table(title="Proof generation (ms): median / p99")
    for column in ("store", "n", "inclusion", "consistency", "build (s)"):
        table.add_column(column)
    for n in (100_000,) if SMALL else (1_000_000, 10_000_000):
        start = time.perf_counter()
        levels = synthetic_levels(n)
        built = time.perf_counter() - start
        result = proofs(MerkleTree(ArrayNodeStore(levels), size=n), 1000)
        out[f"memory_{n}"] = result
        table.add_row("memory", f"{n:,}", *_cells(result), f"{built:.1f}")
        if n <= 1_000_000:
            out[f"sql_{n}"] = _sql_proofs(directory, levels, n, table)
        del levels
    console.print(table)
    return out


def _cells(result: dict[str, tuple[float, float]]) -> list[str]:
    return [f"{m:.3f} / {p:.3f}" for m, p in (result["inclusion"], result["consistency"])]


def _sql_proofs(
    directory: Path, levels: list[bytearray], n: int, table: Table
) -> dict[str, tuple[float, float]]:
    engine = sa.create_engine(sqlite_url(directory / f"nodes-{n}.sqlite"))
    t.merkle_nodes.create(engine)
    start = time.perf_counter()
    with engine.begin() as conn:
        for level, data in enumerate(levels):
            rows = [
                {"level": level, "idx": i, "hash": bytes(data[i * 32 : i * 32 + 32])}
                for i in range(len(data) // 32)
            ]
            conn.execute(t.merkle_nodes.insert(), rows)
    built = time.perf_counter() - start
    with engine.connect() as conn:
        result = proofs(MerkleTree(SqlNodeStore(conn), size=n), 300)
    engine.dispose()
    table.add_row("SQLite", f"{n:,}", *_cells(result), f"{built:.1f}")
    return result


def bench_verify(console: Console) -> dict[str, Any]:
    """Full verification: every (event bytes, salt) to its leaf, the tree recomputed, the root
    compared with a signed checkpoint, as ``verify --db`` does."""
    n = 100_000 if SMALL else 1_000_000
    signer = Signer.generate("bench.example/record")
    now = datetime.now(UTC)
    sample = Event(
        1,
        EventKind.advisory_acknowledged,
        now,
        {"advisory_id": "adv_0", "party_id": "alpha", "member_id": "mbr_0", "note": None},
        frozenset({"alpha", "bravo"}),
        "mbr_0",
        b"\0" * 16,
    )
    entries: list[tuple[bytes, bytes]] = []
    for seq in range(1, n + 1):
        raw = (
            event_bytes(sample)
            if seq == 1
            else entries[0][0].replace(b'"seq":1', f'"seq":{seq}'.encode())
        )
        entries.append((raw, secrets.token_bytes(16)))
    expected = MerkleTree(_Discard())
    expected.extend(event_leaf_hash(salt, raw) for raw, salt in entries)
    note = sign_note(Checkpoint(signer.name, n, expected.root()).to_body(), [signer])
    start = time.perf_counter()
    checkpoint, _ = open_checkpoint(note, [signer.verifier()])
    tree = MerkleTree(_Discard())
    tree.extend(event_leaf_hash(salt, raw) for raw, salt in entries)
    assert tree.root() == checkpoint.root_hash
    elapsed = time.perf_counter() - start
    canon = timed(lambda: event_bytes(sample), 2000)
    canon_us = statistics.median(canon) * 1e6
    console.print(
        f"full verification of {n:,} entries (leaf from bytes and salt, tree, signed root): "
        f"{elapsed:.2f} s; re-canonicalising each event (RFC 8785) adds {canon_us:.0f} µs/event "
        f"(≈ {canon_us * n / 1e6:.0f} s)"
    )
    return {"verify_entries": n, "verify_s": elapsed, "canonicalise_us_per_event": canon_us}


def run(console: Console) -> dict[str, Any]:
    console.rule("Record (DESIGN §7): append ≥ 5,000/s, proofs ≤ 1 ms at 10⁷, verify 10⁶ ≤ 10 s")
    with tempfile.TemporaryDirectory() as directory:
        results = bench_append(console, Path(directory))
        results.update(bench_proofs(console, Path(directory)))
    results.update(bench_verify(console))
    return results


if __name__ == "__main__":
    run(Console())
