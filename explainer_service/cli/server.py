"""``serve``: the application under uvicorn, drained before it stops.

uvicorn alone, on SIGTERM, closes its socket at once and waits only for open HTTP
requests, so an explanation that no request waits for (``mode=async``) would be stopped
at once. Here the first SIGTERM (or Ctrl-C) drains the service first
(``Service.drain``), in a thread, while the server still answers: readiness says it is
shutting down, new explanations get 503 ``shutting_down``, the running ones have
``service.shutdown_grace_s`` to finish. Then uvicorn stops as it does: it closes its socket
and gives open requests (answers being written) what is left of that time, at least
``FLUSH_S``. A second signal ends the grace period at once; after that, signals are
uvicorn's (a Ctrl-C forces it to stop).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("explainer_service")

#: The least time open requests get to write their answers once the drain is over.
FLUSH_S = 5


class DrainingServer(uvicorn.Server):
    """``drain(grace_s)`` runs on the first signal, before the server stops."""

    def __init__(
        self, config: uvicorn.Config, drain: Callable[[float], None], grace_s: float
    ) -> None:
        super().__init__(config)
        self._drain = drain
        self._grace_s = grace_s
        self._ends = math.inf  # when the grace period ends (monotonic), once a signal came

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:  # uvicorn's own shutdown has begun: a Ctrl-C forces it
            super().handle_exit(sig, frame)
            return
        first = self._ends == math.inf
        self._ends = time.monotonic() + (self._grace_s if first else 0.0)
        drain = threading.Thread(target=self._drain_then_exit, args=(sig,), daemon=True)
        drain.start()

    def _drain_then_exit(self, sig: int) -> None:
        try:
            self._drain(max(self._ends - time.monotonic(), 0.0))
        except Exception:
            log.exception("draining the service failed")
        left = max(self._ends - time.monotonic(), FLUSH_S)
        self.config.timeout_graceful_shutdown = math.ceil(left)
        super().handle_exit(sig, None)  # uvicorn's own shutdown, then the signal's default


def serve(application: FastAPI, grace_s: int, **options: Any) -> int:
    """Serve ``application`` (``create_app``) until a signal stops it; ``options`` are
    ``uvicorn.Config``'s. Answers the exit status: uvicorn's when the server did not start."""
    config = uvicorn.Config(application, timeout_graceful_shutdown=grace_s, **options)
    server = DrainingServer(config, application.state.service.drain, grace_s)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C, raised again once stopped
        server.run()
    return 0 if server.started else STARTUP_FAILURE
