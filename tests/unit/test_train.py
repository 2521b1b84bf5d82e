"""The income example's training: accurate enough, and the same every time."""

from __future__ import annotations

from pathlib import Path

import joblib
import pandas as pd

from examples.income import paths
from examples.income.train import MIN_ACCURACY, train


def test_training_is_deterministic_and_accurate(income_files: Path, tmp_path: Path) -> None:
    accuracy = train(tmp_path)
    assert accuracy >= MIN_ACCURACY
    for name in ("reference.csv", "holdout.csv", "payloads/v2.json", "payloads/records.json"):
        assert (tmp_path / "data" / name).read_bytes() == (paths.DATA / name).read_bytes(), name
    holdout = pd.read_csv(paths.HOLDOUT)[paths.FEATURES]
    again = joblib.load(tmp_path / "model.joblib").predict_proba(holdout)
    assert (again == joblib.load(paths.MODEL).predict_proba(holdout)).all()
    reference = pd.read_csv(tmp_path / "data" / "reference.csv")
    assert list(reference.columns) == [*paths.FEATURES, paths.TARGET]
    assert set(reference[paths.TARGET]) == set(paths.CLASS_NAMES)
