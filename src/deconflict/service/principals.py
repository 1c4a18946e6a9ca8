"""Who each bearer token belongs to, remembered briefly so that a request need not ask the
database before it can start.

Every request authenticates, and the look-up (a connection, a statement, a hand-over to a
worker thread) cost about as much as reading a declaration. A token's principal changes only
when its member is revoked, so entries are dropped whenever a revocation is applied here: as
the revoking write runs, again once it commits, and when another process's revocation is
caught up with (at once on PostgreSQL, via the commit listener). A revocation made by another
process on a SQLite file, which sends no notification, takes effect here within
:data:`TTL_S` seconds, when the entry expires.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from deconflict.core.events import Event, EventKind
from deconflict.core.parties import Principal

TTL_S = 1.0
SIZE = 10_000


class PrincipalCache:
    def __init__(
        self, ttl_s: float = TTL_S, size: int = SIZE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl_s = ttl_s
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()
        self.generation = 0
        """Bumped by every revocation: a look-up begun before it may not be remembered."""

    def get(self, token_hash: str) -> Principal | None:
        with self._lock:
            entry = self._entries.get(token_hash)
            if entry is None:
                return None
            if self._clock() - entry[1] > self._ttl_s:
                del self._entries[token_hash]
                return None
            return entry[0]

    def put(self, token_hash: str, principal: Principal, generation: int) -> None:
        """Remember what the database said, unless a revocation was applied since the look-up
        began (``generation`` read before it)."""
        with self._lock:
            if generation != self.generation:
                return
            self._entries[token_hash] = (principal, self._clock())
            self._entries.move_to_end(token_hash)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def forget(self) -> None:
        with self._lock:
            self._entries.clear()
            self.generation += 1

    def follow(self, events: list[Event]) -> None:
        if any(e.kind is EventKind.member_revoked for e in events):
            self.forget()
