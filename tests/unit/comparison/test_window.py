"""A logged window re-scored by a candidate, in-process: a SQLite store with logged
inferences, and a plain function as the candidate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explainer_service.comparison import rescore_window
from explainer_service.comparison.window import window_days
from explainer_service.errors import PayloadError
from explainer_service.store import open_store
from explainer_service.store.inferences import LoggedSide
from explainers import BlackBox, FeatureSchema
from explainers.model import CountingModel

CLASSES = ["no", "yes"]


def test_window_lengths() -> None:
    assert (
        window_days("7d") == 7
        and window_days("12h") == 0.5
        and window_days("30m") == pytest.approx(30 / 1440)
    )
    for bad in ("", "7", "0d", "-1d", "400d", "7 days", "1e3d"):
        with pytest.raises(PayloadError) as info:
            window_days(bad)
        assert info.value.field == "window"


def log(store, rows: list[list[float]], answered: list[bool]) -> None:
    sides = []
    for k, (row, has_answer) in enumerate(zip(rows, answered, strict=True)):
        common = {"id": f"e/{k}", "event_id": "e", "row_index": k, "row_count": len(rows),
                  "source": "kserve", "model": "m"}  # fmt: skip
        sides.append(LoggedSide(**common, side="request", instance=row))
        if has_answer:
            yes = float(row[0] > 5 or row[1] > 5)  # the model: either feature
            answer = {"scores": [1 - yes, yes]}
            sides.append(
                LoggedSide(**common, side="response", answer=answer, label=CLASSES[int(yes)])
            )
    store.log_inferences(sides)


def test_the_share_of_changed_decisions_is_counted(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    rows = rng.integers(0, 10, size=(80, 2)).astype(float).tolist()
    answered = [k % 10 != 0 for k in range(80)]  # 8 without the model's answer
    store = open_store(str(tmp_path / "s.sqlite"))
    try:
        log(store, rows, answered)
        schema = FeatureSchema.infer(pd.DataFrame(rows, columns=["a", "b"]))

        def candidate(batch: list[list[float]]) -> np.ndarray:  # ignores b
            yes = np.array([r[0] > 5 for r in batch], dtype=float)
            return np.column_stack([1 - yes, yes])

        model = CountingModel(BlackBox(candidate, class_names=CLASSES), schema)
        window = rescore_window(
            store, model, 1.0, 1000, model="m", candidate_name="c", candidate_version="2",
            class_names=CLASSES,
        )  # fmt: skip
        by_hand = sum(
            (r[0] > 5 or r[1] > 5) != (r[0] > 5) for r, a in zip(rows, answered, strict=True) if a
        )
        assert window.rescored == 72 and window.unanswered == 8 and not window.truncated
        assert window.changed == by_hand > 0
        assert window.share_changed == pytest.approx(by_hand / 72)
        changed = [c for c in window.changes if c.logged != c.candidate]
        assert [(c.logged, c.candidate, c.count) for c in changed] == [("yes", "no", by_hand)]
        assert window.model_calls == 1
        few = rescore_window(
            store, model, 1.0, 10, model="m", candidate_name="c", candidate_version=None,
            class_names=CLASSES,
        )  # fmt: skip
        assert few.truncated and few.rescored + few.unanswered == 10
    finally:
        store.close()
