"""Counterfactuals: the service's own search against dice-ml's genetic search, on one model
server.

    python -m bench.counterfactuals [--applicants 20] [--total 3] [--seed 0] [--out bench-output]

The income example's model server (``examples.income.model_server``) is a real process, and
so is the explainer service (``explainer-service serve``, the example's configuration,
``POST /explain?method=counterfactual``). dice-ml runs in this process
(``bench.dice_reference``) with the same constraints it can take (immutable features, ranges,
directions), calling the same model server. Per applicant of the held-out data: seconds,
model calls, rows (the service's ``cost``; counted here for dice-ml); per counterfactual:
valid (rescored by the model), features changed, distance to the instance (a numeric
difference in units of the reference data's range, 1 for a category that differs, averaged
over the features, as ``proximity``) and whether it breaks a constraint dice-ml cannot take
(education and education-num not a combination the reference data holds; "?" proposed).
Written to ``counterfactuals.md`` and ``counterfactuals.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import yaml

from bench.markdown import table
from bench.processes import Server, free_port
from examples.income import paths

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples/income/explainer.yaml"
TIMEOUT = 300.0


class Model:
    """The model server's probabilities for frames of features, counting requests and rows."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(timeout=TIMEOUT)
        self.calls = 0
        self.rows = 0

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        rows = [[_native(v) for v in row] for row in frame[paths.FEATURES].itertuples(index=False)]
        self.calls += 1
        self.rows += len(rows)
        body = {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [len(rows), len(paths.FEATURES)],
                    "datatype": "BYTES",
                    "data": [v for row in rows for v in row],
                }
            ]
        }
        answer = self.client.post(self.url, json=body)
        answer.raise_for_status()
        output = answer.json()["outputs"][0]
        return np.asarray(output["data"], dtype=float).reshape(len(rows), -1)


