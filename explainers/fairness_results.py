"""The ``fairness`` block of an explanation: what it says of the protected attributes.

Pure pydantic (no numpy): the notebook client reads it. ``explainers.fairness`` fills it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from explainers.wire import WireValue

#: Why a protected attribute is flagged: it is in the anchor, its share of the absolute
#: SHAP attribution reaches the threshold, a counterfactual changes it, or changing it
#: alone changes the predicted class (the flip test).
Flag = Literal["anchor", "shap", "counterfactual", "flip"]
FLAGS: tuple[Flag, ...] = ("anchor", "shap", "counterfactual", "flip")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Flip(_Strict):
    """The live model's answer for the instance with one protected attribute changed."""

    value: WireValue = Field(description="the value the attribute was changed to")
    label: str | None = Field(None, description="the predicted class (classifiers)")
    probability: float | None = Field(
        None,
        description="the probability of the instance's predicted class (models that answer "
        "probabilities); a regression's value",
    )
    change: float | None = Field(
        None, description="`probability` less the instance's own (None for labels)"
    )
    flipped: bool = Field(description="the predicted class differs from the instance's")


class ProtectedAttribute(_Strict):
    """One protected attribute of one explanation."""

    feature: str
    value: WireValue = Field(description="the instance's value")
    immutable: bool = Field(description="counterfactuals never change it (features.immutable)")
    in_anchor: bool | None = Field(
        None, description="the anchor has a condition on it; None: not an anchors explanation"
    )
    shap_share: float | None = Field(
        None,
        description="its absolute SHAP value over the sum of all features' absolute SHAP "
        "values; None: not a SHAP explanation",
    )
    counterfactual_changes: bool | None = Field(
        None,
        description="a counterfactual shown changes it (never when immutable); None: not a "
        "counterfactual explanation",
    )
    flips: list[Flip] = Field(description="the flip test: one per other value")
    flags: list[Flag] = Field(description="what flagged it (empty: nothing)")


class Fairness(_Strict):
    """What an explanation says of ``features.protected``, and the flip test's answers."""

    protected: list[str] = Field(description="features.protected, in that order")
    attributes: list[ProtectedAttribute]
    shap_share: float | None = Field(
        None, description="the protected attributes' share of |SHAP| together (SHAP only)"
    )
    shap_threshold: float = Field(
        description="a share of |SHAP| at least this flags an attribute (fairness.shap_share)"
    )
    flagged: list[str] = Field(description="the protected attributes any check flagged")
    flags: list[Flag] = Field(description="every reason found, once each")
    flipped: bool = Field(description="some flip changed the predicted class")
    max_change: float | None = Field(
        None, description="the largest absolute change of the flip test (None for labels)"
    )
    flip_rows: int = Field(description="rows the flip test sent to the model (one call)")
