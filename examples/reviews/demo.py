"""`make demo-text`: the reviews model server and the explainer service, with links to open.

    python -m examples.reviews.demo [--model-port 9100] [--port 8090]

Starts the model server and the explainer service (configured by ``explainer.yaml``) as
child processes, waits until the service is ready, and prints, for two held-out reviews
(one the model calls ``great``, one ``other``), the links of their anchors, SHAP and LIME
pages: GET links carrying the V2 payload sent to the model. Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from examples.income.demo import _default_signals, wait_for
from examples.reviews import paths
from explainer_service.render.pages import drilldown_link

METHODS = ("anchors", "shap", "lime")


def v2_payload(text: str) -> dict[str, object]:
    """The body MLServer's StringCodec sends for one text."""
    tensor = {
        "name": "text",
        "shape": [1, 1],
        "datatype": "BYTES",
        "parameters": {"content_type": "str"},
        "data": [text],
    }
    return {"inputs": [tensor]}


def samples() -> list[tuple[str, str]]:
    """A short held-out review of each label: (label, text)."""
    holdout = pd.read_csv(paths.HOLDOUT)
    short = holdout[holdout[paths.TEXT].str.len().between(60, 160)]
    return [
        (label, short[short[paths.TARGET] == label][paths.TEXT].iloc[0])
        for label in paths.CLASS_NAMES
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="Start the reviews example.")
    parser.add_argument(
        "--model-port", type=int, default=int(os.environ.get("DEMO_TEXT_MODEL_PORT", 9100))
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_TEXT_PORT", 8090)))
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    model_base = f"http://127.0.0.1:{args.model_port}"
    base = f"http://127.0.0.1:{args.port}"
    env = {**os.environ, "EXPLAINER_MODEL__URL": f"{model_base}/v2/models/reviews/infer"}
    script = Path(sys.executable).parent / "explainer-service"
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "examples.reviews.model_server", "--port", str(args.model_port)],
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
        print(f"\nThe reviews model:      {model_base}  (POST /v2/models/reviews/infer)")
        print(f"The explainer service:  {base}/  (API: {base}/docs)\n")
        for label, text in samples():
            print(f"A review labelled {label}: {text[:70]}...")
            for method in METHODS:
                print(f"  {method:<8} {base}{drilldown_link(method, v2_payload(text))}&format=html")
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


if __name__ == "__main__":
    main()
