"""Our anchors of a finished benchmark run, again, in-process, under more seeds.

    python -m tests.helpers.bench_seeds [--out bench-output] [--seeds 0-4] [--joint-rows N]

Reads the run under ``--out`` (its model, its explainer configuration, its applicants and
the data split of its seed), explains each applicant with the service's anchors in this
process, calling the model directly, under each seed, and re-measures every rule on the
evaluation rows as ``make bench`` does: how many are below the threshold and shown below
it, the rows sent to the model per explanation, the rules' mean length. ``--joint-rows``
sets ``SearchSettings.joint_rows`` (0 draws every anchored feature on its own), so a
change to the search can be compared side by side on the same model and applicants. It
lives here, not in ``bench/``, because it imports the library (the benchmark imports none
of it, so it runs against any checkout of the service).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from bench import data, evaluation, rules
from bench.run import ROOT
from explainer_service.runtime import FittedRuntime
from explainer_service.settings import load_settings
from explainers import BlackBox
from explainers.anchors.explainer import AnchorsExplainer
from explainers.anchors.search import SearchSettings
from explainers.explanation import AnchorResult


def seeds(text: str) -> list[int]:
    """``"0-4"`` or ``"0,2,5"``: the seeds."""
    if "-" in text:
        first, last = (int(part) for part in text.split("-", 1))
        return list(range(first, last + 1))
    return [int(part) for part in text.split(",")]


def summarise(outcomes: Sequence[Mapping[str, Any]], threshold: float) -> dict[str, Any]:
    """Outcomes (``precision``, ``rows`` behind it, ``sent``, ``length``): the summary."""
    precision = evaluation.precision_summary(
        [o["precision"] for o in outcomes], threshold, [o["rows"] for o in outcomes]
    )
    return {
        "anchors": len(outcomes),
        "below_threshold": precision["below_threshold"],
        "shown_below_threshold": precision["shown_below_threshold"],
        "min_precision": precision["min"],
        "rows_sent_median": statistics.median(o["sent"] for o in outcomes),
        "length_mean": statistics.fmean(o["length"] for o in outcomes),
    }


def explainer(
    out: Path, model: Any, joint_rows: int | None
) -> tuple[AnchorsExplainer, Callable[[], int]]:
    """The service's anchors for the run's configuration, calling ``model`` in this
    process; and how many rows it has been sent so far."""
    runtime = FittedRuntime(load_settings(out / "run" / "explainer.yaml"), announce=False)
    sent = [0]

    def predict(rows: Sequence[Sequence[float]]) -> np.ndarray:
        sent[0] += len(rows)
        return np.asarray(model.predict_proba(np.asarray(rows, dtype=float)))

    box = BlackBox(predict, class_names=list(data.CLASS_NAMES))
    reference, _, _ = runtime.reference_of("anchors")
    threshold = json.loads((out / "bench.json").read_text())["settings"]["threshold"]
    kind: type[AnchorsExplainer] = AnchorsExplainer
    if joint_rows is not None:
        kind = _with_joint_rows(joint_rows)
    return kind(runtime.schema, reference, box, {"threshold": threshold}), lambda: sent[0]


def _with_joint_rows(rows: int) -> type[AnchorsExplainer]:
    class Joint(AnchorsExplainer):
        @staticmethod
        def _settings(params: Any) -> SearchSettings:
            return dataclasses.replace(AnchorsExplainer._settings(params), joint_rows=rows)

    return Joint


def measure(out: Path, seed_list: Sequence[int], joint_rows: int | None) -> dict[str, Any]:
    report = json.loads((out / "bench.json").read_text())
    settings = report["settings"]
    dataset = data.load(settings["seed"], settings["reference_rows"])
    model = joblib.load(out / "run" / "model" / "model.joblib")
    anchors, sent = explainer(out, model, joint_rows)
    predicted = np.array([data.CLASS_NAMES.index(p) for p in model.predict(dataset.evaluation)])
    outcomes = []
    for applicant in report["applicants"]:
        record = {
            name: dataset.categories[name][int(v)] if name in dataset.categories else v
            for name, v in zip(data.FEATURES, applicant["row"], strict=True)
        }
        for seed in seed_list:
            before = sent()
            result = anchors.explain(record, {"seed": seed}).result
            if not isinstance(result, AnchorResult):
                raise TypeError(f"an anchors explanation gave {type(result).__name__}")
            conditions = [
                {"feature": c.feature, "operator": c.operator, "value": c.value}
                for c in result.conditions
            ]
            quality = evaluation.anchor_quality(
                rules.from_conditions(conditions, dataset.categories),
                dataset.evaluation,
                predicted,
                data.CLASS_NAMES.index(applicant["predicted"]),
                data.FEATURES,
            )
            outcomes.append(
                {**quality, "sent": sent() - before, "seed": seed, "applicant": applicant["index"]}
            )
    return {
        "seeds": list(seed_list),
        "joint_rows": joint_rows,
        "summary": summarise(outcomes, settings["threshold"]),
        "below": [o for o in outcomes if (o["precision"] or 1.0) < settings["threshold"]],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="our anchors of a bench run, more seeds")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-output")
    parser.add_argument("--seeds", type=seeds, default=seeds("0-4"))
    parser.add_argument("--joint-rows", type=int, default=None)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.out.resolve(), args.seeds, args.joint_rows), indent=2))


if __name__ == "__main__":
    main()
