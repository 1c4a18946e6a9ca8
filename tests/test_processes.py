"""Three server processes on one PostgreSQL database: one ordered log, shared advisories, and
live streams that reach a member whichever process it is connected to (LISTEN/NOTIFY)."""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from bench.crashtest import feature
from bench.serving import ServerProcess, deploy

from deconflict.storage import tables as t
from tests.backends import POSTGRES_URL_VARIABLE, database, postgres_unavailable

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(postgres_unavailable() is not None, reason=str(postgres_unavailable())),
]


def events_of(response: httpx.Response) -> Iterator[dict[str, Any]]:
    data: str | None = None
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and data is not None:
            yield json.loads(data)
            data = None


def near(base: dict[str, Any], label: str) -> dict[str, Any]:
    """The same place and time as ``base``: certainly in conflict with it."""
    return {**base, "properties": {**base["properties"], "label": label}}


def test_three_processes_share_one_log_advisories_and_streams(tmp_path: Path) -> None:
    assert os.environ.get(POSTGRES_URL_VARIABLE)
    with database("postgres", tmp_path) as url, open(tmp_path / "servers.log", "ab") as log:
        deployment = deploy(url, tmp_path)
        alpha, bravo = deployment.tokens["alpha"], deployment.tokens["bravo"]
        # No heartbeat and no expiry ticker within the test's time: nothing but a notification
        # can wake a stream on a process that did not make the write itself.
        quiet = {"DECONFLICT_STREAM_HEARTBEAT_S": "600", "DECONFLICT_EXPIRY_INTERVAL_S": "0"}
        servers = [ServerProcess(deployment, log, quiet) for _ in range(3)]
        try:
            clients = [httpx.Client(base_url=s.url, timeout=60) for s in servers]
            acknowledged: list[str] = []
            lock = threading.Lock()

            def storm(index: int) -> None:
                rng = random.Random(index)
                for n in range(8):
                    token = (alpha, bravo)[n % 2]
                    answer = clients[index].post(
                        "/v1/declarations",
                        json=feature(rng, f"storm-{index}-{n}"),
                        headers={
                            "Authorization": f"Bearer {token}",
                            "Idempotency-Key": f"{index}-{n}",
                        },
                    )
                    assert answer.status_code == 201, answer.text
                    with lock:
                        acknowledged.append(answer.json()["declaration"]["id"])

            with ThreadPoolExecutor(3) as pool:
                list(pool.map(storm, range(3)))

            with sa.create_engine(url).connect() as conn:
                seqs = list(
                    conn.execute(sa.select(t.events.c.seq).order_by(t.events.c.seq)).scalars()
                )
                declared = set(conn.execute(sa.select(t.declarations.c.id)).scalars())
            assert seqs == list(range(1, len(seqs) + 1))
            assert set(acknowledged) <= declared
            assert len(acknowledged) == 24

            # Bravo listens on process 2; alpha declares via process 1, bravo via process 3.
            base = feature(random.Random(99), "alpha-site")
            with clients[1].stream(
                "GET",
                f"/v1/events/stream?after={seqs[-1]}",
                headers={"Authorization": f"Bearer {bravo}"},
            ) as stream:
                received = events_of(stream)
                made = clients[0].post(
                    "/v1/declarations", json=base, headers={"Authorization": f"Bearer {alpha}"}
                )
                assert made.status_code == 201
                alpha_id = made.json()["declaration"]["id"]
                first = next(received)
                assert first["kind"] == "declaration_declared"
                assert first["data"]["declaration"]["id"] == alpha_id
                answer = clients[2].post(
                    "/v1/declarations",
                    json=near(base, "bravo-site"),
                    headers={"Authorization": f"Bearer {bravo}"},
                )
                assert answer.status_code == 201
                raised = answer.json()["advisories"]
                assert [a["other"]["declaration_id"] for a in raised] == [alpha_id]
                kinds = []
                for event in received:
                    kinds.append(event["kind"])
                    if event["kind"] == "advisory_raised":
                        break
                assert "advisory_raised" in kinds
        finally:
            for server in servers:
                server.stop()
