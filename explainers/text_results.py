"""The typed parts of a text model's explanations (``Explanation.result`` and ``fidelity``).

Pure pydantic (no numpy): the notebook client reads them. Every token is given with its
character offsets in the instance's text, so a page can colour the text where it stands.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextToken(_Strict):
    """One token of the instance's text and its share of the explanation."""

    text: str
    start: int = Field(description="offset of its first character in the text")
    end: int = Field(description="offset after its last character")
    weight: float = Field(0.0, description="its contribution (SHAP value, LIME weight)")
    standard_error: float | None = Field(None, description="SHAP: 0 when exact")
    anchor: bool = Field(False, description="anchors: one of the words kept in place")


class TextAnchorResult(_Strict):
    method: Literal["anchors"] = "anchors"
    kind: Literal["text"] = "text"
    words: list[str] = Field(description="the anchor: words that, kept, lock the prediction")
    tokens: list[TextToken]
    precision: float = Field(
        description="share of fresh perturbed texts that keep the words and the prediction"
    )
    coverage: float = Field(
        description="share of the reference texts that contain every word of the anchor"
    )
    mask: str = Field(description="what replaced the other words: the mask token, or '' (deleted)")
    examples_hold: list[str] = Field(description="perturbed texts that keep the prediction")
    examples_fail: list[str] = Field(description="perturbed texts that change it")
    corpus_precision: float | None = Field(
        None,
        description="share of the reference texts containing every anchor word that the "
        "model gives the predicted class (None: none contain them, or not checked)",
    )
    corpus_support: int | None = Field(
        None, description="reference texts containing every anchor word (None: not checked)"
    )
    corpus_met: bool | None = Field(
        None,
        description="the corpus precision reaches the threshold at its lower bound over at "
        "least min_support texts; False: the anchor holds on perturbed texts only "
        "(None: not checked)",
    )


class TextAnchorFidelity(_Strict):
    method: Literal["anchors"] = "anchors"
    kind: Literal["text"] = "text"
    precision: float
    samples: int = Field(description="fresh perturbed texts behind the precision")
    precision_lower: float = Field(description="one-sided lower bound at `confidence`")
    confidence: float
    threshold: float
    threshold_met: bool
    rounds: int = Field(description="anchor sizes the search examined")
    candidates: int = Field(description="candidate anchors it scored")
    corpus_precision_lower: float | None = Field(
        None,
        description="one-sided lower bound of the corpus precision at `confidence` "
        "(0 below min_support texts; None: not checked)",
    )
    corpus_texts: int | None = Field(
        None, description="reference texts the model was asked for the corpus check"
    )
    min_support: int | None = Field(
        None, description="reference texts with the words needed to decide the corpus check"
    )


class TextShapResult(_Strict):
    method: Literal["shap"] = "shap"
    kind: Literal["text"] = "text"
    output: str = Field(description="the class whose probability is explained")
    base_value: float = Field(description="the model's answer for the text fully masked")
    tokens: list[TextToken]
    mask: str


class TextShapFidelity(_Strict):
    method: Literal["shap"] = "shap"
    kind: Literal["text"] = "text"
    model_output: float = Field(description="f(x) from the live model")
    base_plus_sum: float
    additivity_error: float
    exact: bool = Field(description="every coalition of tokens was evaluated")
    max_standard_error: float
    replicates: int = Field(description="independent permutation runs averaged (1 when exact)")
    algorithm: str = Field(description="shap's explainer: exact or permutation")


class TextLimeResult(_Strict):
    method: Literal["lime"] = "lime"
    kind: Literal["text"] = "text"
    output: str = Field(description="the class whose probability the surrogate explains")
    bias: float = Field(description="the surrogate's intercept")
    tokens: list[TextToken]


class TextLimeFidelity(_Strict):
    method: Literal["lime"] = "lime"
    kind: Literal["text"] = "text"
    mean_kl_divergence: float = Field(
        description="eli5's metrics_: mean KL divergence between the model's and the "
        "surrogate's probabilities on the perturbed texts (0 is perfect)"
    )
    score: float = Field(description="eli5's metrics_: the surrogate's accuracy on them")
    samples: int = Field(description="perturbed texts the surrogate was fitted on")
