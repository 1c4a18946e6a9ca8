"""`make crashtest`: SIGKILL the server during a write storm, restart it, check nothing was lost.

Each cycle starts ``deconflict serve`` as a real process, lets a few client threads declare
with ``Idempotency-Key`` headers, kills the server with SIGKILL at a random moment, and then,
with the server down, checks the database:

* every write that got a 2xx is there (its declaration exists), and no request was written
  twice (each request's label occurs in one ``declaration_declared`` event at most);
* the log is numbered 1..n without gaps;
* the projections equal a rebuild from the log;
* the Merkle tree and every signed checkpoint verify against the events, and the tree is
  consistent with the checkpoint seen at the end of every earlier cycle (consistency proofs).

Requests that were in flight at the kill have an unknown outcome; the next cycle sends them
again with the same key, and they must then succeed exactly once (or be answered from the
stored response). ``python -m bench.crashtest --cycles 20 --backend both``.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench.serving import Deployment, ServerProcess, deploy, fresh_database
from deconflict.core.events import EventKind
from deconflict.core.record.merkle import verify_consistency
from deconflict.service.bundle import verify_database
from deconflict.service.deconflict import Deconflict
from deconflict.service.replay import compare_with_replay
from deconflict.storage import merkle_store, queries
from deconflict.storage import tables as t


@dataclass(frozen=True)
class Request:
    token: str
    key: str
    body: dict[str, Any]


@dataclass
class Cycle:
    number: int
    acknowledged: int
    unknown: int
    events: int
    tree_size: int


@dataclass
class Report:
    backend: str
    cycles: list[Cycle] = field(default_factory=list)
    acknowledged: dict[str, str] = field(default_factory=dict)
    """idempotency key -> declaration id, for every write that got a 2xx."""
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def feature(rng: random.Random, label: str) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10 + rng.randrange(600))
    return {
        "type": "Feature",
        "geometry": {
            "type": "Point",
            "coordinates": [round(rng.uniform(40.8, 41.2), 5), round(rng.uniform(36.4, 36.7), 5)],
        },
        "properties": {
            "kind": "site",
            "start": start.isoformat().replace("+00:00", "Z"),
            "end": (start + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
            "label": label,
            "share_with": "all",
        },
    }


class Storm:
    """Client threads declaring until told to stop; unanswered requests are kept for retry."""

    def __init__(self, url: str, retry: list[Request], tokens: list[str], seed: int) -> None:
        self.url = url
        self.tokens = tokens
        self.stop = threading.Event()
        self.acknowledged: dict[str, str] = {}
        self.unknown: list[Request] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._retry = list(retry)
        self._seed = seed
        self.first_ack = threading.Event()
        self.drained = threading.Event()

    def _next(self, rng: random.Random, worker: int) -> Request:
        with self._lock:
            if self._retry:
                return self._retry.pop()
        self.drained.set()  # every request carried over from the last cycle has been sent
        key = uuid.uuid4().hex
        return Request(self.tokens[worker % len(self.tokens)], key, feature(rng, key))

    def worker(self, number: int) -> None:
        rng = random.Random(self._seed * 100 + number)
        pending: Request | None = None
        with httpx.Client(base_url=self.url, timeout=20) as client:
            while not self.stop.is_set():
                pending = pending or self._next(rng, number)
                headers = {
                    "Authorization": f"Bearer {pending.token}",
                    "Idempotency-Key": pending.key,
                }
                try:
                    answer = client.post("/v1/declarations", json=pending.body, headers=headers)
                except httpx.TransportError:
                    continue  # the server died: retry the same request (same key) until told to stop
                with self._lock:
                    if answer.is_success:
                        self.acknowledged[pending.key] = answer.json()["declaration"]["id"]
                        self.first_ack.set()
                    else:
                        self.refused.append(
                            f"{pending.key}: {answer.status_code} {answer.text[:200]}"
                        )
                pending = None
        if pending is not None:
            with self._lock:
                self.unknown.append(pending)


def check(
    deployment: Deployment, report: Report, history: list[tuple[int, bytes]]
) -> tuple[int, int]:
    """The checks after a cycle (server down); raises AssertionError on the first that fails."""
    service = Deconflict(deployment.settings())
    try:
        with service.db.connect() as conn:
            seqs = list(conn.execute(sa.select(t.events.c.seq).order_by(t.events.c.seq)).scalars())
            assert seqs == list(range(1, len(seqs) + 1)), "the log has gaps"
            labels: dict[str, int] = {}
            for event in queries.events(conn):
                if event.kind is EventKind.declaration_declared:
                    label = event.body["feature"]["properties"].get("label")
                    labels[label] = labels.get(label, 0) + 1
            report.duplicated = sorted(k for k, n in labels.items() if n > 1)
            present = set(conn.execute(sa.select(t.declarations.c.id)).scalars())
            report.lost = sorted(k for k, d in report.acknowledged.items() if d not in present)
            verdict = verify_database(conn, service.record.signer.verifier())
            assert verdict.ok, f"the record does not verify: {verdict.failures[:5]}"
            size = service.record.size(conn)
            row = merkle_store.checkpoint(conn, size)
            root = b"" if row is None else bytes(row.root_hash)
        for old_size, old_root in history:
            proof = service.record.consistency(old_size, size)
            hashes = [base64.b64decode(h) for h in proof.hashes]
            verify_consistency(old_size, size, hashes, old_root, root)
        replayed = compare_with_replay(service.db)
        assert replayed.ok, f"projections differ from a replay of the log: {replayed.differing}"
        if size:
            history.append((size, root))
        return len(seqs), size
    finally:
        service.close()


def run(
    backend: str,
    directory: Path,
    cycles: int,
    clients: int = 4,
    seed: int = 1,
    postgres_url: str | None = None,
    kill_window_s: tuple[float, float] = (0.05, 1.0),
) -> Report:
    """``cycles`` kill-and-check cycles on a fresh database; the report says what was lost."""
    rng = random.Random(seed)
    report = Report(backend)
    history: list[tuple[int, bytes]] = []
    with fresh_database(backend, directory, postgres_url) as url:
        deployment = deploy(url, directory)
        tokens = list(deployment.tokens.values())
        retry: list[Request] = []
        with open(directory / "server.log", "ab") as log:
            for number in range(1, cycles + 2):
                final = number == cycles + 1  # one more start: resend what is still unknown
                server = ServerProcess(deployment, log)
                storm = Storm(server.url, retry, tokens, seed * 1000 + number)
                threads = [
                    threading.Thread(target=storm.worker, args=(i,), daemon=True)
                    for i in range(clients)
                ]
                for thread in threads:
                    thread.start()
                if not storm.first_ack.wait(timeout=120):
                    server.kill()
                    raise RuntimeError(f"no write succeeded; see {directory / 'server.log'}")
                if final:
                    storm.drained.wait(timeout=120)
                    storm.stop.set()
                    for thread in threads:
                        thread.join()
                    server.stop()
                else:
                    # A random moment in the storm; the wait bounds nothing that is asserted.
                    time.sleep(rng.uniform(*kill_window_s))
                    server.kill()
                    storm.stop.set()
                    for thread in threads:
                        thread.join()
                report.acknowledged.update(storm.acknowledged)
                report.refused.extend(storm.refused)
                retry = storm.unknown
                events, size = check(deployment, report, history)
                report.cycles.append(
                    Cycle(number, len(storm.acknowledged), len(storm.unknown), events, size)
                )
                if report.lost or report.duplicated or report.refused:
                    break
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.crashtest", description=__doc__)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("DECONFLICT_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    failed = False
    for backend in backends:
        if backend == "postgres" and not args.postgres_url:
            print("postgres: skipped (set DECONFLICT_TEST_POSTGRES_URL or --postgres-url)")
            continue
        with tempfile.TemporaryDirectory(prefix="crashtest-") as tmp:
            started = time.perf_counter()
            report = run(
                backend, Path(tmp), args.cycles, args.clients, args.seed, args.postgres_url
            )
            elapsed = time.perf_counter() - started
        for cycle in report.cycles:
            print(
                f"{backend} cycle {cycle.number:3d}: {cycle.acknowledged:4d} acknowledged, "
                f"{cycle.unknown} in flight at the kill, log {cycle.events} events, "
                f"tree {cycle.tree_size}: verified, consistent, rebuild identical"
            )
        print(
            f"{backend}: {len(report.cycles) - 1} SIGKILL cycles (+1 final restart) in {elapsed:.0f} s, "
            f"{len(report.acknowledged)} acknowledged writes, {len(report.lost)} lost, "
            f"{len(report.duplicated)} written twice, {len(report.refused)} refused"
        )
        failed |= bool(report.lost or report.duplicated or report.refused)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
