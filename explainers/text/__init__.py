"""Explanations of a text model: anchors, SHAP and LIME (eli5) over our tokens.

A text model takes one text (a feature of kind ``text``) and answers as a table's model
does. The methods are the table's names, built from here when the schema holds a text::

    get_text_explainer_class("anchors")(schema, reference, BlackBox(predict), params)

Nothing heavy is imported here: ``explainers.explanation`` imports ``results`` without numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from explainers.errors import UnknownMethodError

if TYPE_CHECKING:
    from explainers.base import Explainer

#: method -> ``module:Class`` for a text model.
TEXT_METHODS: dict[str, str] = {
    "anchors": "explainers.text.anchors:TextAnchorsExplainer",
    "shap": "explainers.text.shap:TextShapExplainer",
    "lime": "explainers.text.lime:TextLimeExplainer",
}


def get_text_explainer_class(method: str) -> type[Explainer]:
    """The explainer class of ``method`` for a text model, imported on first use."""
    if method not in TEXT_METHODS:
        raise UnknownMethodError(
            method,
            f"unknown method {method!r} for a text model; available: {', '.join(TEXT_METHODS)}",
        )
    module_name, _, class_name = TEXT_METHODS[method].partition(":")
    cls: type[Explainer] = getattr(importlib.import_module(module_name), class_name)
    return cls


__all__ = ["TEXT_METHODS", "get_text_explainer_class"]
