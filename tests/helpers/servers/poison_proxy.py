"""A proxy in front of a model server that fails the requests carrying one value.

    python -m tests.helpers.servers.poison_proxy --port N --upstream http://127.0.0.1:M \
        --poison 12345

Every POST is forwarded to the upstream server at the same path, unless its JSON body holds
the number ``--poison`` (or its text) anywhere: then it answers 500, as a model that
breaks on some inputs does. ``GET /requests`` says how many POSTs were forwarded and
refused; ``GET /healthz`` answers 200; other GETs are forwarded.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

COUNTS: Counter[str] = Counter()
LOCK = threading.Lock()


def holds(value: Any, poison: float) -> bool:
    """Whether ``poison`` is anywhere in the JSON value, as a number or as text."""
    texts = {str(poison), str(int(poison))}
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif _is(item, poison, texts):
            return True
    return False


def _is(item: Any, poison: float, texts: set[str]) -> bool:
    if isinstance(item, str):
        return item.strip() in texts
    return isinstance(item, int | float) and not isinstance(item, bool) and item == poison


def handler(upstream: str, poison: float) -> type[BaseHTTPRequestHandler]:
    client = httpx.Client(base_url=upstream, timeout=60)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, b'{"ok": true}', "application/json")
            elif self.path == "/requests":
                with LOCK:
                    self._send(200, json.dumps(dict(COUNTS)).encode(), "application/json")
            else:  # the model's metadata, its health
                answer = client.get(self.path)
                content_type = answer.headers.get("content-type", "application/json")
                self._send(answer.status_code, answer.content, content_type)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                poisoned = holds(json.loads(body), poison)
            except ValueError:
                poisoned = False
            with LOCK:
                COUNTS["refused" if poisoned else "forwarded"] += 1
            if poisoned:
                self._send(500, b"Internal Server Error: the model broke", "text/plain")
                return
            headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
            answer = client.post(self.path, content=body, headers=headers)
            self._send(
                answer.status_code,
                answer.content,
                answer.headers.get("content-type", "application/json"),
            )

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--poison", type=float, required=True)
    args = parser.parse_args()
    ThreadingHTTPServer((args.host, args.port), handler(args.upstream, args.poison)).serve_forever()


if __name__ == "__main__":
    main()
