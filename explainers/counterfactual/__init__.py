"""Counterfactuals: the smallest changes that flip a prediction, within the schema's
constraints (``constraints``), near real rows (``support``), reported with what was tried
(``report``); the search is dice-ml's (``explainer``)."""

from explainers.counterfactual.explainer import CounterfactualExplainer

__all__ = ["CounterfactualExplainer"]
