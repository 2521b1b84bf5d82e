"""Counterfactuals: the fewest, nearest changes that flip a prediction, within the schema's
constraints (``constraints``), near real rows (``support``), reported with what was tried
(``report``); the values tried (``candidates``), the outcome (``target``) and the sparse-first
search (``search``) are our own."""

from explainers.counterfactual.explainer import CounterfactualExplainer

__all__ = ["CounterfactualExplainer"]
