"""Counterfactuals: the service's own search against dice-ml's genetic search, on one model
server.

    python -m bench.counterfactuals [--applicants 20] [--total 3] [--seed 0] [--out bench-output]

The income example's model server (``examples.income.model_server``) is a real process, and
so is the explainer service (``explainer-service serve``, the example's configuration,
``POST /explain?method=counterfactual``). dice-ml runs in ``.venv-reference``
(``bench.dice_reference``, started through ``bench.reference``) with the same constraints it
can take (immutable features, ranges, directions), calling the same model server. Per
applicant of the held-out data: seconds, model calls, rows (the service's ``cost``; counted by
``bench.dice_reference`` for dice-ml); per counterfactual:
valid (rescored by the model), features changed, distance to the instance (a numeric
difference in units of the reference data's range, 1 for a category that differs, averaged
over the features, as ``proximity``) and whether it breaks a constraint dice-ml cannot take
(education and education-num not a combination the reference data holds; "?" proposed).
Written to ``counterfactuals.md`` and ``counterfactuals.json`` under ``--out``; ``make bench``
runs it too (``bench.run``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import yaml

from bench import reference
from bench.markdown import counterfactuals_vs_dice as render
from bench.processes import Server, free_port
from bench.tabular_model import Model, native
from examples.income import paths

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples/income/explainer.yaml"
TIMEOUT = 300.0


@dataclass
class Settings:
    """What one comparison asks for: held-out applicants, counterfactuals per applicant,
    the seed of both searches, and where logs and reports go."""

    applicants: int = 20
    total: int = 3
    seed: int = 0
    out: Path = ROOT / "bench-output"


def measure(options: Settings) -> dict[str, Any]:
    """Starts the income model server and the service, compares, stops them: the report."""
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
        # the engine's own cost, as before protected attributes: no flip test
        config["features"].pop("protected", None)
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
            return _compare(
                f"http://127.0.0.1:{service_port}",
                Model(model_url, paths.FEATURES, TIMEOUT),
                config,
                options,
            )
        finally:
            service.stop()
    finally:
        model_server.stop()


def _compare(
    service: str, model: Model, config: dict[str, Any], options: Settings
) -> dict[str, Any]:
    features = config["features"]
    reference_rows = pd.read_csv(paths.REFERENCE)[paths.FEATURES]
    measure_row = Distance(reference_rows, features)
    held_out = pd.read_csv(paths.HOLDOUT)[paths.FEATURES]
    holdout = held_out.head(options.applicants)
    instances = [
        {n: native(applicant[n]) for n in paths.FEATURES} for _, applicant in holdout.iterrows()
    ]
    results: dict[str, list[dict[str, Any]]] = {"ours": [], "dice-ml": []}
    client = httpx.Client(timeout=TIMEOUT)

    def explain(instance: dict[str, Any]) -> httpx.Response:
        return client.post(
            f"{service}/explain",
            params={"method": "counterfactual", "seed": options.seed, "total": options.total},
            json={"inputs": [_tensor([instance])]},
        )

    # the first explanation pays for the worker's start and fitting: a row not measured
    explain({n: native(v) for n, v in held_out.iloc[options.applicants].items()})
    for instance in instances:
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
    dice = reference.run(
        "bench.dice_reference",
        {
            "url": model.url,
            "reference": str(paths.REFERENCE),
            "features": paths.FEATURES,
            "categorical": paths.CATEGORICAL,
            "immutable": features["immutable"],
            "overrides": features.get("overrides", {}),
            "instances": instances,
            "total": options.total,
            "seed": options.seed,
        },
        log=Path(options.out) / "counterfactuals-dice.log",
    )
    for instance, one in zip(instances, dice["instances"], strict=True):
        found = pd.DataFrame(one["rows"], columns=paths.FEATURES)
        calls, rows, seconds = one["model_calls"], one["model_rows"], one["seconds"]
        results["dice-ml"].append(record(instance, found, seconds, calls, rows, model, measure_row))
    return {
        "applicants": len(holdout),
        "total": options.total,
        "seed": options.seed,
        "dice_fit_seconds": dice["fit_seconds"],
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
    counterfactuals = [{n: native(v) for n, v in row.items()} for _, row in found.iterrows()]
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="counterfactuals: ours against dice-ml")
    parser.add_argument("--applicants", type=int, default=20)
    parser.add_argument("--total", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-output")
    args = parser.parse_args(argv)
    options = Settings(args.applicants, args.total, args.seed, args.out.resolve())
    options.out.mkdir(parents=True, exist_ok=True)
    report = measure(options)
    (options.out / "counterfactuals.json").write_text(json.dumps(report, indent=2))
    text = render(report)
    (options.out / "counterfactuals.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
