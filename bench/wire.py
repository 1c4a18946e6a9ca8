"""A lean HTTP/1.1 client for the load harness: keep-alive connections on one asyncio loop.

The first W4 harness ran 32 threads, each with its own ``httpx.Client``. On this 2-core
machine those threads used more CPU per request (≈ 15 ms, most of it contention between the
threads) than the server spent answering it, so the figures said more about the load
generator than about the service. Here one thread drives every connection and a request
costs the client ≈ 0.3 ms. It speaks just enough HTTP/1.1 for this service: a request with a
``Content-Length`` body, and an answer framed by ``Content-Length`` or chunked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit


class WireError(Exception):
    """The connection broke or the answer was not HTTP/1.1 as expected."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class Connection:
    """One keep-alive connection; requests on it go one after another."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"need http://host:port, not {url!r}")
        self.host, self.port = parts.hostname, parts.port
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def request(self, method: str, path: str, body: bytes = b"") -> Answer:
        """Sends one request and reads its answer; reconnects first if the last one broke."""
        if self._writer is None:
            await self.open()
        assert self._reader is not None
        assert self._writer is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self._fixed}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        try:
            self._writer.write(head.encode("latin-1") + body)
            return await self._answer(self._reader)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.close()
            raise WireError(f"{type(exc).__name__}: {exc}") from exc

    async def _answer(self, reader: asyncio.StreamReader) -> Answer:
        status_line = await reader.readuntil(b"\r\n")
        version, status, *_ = status_line.decode("latin-1").split(" ", 2)
        if not version.startswith("HTTP/1."):
            raise ValueError(f"not an HTTP/1.x answer: {status_line!r}")
        length: int | None = None
        chunked = closing = False
        while True:
            line = await reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value
            elif name == "connection":
                closing = value == "close"
        if chunked:
            body = await self._chunks(reader)
        elif length is not None:
            body = await reader.readexactly(length)
        else:  # framed by the end of the connection
            body = await reader.read()
            closing = True
        if closing:
            self.close()
        return Answer(int(status), body)

    @staticmethod
    async def _chunks(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
