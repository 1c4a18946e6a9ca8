"""Lining writes up into one group-committed batch, without sleeping.

:class:`BatchGate` holds the sequencer's writer while the test starts its writers; each one
queues its command and waits. Once the test has seen every command arrive it lets the writer
go, and the first leader takes all of them into one batch.
"""

from __future__ import annotations

import threading
from typing import Any

from deconflict.service.sequencer import Sequencer


class BatchGate:
    def __init__(self, sequencer: Sequencer) -> None:
        self.sequencer = sequencer
        self._arrived = threading.Semaphore(0)
        self._held = False

    def __enter__(self) -> BatchGate:
        arrived = self._arrived

        class Counting(list[Any]):
            def append(self, item: Any) -> None:
                super().append(item)
                arrived.release()

        self.sequencer._lock.acquire()
        self._held = True
        self.sequencer._queue = Counting(self.sequencer._queue)
        return self

    def wait_for(self, count: int, timeout: float = 60) -> None:
        """Returns once ``count`` more commands have queued behind the held writer."""
        for _ in range(count):
            assert self._arrived.acquire(timeout=timeout), "a writer never queued its command"

    def release(self) -> None:
        if self._held:
            self._held = False
            self.sequencer._lock.release()

    def __exit__(self, *_exc: Any) -> None:
        self.release()
