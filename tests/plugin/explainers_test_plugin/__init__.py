"""A method a team adds without forking: every feature gets the same score.

``fail_fit: true`` makes fitting raise, as an engine that cannot fit the reference data
would (the tests of readiness after a failed fit use it)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from explainers import Explainer, ExplainerParams
from explainers.explanation import OtherFidelity, OtherResult, Prediction
from explainers.model import CountingModel


class ConstantParams(ExplainerParams):
    score: float = Field(1.0)
    fail_fit: bool = Field(False, description="fitting raises ValueError")


class ConstantExplainer(Explainer):
    method = "constant"
    Params = ConstantParams
    fit_params = frozenset({"fail_fit"})

    def fit(self) -> None:
        if self.params.fail_fit:
            raise ValueError("the constant method was configured to fail when fitted")

    def _explain(
        self, x: np.ndarray | None, params: Any, model: CountingModel
    ) -> tuple[Prediction, OtherResult, OtherFidelity]:
        assert x is not None
        prediction = model.predict_one(x)
        result = OtherResult(
            method="constant", scores=dict.fromkeys(self.schema.names, params.score)
        )
        return prediction, result, OtherFidelity(method="constant", checked=True)
