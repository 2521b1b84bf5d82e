"""`make demo`: start the income model server and show what it answers.

    python -m examples.income.demo [--port 9000]

Starts the model server as a child process, sends the two sample applicants (one refused,
one approved) through ``RemoteModel`` in every protocol, prints the scores and the URLs to
try, and keeps the server running until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import httpx

from examples.income import paths
from explainer_service import ModelSettings, RemoteModel

#: protocol -> (route, sample payload written by train.py)
ROUTES = {
    "v2": ("/v2/models/income/infer", "v2.json"),
    "seldon": ("/api/v1.0/predictions", "seldon.json"),
    "kserve-v1": ("/v1/models/income:predict", "kserve-v1.json"),
    "mlflow": ("/invocations", "mlflow-split.json"),
    "records": ("/predict", "records.json"),
}


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the model server exited with {process.returncode}")
        try:
            if httpx.get(base + "/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"the model server did not become ready at {base}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Start the income example.")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    base = f"http://127.0.0.1:{args.port}"
    command = [sys.executable, "-m", "examples.income.model_server", "--port", str(args.port)]
    server = subprocess.Popen(command)
    try:
        wait_ready(base, server)
        print(f"\nThe income model is served at {base}\n")
        for protocol, (route, sample) in ROUTES.items():
            settings = ModelSettings(name="income", url=base + route, protocol=protocol)
            with RemoteModel(settings, paths.FEATURES) as model:
                payload = json.loads((paths.PAYLOADS / sample).read_text())
                rows = model.codec.decode_request(payload)
                scores = model.predict(rows)
            verdicts = ", ".join(
                f"{paths.CLASS_NAMES[int(p.argmax())]} (P(>50K) = {p[1]:.2f})" for p in scores
            )
            print(f"  {protocol:<10} POST {base + route:<52} -> {verdicts}")
        print(
            "\nTry it:\n"
            f"  curl -s -X POST {base}/v2/models/income/infer "
            f"-d @{paths.PAYLOADS.relative_to(paths.HERE.parent.parent)}/v2.json\n"
            f"  open {base}/docs for the server's routes\n\nCtrl-C stops it."
        )
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
