"""SHAP values with shap's ``KernelExplainer`` against a k-means background.

The background (``shap.kmeans`` of the reference data, ``background_size`` points) is fitted
once. Its points take real data values per feature, so a category is always a whole code:
features are perturbed by swapping in background values, never by interpolating codes.
``KernelExplainer`` calls the model on the background when it is constructed, so it is
constructed per explanation, where that call is counted.

Every feature gets its value: shap's default ``l1_reg`` would select features and give the
others zero, which is turned off.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from explainers.base import Explainer, ExplainerParams
from explainers.budget import CostEstimate, Tally
from explainers.errors import ParameterError
from explainers.explanation import Contribution, Prediction, ShapFidelity, ShapResult
from explainers.model import CountingModel
from explainers.schema import FeatureSchema

_EPS = 1e-12


class ShapParams(ExplainerParams):
    nsamples: int = Field(500, ge=10, le=100_000, description="coalitions evaluated")
    background_size: int = Field(10, ge=1, le=1000, description="k-means points (fixed when built)")
    output_class: str | None = Field(None, description="class to explain; default: the predicted")
    link: Literal["identity", "logit"] = "identity"


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.asarray(np.log(p / (1 - p)))


class ShapExplainer(Explainer):
    method = "shap"
    Params = ShapParams
    fit_params = frozenset({"background_size"})

    def fit(self) -> None:
        import shap

        size = min(self.params.background_size, len(self.reference_matrix))
        self._background = shap.kmeans(self.reference_matrix, size)

    @classmethod
    def estimate(
        cls,
        params: Any,
        schema: FeatureSchema,
        *,
        reference_rows: int,
        max_batch_rows: int | None = None,
    ) -> CostEstimate:
        """An upper bound, three calls: the instance (one row); the background, which
        ``KernelExplainer`` scores when it is built (``background_size`` rows, at most the
        reference rows); then every coalition it samples, each against every background
        point, in one call: ``nsamples`` coalitions, or all ``2^d - 2`` proper ones when
        fewer (``d`` features; shap enumerates no more). shap's own f(x) is answered from
        memory."""
        background = min(params.background_size, reference_rows)
        d = len(schema)
        coalitions = params.nsamples if d > 30 else min(params.nsamples, 2**d - 2)
        tally = Tally(max_batch_rows).call(1).call(background)
        tally.call(max(coalitions, 0) * background)
        return tally.estimate(("nsamples", "background_size"))

    def _explain(
        self, x: np.ndarray | None, params: Any, model: CountingModel
    ) -> tuple[Prediction, ShapResult, ShapFidelity]:
        import shap

        assert x is not None
        prediction = model.predict_one(x)
        if self.model.is_classifier:
            names = model.class_names or list((prediction.probabilities or {}).keys())
            target = params.output_class or prediction.label
            if target not in names:
                raise ParameterError(
                    self.method, "output_class", f"unknown class {target!r}; classes: {names}"
                )
            column = names.index(target)

            def f(matrix: np.ndarray) -> np.ndarray:
                return model.proba(matrix)[:, column]

            output = str(target)
            observed = (
                prediction.probabilities[output]
                if prediction.probabilities
                else float(prediction.label == output)
            )
        else:
            if params.output_class is not None:
                raise ParameterError(self.method, "output_class", "a regression has no classes")
            f, output, observed = model.values, "value", float(prediction.value or 0.0)
        explainer = shap.KernelExplainer(f, self._background, link=params.link)
        values = np.asarray(
            explainer.shap_values(
                x.reshape(1, -1), nsamples=params.nsamples, l1_reg=False, silent=True
            )
        ).reshape(-1)
        base = float(np.asarray(explainer.expected_value).reshape(-1)[0])
        model_output = float(_logit(np.array(observed))) if params.link == "logit" else observed
        total = base + float(values.sum())
        result = ShapResult(
            output=output,
            link=params.link,
            base_value=base,
            contributions=[
                Contribution(feature=feature.name, value=wire, shap=float(v))
                for feature, wire, v in zip(
                    self.schema.features, self.schema.to_wire(x)[0], values, strict=True
                )
            ],
        )
        fidelity = ShapFidelity(
            model_output=model_output,
            base_plus_sum=total,
            additivity_error=abs(total - model_output),
        )
        return prediction, result, fidelity
