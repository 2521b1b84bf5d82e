"""LIME for text with eli5: ``eli5.lime.TextExplainer`` fitted on perturbed texts scored by
the model, its surrogate's weights per token and its own fidelity (``metrics_``).

eli5 samples texts by removing tokens (its pattern set to ours) and fits a linear model on
position-dependent features, so each token of the text has its own weight.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from explainers.budget import CostEstimate, Tally
from explainers.explanation import Prediction
from explainers.schema import FeatureSchema
from explainers.text.base import TextExplainer, TextModel, TextParams
from explainers.text_results import TextLimeFidelity, TextLimeResult, TextToken
from explainers.tokens import TOKEN_PATTERN, Token


class TextLimeParams(TextParams):
    n_samples: int = Field(
        1000, ge=50, le=20_000, description="perturbed texts the surrogate is fitted on"
    )


class TextLimeExplainer(TextExplainer):
    method = "lime"
    Params = TextLimeParams

    @classmethod
    def estimate(
        cls,
        params: Any,
        schema: FeatureSchema,
        *,
        reference_rows: int,
        max_batch_rows: int | None = None,
    ) -> CostEstimate:
        """An upper bound: the instance and eli5's ``n_samples`` texts in one call."""
        tally = Tally(max_batch_rows).call(1).call(params.n_samples)
        return tally.estimate(("n_samples",))

    def _explain_text(
        self,
        text: str,
        tokens: list[Token],
        params: Any,
        model: TextModel,
        prediction: Prediction,
    ) -> tuple[TextLimeResult, TextLimeFidelity]:
        from eli5.lime import TextExplainer as Eli5TextExplainer

        lime = Eli5TextExplainer(
            n_samples=params.n_samples,
            random_state=params.seed,
            token_pattern=TOKEN_PATTERN,
            position_dependent=True,
        )
        lime.fit(text, lambda texts: model.proba([str(t) for t in texts]))
        answer = lime.explain_prediction(targets=[model.target])
        weights = np.zeros(len(tokens))
        bias = 0.0
        target = answer.targets[0] if answer.targets else None
        if target is not None and target.feature_weights is not None:
            for weighted in [*target.feature_weights.pos, *target.feature_weights.neg]:
                if weighted.feature == "<BIAS>":
                    bias = float(weighted.weight)
        if target is not None and target.weighted_spans is not None:
            starts = {t.start: i for i, t in enumerate(tokens)}
            for _, spans, weight in target.weighted_spans.docs_weighted_spans[0].spans:
                for start, _end in spans:
                    if start in starts:
                        weights[starts[start]] += float(weight)
        metrics = lime.metrics_
        result = TextLimeResult(
            output=prediction.label or str(model.target),
            bias=bias,
            tokens=[
                TextToken(text=t.text, start=t.start, end=t.end, weight=float(w))
                for t, w in zip(tokens, weights, strict=True)
            ],
        )
        fidelity = TextLimeFidelity(
            mean_kl_divergence=float(metrics["mean_KL_divergence"]),
            score=float(metrics["score"]),
            samples=params.n_samples,
        )
        return result, fidelity
