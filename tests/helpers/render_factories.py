"""Explanations to render: the income example's words, and one explanation per method."""

from __future__ import annotations

import yaml

from examples.income import paths
from explainer_service.presentation.vocabulary import Vocabulary
from explainers import Explanation
from explainers.explanation import (
    AnchorFidelity,
    Change,
    Contribution,
    Counterfactual,
    CounterfactualFidelity,
    CounterfactualResult,
    FeatureImportance,
    ImportanceFidelity,
    ImportanceResult,
    Prediction,
    ShapFidelity,
    ShapResult,
)
from tests.unit.explainers.test_explanation import envelope

INSTANCE = {"age": 39, "marital-status": "Never-married", "hours-per-week": 40, "gender": "Male"}
REFUSED = Prediction(label="<=50K", class_index=0, probabilities={"<=50K": 0.77, ">50K": 0.23})


def income_words() -> Vocabulary:
    """The income example's own words (examples/income/explainer.yaml)."""
    config = yaml.safe_load((paths.HERE / "explainer.yaml").read_text())
    model = config["model"]
    subject = model["subject"]
    return Vocabulary(model["class_labels"], config["features"]["labels"], subject, f"{subject}s")


def anchors(coverage: float, **fidelity: object) -> Explanation:
    """The envelope's anchor (age > 28) for a refused applicant, with this coverage."""
    explanation = envelope(prediction=REFUSED)
    result = explanation.result.model_copy(update={"coverage": coverage})
    fields = {**explanation.fidelity.model_dump(), **fidelity}
    return explanation.model_copy(update={"result": result, "fidelity": AnchorFidelity(**fields)})


SHAPS = {"age": 0.031, "marital-status": -0.0004, "hours-per-week": 0.05, "gender": -0.06}


def shap(output: str = ">50K", standard_error: float | None = None) -> Explanation:
    """SHAP of P(output) for a refused applicant; marital status's -0.0004 prints as zero."""
    contributions = [
        Contribution(feature=f, value=INSTANCE[f], shap=s, standard_error=standard_error)
        for f, s in SHAPS.items()
    ]
    base = 0.24 if output == ">50K" else 0.76
    f_x = base + sum(SHAPS.values())
    return envelope(
        method="shap",
        instance=INSTANCE,
        prediction=REFUSED,
        result=ShapResult(
            output=output, link="identity", base_value=base, contributions=contributions
        ),
        fidelity=ShapFidelity(model_output=f_x, base_plus_sum=f_x, additivity_error=0.0),
    )


def counterfactual(valid: bool = True, **changes: tuple[object, object]) -> Counterfactual:
    """A counterfactual of ``INSTANCE`` with these (from, to) changes."""
    values = {**INSTANCE, **{f: to for f, (_, to) in changes.items()}}
    return Counterfactual(
        values=values,
        changes=[Change(feature=f, from_value=a, to_value=b) for f, (a, b) in changes.items()],
        prediction=Prediction(label=">50K" if valid else "<=50K", probabilities={">50K": 0.6}),
        valid=valid,
        nearest_distance=0.0,
        plausible=True,
    )


def counterfactuals(*found: Counterfactual, message: str | None = None) -> Explanation:
    valid = sum(c.valid for c in found)
    return envelope(
        method="counterfactual",
        instance=INSTANCE,
        prediction=REFUSED,
        result=CounterfactualResult(
            desired=">50K", found=valid > 0, message=message, counterfactuals=list(found)
        ),
        fidelity=CounterfactualFidelity(
            requested=len(found),
            generated=len(found),
            valid=valid,
            dropped_invalid=0,
            dropped_constraints=0,
            dropped_implausible=0,
            plausibility_threshold=0.25,
            validity=valid / max(1, len(found)),
            sparsity=1.0,
            proximity=0.1,
        ),
    )


def importance(**drops: tuple[float, float]) -> Explanation:
    """Permutation importance with these (mean, std) drops of accuracy."""
    return envelope(
        method="importance",
        instance=None,
        prediction=None,
        result=ImportanceResult(
            scoring="accuracy",
            baseline_score=0.884,
            rows=1000,
            iterations=5,
            features=[FeatureImportance(feature=f, mean=m, std=s) for f, (m, s) in drops.items()],
        ),
        fidelity=ImportanceFidelity(baseline_score=0.884, rows=1000),
    )
