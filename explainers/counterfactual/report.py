"""Why a counterfactual search gave fewer than asked for, counted as it goes and said in words.

A candidate is judged in this order, and counted once, at the first check it fails: it
reaches the desired outcome on the live model (else ``invalid``), it respects every
constraint (else ``violating``), it is plausible (else ``implausible``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Report:
    requested: int
    #: candidates asked of dice-ml
    asked: int
    desired: str
    algorithm: str
    #: counterfactuals dice-ml answered, and its own words when it answered none
    produced: int = 0
    dice_message: str | None = None
    #: the features that were to vary when none of them could move at all
    stuck: list[str] = field(default_factory=list)
    #: how the constraints narrowed the search, in words ("hours-per-week 20 to 60")
    limits: list[str] = field(default_factory=list)
    #: candidates dice-ml gave twice, and those that became equal to another once linked
    #: groups were made consistent and unneeded changes reverted
    repeated: int = 0
    merged: int = 0
    budget_stopped: bool = False
    generated: int = 0
    valid: int = 0
    violating: int = 0
    implausible: int = 0
    #: candidates that passed every check (more than asked for: the rest are not given)
    passed: int = 0
    first_violation: str | None = None
    threshold: float = 0.0
    quantile: float = 1.0

    def count(self, valid: bool, violations: list[str], plausible: bool) -> None:
        """One candidate scored and checked."""
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
            "the budget stopped the reverting of changes the model does not need, so a "
            "counterfactual may change more than it has to"
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
        said = f" ({self.dice_message.strip()})" if self.dice_message else ""
        if self.repeated:
            said = f", {self.repeated} of them repeated{said}"
        if self.produced >= self.asked:
            return f"dice-ml produced {self.produced} candidates{said}"
        if self.limits:
            said += f" within the constraints ({', '.join(self.limits)})"
        hint = (
            "more generations (max_iterations) or algorithm=random may find more"
            if self.algorithm == "genetic"
            else "algorithm=genetic may find more"
        )
        return f"dice-ml produced {self.produced} of {self.asked} candidates{said}; {hint}"

    def _drops(self) -> list[str]:
        drops = []
        if self.merged:
            drops.append(
                f"{self.merged} became the same as another once linked features were made "
                "consistent and the changes the model does not need reverted"
            )
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
