"""The model load the explanation policy adds, and what it does to interactive latency.

    python -m tests.helpers.policy_load [--per-minute 20] [--seconds 120] [--method shap]

Starts the example model server and the service (the example configuration, 2 workers,
a fresh SQLite store), times a few interactive ``POST /explain`` (SHAP) with no backlog,
then logs 200 inferences (60 refusals) into the store as the sink writes them, with the
policy "explain every refusal with METHOD, at most PER-MINUTE a minute", and for SECONDS
times the same interactive requests again while the backlog runs. Prints what the policy's
explanations asked of the model (requests and rows, from the explanations' reported costs,
and the requests the model server counted under ``policy-*`` request ids) per minute.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import yaml

from examples.income import paths
from explainer_service.store import open_store
from explainer_service.store.inference_jobs import JobState
from explainer_service.store.inferences import LoggedSide
from tests.helpers.support import explainer_service, free_port, python_server, wait_until_ready
from tests.helpers.web import HTTP

APPLICANT = [42, "Private", "Bachelors", 13, "Married-civ-spouse", "Tech-support", "Husband",
             "White", "Male", 0, 0, 45]  # fmt: skip


def logged(total: int, refusals: int) -> list[LoggedSide]:
    """Both sides of ``total`` inferences (ids ``kserve-NNNN``) of distinct reference rows,
    ``refusals`` of them refused by the model, with the model's own answers, as the sink
    writes them (also the inferences of ``tests/integration/test_policy.py``)."""
    rows = pd.read_csv(paths.REFERENCE)[paths.FEATURES].drop_duplicates()
    scores = joblib.load(paths.MODEL).predict_proba(rows)
    refused = scores[:, 0] >= scores[:, 1]
    chosen = [*rows.index[refused][:refusals], *rows.index[~refused][: total - refusals]]
    sides = []
    for n, index in enumerate(chosen):
        row = [v.item() if hasattr(v, "item") else v for v in rows.loc[index].tolist()]
        p = scores[rows.index.get_loc(index)].tolist()
        ids: dict[str, Any] = {
            "id": f"kserve-{n:04d}",
            "event_id": f"kserve-{n:04d}",
            "row_index": 0,
            "row_count": 1,
        }
        sides.append(
            LoggedSide(**ids, side="request", source="kserve", model="income", instance=row)
        )
        label = paths.CLASS_NAMES[int(p[1] > p[0])]
        sides.append(
            LoggedSide(
                **ids, side="response", source="kserve", model="income",
                answer={"scores": p}, label=label,
            )
        )  # fmt: skip
    return sides


def interactive(base: str, seed: int) -> float:
    payload = {"instances": [dict(zip(paths.FEATURES, APPLICANT, strict=True))]}
    started = time.monotonic()
    answer = HTTP.post(f"{base}/explain?method=shap&seed={seed}", json=payload, timeout=600)
    answer.raise_for_status()
    return time.monotonic() - started


def policy_requests(model: str) -> int:
    headers = HTTP.get(model + "/stats", timeout=30).json()["headers"]
    return sum(n for name, n in headers.items() if name.startswith("x-request-id: policy-"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-minute", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--method", default="shap")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="policy-load-"))
    model_port, port = free_port(), free_port()
    model = f"http://127.0.0.1:{model_port}"
    config: dict[str, Any] = yaml.safe_load((paths.HERE / "explainer.yaml").read_text())
    config["model"]["url"] = f"{model}/v2/models/income/infer"
    config["data"]["reference"] = str(paths.REFERENCE)
    config["service"] = {"store": str(work / "store.sqlite"), "workers": 2}
    config["inference_log"] = {
        "policy": {
            "rules": [{"label": "<=50K", "methods": [args.method]}],
            "explanations_per_minute": args.per_minute,
            "scan_every_s": 1,
        }
    }
    servers = []
    try:
        server = python_server("examples.income.model_server", model_port, log=work / "model.log")
        servers.append(server.wait_ready())
        service, base = explainer_service(config, work, work / "service.log", port=port)
        servers.append(service)
        wait_until_ready(base, timeout=600)
        idle = [interactive(base, seed) for seed in range(100, 105)]
        store = open_store(str(work / "store.sqlite"))
        store.log_inferences(logged(total=200, refusals=60))
        started, busy, seed = time.monotonic(), [], 200
        while time.monotonic() - started < args.seconds:
            busy.append(interactive(base, seed))
            seed += 1
            time.sleep(5)
        elapsed = time.monotonic() - started
        requests = policy_requests(model)
        calls = rows = done = 0
        for side in logged(total=200, refusals=60)[::2]:
            for job in store.inference_jobs(side.id):
                record = store.get(job.explanation_id) if job.explanation_id else None
                if job.state is JobState.done and record and record.explanation:
                    done += 1
                    calls += record.explanation.cost.model_calls
                    rows += record.explanation.cost.rows
        minutes = elapsed / 60
        print(f"policy: every refusal, {args.method}, at most {args.per_minute} a minute")
        print(f"explained: {done} in {elapsed:.0f} s ({done / minutes:.1f} a minute)")
        print(
            f"their model load: {calls / minutes:.0f} requests and {rows / minutes:,.0f} rows a "
            f"minute ({calls / max(done, 1):.1f} requests, {rows / max(done, 1):,.0f} rows each); "
            f"the model server counted {requests / minutes:.0f} policy requests a minute"
        )
        print(
            f"interactive SHAP, median: {statistics.median(idle):.2f} s idle, "
            f"{statistics.median(busy):.2f} s during the backlog ({len(busy)} requests)"
        )
        store.close()
    finally:
        for server in reversed(servers):
            server.stop()


if __name__ == "__main__":
    main()
