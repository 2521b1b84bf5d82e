"""dice-ml's genetic counterfactuals, the reference the service's own search is measured
against: the one module that imports ``dice_ml``. It runs in ``.venv-reference`` (dice-ml
pins numpy<2), started by ``bench.counterfactuals``:

    .venv-reference/bin/python -m bench.dice_reference < request.json

Request (stdin): ``url`` (the model's V2 infer URL: one ``BYTES`` tensor of the features'
values, probabilities back), ``reference`` (a CSV path), ``features`` (the columns, in the
model's order), ``categorical``, ``immutable``, ``overrides``, ``instances`` (feature ->
value), ``total``, ``seed``. Answer (stdout): ``fit_seconds`` and, per instance, ``rows``
(the counterfactuals found, feature -> value), ``model_calls``, ``model_rows`` (what it sent
to the model) and ``seconds``.

dice-ml works on a DataFrame of category texts and numbers; the model is reached through
``proba(frame) -> (n, 2)``. It is told the constraints it can take: the features to vary
(the mutable ones) and each numeric feature's range narrowed by its direction from the
instance (``permitted_range``). Linked groups and categories that mean "unknown" it cannot
take.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dice_ml
import numpy as np
import pandas as pd

from bench.tabular_model import Model, native

OUTCOME = "__outcome__"


class _Model:
    """What dice-ml calls: ``predict_proba`` on frames."""

    def __init__(self, proba: Callable[[pd.DataFrame], np.ndarray], names: Sequence[str]):
        self.proba = proba
        self.names = list(names)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.proba(frame[self.names])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(np.argmax(self.predict_proba(frame), axis=1))


class DiceGenetic:
    """dice-ml's ``genetic`` method over ``reference`` (a frame of the features) and a binary
    classifier's ``proba``.

    ``overrides``: feature -> ``min``, ``max``, ``direction`` (as in the service's
    configuration); ``immutable``: features never varied."""

    def __init__(
        self,
        reference: pd.DataFrame,
        categorical: Sequence[str],
        proba: Callable[[pd.DataFrame], np.ndarray],
        *,
        immutable: Sequence[str],
        overrides: Mapping[str, Mapping[str, Any]],
    ) -> None:
        self.names = list(reference.columns)
        self.categorical = set(categorical)
        self.immutable = set(immutable)
        self.overrides = overrides
        frame = reference.copy()
        frame[OUTCOME] = np.argmax(proba(reference), axis=1)
        numeric = [n for n in self.names if n not in self.categorical]
        self.data = dice_ml.Data(dataframe=frame, continuous_features=numeric, outcome_name=OUTCOME)
        self.ranges = dict(self.data.permitted_range)
        model = dice_ml.Model(model=_Model(proba, self.names), backend="sklearn")
        self.dice = dice_ml.Dice(self.data, model, method="genetic")

    def _permitted(self, instance: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        ranges, vary = dict(self.ranges), []
        for name in self.names:
            if name in self.immutable:
                continue
            if name not in self.categorical:
                override = self.overrides.get(name, {})
                low, high = (float(v) for v in ranges[name])
                low = max(low, float(override.get("min", low)))
                high = min(high, float(override.get("max", high)))
                value = float(instance[name])
                if override.get("direction") == "increase":
                    low = max(low, value)
                if override.get("direction") == "decrease":
                    high = min(high, value)
                if low >= high:
                    continue
                ranges[name] = [low, high]
            vary.append(name)
        return ranges, vary

    def explain(self, instance: Mapping[str, Any], total: int, seed: int) -> pd.DataFrame:
        """Counterfactuals of ``instance`` (feature -> value) as a frame; empty when none."""
        ranges, vary = self._permitted(instance)
        np.random.seed(seed)
        random.seed(seed)  # the genetic search draws from both
        query = pd.DataFrame([dict(instance)], columns=self.names)
        try:
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                found = self.dice.generate_counterfactuals(
                    query,
                    total_CFs=total,
                    desired_class="opposite",
                    features_to_vary=vary,
                    permitted_range=ranges,
                    verbose=False,
                )
        except Exception as exc:  # dice-ml raises a bare exception when it finds none
            if "no counterfactuals" not in str(exc).lower():
                raise
            return pd.DataFrame(columns=self.names)
        frame = found.cf_examples_list[0].final_cfs_df_sparse
        if frame is None:
            frame = found.cf_examples_list[0].final_cfs_df
        return pd.DataFrame(columns=self.names) if frame is None else frame[self.names]


def main() -> None:
    request = json.load(sys.stdin)
    features = request["features"]
    model = Model(request["url"], features)
    began = time.perf_counter()
    dice = DiceGenetic(
        pd.read_csv(request["reference"])[features],
        request["categorical"],
        model,
        immutable=request["immutable"],
        overrides=request["overrides"],
    )
    answer: dict[str, Any] = {"fit_seconds": round(time.perf_counter() - began, 3)}
    found = []
    for instance in request["instances"]:
        model.calls = model.rows = 0
        began = time.perf_counter()
        frame = dice.explain(instance, request["total"], request["seed"])
        seconds = time.perf_counter() - began
        rows = [{n: native(v) for n, v in row.items()} for _, row in frame.iterrows()]
        found.append(
            {
                "rows": rows,
                "model_calls": model.calls,
                "model_rows": model.rows,
                "seconds": round(seconds, 4),
            }
        )
    json.dump({**answer, "instances": found}, sys.stdout)


if __name__ == "__main__":
    main()
