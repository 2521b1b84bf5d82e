"""``Explanation``: the library's ``Explanation`` as the service answered it (with its ``id``
and ``links``), which shows itself in a notebook and turns into a table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from pydantic import PrivateAttr

from explainer_service.client import _html
from explainer_service.presentation.vocabulary import Vocabulary
from explainers import explanation as library

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


class Explanation(library.Explanation):
    """An ``explainers.Explanation`` (validated against the library's own model), with the
    service's ``id`` and ``links`` (and, explaining a logged inference, its
    ``inference_id`` and the ``agreement`` check).

    ``_repr_html_`` shows the pages' sentence and plotly figure; ``figure`` is that figure,
    ``url`` the explanation's page in the service, ``to_frame()`` a tidy table."""

    id: str
    links: dict[str, str]
    #: the logged inference it explains (``explain_inference``), else None
    inference_id: str | None = None
    #: whether the model, asked again, still gave the logged answer (``explain_inference``):
    #: ``agrees`` (None: not checked), ``outcome``, ``message``, ``logged``, ``live``
    agreement: dict[str, Any] | None = None

    _base_url: str = PrivateAttr("")
    _words: Vocabulary = PrivateAttr(default_factory=Vocabulary)
    _plotlyjs: _html.PlotlyJs = PrivateAttr("inline")

    @classmethod
    def from_answer(
        cls,
        body: dict[str, Any],
        base_url: str,
        words: Vocabulary | None = None,
        plotlyjs: _html.PlotlyJs = "inline",
    ) -> Explanation:
        explanation = cls.model_validate(body)
        explanation._base_url = base_url
        explanation._words = words or Vocabulary()
        explanation._plotlyjs = plotlyjs
        return explanation

    def as_library(self) -> library.Explanation:
        """The plain ``explainers.Explanation``, without the service's id and links."""
        return library.Explanation.model_validate(
            self.model_dump(exclude={"id", "links", "inference_id", "agreement"}, mode="json")
        )

    @property
    def url(self) -> str:
        """The explanation's HTML page in the service (signed when the service signs links)."""
        return urljoin(self._base_url + "/", self.links["html"])

    @property
    def json_url(self) -> str:
        return urljoin(self._base_url + "/", self.links["json"])

    @property
    def figure(self) -> go.Figure | None:
        """The page's plotly figure (None for a counterfactual search that found none, and
        for methods the pages draw no figure for)."""
        from explainer_service.presentation.figures import figure_for

        return figure_for(self, self._words)

    @property
    def summary(self) -> str | None:
        """The page's sentence, in the client's words."""
        from explainer_service.presentation.summary import summary

        return summary(self, self._words)

    def to_frame(self) -> pd.DataFrame:
        """A tidy table, one row per feature (or change):

        - anchors: ``feature, value, condition, operator, bound``: the rule's conditions;
        - shap: ``feature, value, contribution, standard_error``, in schema order;
        - counterfactual: ``counterfactual, feature, value, change, valid, plausible``: each
          counterfactual's changes (``value`` the instance's, ``change`` the new one);
        - importance: ``feature, importance, std``, largest first.

        ``attrs`` carries the method's totals (precision and coverage, base value, ...)."""
        from explainer_service.presentation.frames import explanation_frame

        return explanation_frame(self, self._words)

    def _repr_html_(self) -> str:
        return _html.single(
            _html.card(
                self, self._words, url=self.url, plotlyjs=self._plotlyjs, base_url=self._base_url
            )
        )
