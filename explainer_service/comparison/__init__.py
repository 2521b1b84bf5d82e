"""Two versions of the model side by side: ``model`` and ``models.candidate``.

``checks`` measures each version's explanation on the other (an anchor's rule re-measured,
counterfactuals re-scored: one batched call per version) and ranks the SHAP differences;
``window`` re-scores a window of logged inferences with the candidate. Both only call the
models they are given and bound what they send; the explanations themselves are computed by
the workers like any other (``Service.tickets_of_rows(..., candidate=True)``).
"""

from explainer_service.comparison.bodies import (
    Comparison,
    CounterfactualCheck,
    ModelSide,
    RuleCheck,
    ShapDifference,
    WindowChange,
    WindowComparison,
)
from explainer_service.comparison.checks import compare_explanations, rule_rows
from explainer_service.comparison.window import rescore_window

__all__ = [
    "Comparison",
    "CounterfactualCheck",
    "ModelSide",
    "RuleCheck",
    "ShapDifference",
    "WindowChange",
    "WindowComparison",
    "compare_explanations",
    "rescore_window",
    "rule_rows",
]
