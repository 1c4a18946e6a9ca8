"""Following commits made by other server processes (PostgreSQL LISTEN/NOTIFY).

Every write on PostgreSQL sends ``NOTIFY deconflict_events, '<last seq>'`` inside its
transaction, so the notification is delivered exactly when (and only if) the write commits.
Each server process runs one listener thread: on a notification it asks the sequencer to
catch up, which feeds the committed events to the followers — the conflict engine, the
separation rules and the live streams — so a member's stream wakes whichever process it is
connected to, and a dry-run check sees other processes' declarations without waiting for a
write. SQLite has no notifications; there a stream's heartbeat re-reads the log, and each
write catches the followers up under the write lock as before.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from deconflict.service.sequencer import NOTIFY_CHANNEL

if TYPE_CHECKING:
    from deconflict.service.deconflict import Deconflict

log = logging.getLogger("deconflict.listener")
POLL_S = 1.0
"""How often the thread looks up from waiting to see whether it should stop."""


class CommitListener:
    def __init__(self, service: Deconflict) -> None:
        self._service = service
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()
        """Set once LISTEN is in effect (tests wait on it instead of sleeping)."""

    def start(self) -> bool:
        """Start following; False (and nothing started) on a backend without notifications."""
        engine = getattr(self._service, "db", None)  # None: an app built only for its schema
        if engine is None or engine.dialect.name != "postgresql":
            return False
        self._thread = threading.Thread(target=self._run, name="commit-listener", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception:  # a lost connection: reconnect, and catch up on what was missed
                log.exception("commit listener lost its connection; reconnecting")
                self.listening.clear()
                self._stop.wait(POLL_S)

    def _listen(self) -> None:
        pooled = self._service.db.raw_connection()
        connection: Any = pooled.driver_connection
        pooled.detach()  # a dedicated session: LISTEN belongs to it, not to the pool
        try:
            connection.autocommit = True
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self.listening.set()
            self._service.sequencer.refresh()  # whatever committed before LISTEN took effect
            while not self._stop.is_set():
                woken = False
                for _ in connection.notifies(timeout=POLL_S):
                    woken = True
                    if self._stop.is_set():
                        break
                if woken and not self._stop.is_set():
                    self._service.sequencer.refresh()
        finally:
            pooled.close()
