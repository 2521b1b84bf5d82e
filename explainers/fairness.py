"""Protected attributes: what an explanation says of them, and the flip test.

The flip test sends the instance with one protected attribute changed at a time, to each
other value the reference data holds (``protected_values``), in one batched call, and
compares each answer with the instance's prediction. ``assess`` adds the result to an
explanation as its ``fairness`` block, with what the explanation itself says of each
attribute (anchor, SHAP share, counterfactuals); the flip test's calls and rows are added
to the explanation's cost, and its budget counts what the explanation spent before.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from explainers.budget import Budget
from explainers.errors import SchemaError
from explainers.explanation import (
    AnchorResult,
    Cost,
    CounterfactualResult,
    Explanation,
    Prediction,
    ShapResult,
)
from explainers.fairness_results import FLAGS, Fairness, Flag, Flip, ProtectedAttribute
from explainers.model import BlackBox, CountingModel, OutputKind
from explainers.schema import FeatureSchema
from explainers.wire import WireValue, native

#: The quantiles a numeric protected attribute is flipped to (their distinct values).
NUMERIC_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def protected_values(
    schema: FeatureSchema, reference: pd.DataFrame, protected: Sequence[str]
) -> dict[str, list[WireValue]]:
    """Attribute -> the wire values the flip test sets it to: a categorical attribute's
    categories but those meaning 'unknown' (``Feature.missing``); a numeric one's distinct
    ``NUMERIC_QUANTILES`` in the reference data. Raises ``SchemaError`` for a name that is
    no feature, or a text."""
    values: dict[str, list[WireValue]] = {}
    for name in protected:
        if name not in schema.names:
            raise SchemaError(f"protected: {name!r} is not a feature", feature=name)
        feature = schema[name]
        if feature.is_text:
            raise SchemaError(f"protected: {name!r} is a text", feature=name)
        if feature.is_categorical:
            codes = [i for i, c in enumerate(feature.categories) if c not in feature.missing]
            values[name] = [feature.decode(code) for code in codes]
        else:
            column = reference[name].astype(float)
            decoded = [feature.decode(q) for q in np.quantile(column, NUMERIC_QUANTILES)]
            values[name] = sorted(set(decoded))
    return values


def flip_rows(
    row: Sequence[WireValue], schema: FeatureSchema, values: Mapping[str, Sequence[WireValue]]
) -> list[tuple[str, WireValue, list[WireValue]]]:
    """(attribute, value, row) for each protected attribute and each of its ``values``
    the instance does not hold: the instance with that one attribute changed."""
    x = schema.to_numeric([row])[0]
    out = []
    for name, choices in values.items():
        i = schema.names.index(name)
        feature = schema.features[i]
        for value in choices:
            if feature.encode(value) == x[i]:
                continue
            changed = list(row)
            changed[i] = value
            out.append((name, value, changed))
    return out


def flip_test(
    row: Sequence[WireValue],
    prediction: Prediction,
    schema: FeatureSchema,
    values: Mapping[str, Sequence[WireValue]],
    box: BlackBox,
    budget: Budget | None = None,
    spent: Cost | None = None,
) -> tuple[dict[str, list[Flip]], CountingModel]:
    """Attribute -> its flips, from one call to the model with every changed row, and
    the counting model that made it. ``spent``: what the explanation cost already, which
    ``budget`` counts and the counting model starts from."""
    variants = flip_rows(row, schema, values)
    counting = CountingModel(box, schema, budget)
    if spent is not None:
        counting.calls, counting.rows = spent.model_calls, spent.rows
    flips: dict[str, list[Flip]] = {name: [] for name in values}
    if not variants:
        return flips, counting
    scores = counting.raw(schema.to_numeric([changed for _, _, changed in variants]))
    answers = counting.predictions(scores)
    for (name, value, _), answer in zip(variants, answers, strict=True):
        flips[name].append(_flip(value, prediction, answer, box.output))
    return flips, counting


def _flip(value: WireValue, before: Prediction, after: Prediction, output: OutputKind) -> Flip:
    if output is OutputKind.regression:
        new, old = after.value, before.value
        change = None if new is None or old is None else new - old
        return Flip(value=native(value), probability=new, change=change, flipped=False)
    probability = change = None
    if output is OutputKind.probabilities and before.label is not None:
        probability = (after.probabilities or {}).get(before.label)
        old = (before.probabilities or {}).get(before.label)
        if probability is not None and old is not None:
            change = probability - old
    return Flip(
        value=native(value),
        label=after.label,
        probability=probability,
        change=change,
        flipped=after.label != before.label,
    )


def assess(
    explanation: Explanation,
    schema: FeatureSchema,
    values: Mapping[str, Sequence[WireValue]],
    box: BlackBox,
    *,
    shap_threshold: float,
    budget: Budget | None = None,
) -> Explanation:
    """``explanation`` with its ``fairness`` block (``values``: ``protected_values``), the
    flip test's cost added to its own; unchanged when it explains no instance (a global
    method) or has no prediction. Whatever the model's predict function raises passes."""
    instance, prediction = explanation.instance, explanation.prediction
    if instance is None or prediction is None or not values:
        return explanation
    row = [instance[name] for name in schema.names]
    before = explanation.cost
    started = time.perf_counter()
    flips, counting = flip_test(row, prediction, schema, values, box, budget, before)
    elapsed = time.perf_counter() - started
    result = explanation.result
    shares = _shap_shares(result) if isinstance(result, ShapResult) else None
    attributes = []
    for name in values:
        attribute = ProtectedAttribute(
            feature=name,
            value=instance[name],
            immutable=schema[name].immutable,
            in_anchor=(
                any(c.feature == name for c in result.conditions)
                if isinstance(result, AnchorResult)
                else None
            ),
            shap_share=None if shares is None else shares.get(name, 0.0),
            counterfactual_changes=(
                any(ch.feature == name for cf in result.counterfactuals for ch in cf.changes)
                if isinstance(result, CounterfactualResult)
                else None
            ),
            flips=flips[name],
            flags=[],
        )
        attribute.flags = _flags(attribute, shap_threshold)
        attributes.append(attribute)
    changes = [abs(f.change) for a in attributes for f in a.flips if f.change is not None]
    found = {flag for a in attributes for flag in a.flags}
    fairness = Fairness(
        protected=list(values),
        attributes=attributes,
        shap_share=None if shares is None else sum(shares.get(n, 0.0) for n in values),
        shap_threshold=shap_threshold,
        flagged=[a.feature for a in attributes if a.flags],
        flags=[flag for flag in FLAGS if flag in found],
        flipped=any(f.flipped for a in attributes for f in a.flips),
        max_change=max(changes) if changes else None,
        flip_rows=counting.rows - before.rows,
    )
    cost = before.model_copy(
        update={
            "model_calls": counting.calls,
            "rows": counting.rows,
            "model_seconds": round(before.model_seconds + counting.model_seconds, 6),
            "seconds": round(before.seconds + elapsed, 6),
        }
    )
    return explanation.model_copy(update={"fairness": fairness, "cost": cost})


def _shap_shares(result: ShapResult) -> dict[str, float]:
    """Feature -> its share of the sum of absolute SHAP values (all 0 when the sum is)."""
    total = sum(abs(c.shap) for c in result.contributions)
    if total <= 0:
        return {c.feature: 0.0 for c in result.contributions}
    return {c.feature: abs(c.shap) / total for c in result.contributions}


def _flags(attribute: ProtectedAttribute, shap_threshold: float) -> list[Flag]:
    flags: list[Flag] = []
    if attribute.in_anchor:
        flags.append("anchor")
    if attribute.shap_share is not None and attribute.shap_share >= shap_threshold:
        flags.append("shap")
    if attribute.counterfactual_changes:
        flags.append("counterfactual")
    if any(f.flipped for f in attribute.flips):
        flags.append("flip")
    return flags
