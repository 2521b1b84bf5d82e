"""What the text methods share: the instance's tokens, the reference texts, and the model
seen as a function of texts."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from explainers.base import (
    Explainer,
    ExplainerParams,
    package_versions,
    reference_fingerprint,
    seeded,
)
from explainers.budget import Budget
from explainers.errors import ExplainerError, SchemaError
from explainers.explanation import (
    Explanation,
    Fidelity,
    Prediction,
    Provenance,
    ReferenceSource,
    Result,
)
from explainers.model import BlackBox, CountingModel, OutputKind
from explainers.schema import Feature, FeatureSchema
from explainers.tokens import Token, checked_tokens, tokenize


class TextParams(ExplainerParams):
    mask: Literal["token", "delete"] = Field(
        "token", description="a masked word is replaced by mask_token, or deleted"
    )
    mask_token: str = Field("UNK", min_length=1, max_length=20, description="the mask token")

    @property
    def mask_text(self) -> str:
        """What replaces a masked token: the mask token, or '' (deleted)."""
        return self.mask_token if self.mask == "token" else ""


@dataclass
class TextModel:
    """The black box as a function of texts, for one explanation: the probability of class
    ``target`` (``score``) or the classes (``classes``). Each distinct text is sent once
    (``CountingModel.raw_rows``); ``RemoteModel`` splits large calls by ``max_batch_rows``."""

    counting: CountingModel
    target: int = 0

    def raw(self, texts: Sequence[str]) -> np.ndarray:
        return self.counting.raw_rows([[t] for t in texts])

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.counting.to_proba(self.raw(texts)) if texts else np.zeros((0, 1))

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """(n,) probability of the explained class."""
        if not len(texts):
            return np.zeros(0)
        return np.asarray(self.proba(texts)[:, self.target], dtype=float)

    def classes(self, texts: Sequence[str]) -> np.ndarray:
        return self.counting.to_classes(self.raw(texts)) if texts else np.zeros(0, dtype=int)


class TextExplainer(Explainer):
    """A method over one text feature; subclasses implement ``_explain_text``.

    The reference data is a corpus of texts (the text column); nothing is fitted on it
    but what a method says (anchors: an index of its words, for coverage and the check
    of anchors on real texts)."""

    Params = TextParams
    classifiers_only = True

    def __init__(
        self,
        schema: FeatureSchema,
        reference: pd.DataFrame,
        model: BlackBox,
        params: Mapping[str, Any] | ExplainerParams | None = None,
        *,
        target: str | None = None,
        reference_source: ReferenceSource | None = None,
    ) -> None:
        self.check_model(model.output, target)
        feature = schema.text_feature
        if feature is None or len(schema) != 1:
            raise SchemaError("a text method needs a schema of one text feature")
        self.feature: Feature = feature
        self.reference_source = reference_source
        self.schema = schema
        self.model = model
        self.target = target
        self.params = self.validate_params(params)
        if feature.name not in reference.columns:
            raise SchemaError(
                f"the reference data lacks feature {feature.name!r}", feature=feature.name
            )
        if reference.empty:
            raise SchemaError("the reference data is empty")
        self.reference = reference.reset_index(drop=True)
        self.texts = [str(t) for t in self.reference[feature.name].fillna("")]
        self.reference_fingerprint = reference_fingerprint(self.reference)
        self.fit()

    @classmethod
    def check_model(cls, output: OutputKind, target: str | None) -> None:
        if output is OutputKind.regression:
            raise ExplainerError(f"the text {cls.method} method explains classifiers")

    def explain(
        self,
        instance: Mapping[str, Any] | Sequence[Any] | None,
        params: Mapping[str, Any] | None = None,
        budget: Budget | None = None,
    ) -> Explanation:
        """Explain the model's prediction for one text (``{feature: text}`` or ``[text]``).

        Raises ``InvalidValueError`` / ``TextLimitError`` for a text the feature refuses."""
        resolved = self.resolve_params(self.params, params)
        if instance is None:
            raise ExplainerError(f"{self.method} explains one text; none was given")
        row = (
            self.schema.row_from_record(instance)
            if isinstance(instance, Mapping)
            else list(instance)
        )
        if len(row) != 1:
            raise SchemaError(f"a row has {len(row)} values; a text model takes 1")
        text = row[0]
        tokens = checked_tokens(
            self.feature.name, text, self.feature.max_chars, self.feature.max_tokens
        )
        counting = CountingModel(self.model, self.schema, budget)
        with seeded(resolved.seed):
            scores = counting.raw_rows([[text]])
            prediction = counting.predictions(scores)[0]
            model = TextModel(counting, int(counting.to_classes(scores)[0]))
            result, fidelity = self._explain_text(text, tokens, resolved, model, prediction)
        return Explanation(
            method=self.method,
            instance={self.feature.name: text},
            prediction=prediction,
            result=result,
            fidelity=fidelity,
            cost=counting.cost(),
            provenance=Provenance(
                explainer=f"{type(self).__module__}.{type(self).__qualname__}",
                params=resolved.model_dump(mode="json"),
                seed=resolved.seed,
                versions=package_versions(),
                reference_fingerprint=self.reference_fingerprint,
                reference_rows=len(self.reference),
                reference_source=self.reference_source,
            ),
        )

    def _explain(
        self, x: np.ndarray | None, params: Any, model: CountingModel
    ) -> tuple[Prediction | None, Result, Fidelity]:
        raise NotImplementedError("text methods explain through _explain_text")

    @abstractmethod
    def _explain_text(
        self, text: str, tokens: list[Token], params: Any, model: TextModel, prediction: Prediction
    ) -> tuple[Result, Fidelity]:
        """Do the work for one text whose ``tokens`` are checked; ``model.target`` is the
        predicted class."""


def words_of(text: str) -> set[str]:
    """The lower-cased word tokens of ``text`` (for coverage over a corpus)."""
    return {t.text.lower() for t in tokenize(text) if t.is_word}
