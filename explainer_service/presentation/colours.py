"""The pages' colours, defined once: figures (plotly) and the stylesheet (CSS variables) both
read them, so a colour means the same on every page."""

from __future__ import annotations

__all__ = ["AWAY", "NEUTRAL", "PALETTE", "TOWARDS", "pushes_towards"]

TOWARDS = "#d55e00"  # pushes towards the predicted class (Okabe-Ito vermillion)
AWAY = "#0072b2"  # pushes away from the predicted class (Okabe-Ito blue)
NEUTRAL = "#8a94a6"  # no direction: totals, scores, importance, coverage

PALETTE = {"towards": TOWARDS, "away": AWAY, "neutral": NEUTRAL}


def pushes_towards(effect: float, explained: str, predicted: str | None) -> bool:
    """Whether ``effect`` on the score of class ``explained`` pushes towards the predicted
    class: raising the predicted class's score does, raising another's does not. Without a
    predicted class (regression), raising the value counts as towards."""
    up = effect > 0
    return up if predicted is None or explained == predicted else not up
