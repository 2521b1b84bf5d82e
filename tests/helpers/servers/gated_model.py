"""The income model in the KServe v1 protocol, with a gate a test opens and closes.

    python -m tests.helpers.servers.gated_model --port N

- ``POST /v1/models/income:predict``: ``{"instances": [[...]]}`` -> ``{"predictions"}``
  (class probabilities of the trained income pipeline). A request whose
  ``X-Explainer-Worker`` header names a held worker waits until it is released.
- ``POST /hold``: ``{"workers": [0, 1]}`` holds those workers' requests, ``{"workers":
  "all"}`` holds every request, ``{"workers": []}`` releases them all.
- ``GET /waiting``: the worker header of each request being held now.
- ``GET /calls``: every predict request: worker header, start and end (monotonic seconds of
  this server), rows, and its ``X-Request-ID`` and ``traceparent`` headers.
- ``GET /healthz``.

So a test sees at the model which worker is calling, and can keep an explanation running
for as long as it needs without any timing.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import joblib
import pandas as pd

from examples.income import paths

PIPELINE: Any = None
GATE = threading.Condition()
HELD: set[str] | str = set()  # worker headers, or "all"
WAITING: list[str] = []
CALLS: list[dict[str, Any]] = []


def _held(worker: str) -> bool:
    return HELD == "all" or worker in HELD


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        with GATE:
            answers = {"/healthz": {"ok": True}, "/waiting": list(WAITING), "/calls": list(CALLS)}
        if self.path in answers:
            self._send(200, answers[self.path])
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path == "/hold":
            self._hold(body["workers"])
        elif self.path == "/v1/models/income:predict":
            self._predict(body)
        else:
            self._send(404, {"error": "not found"})

    def _hold(self, workers: list[int] | str) -> None:
        global HELD
        with GATE:
            HELD = "all" if workers == "all" else {str(w) for w in workers}
            GATE.notify_all()
        self._send(200, {"held": workers})

    def _predict(self, body: dict[str, Any]) -> None:
        worker = self.headers.get("X-Explainer-Worker", "")
        started = time.monotonic()
        with GATE:
            if _held(worker):
                WAITING.append(worker)
                GATE.wait_for(lambda: not _held(worker))
                WAITING.remove(worker)
        frame = pd.DataFrame(body["instances"], columns=paths.FEATURES)
        frame[paths.NUMERIC] = frame[paths.NUMERIC].apply(pd.to_numeric)
        frame[paths.CATEGORICAL] = frame[paths.CATEGORICAL].astype(str)
        scores = PIPELINE.predict_proba(frame).tolist()
        with GATE:
            CALLS.append(
                {
                    "worker": worker,
                    "start": started,
                    "end": time.monotonic(),
                    "rows": len(scores),
                    "request_id": self.headers.get("X-Request-ID"),
                    "traceparent": self.headers.get("traceparent"),
                }
            )
        self._send(200, {"predictions": scores})


def main() -> None:
    global PIPELINE
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    PIPELINE = joblib.load(paths.MODEL)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
