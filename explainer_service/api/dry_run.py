"""A dry run: a request checked as if it were to be explained, answered with what it may cost.

Nothing is queued, stored or sent to the model: the payload, the instance and the parameters
are validated as for an explanation, and the cost is the method's estimate
(``Explainer.estimate``) next to ``service.budget``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from explainer_service.api.bodies import Body
from explainer_service.runtime import Runtime


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
    estimate: EstimateOut = Field(description="per explanation")
    budget: BudgetOut
    within_budget: bool | None = Field(
        description="the estimate passes no limit of the budget; null when the method gives "
        "no estimate (then only the budget enforced while it runs applies)"
    )
    instances: int = Field(description="explanations the request would start")


def answer_dry_run(
    runtime: Runtime,
    method: str,
    payload: Any,
    instance: int | str,
    params: dict[str, Any] | None,
) -> DryRunOut:
    """Validate the request as ``Service.tickets`` does and estimate its cost.

    Raises what an explanation request would raise for a wrong payload, instance or
    parameter; a cost over the budget is an answer (``within_budget``), not an error."""
    resolved = runtime.resolve_params(method, params)
    rows = runtime.instances(method, payload, instance, runtime.settings.service.max_instances)
    runtime.schema.normalise([row for row in rows if row is not None])
    estimate = runtime.estimate(method, resolved)
    limits = runtime.settings.service.budget
    return DryRunOut(
        method=method,
        parameters=resolved.model_dump(mode="json"),
        estimate=EstimateOut(
            model_calls=estimate.model_calls if estimate else None,
            rows=estimate.rows if estimate else None,
            max_seconds=limits.max_seconds,
            upper_bound=estimate.upper_bound if estimate else None,
            parameters=list(estimate.drivers) if estimate else [],
        ),
        budget=BudgetOut(**limits.model_dump()),
        within_budget=None if estimate is None else not runtime.budget.passed_by(estimate),
        instances=len(rows),
    )
