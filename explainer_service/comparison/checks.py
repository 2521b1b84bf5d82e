"""One instance explained by both versions: each explanation measured on the other version.

- anchors: each version's rule is re-measured on the other version: rows where the rule
  holds (``rule_rows``) are sent to it in one batched call, and its precision is the share
  it gives the decision the rule locks in;
- shap: the contributions side by side, ranked by the absolute difference (candidate -
  model); both must explain the same class (the route asks for that);
- counterfactuals: each version's counterfactuals are scored by the other version (one
  batched call) and said valid or not for each.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from explainer_service.comparison.bodies import (
    Comparison,
    CounterfactualCheck,
    ModelSide,
    RuleCheck,
    ShapDifference,
    Version,
)
from explainers import Explanation, FeatureSchema, ParameterError
from explainers.budget import CostEstimate, Tally
from explainers.explanation import (
    AnchorResult,
    Condition,
    CounterfactualResult,
    Prediction,
    ShapResult,
)
from explainers.model import CountingModel

#: The methods a comparison knows how to set side by side.
COMPARED = ("anchors", "shap", "counterfactual")

_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">": operator.gt,
    ">=": operator.ge,
}


def _holds(column: pd.Series, condition: Condition) -> pd.Series:
    """Where one condition holds in a column of wire values."""
    value = condition.value
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if condition.operator == "=" and not numeric:
        return column.astype(str) == str(value)
    numbers = pd.to_numeric(column, errors="coerce")
    if condition.operator == "=":
        return (numbers == float(value)).fillna(False)
    return _OPERATORS[condition.operator](numbers, float(condition.value)).fillna(False)


def rule_rows(
    reference: pd.DataFrame,
    instance: dict[str, Any],
    conditions: Sequence[Condition],
    n: int,
    seed: int | None,
) -> list[list[Any]]:
    """Up to ``n`` rows (wire values, ``reference``'s column order) where the rule holds:
    reference rows where it holds, drawn without replacement; when fewer hold, the rest are
    reference rows with the rule's features set to the instance's values (which satisfy
    it: the rule was found for the instance). A rule of no condition holds everywhere."""
    rng = np.random.default_rng(seed)
    mask = pd.Series(True, index=reference.index)
    for condition in conditions:
        mask &= _holds(reference[condition.feature], condition)
    held = reference[mask.to_numpy()]
    take = rng.choice(len(held), size=min(n, len(held)), replace=False)
    rows = held.iloc[np.sort(take)]
    missing = n - len(rows)
    if missing > 0 and len(reference):
        fill = reference.iloc[rng.choice(len(reference), size=missing)].copy()
        for condition in conditions:
            fill[condition.feature] = instance[condition.feature]
        rows = pd.concat([rows, fill])
    return [[_native(v) for v in row] for row in rows.itertuples(index=False)]


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class _Pending:
    """Rows to send to one version, gathered so that each version gets one call."""

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []

    def add(self, rows: list[list[Any]]) -> slice:
        start = len(self.rows)
        self.rows.extend(rows)
        return slice(start, len(self.rows))


def check_comparable(method: str, instance: int | str) -> None:
    """Raises ``ParameterError`` naming the field for a request a comparison cannot answer:
    a method not in ``COMPARED``, or every instance at once."""
    if method not in COMPARED:
        raise ParameterError(
            method, "compare", f"compare: {method} is not compared; one of {', '.join(COMPARED)}"
        )
    if instance == "all":
        raise ParameterError(method, "instance", "compare: one instance at a time, not all")


def checks_cost(
    method: str, total: int, rule_samples: int, max_batch_rows: Sequence[int | None]
) -> CostEstimate:
    """What ``compare_explanations`` sends at most, over both versions: anchors, each
    version's rule on ``rule_samples`` rows (``models.rule_rows``) to the other; a
    counterfactual search, each version's counterfactuals (at most ``total``) to the other;
    SHAP, nothing. ``max_batch_rows``: each version's, the chunks its rows are sent in."""
    rows = {"anchors": rule_samples, "counterfactual": total}.get(method, 0)
    drivers = {"anchors": ("models.rule_rows",), "counterfactual": ("total",)}.get(method, ())
    calls = sum(Tally(size).call(rows).model_calls for size in max_batch_rows)
    return CostEstimate(calls, rows * len(max_batch_rows), drivers)


def compare_explanations(
    explained: dict[Version, Explanation],
    sides: dict[Version, ModelSide],
    models: dict[Version, CountingModel],
    schema: FeatureSchema,
    reference: pd.DataFrame,
    rule_samples: int,
) -> Comparison:
    """Set ``explained["model"]`` and ``explained["candidate"]`` (the same method, instance
    and parameters) side by side. ``models``: each version's counted model, which gets at
    most one call here; ``reference``: the reference rows (the features, schema order) the
    rules are re-measured on, ``rule_samples`` rows per rule."""
    first = explained["model"]
    instance = dict(first.instance or {})
    names = schema.names
    pending: dict[Version, _Pending] = {"model": _Pending(), "candidate": _Pending()}
    rules: list[tuple[Version, AnchorResult, slice]] = []
    counterfactuals: list[tuple[Version, CounterfactualResult, int, slice]] = []
    for version, explanation in explained.items():
        other = _other(version)
        result = explanation.result
        if isinstance(result, AnchorResult):
            seed = explanation.provenance.seed
            rows = rule_rows(reference[names], instance, result.conditions, rule_samples, seed)
            rules.append((version, result, pending[other].add(rows)))
        elif isinstance(result, CounterfactualResult):
            rows = [
                [cf.values.get(n, instance.get(n)) for n in names] for cf in result.counterfactuals
            ]
            for i, row in enumerate(rows):
                counterfactuals.append((version, result, i, pending[other].add([row])))
    answers: dict[Version, list[Prediction]] = {}
    for version, gathered in pending.items():
        if gathered.rows:
            model = models[version]
            answers[version] = model.predictions(model.raw_rows(gathered.rows))
    comparison = Comparison(
        method=first.method,
        instance=instance,
        seed=first.provenance.seed,
        model=sides["model"],
        candidate=sides["candidate"],
        decision_changed=_changed(sides["model"].prediction, sides["candidate"].prediction),
        model_calls=sum(m.calls for m in models.values()),
        rows=sum(m.rows for m in models.values()),
    )
    for version, rule, where in rules:
        comparison.anchors.append(
            _rule_check(version, rule, explained[version], answers.get(_other(version), []), where)
        )
    for version, result, index, where in counterfactuals:
        cf = result.counterfactuals[index]
        scored = answers[_other(version)][where][0]
        own, theirs = cf.prediction, scored
        by_version = {version: own, _other(version): theirs}
        comparison.counterfactuals.append(
            CounterfactualCheck(
                of=version,
                changes=cf.changes,
                values=cf.values,
                desired=result.desired,
                model=by_version["model"],
                candidate=by_version["candidate"],
                valid_for_model=_valid(
                    by_version["model"], result.desired, cf.valid, version == "model"
                ),
                valid_for_candidate=_valid(
                    by_version["candidate"], result.desired, cf.valid, version == "candidate"
                ),
            )
        )
    shap_model, shap_candidate = first.result, explained["candidate"].result
    if isinstance(shap_model, ShapResult) and isinstance(shap_candidate, ShapResult):
        comparison.shap = shap_differences(shap_model, shap_candidate)
        comparison.shap_output = shap_model.output
    return comparison


def shap_differences(model: ShapResult, candidate: ShapResult) -> list[ShapDifference]:
    """Each feature's contribution under both versions, largest absolute difference first
    (ties in schema order)."""
    theirs = {c.feature: c.shap for c in candidate.contributions}
    rows = [
        ShapDifference(
            feature=c.feature,
            value=c.value,
            model=c.shap,
            candidate=theirs.get(c.feature, 0.0),
            difference=theirs.get(c.feature, 0.0) - c.shap,
        )
        for c in model.contributions
    ]
    return sorted(rows, key=lambda d: -abs(d.difference))


def _rule_check(
    version: Version,
    rule: AnchorResult,
    explanation: Explanation,
    answers: list[Prediction],
    where: slice,
) -> RuleCheck:
    decision = explanation.prediction.label if explanation.prediction else None
    scored = answers[where]
    precision = (
        sum(p.label == decision for p in scored) / len(scored) if scored and decision else None
    )
    threshold = explanation.provenance.params.get("threshold")
    holds = None
    if precision is not None and isinstance(threshold, int | float):
        holds = precision >= threshold
    return RuleCheck(
        of=version,
        rule=rule.rule,
        conditions=rule.conditions,
        decision=decision,
        precision=rule.precision,
        other=_other(version),
        precision_on_other=None if precision is None else round(precision, 6),
        samples=len(scored),
        threshold=float(threshold) if isinstance(threshold, int | float) else None,
        holds_on_other=holds,
    )


def _valid(prediction: Prediction, desired: str, own_valid: bool, own: bool) -> bool | None:
    """Whether ``prediction`` is the desired outcome: the explanation's own word for its
    own version; the desired class for the other (None when ``desired`` is a range)."""
    if own:
        return own_valid
    if prediction.label is None:
        return None
    return prediction.label == desired


def _changed(model: Prediction | None, candidate: Prediction | None) -> bool | None:
    if model is None or candidate is None or model.label is None or candidate.label is None:
        return None
    return model.label != candidate.label


def _other(version: Version) -> Version:
    return "candidate" if version == "model" else "model"
