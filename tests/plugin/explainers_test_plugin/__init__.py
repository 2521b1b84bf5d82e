"""A method a team adds without forking: every feature gets the same score."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from explainers import Explainer, ExplainerParams
from explainers.explanation import OtherFidelity, OtherResult, Prediction
from explainers.model import CountingModel


class ConstantParams(ExplainerParams):
    score: float = Field(1.0)


class ConstantExplainer(Explainer):
    method = "constant"
    Params = ConstantParams

    def _explain(
        self, x: np.ndarray | None, params: Any, model: CountingModel
    ) -> tuple[Prediction, OtherResult, OtherFidelity]:
        assert x is not None
        prediction = model.predict_one(x)
        result = OtherResult(
            method="constant", scores=dict.fromkeys(self.schema.names, params.score)
        )
        return prediction, result, OtherFidelity(method="constant", checked=True)
