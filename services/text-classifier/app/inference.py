"""CPU-bound work off the event loop, with bounded concurrency and a bounded queue.

Parsing, validating and classifying a batch is pure Python and NumPy: run on
the event loop it stalls every other request, so ``/healthz`` and ``/readyz``
time out under load and the kubelet restarts a busy pod. ``InferenceGate``
runs that work in worker threads instead: at most ``workers`` at once (more
would only contend for the GIL), at most ``queue`` more waiting for a worker.
A request beyond that is refused at once (``OverloadedError``, a 503 with
``Retry-After``) rather than queued without bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


class OverloadedError(Exception):
    """Every worker is busy and the queue is full."""


class InferenceGate:
    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError(f"need at least one worker and a queue of zero or more, not {workers} and {queue}")
        self.workers = workers
        self.queue = queue
        self.pending = 0  # running or waiting; changed on the event loop only
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self, work: Callable[[], T]) -> T:
        if self.pending >= self.workers + self.queue:
            raise OverloadedError
        if self._limiter is None:  # created on the event loop that uses it
            self._limiter = anyio.CapacityLimiter(self.workers)
        self.pending += 1
        try:
            return await anyio.to_thread.run_sync(work, limiter=self._limiter)
        finally:
            self.pending -= 1