def _native(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def measure(options: argparse.Namespace) -> dict[str, Any]:
    out = Path(options.out)
    model_port, service_port = free_port(), free_port()
    model_server = Server(
        "income model",
        [sys.executable, "-m", "examples.income.model_server", "--port", str(model_port)],
        f"http://127.0.0.1:{model_port}/v2/health/ready",
        out / "counterfactuals-model.log",
    )
    try:
        model_server.wait_ready(300)
        model_url = f"http://127.0.0.1:{model_port}/v2/models/income/infer"
        config = yaml.safe_load(CONFIG.read_text())
        config["model"]["url"] = model_url
        config["data"]["reference"] = str(paths.REFERENCE)
        config["service"] = {"store": str(out / "counterfactuals.sqlite"), "workers": 1}
        path = out / "counterfactuals-service.yaml"
        path.write_text(yaml.safe_dump(config))
        script = Path(sys.executable).parent / "explainer-service"
        service = Server(
            "explainer service",
            [script, "serve", "--config", path, "--port", str(service_port)],
            f"http://127.0.0.1:{service_port}/health/ready",
            out / "counterfactuals-service.log",
        )
        try:
            service.wait_ready(600)
            return _compare(f"http://127.0.0.1:{service_port}", Model(model_url), config, options)
        finally:
            service.stop()
    finally:
        model_server.stop()


def _compare(
    service: str, model: Model, config: dict[str, Any], options: argparse.Namespace
) -> dict[str, Any]:
    from bench.dice_reference import DiceGenetic  # the one module that imports dice_ml

    features = config["features"]
    reference = pd.read_csv(paths.REFERENCE)[paths.FEATURES]
    started = time.perf_counter()
    dice = DiceGenetic(
        reference,
        paths.CATEGORICAL,
        model,
        immutable=features["immutable"],
        overrides=features.get("overrides", {}),
    )
    dice_fit = time.perf_counter() - started
    measure_row = Distance(reference, features)
    held_out = pd.read_csv(paths.HOLDOUT)[paths.FEATURES]
    holdout = held_out.head(options.applicants)
    results: dict[str, list[dict[str, Any]]] = {"ours": [], "dice-ml": []}
    client = httpx.Client(timeout=TIMEOUT)

    def explain(instance: dict[str, Any]) -> httpx.Response:
        return client.post(
            f"{service}/explain",
            params={"method": "counterfactual", "seed": options.seed, "total": options.total},
            json={"inputs": [_tensor([instance])]},
        )

    # the first explanation pays for the worker's start and fitting: a row not measured
    explain({n: _native(v) for n, v in held_out.iloc[options.applicants].items()})
    for _, applicant in holdout.iterrows():
        instance = {n: _native(applicant[n]) for n in paths.FEATURES}
        began = time.perf_counter()
        answer = explain(instance)
        seconds = time.perf_counter() - began
        answer.raise_for_status()
        body = answer.json()
        found = pd.DataFrame(
            [c["values"] for c in body["result"]["counterfactuals"]], columns=paths.FEATURES
        )
        cost = body["cost"]
        results["ours"].append(
            record(instance, found, seconds, cost["model_calls"], cost["rows"], model, measure_row)
        )
        model.calls = model.rows = 0
        began = time.perf_counter()
        found = dice.explain(instance, options.total, options.seed)
        seconds = time.perf_counter() - began
        calls, rows = model.calls, model.rows
        results["dice-ml"].append(record(instance, found, seconds, calls, rows, model, measure_row))
    return {
        "applicants": len(holdout),
        "total": options.total,
        "seed": options.seed,
        "dice_fit_seconds": round(dice_fit, 3),
        "engines": {name: summary(found) for name, found in results.items()},
        "per_applicant": results,
    }


def _tensor(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "input-0",
        "shape": [len(records), len(paths.FEATURES)],
        "datatype": "BYTES",
        "data": [r[n] for r in records for n in paths.FEATURES],
    }


class Distance:
    """Distances as ``proximity`` measures them, and the constraints dice-ml cannot take."""

    def __init__(self, reference: pd.DataFrame, features: dict[str, Any]) -> None:
        numeric = [n for n in paths.FEATURES if n not in paths.CATEGORICAL]
        span = reference[numeric].max() - reference[numeric].min()
        self.scale = span.where(span > 0, 1.0)
        self.links = [
            (group, set(map(tuple, reference[group].astype(str).values)))
            for group in features.get("links", [])
        ]
        self.missing = set(features.get("missing", []))

    def distance(self, instance: dict[str, Any], row: dict[str, Any]) -> float:
        total = 0.0
        for name in paths.FEATURES:
            if name in paths.CATEGORICAL:
                total += str(row[name]) != str(instance[name])
            else:
                total += abs(float(row[name]) - float(instance[name])) / float(self.scale[name])
        return total / len(paths.FEATURES)

    def breaks(self, instance: dict[str, Any], row: dict[str, Any]) -> bool:
        for group, seen in self.links:
            values = tuple(str(_plain(row[n])) for n in group)
            if values != tuple(str(_plain(instance[n])) for n in group) and values not in seen:
                return True
        return any(
            str(row[n]) in self.missing and str(row[n]) != str(instance[n])
            for n in paths.CATEGORICAL
        )


def _plain(value: Any) -> Any:
    number = value if isinstance(value, int | float) else None
    return int(number) if number is not None and float(number).is_integer() else value


def record(
    instance: dict[str, Any],
    found: pd.DataFrame,
    seconds: float,
    calls: int,
    rows: int,
    model: Model,
    measure_row: Distance,
) -> dict[str, Any]:
    """One applicant's answer: its cost, and each counterfactual rescored and measured."""
    counterfactuals = [{n: _native(v) for n, v in row.items()} for _, row in found.iterrows()]
    before = int(np.argmax(model(pd.DataFrame([instance])), axis=1)[0])
    after = np.argmax(model(found), axis=1) if len(found) else np.empty(0)
    return {
        "seconds": round(seconds, 4),
        "model_calls": calls,
        "rows": rows,
        "returned": len(found),
        "valid": int((after != before).sum()),
        "changed": [
            sum(str(_plain(cf[n])) != str(_plain(instance[n])) for n in paths.FEATURES)
            for cf in counterfactuals
        ],
        "distance": [round(measure_row.distance(instance, cf), 5) for cf in counterfactuals],
        "violations": sum(measure_row.breaks(instance, cf) for cf in counterfactuals),
    }


def summary(applicants: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [a["seconds"] for a in applicants]
    changed = [c for a in applicants for c in a["changed"]]
    distance = [d for a in applicants for d in a["distance"]]

    def median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    def mean(values: list[float]) -> float | None:
        return statistics.fmean(values) if values else None

    return {
        "median_seconds": median(seconds),
        "max_seconds": max(seconds),
        "median_model_calls": median([a["model_calls"] for a in applicants]),
        "max_model_calls": max(a["model_calls"] for a in applicants),
        "median_rows": median([a["rows"] for a in applicants]),
        "returned": sum(a["returned"] for a in applicants),
        "valid": sum(a["valid"] for a in applicants),
        "applicants_with_one": sum(a["valid"] > 0 for a in applicants),
        "changed_mean": mean(changed),
        "changed_median": median(changed),
        "distance_mean": mean(distance),
        "distance_median": median(distance),
        "breaking_a_constraint": sum(a["violations"] for a in applicants),
    }


METRICS = [
    ("latency median / worst (s)", "median_seconds", "max_seconds"),
    ("model calls median / worst", "median_model_calls", "max_model_calls"),
    ("rows median", "median_rows", None),
    ("counterfactuals returned / valid", "returned", "valid"),
    ("applicants with one", "applicants_with_one", None),
    ("features changed mean / median", "changed_mean", "changed_median"),
    ("distance to the instance mean / median", "distance_mean", "distance_median"),
    ("breaking a link or proposing '?'", "breaking_a_constraint", None),
]


def render(report: dict[str, Any]) -> str:
    engines = report["engines"]

    def cell(summary: dict[str, Any], first: str, second: str | None) -> str:
        shown = [summary[first]] + ([summary[second]] if second else [])
        return " / ".join("-" if v is None else f"{v:.3g}" for v in shown)

    rows = [[name] + [cell(engines[e], a, b) for e in engines] for name, a, b in METRICS]
    return (
        f"Counterfactuals, {report['applicants']} held-out applicants, {report['total']} asked "
        f"for each, seed {report['seed']} (dice-ml fitted in {report['dice_fit_seconds']} s)."
        "\n\n" + table(["metric", *engines], rows) + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="counterfactuals: ours against dice-ml")
    parser.add_argument("--applicants", type=int, default=20)
    parser.add_argument("--total", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-output")
    options = parser.parse_args(argv)
    options.out.mkdir(parents=True, exist_ok=True)
    report = measure(options)
    (options.out / "counterfactuals.json").write_text(json.dumps(report, indent=2))
    text = render(report)
    (options.out / "counterfactuals.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
