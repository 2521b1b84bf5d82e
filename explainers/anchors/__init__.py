"""Anchors: the rule that locks a prediction in, found by our own batched beam search
(``search``) and reported with its precision and coverage (``explainer``)."""

from explainers.anchors.explainer import AnchorParams, AnchorsExplainer

__all__ = ["AnchorParams", "AnchorsExplainer"]
