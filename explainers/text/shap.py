"""SHAP for text: shap's explainers with its ``maskers.Text`` over our tokens.

shap's masker splits the text into segments by the tokenizer's offsets and replaces a
masked segment by ``" " + mask_token``; our tokenizer gives each token the white space
before it (offsets from the end of the previous token), so a masked word never runs into
its neighbours. Up to ``exact_max_tokens`` tokens every coalition is evaluated (shap's
``ExactExplainer``: exact Shapley values); beyond, ``replicates`` independent runs of
shap's ``PermutationExplainer`` are averaged and their spread gives standard errors. The
base value is the model's answer for the text with every token masked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from explainers.budget import CostEstimate, Tally
from explainers.explanation import Prediction
from explainers.schema import FeatureSchema
from explainers.text.base import TextExplainer, TextModel, TextParams
from explainers.text_results import TextShapFidelity, TextShapResult, TextToken
from explainers.tokens import TOKEN, Token

#: Below this, a value is the arithmetic's rounding (shap sums weighted differences).
ROUNDING = 1e-12


class TextShapParams(TextParams):
    exact_max_tokens: int = Field(
        10, ge=1, le=14, description="up to this many tokens, every coalition is evaluated"
    )
    max_evals: int = Field(
        600, ge=10, le=20_000, description="permutation: model evaluations per replicate"
    )
    replicates: int = Field(3, ge=2, le=10, description="permutation: independent runs")


class _Tokenizer:
    """Our tokens as shap's ``maskers.Text`` reads a tokenizer: ``input_ids`` and
    ``offset_mapping``, each token's span starting where the previous token ended."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def __call__(self, text: str, return_offsets_mapping: bool = True) -> dict[str, Any]:
        ids, offsets, previous = [], [], 0
        for match in TOKEN.finditer(text):
            ids.append(self._ids.setdefault(match.group(), len(self._ids) + 1))
            offsets.append((previous, match.end()))
            previous = match.end()
        return {"input_ids": ids, "offset_mapping": offsets}


def _masker(mask_token: str) -> Any:
    import shap

    class _Shapley(shap.maskers.Text):  # type: ignore[misc]
        """Without a clustering shap's ExactExplainer computes Shapley (not Owen) values."""

        clustering = None

    return _Shapley(_Tokenizer(), mask_token=mask_token, collapse_mask_token=False)


class TextShapExplainer(TextExplainer):
    method = "shap"
    Params = TextShapParams

    @classmethod
    def estimate(
        cls,
        params: Any,
        schema: FeatureSchema,
        *,
        reference_rows: int,
        max_batch_rows: int | None = None,
    ) -> CostEstimate:
        """An upper bound: the instance, the masked text, and the larger of the exact
        enumeration (``2^exact_max_tokens``) and ``replicates`` runs of ``max_evals`` (at
        least ``2 x max_text_tokens + 1``: one permutation of the longest text)."""
        feature = schema.text_feature
        tokens = feature.max_tokens if feature is not None else 1
        evals = max(params.max_evals, 2 * tokens + 1)
        tally = Tally(max_batch_rows).call(1).call(1)
        sampled = params.replicates * evals
        exact = 2**params.exact_max_tokens
        if exact >= sampled:
            tally.call(exact)
        else:
            tally.call(evals, params.replicates)
        return tally.estimate(("max_evals", "replicates", "exact_max_tokens"))

    def _explain_text(
        self,
        text: str,
        tokens: list[Token],
        params: Any,
        model: TextModel,
        prediction: Prediction,
    ) -> tuple[TextShapResult, TextShapFidelity]:
        import shap

        n = len(tokens)
        # shap puts " " + mask in place of a masked token and its white space; a space after
        # the mask keeps it from gluing onto a next token that had none before it
        masker = _masker(params.mask_text + " " if params.mask_text else "")
        f_x = float(model.score([text])[0])

        def f(texts: Any) -> np.ndarray:
            return model.score([str(t) for t in texts])

        exact = n <= params.exact_max_tokens
        if n == 0:
            values, errors, base, replicates = np.zeros(0), np.zeros(0), f_x, 1
        elif exact:
            answer = shap.explainers.Exact(f, masker)([text], batch_size=2**n, silent=True)
            values, base, replicates = answer.values[0], float(answer.base_values[0]), 1
            errors = np.zeros(n)
        else:
            runs = []
            for r in range(params.replicates):
                explainer = shap.explainers.Permutation(f, masker, seed=params.seed + r)
                evals = max(params.max_evals, 2 * n + 1)
                runs.append(explainer([text], max_evals=evals, batch_size=evals, silent=True))
            stack = np.stack([run.values[0] for run in runs])
            values = stack.mean(axis=0)
            errors = stack.std(axis=0, ddof=1) / np.sqrt(len(runs))
            base = float(runs[0].base_values[0])
            replicates = len(runs)
        values = np.where(np.abs(values) < ROUNDING, 0.0, values)
        total = base + float(np.sum(values))
        label = prediction.label or str(model.target)
        result = TextShapResult(
            output=label,
            base_value=base,
            mask=params.mask_text,
            tokens=[
                TextToken(
                    text=t.text, start=t.start, end=t.end, weight=float(v), standard_error=float(e)
                )
                for t, v, e in zip(tokens, values, errors, strict=True)
            ],
        )
        fidelity = TextShapFidelity(
            model_output=f_x,
            base_plus_sum=total,
            additivity_error=abs(total - f_x),
            exact=exact,
            max_standard_error=float(np.max(errors)) if n else 0.0,
            replicates=replicates,
            algorithm="exact" if exact else "permutation",
        )
        return result, fidelity
