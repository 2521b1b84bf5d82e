"""Explanations as pandas tables (pandas is imported here only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from explainer_service.presentation.summary import condition_words
from explainer_service.presentation.vocabulary import Vocabulary
from explainers.explanation import (
    AnchorFidelity,
    AnchorResult,
    CounterfactualResult,
    Explanation,
    ImportanceResult,
    ShapResult,
)


def explanation_frame(explanation: Explanation, words: Vocabulary) -> pd.DataFrame:
    """See ``client.Explanation.to_frame``."""
    result, instance = explanation.result, explanation.instance or {}
    if isinstance(result, AnchorResult):
        frame = pd.DataFrame(
            [
                {
                    "feature": c.feature,
                    "value": instance.get(c.feature),
                    "condition": condition_words(c, words),
                    "operator": c.operator,
                    "bound": c.value,
                }
                for c in result.conditions
            ],
            columns=["feature", "value", "condition", "operator", "bound"],
        )
        fidelity = explanation.fidelity
        precision = fidelity.precision if isinstance(fidelity, AnchorFidelity) else None
        frame.attrs.update(
            precision=precision if precision is not None else result.precision,
            coverage=result.coverage,
            rule=" AND ".join(result.rule),
        )
        return frame
    if isinstance(result, ShapResult):
        frame = pd.DataFrame(
            [
                {
                    "feature": c.feature,
                    "value": c.value,
                    "contribution": c.shap,
                    "standard_error": c.standard_error,
                }
                for c in result.contributions
            ],
            columns=["feature", "value", "contribution", "standard_error"],
        )
        frame.attrs.update(base_value=result.base_value, output=result.output, link=result.link)
        return frame
    if isinstance(result, CounterfactualResult):
        rows = [
            {
                "counterfactual": i + 1,
                "feature": change.feature,
                "value": change.from_value,
                "change": change.to_value,
                "valid": cf.valid,
                "plausible": cf.plausible,
            }
            for i, cf in enumerate(result.counterfactuals)
            for change in cf.changes
        ]
        columns = ["counterfactual", "feature", "value", "change", "valid", "plausible"]
        frame = pd.DataFrame(rows, columns=columns)
        frame.attrs.update(desired=result.desired, found=result.found, message=result.message)
        return frame
    if isinstance(result, ImportanceResult):
        frame = pd.DataFrame(
            [{"feature": f.feature, "importance": f.mean, "std": f.std} for f in result.features],
            columns=["feature", "importance", "std"],
        )
        frame.attrs.update(scoring=result.scoring, baseline_score=result.baseline_score)
        return frame
    return pd.DataFrame(
        [{"feature": k, "value": v} for k, v in instance.items()], columns=["feature", "value"]
    )


def prediction_columns(explanation: Explanation) -> dict[str, Any]:
    """``label``: the predicted class; ``probability``: the model's probability of it."""
    p = explanation.prediction
    return {
        "label": p.label if p else None,
        "probability": p.probabilities.get(p.label) if p and p.probabilities and p.label else None,
    }


def _method_columns(explanation: Explanation) -> dict[str, Any]:
    """One explanation's result in a few columns (its row of a batch's table)."""
    result = explanation.result
    if isinstance(result, AnchorResult):
        fidelity = explanation.fidelity
        precision = fidelity.precision if isinstance(fidelity, AnchorFidelity) else result.precision
        return {
            "rule": " AND ".join(result.rule),
            "precision": precision,
            "coverage": result.coverage,
        }
    if isinstance(result, ShapResult):
        return {
            "base_value": result.base_value,
            **{c.feature: c.shap for c in result.contributions},
        }
    if isinstance(result, CounterfactualResult):
        valid = [cf for cf in result.counterfactuals if cf.valid and cf.changes]
        best = min(valid, key=lambda cf: len(cf.changes)) if valid else None
        changes = (
            ", ".join(f"{c.feature}: {c.from_value} → {c.to_value}" for c in best.changes)
            if best
            else None
        )
        return {
            "found": result.found,
            "counterfactuals": len(result.counterfactuals),
            "changes": changes,
        }
    return {}


def batch_frame(
    index: Sequence[Any],
    explanations: Sequence[Explanation | None],
    urls: Sequence[str | None],
    errors: Mapping[Any, BaseException],
) -> pd.DataFrame:
    """One row per input row (``index``): ``id``, ``label``, ``probability`` of the label,
    the method's columns (anchors: rule, precision, coverage; shap: base_value and one
    column per feature; counterfactual: found, counterfactuals, changes), ``url``, and for
    failed rows ``error`` (the message) and ``code``."""
    rows = []
    for key, explanation, url in zip(index, explanations, urls, strict=True):
        row: dict[str, Any] = {}
        if explanation is not None:
            row["id"] = getattr(explanation, "id", None)
            row.update(prediction_columns(explanation))
            row.update(_method_columns(explanation))
            row["url"] = url
        error = errors.get(key)
        row["error"] = str(getattr(error, "message", error)) if error is not None else None
        row["code"] = getattr(error, "code", None) if error is not None else None
        rows.append(row)
    frame = pd.DataFrame(rows, index=pd.Index(list(index)))
    ordered = ["id", "label", "probability"]
    rest = [c for c in frame.columns if c not in (*ordered, "url", "error", "code")]
    return frame.reindex(columns=[*ordered, *rest, "url", "error", "code"])
