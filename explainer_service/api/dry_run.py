"""A dry run: a request checked as if it were to be explained, answered with what it may cost.

Nothing is queued, stored or sent to the model: the payload, the instance and the parameters
are validated as for an explanation, and the cost is the method's estimate
(``Explainer.estimate``) next to ``service.budget``. With ``compare=candidate`` the request
is checked as a comparison and costs both versions' explanations (each estimated by its own
runtime) and the comparison's checks (``comparison.checks.checks_cost``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import Field

from explainer_service.api.bodies import Body
from explainer_service.comparison.checks import check_comparable, checks_cost
from explainer_service.runtime import Runtime
from explainers.budget import CostEstimate


class EstimateOut(Body):
    """What one explanation may cost; seconds are not estimated, only bounded."""

    model_calls: int | None = Field(description="HTTP requests to the model, at most")
    rows: int | None = Field(description="rows in those requests, at most")
    max_seconds: float | None = Field(description="the budget's limit on its wall time")
    upper_bound: bool | None = Field(
        description="false when part of the work is open-ended and only allowed for "
        "(the budget caps it while it runs); null when the method gives no estimate"
    )
    parameters: list[str] = Field(description="the parameters the cost grows with")


class BudgetOut(Body):
    max_model_calls: int | None
    max_rows: int | None
    max_seconds: float | None


class DryRunOut(Body):
    """The answer to ``dry_run=true``."""

    method: str
    parameters: dict[str, Any] = Field(description="the parameters as they would be used")
    estimate: EstimateOut = Field(
        description="per explanation; with compare=candidate, the whole comparison (the sum "
        "of versions)"
    )
    budget: BudgetOut
    within_budget: bool | None = Field(
        description="the estimate passes no limit of the budget (with compare=candidate, "
        "neither version's explanation does: the budget is per explanation); null when the "
        "method gives no estimate (then only the budget enforced while it runs applies)"
    )
    instances: int = Field(
        description="explanations the request would start (compare=candidate: one per "
        "version, two for shap's candidate when the versions predict different classes)"
    )
    versions: dict[str, EstimateOut] | None = Field(
        None,
        description="compare=candidate: model (its explanation), candidate (its explanations) "
        "and checks (the comparison's own calls: each anchor re-measured on the other "
        "version, each counterfactual scored by it); null without compare",
    )


def _out(estimate: CostEstimate | None, max_seconds: float | None) -> EstimateOut:
    return EstimateOut(
        model_calls=estimate.model_calls if estimate else None,
        rows=estimate.rows if estimate else None,
        max_seconds=max_seconds,
        upper_bound=estimate.upper_bound if estimate else None,
        parameters=list(estimate.drivers) if estimate else [],
    )


def _times(estimate: CostEstimate, n: int) -> CostEstimate:
    return replace(estimate, model_calls=estimate.model_calls * n, rows=estimate.rows * n)


def _sum(estimates: list[CostEstimate | None]) -> CostEstimate | None:
    """Their total; None when any is unknown. Its drivers are theirs, in order, once."""
    known = [e for e in estimates if e is not None]
    if len(known) < len(estimates):
        return None
    return CostEstimate(
        sum(e.model_calls for e in known),
        sum(e.rows for e in known),
        tuple(dict.fromkeys(d for e in known for d in e.drivers)),
        all(e.upper_bound for e in known),
    )


def answer_dry_run(
    runtime: Runtime,
    method: str,
    payload: Any,
    instance: int | str,
    params: dict[str, Any] | None,
    candidate: Runtime | None = None,
) -> DryRunOut:
    """Validate the request as ``Service.tickets`` does and estimate its cost; with
    ``candidate`` (``compare=candidate``), as ``explain_compared`` does, over both versions.

    Raises what an explanation request would raise for a wrong payload, instance or
    parameter; a cost over the budget is an answer (``within_budget``), not an error."""
    resolved = runtime.resolve_params(method, params)
    if candidate is not None:
        check_comparable(method, instance)
    rows = runtime.instances(method, payload, instance, runtime.settings.service.max_instances)
    runtime.schema.normalise([row for row in rows if row is not None])
    estimate = runtime.estimate(method, resolved)
    limits = runtime.settings.service.budget
    answer = DryRunOut(
        method=method,
        parameters=resolved.model_dump(mode="json"),
        estimate=_out(estimate, limits.max_seconds),
        budget=BudgetOut(**limits.model_dump()),
        within_budget=None if estimate is None else not runtime.budget.passed_by(estimate),
        instances=len(rows),
    )
    if candidate is None:
        return answer
    theirs = candidate.estimate(method, candidate.resolve_params(method, params))
    # shap: the candidate's values again for the model's class when it predicts another
    explanations = 2 if method == "shap" else 1
    candidate_cost = None if theirs is None else _times(theirs, explanations)
    checks = checks_cost(
        method,
        getattr(resolved, "total", 0),
        runtime.settings.models.rule_rows,
        [runtime.settings.model.max_batch_rows, candidate.settings.model.max_batch_rows],
    )
    versions = {"model": estimate, "candidate": candidate_cost, "checks": checks}
    within = [
        None if e is None else not r.budget.passed_by(e)
        for r, e in ((runtime, estimate), (candidate, theirs))
    ]
    return answer.model_copy(
        update={
            "estimate": _out(_sum(list(versions.values())), limits.max_seconds),
            "within_budget": None if None in within else all(within),
            "instances": len(rows) * (1 + explanations),
            "versions": {k: _out(e, limits.max_seconds) for k, e in versions.items()},
        }
    )
