"""Why a counterfactual search gave fewer than asked for, counted as it goes and said in words.

An answer is judged in this order, and counted once, at the first check it fails: it
reaches the desired outcome on the live model (else ``invalid``), it respects every
constraint (else ``violating``), it is plausible (else ``implausible``). The search proposes
only rows that pass all three, so a failure here is a fault of the model's answers (e.g. a
model that answers differently for the same row).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Report:
    requested: int
    desired: str
    #: the features that were to vary when none of them could move at all
    stuck: list[str] = field(default_factory=list)
    #: how the constraints narrowed the search, in words ("hours-per-week 20 to 60")
    limits: list[str] = field(default_factory=list)
    #: rows asked about, left out as implausible, and the most features combined
    tried: int = 0
    implausible_skipped: int = 0
    levels: int = 0
    max_features: int = 0
    budget_stopped: bool = False
    generated: int = 0
    valid: int = 0
    violating: int = 0
    implausible: int = 0
    passed: int = 0
    first_violation: str | None = None
    threshold: float = 0.0
    quantile: float = 1.0

    def count(self, valid: bool, violations: list[str], plausible: bool) -> None:
        """One answer scored and checked."""
        self.generated += 1
        self.valid += valid
        if valid and violations:
            self.violating += 1
            self.first_violation = self.first_violation or violations[0]
        elif valid and not plausible:
            self.implausible += 1
        elif valid:
            self.passed += 1

    def message(self, given: int) -> str | None:
        """Why ``given`` counterfactuals are fewer than asked for, and whether the budget
        cut the search short; None when all were found in full."""
        budget = (
            "the budget stopped the search, so a counterfactual may lie farther from the "
            "instance than it has to"
            if self.budget_stopped
            else None
        )
        if given >= self.requested:
            return budget[0].upper() + budget[1:] + "." if budget else None
        lead = (
            f"{given} of the {self.requested} counterfactuals asked for reach {self.desired}"
            if given
            else f"no counterfactual reaching {self.desired} was found"
        )
        reasons = [self._search(), *self._drops()]
        if budget:
            reasons.append(budget)
        return f"{lead}: {'; '.join(r for r in reasons if r)}."

    def _search(self) -> str:
        if self.stuck:
            return (
                f"no feature may change: {', '.join(self.stuck)} cannot move from the "
                "instance's values within their ranges and directions"
            )
        said = f"the search tried {self.tried} rows changing up to {self.levels} feature(s)"
        if self.limits:
            said += f" within the constraints ({', '.join(self.limits)})"
        if self.implausible_skipped:
            said += (
                f", leaving out {self.implausible_skipped} farther from the reference data "
                f"than {self.threshold:.3g} (implausible)"
            )
        if self.levels < self.max_features:
            return said
        return f"{said}; a larger max_features or values_per_feature may find more"

    def _drops(self) -> list[str]:
        drops = []
        if self.generated - self.valid:
            drops.append(
                f"{self.generated - self.valid} did not reach {self.desired} on the live model"
            )
        if self.violating:
            drops.append(f"{self.violating} broke a constraint ({self.first_violation})")
        if self.implausible:
            drops.append(
                f"{self.implausible} lay farther from every reference row than "
                f"{self.threshold:.3g}, the {self.quantile:g} quantile of the reference rows' "
                "distances to their nearest other row (implausible)"
            )
        return drops
