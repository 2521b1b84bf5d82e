"""``python -m bench.ingest``: how many logged rows one service process keeps per second.

Starts the example model server and one explainer service (the example's configuration, a
SQLite store in ``--out``), waits until it is ready, then for ``--seconds``:

- ``--explainers`` clients ask for SHAP explanations of distinct holdout rows, one after
  the other (the explanations run meanwhile, as in production);
- ``--loggers`` clients post KServe logger events to ``POST /inferences``, each inference
  a request event then a response event of ``--rows`` rows (the model's real answer), as
  fast as the service answers.

Prints, and writes to ``OUT/ingest.json``: events and rows kept per second, the latency of
an event, the explanations finished meanwhile, and the load average. Not a test: the
figure depends on the machine and what else runs on it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import pandas as pd
import typer
import yaml
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent

from bench.processes import Server, free_port
from examples.income import paths

ROOT = Path(__file__).resolve().parents[1]

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)


def _rows(count: int) -> list[list[Any]]:
    frame = pd.read_csv(paths.HOLDOUT)[paths.FEATURES]
    rows = [list(row) for row in frame.itertuples(index=False)]
    return [[v.item() if hasattr(v, "item") else v for v in row] for row in rows[:count]]


def _config(model: str, store: Path) -> dict[str, Any]:
    settings = yaml.safe_load((paths.HERE / "explainer.yaml").read_text())
    settings["model"]["url"] = f"{model}/v2/models/income/infer"
    settings["data"]["reference"] = str(paths.REFERENCE)
    settings["service"] = {"store": str(store)}
    settings["inference_log"] = {"max_events_per_s": 1_000_000}
    settings["features"].pop("protected", None)  # measured before the flip test existed
    return settings


def _v2(rows: list[list[Any]]) -> dict[str, Any]:
    flat = [value for row in rows for value in row]
    return {"inputs": [{"name": "input-0", "shape": [len(rows), len(rows[0])],
                        "datatype": "BYTES", "data": flat}]}  # fmt: skip


def _event(side: str, data: dict[str, Any], id: str) -> tuple[dict[str, str], bytes]:
    """KServe's agent's event (``pkg/logger/worker.go``), in binary mode."""
    attributes = {
        "type": f"org.kubeflow.serving.inference.{side}",
        "source": "http://localhost:9081/",
        "id": id,
        "inferenceservicename": "income",
        "namespace": "default",
        "component": "predictor",
        "endpoint": "default",
        "metadata": "{}",
        "datacontenttype": "application/json",
    }
    sent = to_binary_event(CloudEvent(attributes, data))
    return dict(sent.headers), sent.body


def _explaining(base: str, rows: list[list[Any]], stop: threading.Event, done: list[float]) -> None:
    """Explanations of distinct rows, one after the other, until ``stop``."""
    with httpx.Client(timeout=600) as client:
        for row in rows:
            if stop.is_set():
                return
            started = time.monotonic()
            answer = client.post(f"{base}/explain?method=shap", json=_v2([row]))
            if answer.status_code == 200:
                done.append(time.monotonic() - started)


async def _logging(
    port: int, events: list[tuple[dict[str, str], bytes, int]], until: float
) -> tuple[int, int, list[float], int]:
    """Posts ``events`` in turn on one kept-alive connection until ``until``: (events kept,
    rows kept, latencies, errors). The requests are encoded beforehand and the answers
    read with asyncio's streams: a client far cheaper than the service, so that on a
    small machine the sender takes little of the CPU the service needs."""
    requests = [(_encoded(port, headers, body), n) for headers, body, n in events]
    kept = rows = errors = 0
    latencies: list[float] = []
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        i = 0
        while time.monotonic() < until:
            request, n = requests[i % len(requests)]
            i += 1
            started = time.monotonic()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            latencies.append(time.monotonic() - started)
            if head.startswith(b"HTTP/1.1 200"):
                kept += 1
                rows += n
            else:
                errors += 1
    finally:
        writer.close()
    return kept, rows, latencies, errors


def _encoded(port: int, headers: dict[str, str], body: bytes) -> bytes:
    lines = [
        "POST /inferences HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _events(
    rows: list[list[Any]], scores: list[list[float]], per_event: int, count: int, prefix: str
) -> list[tuple[dict[str, str], bytes, int]]:
    """``count`` inferences' request and response events, each of ``per_event`` rows, the
    response the model's answer (``scores`` of ``rows``)."""
    out = []
    for i in range(count):
        chosen = [(i * per_event + j) % len(rows) for j in range(per_event)]
        answer = {
            "model_name": "income",
            "outputs": [{"name": "predict_proba", "shape": [per_event, 2], "datatype": "FP64",
                         "data": [p for k in chosen for p in scores[k]]}],
        }  # fmt: skip
        for side, data in (("request", _v2([rows[k] for k in chosen])), ("response", answer)):
            headers, body = _event(side, data, f"{prefix}-{i}")
            out.append((headers, body, per_event))
    return out


