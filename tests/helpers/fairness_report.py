"""A ``GET /fairness`` answer as the service sends it, for the notebook client's tests (which
run where only the client is installed); ``tests/unit/inferences/test_parity.py`` checks that
the service's own model of the answer reads it back unchanged."""

from __future__ import annotations

from typing import Any

PARITY_REPORT: dict[str, Any] = {
    "attribute": "gender",
    "window": "12h",
    "since": "2026-12-06T00:00:00Z",
    "until": "2026-12-06T12:00:00Z",
    "positive_class": ">50K",
    "logged": 120,
    "read": 100,
    "groups": [
        {"value": "Male", "decisions": 60, "positive": 30, "rate": 0.5, "difference": 0.0,
         "ratio": 1.0, "four_fifths": True},
        {"value": "<Female>", "decisions": 40, "positive": 8, "rate": 0.2, "difference": -0.3,
         "ratio": 0.4, "four_fifths": False},
    ],
    "reference_group": "Male",
    "statistical_parity_difference": -0.3,
    "disparate_impact": 0.4,
    "four_fifths_threshold": 0.8,
    "four_fifths": False,
    "flips": {"tested": 10, "flipped": 3, "by_value": {"Male": 3}, "explanations_read": 12},
}  # fmt: skip
