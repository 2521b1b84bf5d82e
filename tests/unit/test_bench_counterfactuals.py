"""The counterfactual benchmark's pure parts: distances and broken constraints, one
applicant's record, the summary, the table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.counterfactuals import Distance, record, render, summary
from examples.income import paths

FEATURES = {"links": [["education", "education-num"]], "missing": ["?"]}


def test_a_record_rescores_counts_and_measures() -> None:
    reference = pd.read_csv(paths.REFERENCE)[paths.FEATURES]
    measure = Distance(reference, FEATURES)
    instance = {n: (v.item() if hasattr(v, "item") else v) for n, v in reference.iloc[0].items()}
    hours = float(reference["hours-per-week"].max() - reference["hours-per-week"].min())
    longer = {**instance, "hours-per-week": instance["hours-per-week"] + 10}
    unknown = {**instance, "workclass": "?"}
    unseen = {**instance, "education": "Doctorate", "education-num": 3}
    assert measure.distance(instance, longer) == 10 / hours / len(paths.FEATURES)
    assert measure.distance(instance, unknown) == 1 / len(paths.FEATURES)
    assert not measure.breaks(instance, longer)
    assert measure.breaks(instance, unknown) and measure.breaks(instance, unseen)

    def model(frame: pd.DataFrame) -> np.ndarray:
        yes = (frame["hours-per-week"].astype(float) > instance["hours-per-week"]).to_numpy(float)
        return np.column_stack([1 - yes, yes])

    found = pd.DataFrame([longer, unknown], columns=paths.FEATURES)
    one = record(instance, found, 0.5, 3, 30, model, measure)  # type: ignore[arg-type]
    assert (one["valid"], one["returned"], one["changed"], one["violations"]) == (1, 2, [1, 1], 1)
    both = summary([one, {**one, "seconds": 1.5, "valid": 0}])
    assert both["median_seconds"] == 1.0 and both["max_seconds"] == 1.5
    assert both["applicants_with_one"] == 1 and both["changed_median"] == 1
    report = {"applicants": 2, "total": 3, "seed": 0, "dice_fit_seconds": 0.1}
    text = render({**report, "engines": {"ours": both, "dice-ml": both}})
    assert "| latency median / worst (s) | 1 / 1.5 | 1 / 1.5 |" in text
