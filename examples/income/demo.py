"""`make demo`: the income model server and the explainer service, with links to open.

    python -m examples.income.demo [--model-port 9000] [--port 8080]
    DEMO_MODEL_PORT=9001 DEMO_PORT=8081 make demo

Starts the model server and the explainer service (configured by ``explainer.yaml``) as
child processes, waits until the service is ready, sends two sample applicants (one
refused, one approved) to the model, logs each decision into the service as KServe's
request logger would (``examples.income.logged``), and prints the links of each decision's
record and of its anchors, SHAP and counterfactual pages: by the decision's id, with no
applicant's data in them.
Ctrl-C stops both. The ports default to ``DEMO_MODEL_PORT`` and ``DEMO_PORT`` when those
are set; a port already taken on 127.0.0.1 stops the demo before it starts anything, with a
message that names it (status 1).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from examples.income import logged, paths
from explainers.explanation import LOCAL_METHODS


def wait_for(url: str, processes: list[subprocess.Popen[bytes]], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"{process.args!r} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer 200 within {timeout} s")


def taken(port: int) -> bool:
    """Whether something listens on ``port`` of 127.0.0.1 (binding as uvicorn does, with
    ``SO_REUSEADDR``, so a port a stopped server left in TIME_WAIT counts as free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def check_ports(model_port: int, port: int) -> None:
    """Exit (status 1) saying which port is taken and how to choose others."""
    if model_port == port:
        raise SystemExit(f"the model and the service cannot share port {port}")
    problems = [
        f"port {number} ({role}) is taken on 127.0.0.1"
        for number, role in ((model_port, "the model server"), (port, "the explainer service"))
        if taken(number)
    ]
    if problems:
        raise SystemExit(
            "; ".join(problems) + ".\nChoose free ports: "
            "make demo DEMO_MODEL_PORT=9001 DEMO_PORT=8081, "
            "or python -m examples.income.demo --model-port 9001 --port 8081"
        )


def applicants() -> list[dict[str, object]]:
    """The two sample applicants of train.py (refused, approved) as records."""
    body = json.loads((paths.PAYLOADS / "records.json").read_text())
    return list(body)


def main() -> None:
    parser = argparse.ArgumentParser(description="Start the income example.")
    parser.add_argument(
        "--model-port", type=int, default=int(os.environ.get("DEMO_MODEL_PORT", 9000))
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", 8080)))
    args = parser.parse_args()
    check_ports(args.model_port, args.port)
    # Ctrl-C and SIGTERM stop both servers, even when started from a shell that ignores
    # SIGINT for background commands (the children would inherit that)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    model_base = f"http://127.0.0.1:{args.model_port}"
    base = f"http://127.0.0.1:{args.port}"
    env = {**os.environ, "EXPLAINER_MODEL__URL": f"{model_base}/v2/models/income/infer"}
    script = Path(sys.executable).parent / "explainer-service"
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "examples.income.model_server", "--port", str(args.model_port)],
            preexec_fn=_default_signals,
        ),
        subprocess.Popen(
            [str(script), "serve", "--config", str(paths.HERE / "explainer.yaml"),
             "--port", str(args.port), "--log-level", "warning"],
            env=env, preexec_fn=_default_signals,
        ),
    ]  # fmt: skip
    try:
        wait_for(model_base + "/v2/health/ready", processes)
        print("\nFitting the explainers and checking the model...", flush=True)
        wait_for(base + "/health/ready", processes)
        print(f"\nThe income model:       {model_base}  (POST /v2/models/income/infer)")
        print(f"The explainer service:  {base}/  (API: {base}/docs)\n")
        for applicant, verdict in zip(applicants(), ("refused", "approved"), strict=True):
            id = logged.log(base, *logged.predict(model_base, applicant))
            summary = ", ".join(f"{k}={applicant[k]}" for k in ("age", "education", "occupation"))
            print(f"Applicant {verdict} ({summary}), decision {id}:")
            print(f"  {'record':<15} {base}/inferences/{id}?format=html")
            for method in LOCAL_METHODS:
                print(f"  {method:<15} {base}/inferences/{id}/explain?method={method}")
            print()
        print("Ctrl-C stops both.", flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _default_signals() -> None:
    """In each server before it starts: SIGINT as Python expects it, not inherited as
    ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


if __name__ == "__main__":
    main()
