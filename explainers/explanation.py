"""``Explanation``: the one envelope every method returns, and its typed parts.

The JSON form is the contract (``schema_version``); ``Explanation.model_validate_json`` of
``model_dump_json()`` gives back an equal object. Methods added by plugins that have no
typed result here are carried as ``OtherResult`` / ``OtherFidelity`` (extra keys kept).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from explainers.fairness_results import Fairness
from explainers.text_results import (
    TextAnchorFidelity,
    TextAnchorResult,
    TextLimeFidelity,
    TextLimeResult,
    TextShapFidelity,
    TextShapResult,
)
from explainers.wire import WireValue

SCHEMA_VERSION = "2.2"
#: The built-in methods that explain one inference, in the order pages and the client show
#: them; ``importance`` explains the model as a whole. An explainer class says the same of
#: itself, plugins included, with ``Explainer.local``.
LOCAL_METHODS = ("anchors", "shap", "counterfactual")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- common parts -------------------------------------------------------------------------


class Prediction(_Strict):
    """What the live model predicted for the instance."""

    label: str | None = Field(None, description="predicted class (classifiers)")
    class_index: int | None = None
    probabilities: dict[str, float] | None = Field(None, description="class -> probability")
    value: float | None = Field(None, description="regression output")


class Cost(_Strict):
    """What the explanation cost: calls to the model, rows sent, seconds."""

    model_calls: int
    rows: int
    model_seconds: float = Field(description="time spent waiting for the model")
    seconds: float = Field(
        description="wall time of the explanation itself, from its start to its answer; "
        "time waiting for a worker is not included"
    )
    queue_seconds: float | None = Field(
        None,
        description="time between the service accepting the task and a worker starting it; "
        "None when no service queued it (the library or the explain command)",
    )


class ReferenceSource(_Strict):
    """Where the reference rows came from, as whoever read them says: a file, or the
    inferences a model served in a window of time (logged by its request logger)."""

    kind: Literal["file", "logged"]
    file: str | None = Field(None, description="the file's name (kind file)")
    since: datetime | None = Field(None, description="the window's start (kind logged)")
    until: datetime | None = Field(None, description="the window's end: when it was read")
    logged: int | None = Field(
        None, description="request rows logged in the window, before any were chosen"
    )
    dropped: int = Field(0, description="rows read that did not fit the schema, left out")
    note: str | None = Field(None, description="e.g. why a window was not used")


class Provenance(_Strict):
    explainer: str = Field(description="import path of the explainer class")
    params: dict[str, Any]
    seed: int | None
    versions: dict[str, str] = Field(description="package -> version")
    reference_fingerprint: str = Field(description="sha256 of the reference data")
    reference_rows: int
    reference_source: ReferenceSource | None = Field(
        None, description="where the reference rows came from; None: not said"
    )
    # timezone.utc, not 3.11's datetime.UTC: the notebook client imports this on Python 3.10
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))  # noqa: UP017


# --- anchors ------------------------------------------------------------------------------


class Condition(_Strict):
    """One predicate of an anchor: ``feature operator value``."""

    feature: str
    operator: Literal["=", "<=", ">", "<", ">="]
    value: WireValue


class AnchorResult(_Strict):
    method: Literal["anchors"] = "anchors"
    rule: list[str] = Field(description="readable predicates, joined by AND")
    conditions: list[Condition]
    precision: float = Field(
        description="share of fresh samples where the rule holds that get the same prediction"
    )
    coverage: float = Field(description="share of the reference rows where the rule holds")
    examples_hold: list[dict[str, WireValue]] = Field(
        description="samples where the rule holds and the prediction is the same"
    )
    examples_fail: list[dict[str, WireValue]] = Field(
        description="samples where the rule holds but the prediction differs"
    )


class AnchorFidelity(_Strict):
    method: Literal["anchors"] = "anchors"
    precision: float = Field(
        description="share of fresh samples where the rule holds that get the same prediction "
        "from the live model; samples drawn after the rule was chosen"
    )
    samples: int = Field(description="fresh samples behind the precision")
    precision_lower: float = Field(description="one-sided lower bound at `confidence`")
    precision_upper: float = Field(description="one-sided upper bound at `confidence`")
    confidence: float
    reference_rows: int = Field(
        description="reference rows where the rule holds: the samples' real rows; beyond them "
        "samples vary the other features and draw the anchored ones from rows that satisfy "
        "their predicates (the most selective together, from one row)"
    )
    distinct_rows: int = Field(
        0,
        description="distinct reference rows where the rule holds among the precision samples "
        "(each used whole, once, and never among those that chose the rule); the other "
        "samples are built (see `reference_rows`). 0 for the empty rule, whose samples are "
        "random reference rows",
    )
    min_coverage: float = Field(
        0.0, description="the share of the reference rows below which a rule is flagged"
    )
    low_coverage: bool = Field(
        False,
        description="the rule describes fewer than `min_coverage` of the reference rows: "
        "it speaks for very few applicants, and its precision rests on few real rows",
    )
    threshold: float
    threshold_met: bool = Field(
        description="the precision reaches the threshold (settled by the bounds, or by the "
        "estimate once the sample limit is reached)"
    )
    rounds: int = Field(description="rule sizes the search examined")
    candidates: int = Field(description="candidate rules it scored")
    note: str | None = None


# --- SHAP ---------------------------------------------------------------------------------


class Contribution(_Strict):
    feature: str
    value: WireValue = Field(description="the instance's value")
    shap: float
    standard_error: float | None = Field(
        None,
        description="standard error of `shap` from sampling coalitions (the spread of "
        "independent replicates over the square root of their number); 0 when exact; "
        "None in explanations made before it was measured",
    )


class ShapResult(_Strict):
    method: Literal["shap"] = "shap"
    output: str = Field(description="what is explained: a class name, or 'value' (regression)")
    link: Literal["identity", "logit"]
    base_value: float = Field(
        description="the model's mean answer over the background rows (logit link: the "
        "logit of that mean)"
    )
    contributions: list[Contribution] = Field(description="one per feature, schema order")


class ShapFidelity(_Strict):
    method: Literal["shap"] = "shap"
    model_output: float = Field(description="f(x) from the live model, in link space")
    base_plus_sum: float
    additivity_error: float = Field(
        description="|base + sum(shap) - f(x)|: KernelExplainer imposes the sum, so this "
        "checks the arithmetic, not the accuracy of the values (see max_standard_error)"
    )
    exact: bool = Field(
        False, description="every coalition was evaluated: the values are exact Shapley values"
    )
    max_standard_error: float | None = Field(
        None,
        description="the largest standard error of a contribution (0 when exact); None in "
        "explanations made before it was measured",
    )
    replicates: int | None = Field(
        None, description="independent sampling runs averaged (1 when exact)"
    )
    background_rows: int | None = Field(
        None,
        description="real reference rows in the background the values are measured "
        "against; None in explanations made with a k-means background",
    )
    background_indices: list[int] | None = Field(
        None,
        description="which reference rows form the background: their 0-based positions in "
        "the reference data whose sha256 is `background_reference` (the data rows in the "
        "order they were read), so anyone holding that data can rebuild the background and "
        "recompute the values; None in explanations made before they were recorded",
    )
    background_reference: str | None = Field(
        None,
        description="sha256 of the reference data `background_indices` point into, as "
        "`provenance.reference_fingerprint` is computed",
    )


# --- counterfactuals ----------------------------------------------------------------------


class Change(_Strict):
    feature: str
    from_value: WireValue
    to_value: WireValue


class Counterfactual(_Strict):
    values: dict[str, WireValue]
    changes: list[Change]
    prediction: Prediction = Field(description="the live model's answer for it")
    valid: bool = Field(description="the live model gives the desired outcome")
    nearest_distance: float = Field(
        description="plausibility: distance to the nearest reference row, in the units of "
        "`proximity`; 0 when it is a reference row"
    )
    plausible: bool = Field(
        description="nearest_distance is at most the fidelity's plausibility_threshold"
    )
    violations: list[str] = Field(
        default_factory=list,
        description="constraints it breaks (immutable features, direction, range, linked "
        "features); only counterfactuals kept with keep_invalid can have any",
    )


class CounterfactualResult(_Strict):
    method: Literal["counterfactual"] = "counterfactual"
    desired: str = Field(description="the desired class, or the desired range for regression")
    found: bool
    message: str | None = Field(
        None,
        description="why fewer counterfactuals than asked for are given (what the search "
        "tried, what was dropped and why, a budget that stopped the search); None when "
        "all were found",
    )
    counterfactuals: list[Counterfactual]


class CounterfactualFidelity(_Strict):
    method: Literal["counterfactual"] = "counterfactual"
    requested: int
    generated: int = Field(description="distinct answers of the search scored by the live model")
    valid: int = Field(description="candidates that reach the desired outcome on the live model")
    dropped_invalid: int = Field(description="dropped: the live model does not give the outcome")
    dropped_constraints: int = Field(
        description="dropped: valid, but breaking a constraint (direction, range, link)"
    )
    dropped_implausible: int = Field(
        description="dropped: valid and within the constraints, but farther from the "
        "reference data than plausibility_threshold"
    )
    validity: float = Field(description="valid / generated (1.0 when none were generated)")
    sparsity: float = Field(description="mean number of changed features")
    proximity: float = Field(
        description="mean distance to the instance: numeric changes in units of the feature's "
        "range in the reference data plus 1 per changed category, averaged over features"
    )
    plausibility_threshold: float = Field(
        description="the largest plausible nearest_distance: the plausibility_quantile of the "
        "reference rows' distances to their nearest other reference row"
    )


# --- permutation importance ---------------------------------------------------------------


class FeatureImportance(_Strict):
    feature: str
    mean: float = Field(description="mean drop of the score when the feature is shuffled")
    std: float


class ImportanceResult(_Strict):
    method: Literal["importance"] = "importance"
    scoring: str
    baseline_score: float
    rows: int
    iterations: int
    features: list[FeatureImportance] = Field(description="sorted by mean, largest first")


class ImportanceFidelity(_Strict):
    method: Literal["importance"] = "importance"
    baseline_score: float = Field(description="the live model's score on the labelled rows")
    rows: int


# --- other methods (plugins) --------------------------------------------------------------


class OtherResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    method: str


class OtherFidelity(BaseModel):
    model_config = ConfigDict(extra="allow")
    method: str


Result = (
    AnchorResult
    | ShapResult
    | CounterfactualResult
    | ImportanceResult
    | TextAnchorResult
    | TextShapResult
    | TextLimeResult
    | OtherResult
)
Fidelity = (
    AnchorFidelity
    | ShapFidelity
    | CounterfactualFidelity
    | ImportanceFidelity
    | TextAnchorFidelity
    | TextShapFidelity
    | TextLimeFidelity
    | OtherFidelity
)


class Explanation(_Strict):
    schema_version: str = SCHEMA_VERSION
    method: str
    instance: dict[str, WireValue] | None = Field(
        description="feature -> wire value; None for global methods"
    )
    prediction: Prediction | None
    result: Result = Field(union_mode="left_to_right")
    fidelity: Fidelity = Field(union_mode="left_to_right")
    cost: Cost
    provenance: Provenance
    fairness: Fairness | None = Field(
        None,
        description="what the explanation says of the protected attributes (features."
        "protected) and the flip test; None: none are configured, or a global method",
    )
