"""How long, how general and how honest the anchors of the income model are.

    python -m tests.helpers.anchor_quality [--applicants 20] [--threshold 0.95] [--seed 0]
        [--out F.json]

It runs the library in-process, through its public API only (``FeatureSchema.infer``,
``BlackBox``, ``get_explainer_class("anchors")``, ``explain``), so it runs unchanged against
any checkout of the project: copy it there, or put that checkout first on ``PYTHONPATH``
(``bench/`` holds the benchmark of the service, which imports none of the library).
The model is the example's trained pipeline (``examples/income/model.joblib``)
called as a predict function; the applicants are the first held-out rows of each predicted
class (half refused, half approved), as in ``tests/integration/test_income_explanations.py``.

Per applicant: the rule's length (its predicates; a range ``a < x <= b`` counts as two, as in
``bench.rules``) and its features, its coverage of the reference rows (as the explanation
reports it), whether it meets the threshold and is flagged as describing too few rows
(``fidelity.low_coverage``; "n/a" for a checkout that has no such field), the model calls and
rows it cost, and its precision re-measured on the held-out rows that satisfy it (rows never
used to fit anything), with their number.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from examples.income import paths
from explainers import BlackBox, FeatureSchema, get_explainer_class
from explainers.wire import native

#: A coverage shown as "0.000" on a page.
ZERO = 0.0005


def applicants(holdout: pd.DataFrame, predicted: np.ndarray, count: int) -> pd.DataFrame:
    """The first ``count // 2`` held-out rows of each predicted class, refused first."""
    half = count // 2
    return pd.concat([holdout[predicted == name].head(half) for name in paths.CLASS_NAMES])


def holds(conditions: Sequence[Any], frame: pd.DataFrame) -> np.ndarray:
    """Which rows of ``frame`` (wire values) satisfy every condition of a rule."""
    mask = np.ones(len(frame), dtype=bool)
    for c in conditions:
        column = frame[c.feature]
        if c.operator == "=":
            mask &= (column.astype(str) == str(c.value)).to_numpy()
            continue
        values, bound = column.astype(float).to_numpy(), float(c.value)
        mask &= {
            "<=": values <= bound,
            "<": values < bound,
            ">": values > bound,
            ">=": values >= bound,
        }[c.operator]
    return mask


def measure(applicant_count: int, threshold: float, seed: int) -> dict[str, Any]:
    pipeline = joblib.load(paths.MODEL)
    reference = pd.read_csv(paths.REFERENCE)
    holdout = pd.read_csv(paths.HOLDOUT)[paths.FEATURES]
    predicted = np.asarray(pipeline.predict(holdout)).astype(str)
    schema = FeatureSchema.infer(reference, target=paths.TARGET)

    def predict(rows: list[list[Any]]) -> np.ndarray:
        return np.asarray(pipeline.predict_proba(pd.DataFrame(rows, columns=paths.FEATURES)))

    explainer = get_explainer_class("anchors")(
        schema,
        reference,
        BlackBox(predict, class_names=paths.CLASS_NAMES),
        {"threshold": threshold, "seed": seed},
        target=paths.TARGET,
    )
    rows = []
    for _, applicant in applicants(holdout, predicted, applicant_count).iterrows():
        record = {k: native(v) for k, v in applicant.items()}
        began = time.perf_counter()
        explanation = explainer.explain(record)
        seconds = time.perf_counter() - began
        result, fidelity = explanation.result, explanation.fidelity
        satisfied = holds(result.conditions, holdout)
        label = explanation.prediction.label
        rows.append(
            {
                "label": label,
                "rule": result.rule,
                "length": len(result.conditions),
                "features": len({c.feature for c in result.conditions}),
                "coverage": result.coverage,
                "threshold_met": fidelity.threshold_met,
                "precision": fidelity.precision,
                "precision_lower": fidelity.precision_lower,
                "low_coverage": getattr(fidelity, "low_coverage", None),
                "distinct_rows": getattr(fidelity, "distinct_rows", None),
                "model_calls": explanation.cost.model_calls,
                "rows": explanation.cost.rows,
                "seconds": seconds,
                "holdout_rows": int(satisfied.sum()),
                "holdout_precision": float((predicted[satisfied] == label).mean())
                if satisfied.any()
                else None,
            }
        )
    return {"threshold": threshold, "seed": seed, "applicants": rows, "summary": summary(rows)}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    lengths = [r["length"] for r in rows]
    flags = [r["low_coverage"] for r in rows]
    measured = [r["holdout_precision"] for r in rows if r["holdout_precision"] is not None]
    return {
        "applicants": len(rows),
        "mean_length": statistics.mean(lengths),
        "median_length": statistics.median(lengths),
        "max_length": max(lengths),
        "mean_features": statistics.mean(r["features"] for r in rows),
        "mean_coverage": statistics.mean(r["coverage"] for r in rows),
        "median_coverage": statistics.median(r["coverage"] for r in rows),
        "zero_coverage": sum(r["coverage"] < ZERO for r in rows),
        "zero_coverage_unflagged": sum(
            r["coverage"] < ZERO and not r["low_coverage"] for r in rows
        ),
        "flagged": None if None in flags else sum(flags),
        "threshold_met": sum(r["threshold_met"] for r in rows),
        "median_model_calls": statistics.median(r["model_calls"] for r in rows),
        "max_model_calls": max(r["model_calls"] for r in rows),
        "median_rows": statistics.median(r["rows"] for r in rows),
        "max_rows": max(r["rows"] for r in rows),
        "median_seconds": statistics.median(r["seconds"] for r in rows),
        "holdout_measured": len(measured),
        "holdout_precision_min": min(measured) if measured else None,
        "holdout_precision_mean": statistics.mean(measured) if measured else None,
        "holdout_below_095": sum(p < 0.95 for p in measured),
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| class | rule | length | coverage | met | flagged | calls | rows | held-out precision |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["applicants"]:
        held = r["holdout_precision"]
        lines.append(
            f"| {r['label']} | {' AND '.join(r['rule'])} | {r['length']} | {r['coverage']:.4f} "
            f"| {r['threshold_met']} | {'n/a' if r['low_coverage'] is None else r['low_coverage']} "
            f"| {r['model_calls']} | {r['rows']} "
            f"| {'-' if held is None else f'{held:.3f}'} ({r['holdout_rows']}) |"
        )
    lines.append("")
    lines += [f"- {key}: {value}" for key, value in report["summary"].items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applicants", type=int, default=20)
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    report = measure(args.applicants, args.threshold, args.seed)
    print(markdown(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
