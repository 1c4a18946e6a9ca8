"""Real server processes for the harnesses: ``deconflict serve`` as a subprocess.

Each process gets a listening socket bound here and passed down (``--fd``): connections made
before it is ready wait in the socket's backlog instead of failing, so nothing polls for
readiness. Killing a process and closing that socket resets whatever was still queued, which
is what a crash looks like to a client.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from deconflict.core.parties import Role
from deconflict.service.deconflict import Deconflict
from deconflict.settings import Settings, sqlite_url

SERVE = "from deconflict.cli.main import main; main()"


@contextmanager
def fresh_database(backend: str, directory: Path, postgres_url: str | None) -> Iterator[str]:
    """An empty database: a SQLite file, or a schema of its own on PostgreSQL, dropped after."""
    if backend == "sqlite":
        yield sqlite_url(directory / "service.sqlite")
        return
    if not postgres_url:
        raise SystemExit("PostgreSQL needs DECONFLICT_TEST_POSTGRES_URL or --postgres-url")
    schema = f"bench_{secrets.token_hex(6)}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in postgres_url else "?"
    try:
        yield f"{postgres_url}{separator}options=-csearch_path%3D{schema},public"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@dataclass
class Deployment:
    """A database with two parties (alpha, bravo) and an operator token for each."""

    database_url: str
    key_path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def settings(self) -> Settings:
        return Settings(
            database_url=self.database_url, signing_key_path=self.key_path, expiry_interval_s=0
        )

    def env(self) -> dict[str, str]:
        return {**os.environ, "DECONFLICT_SIGNING_KEY_PATH": str(self.key_path)}


def deploy(database_url: str, directory: Path) -> Deployment:
    deployment = Deployment(database_url, directory / "record.key")
    service = Deconflict(deployment.settings())
    try:
        host = service.authenticate(service.add_host_administrator())
        for party in ("alpha", "bravo"):
            service.parties.register(host, party, party.title(), [])
            member = service.parties.add_member(host, party, f"{party} operator", Role.operator)
            deployment.tokens[party] = member.token
    finally:
        service.close()
    return deployment


class ServerProcess:
    """One ``deconflict serve`` process on a socket of its own."""

    def __init__(self, deployment: Deployment, log: IO[bytes], env: dict[str, str] | None = None):
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(512)
        self._listener.set_inheritable(True)
        port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        fd = self._listener.fileno()
        command = [sys.executable, "-c", SERVE, "serve", "--database-url"]
        command += [deployment.database_url, "--fd", str(fd), "--log-level", "warning"]
        self.process = subprocess.Popen(
            command,
            pass_fds=(fd,),
            env={**deployment.env(), **(env or {})},
            stdout=log,
            stderr=log,
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, nothing is flushed that was not already."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._listener.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._listener.close()
