"""Explanations in alibi's ``{"meta", "data"}`` shape, as Seldon's and MLServer's explainers
answer them, so that code written against those answers keeps working.

The keys are alibi 0.9's (``alibi.api.defaults``): ``AnchorTabular``, ``KernelShap``,
alibi's ``Counterfactual`` and ``PermutationImportance``. Values are what this service
measured; where alibi reports something this service does not measure (the precision of
each prefix of an anchor, the samples behind an importance) the key is left out rather
than filled in. Instances are in the model's own values (categories as strings), not in
alibi's category codes, so ``categorical_names`` is empty. What alibi has no key for
(fidelity, cost, the id and links) is under ``meta["explainer_service"]``.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import version
from typing import Any

from explainers import Explanation
from explainers.explanation import (
    AnchorResult,
    Counterfactual,
    CounterfactualResult,
    ImportanceResult,
    Prediction,
    ShapResult,
)
from explainers.text_results import TextAnchorResult

#: method -> (alibi's class name, the module MLServer names in ``x-seldon-alibi-method``)
ALIBI_NAMES: dict[str, tuple[str, str]] = {
    "anchors": ("AnchorTabular", "anchor_tabular"),
    "shap": ("KernelShap", "shap_wrappers"),
    "counterfactual": ("Counterfactual", "counterfactual"),
    "importance": ("PermutationImportance", "permutation_importance"),
}


@cache
def service_version() -> str:
    """This package's version (read once: it is in every answer)."""
    return version("explainer-service")


def alibi_method(method: str) -> str:
    """What MLServer's alibi-explain runtime puts in its ``x-seldon-alibi-method`` header."""
    return ALIBI_NAMES.get(method, (method, method))[1]


def to_alibi(
    explanation: Explanation,
    *,
    id: str,
    links: dict[str, str],
    names: list[str],
    class_names: list[str] | None,
) -> dict[str, Any]:
    """``explanation`` as alibi's ``Explanation.to_json()`` would give it."""
    result = explanation.result
    classes = _classes(explanation.prediction, class_names)
    data: dict[str, Any]
    if isinstance(result, AnchorResult):
        data = _anchor(explanation, result, names)
    elif isinstance(result, ShapResult):
        data = _shap(explanation, result, names, classes)
    elif isinstance(result, CounterfactualResult):
        data = _counterfactual(explanation, result, names, classes)
    elif isinstance(result, ImportanceResult):
        data = _importance(result)
    elif isinstance(result, TextAnchorResult):
        data = _text_anchor(explanation, result)
    else:
        data = result.model_dump(mode="json")
    name = ALIBI_NAMES.get(explanation.method, (explanation.method, ""))[0]
    if isinstance(result, TextAnchorResult):
        name = "AnchorText"
    meta: dict[str, Any] = {
        "name": name,
        "type": ["blackbox"],
        "explanations": ["local"] if explanation.instance is not None else ["global"],
        "params": explanation.provenance.params,
        "version": service_version(),
    }
    if isinstance(result, ShapResult):
        meta["task"] = "regression" if result.output == "value" else "classification"
        meta["explanations"] = ["local", "global"]
        meta["params"] = {**explanation.provenance.params, "link": result.link}
    dumped = explanation.model_dump(mode="json")
    meta["explainer_service"] = {
        "id": id,
        "links": links,
        "method": explanation.method,
        "schema_version": explanation.schema_version,
        **{key: dumped[key] for key in ("prediction", "fidelity", "cost", "provenance")},
    }
    if dumped.get("fairness") is not None:  # features.protected is set
        meta["explainer_service"]["fairness"] = dumped["fairness"]
    return {"meta": meta, "data": data}


def _classes(prediction: Prediction | None, class_names: list[str] | None) -> list[str]:
    """The classes in the model's order (empty for regression)."""
    if class_names:
        return list(class_names)
    if prediction is not None and prediction.probabilities:
        return list(prediction.probabilities)
    return []


def _row(values: dict[str, Any], names: list[str]) -> list[Any]:
    return [values[name] for name in names]


def _scores(prediction: Prediction, classes: list[str]) -> list[float]:
    """alibi's ``proba``/``raw_prediction`` row: class probabilities, or the value."""
    if prediction.probabilities:
        return [prediction.probabilities[c] for c in classes]
    return [prediction.value] if prediction.value is not None else []


def _label(prediction: Prediction) -> Any:
    """alibi's ``prediction``: the class index, or the value (regression)."""
    return prediction.class_index if prediction.class_index is not None else prediction.value


