"""How many explanations a minute the service gives with 1..N worker processes.

    python -m tests.helpers.throughput [--workers 1 2 3 4] [--anchors 16] [--shap 32]

Starts the example model server, then for each worker count a service (a fresh store, so
nothing is answered from it), sends each method's requests from 8 clients at once (every
request with its own seed, so each is computed) and prints the throughput, the median
latency, and the memory (RSS) of the worker processes; then the median latency of SHAP
requests sent one by one while 4 clients keep anchors requests coming. Run it on an otherwise idle
machine: the numbers are wall-clock times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from examples.income import paths
from tests.helpers.support import explainer_service, free_port, python_server, wait_until_ready
from tests.helpers.web import HTTP

CLIENTS = 8


def config(model_url: str, store: Path, workers: int) -> dict:
    return {
        "model": {"name": "income", "url": model_url, "class_names": paths.CLASS_NAMES},
        "data": {"reference": str(paths.REFERENCE), "target": "loan"},
        "features": {"immutable": ["age", "gender", "ethnicity", "relationship", "marital-status"]},
        "service": {"store": str(store), "workers": workers},
        "explainers": {"anchors": {"threshold": 0.95}, "shap": {"nsamples": 500}},
    }


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one(base: str, method: str, i: int, payload: dict) -> float:
    """Seconds for one request (seed ``i``: computed, not answered from the store)."""
    started = time.perf_counter()
    response = HTTP.post(
        f"{base}/explain?method={method}&instance={i % 2}&seed={i}", json=payload, timeout=600
    )
    response.raise_for_status()
    return time.perf_counter() - started


def run(base: str, method: str, count: int, payload: dict) -> tuple[float, float]:
    """(explanations per minute, median seconds per request) for ``count`` requests."""
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as clients:
        latencies = list(clients.map(lambda i: one(base, method, i, payload), range(count)))
    return count / (time.perf_counter() - started) * 60, statistics.median(latencies)


def mixed(base: str, payload: dict, count: int = 6) -> float:
    """Median seconds of ``count`` SHAP requests, one after another, sent while 4 clients
    keep anchors requests coming."""
    done = threading.Event()

    def anchors(client: int) -> None:
        i = 10_000 + client * 1000
        while not done.is_set():
            one(base, "anchors", i, payload)
            i += 1

    with ThreadPoolExecutor(4) as clients:
        for client in range(4):
            clients.submit(anchors, client)
        time.sleep(2)
        latencies = [one(base, "shap", 20_000 + i, payload) for i in range(count)]
        done.set()
    return statistics.median(latencies)


def measure(url: str, workers: int, counts: dict[str, int], payload: dict) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = Path(directory) / "store.sqlite"
        service, base = explainer_service(config(url, store, workers), Path(directory))
        try:
            wait_until_ready(base, timeout=300)
            for method, count in counts.items():
                rate, median = run(base, method, count, payload)
                state = HTTP.get(base + "/health/ready").json()
                memory = sum(rss_mib(w["pid"]) for w in state["workers"])
                row = f"{workers:7d}  {method:7s}  {rate:10.1f}  {median:8.2f}  {memory:14.0f}"
                print(row, flush=True)
            print(f"{workers:7d}  shap while anchors run: median {mixed(base, payload):.2f} s")
        finally:
            service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--anchors", type=int, default=16, help="anchors requests per run")
    parser.add_argument("--shap", type=int, default=32, help="shap requests per run")
    args = parser.parse_args()
    payload = json.loads((paths.PAYLOADS / "v2.json").read_text())
    port = free_port()
    model = python_server("examples.income.model_server", port).wait_ready()
    url = f"http://127.0.0.1:{port}/v2/models/income/infer"
    print("workers  method   per-minute  median-s  worker-RSS-MiB", flush=True)
    try:
        for workers in args.workers:
            measure(url, workers, {"anchors": args.anchors, "shap": args.shap}, payload)
    finally:
        model.stop()


if __name__ == "__main__":
    sys.exit(main())
