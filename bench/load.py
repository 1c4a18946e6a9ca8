"""W4 (DESIGN §7): the API under load, against a real ``deconflict serve`` process.

Declare-and-check at 32 concurrent clients: each client is one keep-alive connection that
POSTs small movements to ``/v1/declarations`` one after another (all 32 driven from one
thread, :mod:`bench.wire`); the server checks each against everything declared
so far and answers with the advisories it raised. Reported: declarations per second over the
whole run (first request sent to last answer received), p50 and p99 latency of one request
as a client sees it, and errors (any non-2xx or transport failure; there must be none).
Then a read of one declaration (``GET /v1/declarations/{id}``) at concurrency 1.

Also reported: the CPU time the server process used per declaration and per read (from
``/proc``), and the load generator's own CPU per declaration. On a machine shared with other
work the wall-clock figures swing with the load average; CPU per request swings much less,
so it is the figure to compare between runs, and it says what the 2 cores could sustain.

Both on SQLite (a file in a temporary directory) and on PostgreSQL (a fresh schema, dropped
afterwards). The load generator runs on the same machine as the server, so the two compete
for its cores: the figures are what this machine sustains end to end, not the server alone.

``python -m bench --only load`` (or ``--quick``); ``python -m bench.load`` on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from bench import postgis, scenes
from bench.report import load as load_average
from bench.serving import ServerProcess, deploy, fresh_database
from bench.wire import Connection, WireError

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CLIENTS = 32
TARGET_RATE = 1_000.0  # declarations/s
TARGET_P99_S = 0.050
TARGET_READ_P50_S = 0.002
# Where the crossing movements meet: near Qamishli, inside the scene box of bench/scenes.py.
HOT_SPOT = (41.2, 37.0)
METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class Options:
    quick: bool = False
    postgres: bool = True
    seed: int = 7
    postgres_url: str = POSTGRES_URL
    clients: int = CLIENTS

    @property
    def per_client(self) -> int:
        """Declarations each client sends (the run also stops at :attr:`deadline_s`)."""
        return 4 if self.quick else 40

    @property
    def deadline_s(self) -> float:
        return 8.0 if self.quick else 60.0

    @property
    def reads(self) -> int:
        return 100 if self.quick else 1_000


@dataclass
class Result:
    backend: str
    clients: int
    sent: int = 0
    ok: int = 0
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    advisories: int = 0
    reads: list[float] = field(default_factory=list)
    read_errors: int = 0
    server_cpu_s: float = math.nan
    """Server CPU (user + system) over the declarations, and over the reads."""
    server_read_cpu_s: float = math.nan
    client_cpu_s: float = math.nan
    skipped: str | None = None

    @property
    def rate(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0

    def percentile(self, q: float, values: list[float] | None = None) -> float:
        data = self.latencies_s if values is None else values
        return float(np.percentile(data, q)) if data else math.nan

    def summary(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "skipped": self.skipped,
            "clients": self.clients,
            "sent": self.sent,
            "ok": self.ok,
            "errors": len(self.errors),
            "wall_s": self.wall_s,
            "rate_per_s": self.rate,
            "p50_s": self.percentile(50),
            "p99_s": self.percentile(99),
            "advisories": self.advisories,
            "reads": len(self.reads),
            "read_errors": self.read_errors,
            "read_p50_s": self.percentile(50, self.reads),
            "read_p99_s": self.percentile(99, self.reads),
            "server_cpu_per_declaration_s": self.server_cpu_s / self.ok if self.ok else math.nan,
            "client_cpu_per_declaration_s": self.client_cpu_s / self.ok if self.ok else math.nan,
            "server_cpu_per_read_s": (
                self.server_read_cpu_s / len(self.reads) if self.reads else math.nan
            ),
        }


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    """A point ``east_m`` east and ``north_m`` north of (lon, lat), on a local flat earth."""
    lon_scale = METRES_PER_DEGREE * math.cos(math.radians(lat))
    return lon + east_m / lon_scale, lat + north_m / METRES_PER_DEGREE


def movement(rng: random.Random, label: str, now: datetime) -> dict[str, Any]:
    """A movement of four vertices: one in five crosses the hot spot east-west or north-south
    within the same two hours as the others that do (so it raises advisories); the rest wander
    anywhere in the ≈ 300 × 250 km box over the next day."""
    speed = rng.uniform(10.0, 20.0)  # m/s
    if rng.random() < 0.2:
        across = rng.uniform(-3_000.0, 3_000.0)
        step = [rng.uniform(8_000.0, 12_000.0) for _ in range(3)]
        along = -sum(step) / 2
        eastward = rng.random() < 0.5
        points = []
        for i in range(4):
            east, north = (along, across) if eastward else (across, along)
            points.append(_offset(*HOT_SPOT, east, north))
            along += step[i] if i < 3 else 0.0
        start = now + timedelta(hours=1, seconds=rng.uniform(0, 7_200))
    else:
        lon = rng.uniform(scenes.WEST + 0.2, scenes.EAST - 0.2)
        lat = rng.uniform(scenes.SOUTH + 0.2, scenes.NORTH - 0.2)
        points = [(lon, lat)]
        heading = rng.uniform(0, 2 * math.pi)
        step = []
        for _ in range(3):
            heading += rng.uniform(-0.6, 0.6)
            leg = rng.uniform(2_000.0, 6_000.0)
            step.append(leg)
            points.append(_offset(*points[-1], leg * math.sin(heading), leg * math.cos(heading)))
        start = now + timedelta(minutes=10, seconds=rng.uniform(0, 86_400))
    times = [start]
    for leg in step:
        times.append(times[-1] + timedelta(seconds=round(leg / speed)))
    return {
        "type": "Feature",
        "geometry": {
            "type": "LineString",
            "coordinates": [[round(lon, 6), round(lat, 6)] for lon, lat in points],
        },
        "properties": {
            "kind": "movement",
            "times": [_iso(t.replace(microsecond=0)) for t in times],
            "label": label,
            "share_with": "all",
        },
    }


class Clients:
    """``clients`` connections, each declaring its own prepared bodies as fast as answers come.

    All driven from one thread by :mod:`bench.wire` (see there for why not 32 threads)."""

    def __init__(self, url: str, tokens: list[str], bodies: list[list[bytes]], deadline_s: float):
        self.url = url
        self.tokens = tokens
        self.bodies = bodies
        self.deadline_s = deadline_s
        self.latencies: list[list[float]] = [[] for _ in bodies]
        self.errors: list[str] = []
        self.advisories = 0
        self.ids: list[str] = []
        self.sent = 0
        self._t0 = 0.0

    async def _client(self, number: int, connection: Connection) -> None:
        latencies = self.latencies[number]
        for body in self.bodies[number]:
            if time.perf_counter() - self._t0 > self.deadline_s:
                break
            self.sent += 1
            began = time.perf_counter()
            try:
                answer = await connection.request("POST", "/v1/declarations", body)
            except WireError as exc:
                self.errors.append(str(exc))
                continue
            elapsed = time.perf_counter() - began
            if answer.status != 201:
                self.errors.append(f"{answer.status} {answer.body[:200]!r}")
                continue
            latencies.append(elapsed)
            outcome = json.loads(answer.body)
            self.advisories += len(outcome["advisories"])
            self.ids.append(outcome["declaration"]["id"])
        connection.close()

    async def _all(self) -> float:
        connections = [
            Connection(
                self.url,
                {
                    "Authorization": f"Bearer {self.tokens[n % len(self.tokens)]}",
                    "Content-Type": "application/json",
                },
            )
            for n in range(len(self.bodies))
        ]
        await asyncio.gather(*(c.open() for c in connections))  # connected before the clock
        self._t0 = time.perf_counter()
        await asyncio.gather(*(self._client(n, c) for n, c in enumerate(connections)))
        return time.perf_counter() - self._t0

    def run(self) -> float:
        """Runs every client to the end; the wall-clock seconds from release to the last answer."""
        return asyncio.run(self._all())


def read_one(url: str, token: str, ids: list[str], count: int) -> tuple[list[float], int]:
    """``count`` reads of one declaration each, one after another; latencies and errors."""

    async def reads() -> tuple[list[float], int]:
        latencies: list[float] = []
        errors = 0
        connection = Connection(url, {"Authorization": f"Bearer {token}"})
        await connection.open()
        for i in range(count + 20):  # the first 20 warm the connection and caches up
            began = time.perf_counter()
            try:
                answer = await connection.request("GET", f"/v1/declarations/{ids[i % len(ids)]}")
            except WireError:
                errors += 1
                continue
            elapsed = time.perf_counter() - began
            if answer.status != 200:
                errors += 1
            elif i >= 20:
                latencies.append(elapsed)
        connection.close()
        return latencies, errors

    return asyncio.run(reads())


def run_backend(backend: str, options: Options, directory: Path) -> Result:
    rng = random.Random(options.seed)
    now = datetime.now(UTC)
    result = Result(backend, options.clients)
    postgres_url = options.postgres_url if backend == "postgres" else None
    with fresh_database(backend, directory, postgres_url) as url:
        deployment = deploy(url, directory)
        tokens = [deployment.tokens["alpha"], deployment.tokens["bravo"]]
        bodies = [
            [
                json.dumps(movement(rng, f"load-{c}-{i}", now)).encode()
                for i in range(options.per_client)
            ]
            for c in range(options.clients)
        ]
        warm = [[json.dumps(movement(rng, f"warm-{c}", now)).encode()] for c in range(4)]
        with open(directory / "server.log", "ab") as log:
            server = ServerProcess(deployment, log)
            try:
                # A few declarations first: the server imports lazily and fills its caches.
                Clients(server.url, tokens, warm, 120.0).run()
                clients = Clients(server.url, tokens, bodies, options.deadline_s)
                cpu_before, own_before = process_cpu_s(server.process.pid), time.process_time()
                result.wall_s = clients.run()
                result.server_cpu_s = process_cpu_s(server.process.pid) - cpu_before
                result.client_cpu_s = time.process_time() - own_before
                result.sent = clients.sent
                result.latencies_s = [x for per in clients.latencies for x in per]
                result.ok = len(result.latencies_s)
                result.errors = clients.errors
                result.advisories = clients.advisories
                if clients.ids:
                    owner = tokens[0]  # alpha's token reads every declaration (shared with all)
                    cpu_before = process_cpu_s(server.process.pid)
                    result.reads, result.read_errors = read_one(
                        server.url, owner, clients.ids, options.reads
                    )
                    result.server_read_cpu_s = process_cpu_s(server.process.pid) - cpu_before
            finally:
                server.stop()
    return result


def _ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    return f"{seconds * 1e3:,.1f} ms" if seconds >= 0.01 else f"{seconds * 1e3:,.2f} ms"


def _verdict(met: bool) -> str:
    return "[green]met[/]" if met else "[bold red]missed[/]"


def show(console: Console, results: list[Result], options: Options) -> None:
    table = Table(
        title=f"W4, declare-and-check at {options.clients} concurrent clients "
        f"(target ≥ {TARGET_RATE:,.0f}/s with p99 ≤ {TARGET_P99_S * 1e3:.0f} ms)"
    )
    for column in ("backend", "declarations", "errors", "wall", "declarations/s"):
        table.add_column(column, justify="right")
    for column in ("p50", "p99", "advisories raised", "CPU/decl server, client", "target"):
        table.add_column(column, justify="right")
    for r in results:
        if r.skipped:
            table.add_row(r.backend, f"[red]skipped: {r.skipped}[/]", *[""] * 8)
            continue
        met = (
            not r.errors
            and r.sent == r.clients * options.per_client
            and r.rate >= TARGET_RATE
            and r.percentile(99) <= TARGET_P99_S
        )
        table.add_row(
            r.backend,
            f"{r.ok:,} / {r.sent:,}",
            f"{len(r.errors)}" if not r.errors else f"[bold red]{len(r.errors)}[/]",
            f"{r.wall_s:.1f} s",
            f"{r.rate:,.0f}",
            _ms(r.percentile(50)),
            _ms(r.percentile(99)),
            f"{r.advisories:,}",
            f"{_ms(r.server_cpu_s / max(r.ok, 1))}, {_ms(r.client_cpu_s / max(r.ok, 1))}",
            _verdict(met),
        )
    console.print(table)
    reads = Table(
        title=f"W4, read one declaration, 1 client (p50 ≤ {TARGET_READ_P50_S * 1e3:.0f} ms)"
    )
    for column in ("backend", "reads", "errors", "p50", "p99", "server CPU/read", "target"):
        reads.add_column(column, justify="right")
    for r in results:
        if r.skipped:
            continue
        p50 = r.percentile(50, r.reads)
        reads.add_row(
            r.backend,
            f"{len(r.reads):,}",
            str(r.read_errors),
            _ms(p50),
            _ms(r.percentile(99, r.reads)),
            _ms(r.server_read_cpu_s / len(r.reads)) if r.reads else "–",
            _verdict(bool(r.reads) and not r.read_errors and p50 <= TARGET_READ_P50_S),
        )
    console.print(reads)
    for r in results:
        for error in r.errors[:5]:
            console.print(f"[red]{r.backend} error[/]: {error}")


def run(console: Console, options: Options) -> dict[str, Any]:
    """Both backends (PostgreSQL unless told not to, or unreachable), then the tables."""
    before = load_average()
    console.print(
        f"W4 load: {options.clients} clients × {options.per_client} declarations "
        f"(stops at {options.deadline_s:.0f} s), {options.reads} reads; load average "
        f"{before['load1']:.1f} / {before['load5']:.1f} / {before['load15']:.1f} "
        f"on {before['cores']:.0f} cores"
    )
    results: list[Result] = []
    backends = ["sqlite", "postgres"]
    for backend in backends:
        if backend == "postgres":
            reason = None
            if not options.postgres:
                reason = "--no-postgres"
            else:
                conn = postgis.connect(options.postgres_url.replace("+psycopg", ""))
                if isinstance(conn, str):
                    reason = conn
                else:
                    conn.close()
            if reason is not None:
                console.print(f"[bold red]W4 on PostgreSQL skipped[/]: {reason}")
                results.append(Result(backend, options.clients, skipped=reason))
                continue
        with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
            started = time.perf_counter()
            result = run_backend(backend, options, Path(tmp))
            console.print(f"W4 on {backend}: {time.perf_counter() - started:.0f} s in all")
            if result.errors:
                log = (Path(tmp) / "server.log").read_text(errors="replace")[-2_000:]
                console.print(f"[red]server log (tail)[/]:\n{log}")
        results.append(result)
    after = load_average()
    console.print(
        f"W4 load average at the end: {after['load1']:.1f} / {after['load5']:.1f} / "
        f"{after['load15']:.1f}"
    )
    show(console, results, options)
    return {
        "load": before,
        "load_after": after,
        "results": [r.summary() for r in results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("DECONFLICT_TEST_POSTGRES_URL", POSTGRES_URL)
    )
    args = parser.parse_args()
    options = Options(
        quick=args.quick,
        postgres=not args.no_postgres,
        seed=args.seed,
        postgres_url=args.postgres_url,
        clients=args.clients,
    )
    run(Console(width=170), options)


if __name__ == "__main__":
    main()
