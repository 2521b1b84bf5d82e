"""What a comparison answers, as typed bodies (the OpenAPI document's and the pages')."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from explainers.explanation import Change, Condition, Prediction
from explainers.wire import WireValue

#: Which version: ``model`` (the one in production) or ``candidate`` (models.candidate).
Version = Literal["model", "candidate"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSide(_Body):
    """One version's explanation of the instance."""

    version: Version
    name: str
    model_version: str | None = Field(None, description="the configured version")
    explanation_id: str
    links: dict[str, str] = Field(default_factory=dict)
    prediction: Prediction | None


class RuleCheck(_Body):
    """One version's anchor, re-measured on the other version."""

    of: Version = Field(description="the version whose anchor this is")
    rule: list[str]
    conditions: list[Condition]
    decision: str | None = Field(description="the class the rule locks in for its own version")
    precision: float = Field(description="as its own explanation measured it")
    other: Version
    precision_on_other: float | None = Field(
        description="share of the samples the other version gives the same decision; None: "
        "no sample"
    )
    samples: int = Field(description="rows where the rule holds, sent to the other version")
    threshold: float | None = Field(description="the anchors' precision threshold")
    holds_on_other: bool | None = Field(
        description="precision_on_other reaches the threshold; None: not measured"
    )


class ShapDifference(_Body):
    """One feature's contribution under both versions (candidate - model)."""

    feature: str
    value: WireValue
    model: float
    candidate: float
    difference: float


class CounterfactualCheck(_Body):
    """One version's counterfactual, scored by both versions."""

    of: Version
    changes: list[Change]
    values: dict[str, WireValue]
    desired: str
    model: Prediction
    candidate: Prediction
    valid_for_model: bool | None
    valid_for_candidate: bool | None


class Comparison(_Body):
    """The same instance explained by both versions with the same method and parameters
    (the same seed). ``anchors``, ``shap`` or ``counterfactuals`` is filled by method."""

    method: str
    instance: dict[str, WireValue]
    seed: int | None
    model: ModelSide
    candidate: ModelSide
    decision_changed: bool | None = Field(
        description="the two versions predict different classes; None for a regression"
    )
    anchors: list[RuleCheck] = Field(default_factory=list)
    shap: list[ShapDifference] = Field(
        default_factory=list, description="largest absolute difference first"
    )
    shap_output: str | None = Field(None, description="the class both SHAP values explain")
    counterfactuals: list[CounterfactualCheck] = Field(default_factory=list)
    model_calls: int = Field(description="requests these checks sent (both versions)")
    rows: int = Field(description="rows these checks sent (both versions)")


class WindowChange(_Body):
    """How many logged inferences went from one decision to another."""

    logged: str
    candidate: str
    count: int


class WindowComparison(_Body):
    """A window of logged inferences re-scored by the candidate."""

    since: datetime
    until: datetime
    rescored: int = Field(description="logged inferences with both sides, re-scored")
    unanswered: int = Field(description="logged without the model's answer: not compared")
    truncated: bool = Field(
        description="the window holds more: the newest models.window_rows were read"
    )
    changed: int = Field(description="re-scored inferences whose decision the candidate changes")
    share_changed: float | None = Field(description="changed / rescored; None when none")
    changes: list[WindowChange] = Field(description="by logged -> candidate decision, most first")
    model: str
    candidate: str
    candidate_version: str | None
    model_calls: int
    rows: int
