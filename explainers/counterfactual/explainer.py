"""Counterfactuals: the fewest, nearest changes that give the desired outcome.

The search (``search``) tries the values each feature may take alone, then two features,
then three, only while fewer give too few answers; it refines what it finds towards the
instance, and sends every step's rows in one model call. Every constraint of the schema
(immutable, direction, range, linked groups, ``missing`` categories) and the plausibility
threshold shape what it proposes. The answers are then checked again against the model's
answers (from memory: no new call), the constraints and the plausibility; fewer than asked
comes with the reason (``report``).

A budget that stops the search before any answer raises ``BudgetExceededError``; one that
stops it later leaves answers that were each answered by the model with the outcome.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from explainers.base import Explainer, ExplainerParams
from explainers.budget import CostEstimate, Tally
from explainers.counterfactual.candidates import MAX_LATTICE, Candidates, refine_steps
from explainers.counterfactual.constraints import Constraints, units, varied_features
from explainers.counterfactual.report import Report
from explainers.counterfactual.search import COMBINED_VALUES, REFINE_POINTS, Search
from explainers.counterfactual.support import Support
from explainers.counterfactual.target import Target
from explainers.errors import ParameterError
from explainers.explanation import (
    Change,
    Counterfactual,
    CounterfactualFidelity,
    CounterfactualResult,
    Prediction,
)
from explainers.model import CountingModel
from explainers.schema import FeatureSchema


class CounterfactualParams(ExplainerParams):
    total: int = Field(3, ge=1, le=20, description="counterfactuals asked for")
    desired_class: str | None = Field(
        None,
        description="default: the other class (binary), the next most likely, or (a model "
        "that answers labels) the next class in the model's order, the one before for the last",
    )
    desired_range: tuple[float, float] | None = Field(None, description="regression only")
    max_features: int = Field(
        3,
        ge=1,
        le=3,
        description="features (or linked groups) one counterfactual changes at most; more are "
        "combined only when fewer give fewer counterfactuals than asked for",
    )
    values_per_feature: int = Field(
        10, ge=2, le=50, description="values tried per feature alone (reference values)"
    )
    beam_width: int = Field(
        6,
        ge=2,
        le=12,
        description="features combined in twos and threes: those whose values alone came "
        "closest to the outcome",
    )
    features_to_vary: list[str] | None = Field(
        None,
        min_length=1,
        description="the features counterfactuals may change (default: every mutable one); "
        "naming one of a linked group varies the whole group",
    )
    plausibility_quantile: float = Field(
        0.99,
        gt=0,
        le=1,
        description="a counterfactual is plausible when its distance to the nearest reference "
        "row is at most this quantile of the reference rows' distances to their nearest other "
        "row (1: the largest); the search never proposes a row farther",
    )
    keep_invalid: bool = Field(
        False,
        description="keep the counterfactuals that fail a check (not valid on the model, "
        "breaking a constraint, implausible), flagged, instead of dropping them",
    )

    @field_validator("features_to_vary", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        """``"a,b"`` (a query parameter) as ``["a", "b"]``."""
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @model_validator(mode="after")
    def _range(self) -> CounterfactualParams:
        if self.desired_range and self.desired_range[0] > self.desired_range[1]:
            raise ValueError("desired_range must be (low, high)")
        return self


class CounterfactualExplainer(Explainer):
    method = "counterfactual"
    Params = CounterfactualParams

    def fit(self) -> None:
        self._support = Support(self.schema, self.reference_matrix)
        self._constraints = Constraints(self.schema, self.reference_matrix)
        self._candidates = Candidates(self.schema, self.reference_matrix, self._constraints)

    @classmethod
    def estimate(
        cls,
        params: Any,
        schema: FeatureSchema,
        *,
        reference_rows: int,
        max_batch_rows: int | None = None,
    ) -> CostEstimate:
        """An upper bound of what the search may ask of the model.

        The instance (one row). Level 1: one call of at most ``values_per_feature`` rows per
        unit varied (a category feature: its other categories; a linked group: the
        combinations the reference data holds). Level ``k`` (2 and 3, up to
        ``max_features``): one call of every ``k``-combination of the ``beam_width`` units
        with the most values, ``COMBINED_VALUES[k]`` values each; then the refinement of
        ``k`` features in turn, each at most ``refine_steps`` calls (of the longest lattice a
        numeric feature varied may have: its whole numbers from ``min`` to ``max``, or the
        distinct reference values, at most ``MAX_LATTICE``) of
        ``REFINE_POINTS`` rows per counterfactual asked for (level 1: one feature), and one
        call of at most ``total`` rows for more values of the features refined. The
        checks afterwards read the model's answers from memory (one call counted anyway).

        Raises ``ParameterError`` when ``features_to_vary`` names an unknown or immutable
        feature.
        """
        varied = varied_features(schema, params.features_to_vary, cls.method)
        columns = {schema.names.index(name) for name in varied}
        sizes = [
            _unit_size(schema, unit, reference_rows)
            for unit in units(schema)
            if columns & set(unit)
        ]
        tally = Tally(max_batch_rows).call(1)
        steps = refine_steps(_lattice_size(schema, columns, reference_rows), REFINE_POINTS)
        for level in range(1, min(params.max_features, len(sizes)) + 1):
            limit = params.values_per_feature if level == 1 else COMBINED_VALUES[level]
            level_sizes = sorted((min(limit, s) for s in sizes), reverse=True)
            if level > 1:
                level_sizes = level_sizes[: params.beam_width]
            rows = sum(math.prod(c) for c in itertools.combinations(level_sizes, level))
            tally.call(rows)
            tally.call(params.total * REFINE_POINTS, times=level * steps)
            tally.call(params.total)  # more values of a refined feature
        tally.call(params.total)  # the checks: answered from memory unless a row changed form
        return tally.estimate(("total", "values_per_feature", "max_features", "beam_width"))

    def _explain(
        self, x: np.ndarray | None, params: Any, model: CountingModel
    ) -> tuple[Prediction, CounterfactualResult, CounterfactualFidelity]:
        assert x is not None
        varied = varied_features(self.schema, params.features_to_vary, self.method)
        prediction = model.predict_one(x)
        desired, target = self._desired(prediction, params)
        threshold = self._support.threshold(params.plausibility_quantile)
        report = Report(
            requested=params.total,
            desired=desired,
            threshold=threshold,
            quantile=params.plausibility_quantile,
            max_features=params.max_features,
        )
        embed = self._support.embed
        nearest = self._support.near(x)
        search = Search(
            self._candidates,
            x,
            target,
            model,
            # keep_invalid: implausible rows are searched too, and answered flagged
            plausible=lambda rows: (nearest(rows) <= threshold) | params.keep_invalid,
            distance=lambda rows: np.abs(embed(rows) - embed(x)).sum(axis=1),
        )
        columns = {self.schema.names.index(name) for name in varied}
        outcome = search.run(
            columns,
            params.total,
            values=params.values_per_feature,
            max_features=params.max_features,
            beam=params.beam_width,
        )
        moving = {j for unit in outcome.units for j in unit.columns}
        report.stuck = [] if outcome.units else varied
        report.limits = self._limits(varied, moving, x)
        report.tried = outcome.tried
        report.implausible_skipped = outcome.implausible
        report.levels = outcome.levels
        report.budget_stopped = outcome.budget_stopped
        rows = np.array([a.row for a in outcome.answers]).reshape(-1, len(self.schema))
        wire = [list(r) for r in dict.fromkeys(tuple(r) for r in self.schema.to_wire(rows))]
        if not rows.size:
            wire = []
        return prediction, *self._verify(x, wire, target, params, model, report)

    def _limits(self, varied: list[str], moving: set[int], x: np.ndarray) -> list[str]:
        """In words, how the constraints narrow the reference data's range of each feature
        varied."""
        limits = []
        for name in varied:
            j = self.schema.names.index(name)
            feature = self.schema.features[j]
            if j not in moving:
                limits.append(f"{name} fixed")
            elif not feature.is_categorical:
                seen = self._candidates.distinct[j]
                low, high = Constraints.permitted(feature, float(x[j])) or (x[j], x[j])
                low, high = max(low, seen[0]), min(high, seen[-1])
                if (low, high) != (seen[0], seen[-1]):
                    limits.append(f"{name} {low:g} to {high:g}")
        return limits

    def _desired(self, prediction: Prediction, params: Any) -> tuple[str, Target]:
        """(what is desired, in words; the target of the search)."""
        if not self.model.is_classifier:
            if params.desired_class is not None:
                raise ParameterError(self.method, "desired_class", "a regression has no classes")
            if params.desired_range is None:
                raise ParameterError(
                    self.method, "desired_range", "a regression needs desired_range (low, high)"
                )
            low, high = params.desired_range
            return f"[{low}, {high}]", Target(interval=(low, high))
        if params.desired_range is not None:
            raise ParameterError(self.method, "desired_range", "desired_range is for regressions")
        names = self.model.class_names or list((prediction.probabilities or {}).keys())
        if params.desired_class is not None:
            if params.desired_class not in names:
                raise ParameterError(
                    self.method,
                    "desired_class",
                    f"unknown class {params.desired_class!r}; classes: {names}",
                )
            index = names.index(params.desired_class)
        elif prediction.probabilities and len(names) > 2:
            ranked = sorted(prediction.probabilities, key=prediction.probabilities.__getitem__)
            index = names.index(ranked[-2])
        else:  # the other of two; of labels, the next class (the one before for the last)
            predicted = int(prediction.class_index or 0)
            index = predicted + 1 if predicted + 1 < len(names) else predicted - 1
        if index == prediction.class_index:
            raise ParameterError(
                self.method, "desired_class", f"the model already predicts {names[index]!r}"
            )
        return names[index], Target(index=index)

    def _verify(
        self,
        x: np.ndarray,
        rows: list[list[Any]],
        target: Target,
        params: Any,
        model: CountingModel,
        report: Report,
    ) -> tuple[CounterfactualResult, CounterfactualFidelity]:
        """Check every answer against the model's answers (from memory), the constraints
        and the plausibility; keep those that pass (or all, flagged)."""
        schema = self.schema
        instance = schema.to_wire(x)[0]
        matrix = schema.to_numeric(rows) if rows else np.empty((0, len(schema)))
        scores = model.raw(matrix) if rows else np.empty(0)
        predictions = model.predictions(scores) if rows else []
        reached = target.reaches(scores, model) if rows else np.empty(0, bool)
        nearest = self._support.nearest(matrix) if rows else np.empty(0)
        kept, distances = [], []
        for row, numeric, predicted, ok, near in zip(
            rows, matrix, predictions, reached, nearest, strict=True
        ):
            changes = [
                Change(feature=name, from_value=a, to_value=b)
                for name, a, b in zip(schema.names, instance, row, strict=True)
                if a != b
            ]
            valid = bool(ok) and bool(changes)
            violations = self._constraints.violations(x, numeric)
            plausible = bool(near <= report.threshold)
            report.count(valid, violations, plausible)
            passed = valid and not violations and plausible
            if passed or params.keep_invalid:
                kept.append(
                    Counterfactual(
                        values=dict(zip(schema.names, row, strict=True)),
                        changes=changes,
                        prediction=predicted,
                        valid=valid,
                        nearest_distance=float(near),
                        plausible=plausible,
                        violations=violations,
                    )
                )
                distances.append(self._support.distance(x, numeric))
        kept_all = params.keep_invalid
        result = CounterfactualResult(
            desired=report.desired,
            found=bool(kept),
            message=report.message(min(report.passed, params.total)),
            counterfactuals=kept,
        )
        fidelity = CounterfactualFidelity(
            requested=params.total,
            generated=len(rows),
            valid=report.valid,
            dropped_invalid=0 if kept_all else len(rows) - report.valid,
            dropped_constraints=0 if kept_all else report.violating,
            dropped_implausible=0 if kept_all else report.implausible,
            validity=report.valid / len(rows) if rows else 1.0,
            sparsity=float(np.mean([len(c.changes) for c in kept])) if kept else 0.0,
            proximity=float(np.mean(distances)) if distances else 0.0,
            plausibility_threshold=report.threshold,
        )
        return result, fidelity


def _unit_size(schema: FeatureSchema, unit: tuple[int, ...], reference_rows: int) -> int:
    """The most values the search may try for a unit alone (before ``values_per_feature``)."""
    if len(unit) > 1:
        return reference_rows  # combinations the reference data holds
    feature = schema.features[unit[0]]
    if feature.is_categorical:
        return len(feature.categories) - 1
    return reference_rows  # distinct reference values


def _lattice_size(schema: FeatureSchema, columns: set[int], reference_rows: int) -> int:
    """The most values a refinement may search among (``Candidates.lattice``)."""
    sizes = [1]
    for j in columns:
        feature = schema.features[j]
        if feature.is_categorical:
            continue
        if not feature.integer:
            sizes.append(reference_rows + 1)
        elif feature.min is not None and feature.max is not None:
            sizes.append(int(feature.max - feature.min) + 1)
        else:
            sizes.append(MAX_LATTICE)
    return min(max(sizes), MAX_LATTICE)
