"""A model server that misbehaves on purpose, one behaviour per path (KServe v1 shape).

    python -m tests.helpers.servers.fault_server --port N

- ``/ok``: ``{"predictions": [[0.25, 0.75], ...]}``, one row per instance
- ``/sleep``: waits ``--sleep`` seconds, then answers like ``/ok``
- ``/error500``: 500 with a plain-text body
- ``/html``: 200 with an HTML login page
- ``/wrong-shape``: 200 with JSON that has no ``predictions``
- ``/wrong-rows``: 200 with one prediction whatever the number of instances
- ``/unavailable``: always 503
- ``/flaky``: 503 for the first two requests, then like ``/ok``
- ``/huge``: like ``/ok`` padded with 5 MB of spaces (declared length)
- ``/huge-chunked``: the same, sent chunked (no length declared)
- ``/drip``: like ``/ok``, its body sent one byte every ``--drip`` seconds
- ``/truncated``: declares a longer body than it sends, then closes the connection
- ``/bad-gzip``: 200 declaring ``Content-Encoding: gzip``, with a body that is not gzip
- ``/reset``: reads 10 bytes of the request's body, then resets the connection (RST)
- ``/switch``: answers as the mode ``PUT /switch/<mode>`` set last: ``ok`` (the default, like
  ``/ok``), ``sum`` (``[0.9, 0.9]``: not summing to 1), ``range`` (``[-0.5, 1.5]``), ``huge``
  (``[1e308, -1e308]``), ``redirect`` (a 302 whose body is a right-looking answer)
- ``GET /requests``: how many POSTs each path received
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTS: Counter[str] = Counter()
LOCK = threading.Lock()
#: ``/switch``'s answer per row, by mode (``redirect`` answers ``ok``'s with a 302)
SWITCHED = {
    "ok": [0.25, 0.75],
    "sum": [0.9, 0.9],
    "range": [-0.5, 1.5],
    "huge": [1e308, -1e308],
    "redirect": [0.25, 0.75],
}
MODE = ["ok"]
SLEEP_S = 3.0
DRIP_S = 0.5


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_chunked(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(data), 65536):
            piece = data[start : start + 65536]
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _drip(self, body: str) -> None:
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        for byte in data:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(DRIP_S)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, '{"ok": true}')
        elif self.path == "/requests":
            with LOCK:
                self._send(200, json.dumps(dict(COUNTS)))
        else:
            self._send(404, '{"error": "not found"}')

    def do_PUT(self) -> None:
        mode = self.path.removeprefix("/switch/")
        if mode not in SWITCHED:
            self._send(404, '{"error": "no such mode"}')
            return
        MODE[0] = mode
        self._send(200, json.dumps({"mode": mode}))

    def _reset(self) -> None:
        """Read a few bytes of the body, then drop the connection with a RST (SO_LINGER 0),
        as a model server that crashes or is killed mid-request does."""
        self.rfile.read(min(10, int(self.headers.get("Content-Length", 0))))
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def do_POST(self) -> None:
        if self.path == "/reset":
            with LOCK:
                COUNTS[self.path] += 1
            self._reset()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with LOCK:
            COUNTS[self.path] += 1
            count = COUNTS[self.path]
        try:
            rows = len(json.loads(body)["instances"])
        except (ValueError, KeyError, TypeError):
            rows = 1
        ok = json.dumps({"predictions": [[0.25, 0.75]] * rows})
        match self.path:
            case "/ok":
                self._send(200, ok)
            case "/sleep":
                time.sleep(SLEEP_S)
                self._send(200, ok)
            case "/error500":
                self._send(
                    500, "Internal Server Error: model exploded on column 'age'", "text/plain"
                )
            case "/html":
                self._send(200, "<html><body><h1>Please log in</h1></body></html>", "text/html")
            case "/wrong-shape":
                self._send(200, json.dumps({"result": "approved"}))
            case "/wrong-rows":
                self._send(200, json.dumps({"predictions": [[0.25, 0.75]]}))
            case "/unavailable":
                self._send(503, '{"error": "model is loading"}')
            case "/huge":
                self._send(200, ok + " " * 5_000_000)
            case "/huge-chunked":
                self._send_chunked(200, ok + " " * 5_000_000)
            case "/drip":
                self._drip(ok)
            case "/truncated":
                data = ok.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data) + 100))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
            case "/bad-gzip":
                data = ok.encode()  # plain JSON, declared as gzip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            case "/switch":
                answer = json.dumps({"predictions": [SWITCHED[MODE[0]]] * rows})
                if MODE[0] == "redirect":
                    self.send_response(302)
                    self.send_header("Location", "http://login.internal.example/sso")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer.encode())
                else:
                    self._send(200, answer)
            case "/flaky":
                self._send(503, '{"error": "warming up"}') if count <= 2 else self._send(200, ok)
            case _:
                self._send(404, '{"error": "not found"}')


def main() -> None:
    global SLEEP_S, DRIP_S
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sleep", type=float, default=SLEEP_S)
    parser.add_argument("--drip", type=float, default=DRIP_S)
    args = parser.parse_args()
    SLEEP_S, DRIP_S = args.sleep, args.drip
    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
