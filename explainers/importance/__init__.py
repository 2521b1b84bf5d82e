"""Global permutation importance against labelled reference data (eli5)."""

from explainers.importance.explainer import ImportanceExplainer

__all__ = ["ImportanceExplainer"]