def _text_anchor(explanation: Explanation, result: TextAnchorResult) -> dict[str, Any]:
    """A text model's anchor as alibi's ``AnchorText`` gives it: the words, and perturbed
    texts that keep (``covered_true``) and change (``covered_false``) the prediction."""
    text = next(iter((explanation.instance or {}).values()), "")
    prediction = explanation.prediction
    return {
        "anchor": result.words,
        "precision": result.precision,
        "coverage": result.coverage,
        "raw": {
            "feature": [i for i, t in enumerate(result.tokens) if t.anchor],
            "names": result.words,
            "positions": [t.start for t in result.tokens if t.anchor],
            "examples": [
                {
                    "covered_true": result.examples_hold,
                    "covered_false": result.examples_fail,
                    "uncovered_true": [],
                    "uncovered_false": [],
                }
            ],
            "num_preds": explanation.cost.rows,
            "success": getattr(explanation.fidelity, "threshold_met", None),
            "prediction": [_label(prediction)] if prediction is not None else [],
            "instance": text,
            "instances": [text],
        },
    }


def _anchor(explanation: Explanation, result: AnchorResult, names: list[str]) -> dict[str, Any]:
    assert explanation.instance is not None
    features: list[int] = []
    for condition in result.conditions:  # a range is two conditions, one predicate
        index = names.index(condition.feature)
        if index not in features:
            features.append(index)
    instance = _row(explanation.instance, names)
    fidelity = explanation.fidelity
    prediction = explanation.prediction
    return {
        "anchor": result.rule,
        "precision": result.precision,
        "coverage": result.coverage,
        "raw": {
            "feature": features,
            "names": result.rule,
            "examples": [
                {
                    "covered_true": [_row(e, names) for e in result.examples_hold],
                    "covered_false": [_row(e, names) for e in result.examples_fail],
                    "uncovered_true": [],
                    "uncovered_false": [],
                }
            ],
            "all_precision": 0,
            "num_preds": explanation.cost.rows,
            "success": getattr(fidelity, "threshold_met", None),
            "prediction": [_label(prediction)] if prediction is not None else [],
            "instance": instance,
            "instances": [instance],
        },
    }


def _shap(
    explanation: Explanation, result: ShapResult, names: list[str], classes: list[str]
) -> dict[str, Any]:
    """One entry per class in ``shap_values`` and ``expected_value``. The explained class has
    the measured values; with two classes the other's follow exactly (its output is one
    minus the first's, or its negative in logit space), with more they are null."""
    values = [c.shap for c in result.contributions]
    base = result.base_value
    if result.output not in classes:  # regression ("value"), or classes not known
        per_class: list[tuple[list[float], float] | None] = [(values, base)]
    else:
        explained = classes.index(result.output)
        other_base = 1.0 - base if result.link == "identity" else -base
        per_class = [
            (values, base)
            if k == explained
            else ([-v for v in values], other_base)
            if len(classes) == 2
            else None
            for k in range(len(classes))
        ]
    assert explanation.instance is not None
    prediction = explanation.prediction
    importances: dict[str, Any] = {}
    for k, entry in enumerate(per_class):
        if entry is not None:
            importances[str(k)] = _ranked(entry[0], names)
    aggregated = [sum(abs(e[0][j]) for e in per_class if e is not None) for j in range(len(names))]
    importances["aggregated"] = _ranked(aggregated, names)
    return {
        "shap_values": [[e[0]] if e is not None else None for e in per_class],
        "expected_value": [e[1] if e is not None else None for e in per_class],
        "categorical_names": {},
        "feature_names": names,
        "raw": {
            "raw_prediction": [_scores(prediction, classes)] if prediction is not None else None,
            "prediction": [_label(prediction)] if prediction is not None else None,
            "instances": [_row(explanation.instance, names)],
            "importances": importances,
        },
    }


def _ranked(values: list[float], names: list[str]) -> dict[str, list[Any]]:
    """alibi's ``rank_by_importance`` for one instance: |value|, largest first."""
    order = sorted(range(len(names)), key=lambda j: -abs(values[j]))
    return {"ranked_effect": [abs(values[j]) for j in order], "names": [names[j] for j in order]}


def _counterfactual(
    explanation: Explanation, result: CounterfactualResult, names: list[str], classes: list[str]
) -> dict[str, Any]:
    def entry(cf: Counterfactual) -> dict[str, Any]:
        return {
            "X": [_row(cf.values, names)],
            "class": _label(cf.prediction),
            "proba": [_scores(cf.prediction, classes)],
            "valid": cf.valid,
            "plausible": cf.plausible,
        }

    found = [entry(cf) for cf in result.counterfactuals]
    prediction = explanation.prediction
    return {
        "cf": found[0] if found else None,
        "all": {"0": found},
        "orig_class": _label(prediction) if prediction is not None else None,
        "orig_proba": [_scores(prediction, classes)] if prediction is not None else None,
        "success": result.found,
    }


def _importance(result: ImportanceResult) -> dict[str, Any]:
    return {
        "feature_names": [f.feature for f in result.features],
        "metric_names": [result.scoring],
        "feature_importance": [[{"mean": f.mean, "std": f.std} for f in result.features]],
    }
