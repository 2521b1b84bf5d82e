"""The batch on Ray against the service, for the same rows, and the model's request rate.

    python -m tests.helpers.batch_throughput [--rows 100] [--method shap] [--max-in-flight 2]

Starts the example model server, then explains the first ``--rows`` holdout applicants
three ways, each on a fresh store (so everything is computed): the service with one
client sending them one after another; the service with the notebook client's
``explain_many`` (``--max-in-flight`` at a time); and ``explainer-service batch`` on a
local Ray of 2 CPUs (``explain_file``, ``--max-in-flight`` workers). The model server's
``/stats`` is read every second meanwhile: the table gives each run's explanations per
minute, the model's requests and rows, their mean rate and the busiest second. The
batch's time includes starting its workers (each fits its explainers), not starting Ray.
Prints a Markdown table and writes it to test-output/batch-throughput.md. Timings are as
noisy as the machine: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from examples.income import paths
from explainers.wire import native
from tests.helpers.support import (
    ROOT,
    explainer_service,
    free_port,
    python_server,
    wait_until_ready,
)
from tests.helpers.web import HTTP


@dataclass
class Run:
    name: str
    seconds: float
    requests: int
    rows: int
    peak: int


def config(model_url: str, store: Path, max_in_flight: int) -> dict:
    return {
        "model": {"name": "income", "url": model_url, "class_names": paths.CLASS_NAMES},
        "data": {"reference": str(paths.REFERENCE), "target": paths.TARGET},
        "features": {"immutable": ["age", "gender", "ethnicity", "relationship", "marital-status"]},
        "explainers": {"anchors": {"threshold": 0.95}, "shap": {"nsamples": 500}},
        "service": {"store": str(store), "workers": 2},
        "batch": {"max_in_flight": max_in_flight},
    }


def stats(model: str) -> dict:
    return HTTP.get(f"{model}/stats", timeout=10).json()


def watched(name: str, model: str, work: Callable[[], None]) -> Run:
    """Run ``work`` while sampling the model's counters every second."""
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            samples.append(stats(model)["requests"])

    before = stats(model)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    after = stats(model)
    points = [before["requests"], *samples, after["requests"]]
    peak = max((b - a for a, b in itertools.pairwise(points)), default=0)
    return Run(
        name, seconds, after["requests"] - before["requests"], after["rows"] - before["rows"], peak
    )


def service_runs(
    model: str, payloads: list[dict], method: str, clients: int, directory: Path
) -> list[Run]:
    from explainer_service.client import ExplainerClient

    settings = config(f"{model}/v2/models/income/infer", directory / "service.sqlite", clients)
    service, base = explainer_service(settings, directory)
    try:
        wait_until_ready(base)

        def one_by_one() -> None:
            for payload in payloads:
                answer = HTTP.post(f"{base}/explain?method={method}", json=payload, timeout=600)
                answer.raise_for_status()

        def many() -> None:  # another seed: computed, not answered from the store
            with ExplainerClient(base, timeout=600) as client:
                batch = client.explain_many(
                    payloads, method, concurrency=clients, progress=False, seed=1
                )
            assert not batch.errors, batch.errors

        return [
            watched("service, 1 client", model, one_by_one),
            watched(f"service, explain_many ({clients} at a time)", model, many),
        ]
    finally:
        service.stop()


def batch_run(
    model: str, payloads: list[dict], method: str, max_in_flight: int, directory: Path
) -> Run:
    import ray

    from explainer_service.batch import explain_file
    from explainer_service.settings import Settings

    source = directory / "logged.jsonl"
    source.write_text("".join(json.dumps(p) + "\n" for p in payloads))
    settings = Settings(
        **config(f"{model}/v2/models/income/infer", directory / "batch.sqlite", max_in_flight)
    )
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
    try:

        def work() -> None:
            report = explain_file(
                settings, source, directory / "out.parquet", method, {"seed": 2}, progress=False
            )
            assert report.counts()["computed"] == len(payloads), report.counts()

        return watched(f"batch on Ray ({max_in_flight} workers)", model, work)
    finally:
        ray.shutdown()


def table(runs: list[Run], count: int, method: str) -> str:
    lines = [
        f"{count} applicants, {method}, load average {os.getloadavg()[0]:.1f} (2 cores) at the end",
        "",
        "| run | seconds | explanations / min | model requests | rows | requests / s "
        "| busiest second |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run.name} | {run.seconds:.1f} | {count / run.seconds * 60:.0f} | "
            f"{run.requests} | {run.rows} | {run.requests / run.seconds:.1f} | {run.peak} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--method", default="shap")
    parser.add_argument("--max-in-flight", type=int, default=2)
    args = parser.parse_args()
    frame = pd.read_csv(paths.HOLDOUT)[paths.FEATURES].head(args.rows)
    payloads = [
        {"instances": [{k: native(v) for k, v in row.items()}]} for _, row in frame.iterrows()
    ]
    port = free_port()
    model_server = python_server("examples.income.model_server", port).wait_ready()
    model = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory() as directory:
            runs = service_runs(model, payloads, args.method, args.max_in_flight, Path(directory))
            runs.append(
                batch_run(model, payloads, args.method, args.max_in_flight, Path(directory))
            )
    finally:
        model_server.stop()
    text = table(runs, args.rows, args.method)
    print(text)
    (ROOT / "test-output").mkdir(exist_ok=True)
    (ROOT / "test-output" / "batch-throughput.md").write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
