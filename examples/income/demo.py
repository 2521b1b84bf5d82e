"""`make demo`: the income model server and the explainer service, with links to open.

    python -m examples.income.demo [--model-port 9000] [--port 8080]

Starts the model server and the explainer service (configured by ``explainer.yaml``) as
child processes, waits until the service is ready, and prints, for two sample applicants
(one refused, one approved), the links of their anchors, SHAP and counterfactual pages.
Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from examples.income import paths
from explainer_service.render import drilldown_link

METHODS = ("anchors", "shap", "counterfactual")


def wait_for(url: str, processes: list[subprocess.Popen[bytes]], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"{process.args} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer 200 within {timeout} s")


def applicants() -> list[dict[str, object]]:
    """The two sample applicants of train.py (refused, approved) as records."""
    body = json.loads((paths.PAYLOADS / "records.json").read_text())
    return list(body)


def main() -> None:
    parser = argparse.ArgumentParser(description="Start the income example.")
    parser.add_argument("--model-port", type=int, default=9000)
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
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
            summary = ", ".join(f"{k}={applicant[k]}" for k in ("age", "education", "occupation"))
            print(f"Applicant {verdict} ({summary}):")
            for method in METHODS:
                print(f"  {method:<15} {base}{drilldown_link(method, {'instances': [applicant]})}")
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
