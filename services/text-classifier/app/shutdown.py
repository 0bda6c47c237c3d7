"""Draining on SIGTERM: not ready at once, still serving for a moment, then uvicorn's graceful shutdown.

Kubernetes sends SIGTERM when it deletes a pod, while kube-proxy and the
ingress controller may still send it new connections for a few seconds.
uvicorn on its own closes the listening socket within 0.1 s of SIGTERM, so
those connections are refused. The platform's preStop hook (a sleep) delays
SIGTERM until routing has moved on; this is the service's own half, for when
there is no hook or routing is slower than it:

1. on SIGTERM, ``/readyz`` answers 503 at once and every response carries
   ``Connection: close`` (keep-alive clients reconnect elsewhere);
2. for ``SHUTDOWN_DELAY_SECONDS`` the service still accepts and serves;
3. then uvicorn shuts down as usual: the listener closes, in-flight requests
   finish (up to ``--timeout-graceful-shutdown``), the lifespan ends.

It works by chaining the SIGTERM handler uvicorn installed before starting
the app's lifespan: the app's handler marks the service draining and hands
the signal to uvicorn's handler only after the delay. A second SIGTERM, or
SIGINT (Ctrl-C, left alone), stops at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import FrameType

log = logging.getLogger("text-classifier")


class Drain:
    def __init__(self) -> None:
        self.draining = False
        self._timer: asyncio.TimerHandle | None = None

    def install(self, delay: float) -> None:
        """Take over SIGTERM from the server (uvicorn), on the running event loop of the main thread."""
        if threading.current_thread() is not threading.main_thread():
            log.warning("SIGTERM is not drained: the app does not run on the main thread")
            return
        server_handler = signal.getsignal(signal.SIGTERM)
        if not callable(server_handler):
            log.warning("SIGTERM is not drained: the server installed no handler for it")
            return
        loop = asyncio.get_running_loop()

        def hand_over(signum: int) -> None:
            log.info("draining over: stop accepting, finish in-flight requests", extra={"signal": signum})
            server_handler(signum, None)

        def begin(signum: int) -> None:
            log.info("SIGTERM: not ready; still serving", extra={"seconds": delay})
            if delay > 0:
                self._timer = loop.call_later(delay, hand_over, signum)
            else:
                hand_over(signum)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            if self.draining:  # a second SIGTERM: no more waiting
                if self._timer is not None:
                    loop.call_soon_threadsafe(self._timer.cancel)
                server_handler(signum, frame)
                return
            self.draining = True
            # Signal handlers run between bytecodes of the main thread: schedule, do not work here.
            loop.call_soon_threadsafe(begin, signum)

        signal.signal(signal.SIGTERM, on_sigterm)

    def cancel(self) -> None:
        """At shutdown: no hand-over left pending (uvicorn restores its own handlers itself)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
