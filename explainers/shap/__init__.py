"""SHAP values against a background of real reference rows (``background``), exact by
enumeration where affordable (``explainer``)."""

from explainers.shap.explainer import ShapExplainer

__all__ = ["ShapExplainer"]