@app.command()
def main(
    seconds: Annotated[float, typer.Option(min=1)] = 30.0,
    loggers: Annotated[int, typer.Option(min=1, help="concurrent event senders")] = 4,
    explainers: Annotated[int, typer.Option(min=0, help="concurrent explanation clients")] = 2,
    rows: Annotated[int, typer.Option(min=1, help="rows per event")] = 1,
    out: Annotated[Path, typer.Option()] = ROOT / "bench-output",
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ingest-", dir=out))
    model_port, service_port = free_port(), free_port()
    model = f"http://127.0.0.1:{model_port}"
    base = f"http://127.0.0.1:{service_port}"
    config = work / "explainer.yaml"
    config.write_text(yaml.safe_dump(_config(model, work / "store.sqlite")))
    bin_dir = Path(sys.executable).parent
    servers = [
        Server(
            "model",
            [sys.executable, "-m", "examples.income.model_server", "--port", model_port],
            f"{model}/v2/health/ready",
            work / "model.log",
            cwd=ROOT,
        ).wait_ready(120)
    ]
    try:
        servers.append(
            Server(
                "service",
                [bin_dir / "explainer-service", "serve", "--config", config,
                 "--port", service_port, "--log-level", "warning"],
                f"{base}/health/ready",
                work / "service.log",
                cwd=ROOT,
            ).wait_ready(600)
        )  # fmt: skip
        holdout = _rows(2000)
        answered = httpx.post(f"{model}/v2/models/income/infer", json=_v2(holdout), timeout=60)
        output = answered.raise_for_status().json()["outputs"][0]["data"]
        scores = [output[2 * k : 2 * k + 2] for k in range(len(holdout))]
        # distinct inferences, so that every event is new (none a duplicate)
        per_sender = int(seconds * 1500 / loggers / rows) + 100
        streams = [_events(holdout, scores, rows, per_sender, f"l{k}") for k in range(loggers)]
        stop, explained = threading.Event(), []
        threads = [
            threading.Thread(
                target=_explaining, args=(base, holdout[k::explainers], stop, explained)
            )
            for k in range(explainers)
        ]
        for thread in threads:
            thread.start()
        time.sleep(2)  # the explanations under way first
        began = time.monotonic()
        until = began + seconds

        async def senders() -> list[tuple[int, int, list[float], int]]:
            return await asyncio.gather(*(_logging(service_port, s, until) for s in streams))

        results = asyncio.run(senders())
        elapsed = time.monotonic() - began
        load = os.getloadavg()
        stop.set()
        for thread in threads:
            thread.join(600)
    finally:
        for server in reversed(servers):
            server.stop()
    kept = sum(r[0] for r in results)
    kept_rows = sum(r[1] for r in results)
    latencies = sorted(x for r in results for x in r[2])
    report = {
        "seconds": round(elapsed, 1),
        "loggers": loggers,
        "rows_per_event": rows,
        "events_per_s": round(kept / elapsed, 1),
        "rows_per_s": round(kept_rows / elapsed, 1),
        "errors": sum(r[3] for r in results),
        "event_latency_ms": {
            "median": round(1000 * statistics.median(latencies), 1),
            "p95": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1),
        },
        "explanation_clients": explainers,
        "explanations_finished": len(explained),
        "load_average_1_5_15": [round(x, 2) for x in load],
        "cpus": os.cpu_count(),
    }
    (out / "ingest.json").write_text(json.dumps(report, indent=2))
    typer.echo(json.dumps(report, indent=2))


if __name__ == "__main__":
    app()
