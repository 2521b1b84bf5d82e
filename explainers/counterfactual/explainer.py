"""Counterfactuals with dice-ml's model-agnostic methods (``genetic``, ``random``).

dice-ml works on a DataFrame in which a categorical feature holds the category's text (the
name in ``Feature.categories``, whatever the model takes on the wire) and a numeric one its
number, with the reference data as its data interface; it never sees the model except
through ``predict_proba`` / ``predict`` on such frames, which go to the model as wire values.

The schema's constraints (``counterfactual_constraints``) shape the search: immutable
features are left out of ``features_to_vary``, a numeric feature's range and direction are
dice-ml's per-query ``permitted_range``, and each linked group dice-ml changes is moved to
the nearest combination the reference data holds. Then every candidate is scored again by
the live model, the changes it does not need are reverted (a linked group as one), and it
is checked: the desired outcome, the constraints, the plausibility (distance to the nearest
reference row, ``counterfactual_support``). The ones that fail are dropped, or kept and
flagged, and fewer than asked comes with the reason (``counterfactual_report``).

A budget that stops dice-ml's search, or the first scoring of its candidates, raises
``BudgetExceededError``: nothing verified is left to show. One that stops the reverting of
unneeded changes leaves counterfactuals already scored and checked: they are answered, and
the message says the budget cut the reverting short.
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from explainers.base import Explainer, ExplainerParams
from explainers.budget import CostEstimate, Tally
from explainers.counterfactual.constraints import Constraints, units, varied_features
from explainers.counterfactual.report import Report
from explainers.counterfactual.support import Support
from explainers.errors import BudgetExceededError, ParameterError
from explainers.explanation import (
    Change,
    Counterfactual,
    CounterfactualFidelity,
    CounterfactualResult,
    Prediction,
)
from explainers.model import CountingModel
from explainers.schema import FeatureSchema

OUTCOME = "__outcome__"
#: Rows dice-ml's ``random`` method draws per number of features it varies.
RANDOM_SAMPLES = 1000
#: Individuals per counterfactual asked for in dice-ml's ``genetic`` population.
POPULATION_PER_CF = 10
#: Draws per individual that an estimate allows dice-ml's random initialisation (unbounded).
#: 25 per individual of a population of ``10 * dice_candidates(total)`` allows as many per
#: counterfactual asked for as 50 did when dice-ml was asked for ``total`` only.
RANDOM_INIT_DRAWS = 25
#: Candidates asked of dice-ml beyond the counterfactuals asked for (at most as many again):
#: once unneeded changes are reverted, several often become the same one.
EXTRA_CANDIDATES = 3


def dice_candidates(total: int) -> int:
    """The candidates dice-ml is asked for when ``total`` counterfactuals are."""
    return total + min(total, EXTRA_CANDIDATES)


def to_dice(schema: FeatureSchema, matrix: np.ndarray) -> pd.DataFrame:
    """Rows of the explainer space as dice-ml's frame: category texts and numbers."""
    matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
    columns: dict[str, Any] = {}
    for j, feature in enumerate(schema.features):
        if feature.is_categorical:
            columns[feature.name] = [feature.categories[round(c)] for c in matrix[:, j]]
        elif feature.integer:
            columns[feature.name] = np.round(matrix[:, j]).astype(np.int64)
        else:
            columns[feature.name] = matrix[:, j]
    return pd.DataFrame(columns, columns=schema.names)


def with_every_category(frame: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """``frame`` (dice-ml's data) and, for each category of the schema it lacks, a copy of
    its first row holding that category. dice-ml knows only the categories of its data and
    refuses a query or a range with another, which reference rows that are not those the
    schema was inferred from (a window of logged traffic) may lack. The copies join dice-ml's
    k-d tree, labelled by the model like the other rows; plausibility and the constraints
    are measured on the reference rows alone. ``frame`` itself when nothing lacks."""
    missing = [
        (feature.name, category)
        for feature in schema.features
        if feature.is_categorical
        for category in feature.categories
        if category not in set(frame[feature.name])
    ]
    if not missing:
        return frame
    copies = frame.iloc[[0] * len(missing)].reset_index(drop=True)
    for i, (name, category) in enumerate(missing):
        copies.loc[i, name] = category
    return pd.concat([frame, copies], ignore_index=True)


def from_dice(schema: FeatureSchema, frame: pd.DataFrame) -> np.ndarray:
    """dice-ml's frame (category texts, numbers) as rows of the explainer space."""
    columns = []
    for feature in schema.features:
        values = frame[feature.name]
        if feature.is_categorical:
            columns.append([float(feature.code_of_category(str(v))) for v in values])
        else:
            columns.append(pd.to_numeric(values).astype(float).to_numpy())
    return np.array(columns, dtype=float).reshape(len(schema), len(frame)).T


class CounterfactualParams(ExplainerParams):
    algorithm: Literal["genetic", "random"] = "genetic"
    total: int = Field(3, ge=1, le=20, description="counterfactuals asked for")
    desired_class: str | None = Field(
        None,
        description="default: the other class (binary), the next most likely, or (a model "
        "that answers labels) the next class in the model's order, the one before for the last",
    )
    desired_range: tuple[float, float] | None = Field(None, description="regression only")
    max_iterations: int = Field(50, ge=5, le=1000, description="genetic generations at most")
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
        "row (1: the largest)",
    )
    keep_invalid: bool = Field(
        False,
        description="keep the counterfactuals that fail a check (not valid on the model, "
        "breaking a constraint, implausible), flagged, instead of dropping them",
    )
    sparsify: bool = Field(
        True, description="revert every change the live model shows is not needed"
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


class _DiceModel:
    """What dice-ml calls: predict_proba / predict on frames of wire values."""

    def __init__(self, explainer: CounterfactualExplainer) -> None:
        self.explainer = explainer
        self.current: CountingModel | None = None

    def _scores(self, frame: pd.DataFrame) -> np.ndarray:
        assert self.current is not None, "set .current before dice-ml runs"
        return self.current.raw(from_dice(self.explainer.schema, frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        assert self.current is not None
        return self.current.to_proba(self._scores(frame))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        assert self.current is not None
        if self.explainer.model.is_classifier:
            return self.current.to_classes(self._scores(frame))
        return self._scores(frame).astype(float).reshape(-1)


class CounterfactualExplainer(Explainer):
    method = "counterfactual"
    Params = CounterfactualParams

    def fit(self) -> None:
        import dice_ml

        frame = to_dice(self.schema, self.reference_matrix)
        frame[OUTCOME] = self._outcomes()
        frame = with_every_category(frame, self.schema)
        numeric = [f.name for f in self.schema.features if not f.is_categorical]
        self._data = dice_ml.Data(
            dataframe=frame, continuous_features=numeric, outcome_name=OUTCOME
        )
        # the reference data's ranges; dice-ml overwrites its own copy with each query's
        self._data_ranges = copy.deepcopy(self._data.permitted_range)
        self._dice_model = _DiceModel(self)
        self._model = dice_ml.Model(
            model=self._dice_model,
            backend="sklearn",
            model_type="classifier" if self.model.is_classifier else "regressor",
        )
        self._engines: dict[str, Any] = {}
        self._support = Support(self.schema, self.reference_matrix)
        self._constraints = Constraints(self.schema, self.reference_matrix, self._support.scale)

    def _outcomes(self) -> np.ndarray:
        """The outcome column dice-ml's data interface requires.

        dice-ml labels the reference rows with the model itself when it needs them, so
        without a target column a constant stands in.
        """
        if self.target is None:
            return np.zeros(len(self.reference))
        if not self.model.is_classifier:
            return np.asarray(self.reference[self.target].astype(float).to_numpy())
        names = self.model.class_names or []
        labels = self.reference[self.target].astype(str)
        return np.array([names.index(v) if v in names else 0 for v in labels])

    @classmethod
    def estimate(
        cls,
        params: Any,
        schema: FeatureSchema,
        *,
        reference_rows: int,
        max_batch_rows: int | None = None,
    ) -> CostEstimate:
        """What dice-ml, then the sparsifying and the verification, may ask of the model.

        dice-ml is asked for ``dice_candidates(total)`` candidates, the ``total`` below.
        The instance (one row). ``genetic``: the query twice more (answered from memory when
        dice-ml's round trip leaves it unchanged), every reference row once (the k-d tree of
        the desired class), the random initialisation, one call per generation of
        ``10 * total`` individuals for ``max_iterations`` generations, and a last check of
        each counterfactual. The random initialisation is why this is not an upper bound:
        individuals the nearest reference rows of the desired class do not supply are drawn
        at random, one row and one call at a time, until one is valid, with no limit. It is
        counted as ``RANDOM_INIT_DRAWS`` draws per individual of the population (on 50 held-out
        income applicants the median explanation made 70 calls in all, the largest 2,185, about
        36 per individual); the budget enforced while it runs caps the rest. ``random``: one
        call of ``RANDOM_SAMPLES`` rows per feature varied, then the counterfactuals kept.
        Then, with ``sparsify``, the candidates and at most one
        round per unit varied (a linked group or a feature), each trying every single
        revert of every candidate in one call; and the verification. Making linked features
        consistent and measuring plausibility call nothing.

        Raises ``ParameterError`` when ``features_to_vary`` names an unknown or immutable
        feature.
        """
        total = dice_candidates(params.total)
        varied = varied_features(schema, params.features_to_vary, cls.method)
        columns = {schema.names.index(name) for name in varied}
        varied_units = sum(bool(columns & set(unit)) for unit in units(schema))
        tally = Tally(max_batch_rows).call(1)
        genetic = params.algorithm == "genetic"
        if genetic:
            population = POPULATION_PER_CF * total
            tally.call(1, times=2).call(reference_rows).call(1, population * RANDOM_INIT_DRAWS)
            tally.call(population, times=params.max_iterations)
            tally.call(1, times=total)
        else:
            tally.call(1).call(RANDOM_SAMPLES, times=len(varied)).call(total)
        if params.sparsify:
            tally.call(total)
            for changes in range(varied_units, 0, -1):
                tally.call(total * changes)
        tally.call(total)
        drivers = ("total", "max_iterations") if genetic else ("total",)
        return tally.estimate(drivers, upper_bound=not genetic)

    def _engine(self, algorithm: str) -> Any:
        import dice_ml

        if algorithm not in self._engines:
            self._engines[algorithm] = dice_ml.Dice(self._data, self._model, method=algorithm)
        return self._engines[algorithm]

    def _explain(
        self, x: np.ndarray | None, params: Any, model: CountingModel
    ) -> tuple[Prediction, CounterfactualResult, CounterfactualFidelity]:
        assert x is not None
        varied = varied_features(self.schema, params.features_to_vary, self.method)
        prediction = model.predict_one(x)
        desired, dice_target = self._desired(prediction, params)
        ranges, movable = self._permitted(x, varied)
        report = Report(
            requested=params.total,
            asked=dice_candidates(params.total),
            desired=desired,
            algorithm=params.algorithm,
        )
        report.limits = self._limits(varied, ranges, movable)
        frame = None
        if movable:
            frame, report.dice_message = self._search(
                x, params, dice_target, ranges, movable, model
            )
        else:
            report.stuck = varied
        report.produced = 0 if frame is None else len(frame)
        candidates = np.empty((0, len(self.schema)))
        if frame is not None and len(frame):
            # canonical (whole numbers for integer features), then linked groups consistent
            wire = self.schema.to_wire(from_dice(self.schema, frame))
            report.repeated = len(wire) - len({tuple(row) for row in wire})
            candidates = self._constraints.project(x, self.schema.to_numeric(wire))
        rows = self.schema.to_wire(candidates) if len(candidates) else []
        instance = self.schema.to_wire(x)[0]
        if params.sparsify and rows:
            rows, report.budget_stopped = self._sparsify(instance, rows, dice_target, model)
        rows = [list(row) for row in dict.fromkeys(tuple(row) for row in rows)]
        report.merged = len(candidates) - report.repeated - len(rows)
        return prediction, *self._verify(x, instance, rows, dice_target, params, model, report)

    def _permitted(self, x: np.ndarray, varied: list[str]) -> tuple[dict[str, Any], list[str]]:
        """(dice-ml's ``permitted_range`` for this instance, the features it may vary).

        Every feature is given (dice-ml keeps the ranges of the last query it was given):
        a numeric feature that may move gets its range narrowed by its direction from the
        instance's value (the reference data's bound where the schema has none); a linked
        categorical feature, the categories of the combinations its group may move to. One
        that cannot move (e.g. ``increase`` at its maximum) is not varied.
        """
        ranges = copy.deepcopy(self._data_ranges)
        linked = self._constraints.linked_values(x)
        movable = []
        for name in varied:
            j = self.schema.names.index(name)
            feature = self.schema.features[j]
            if feature.is_categorical:
                if j in linked:
                    ranges[name] = [feature.categories[round(c)] for c in linked[j]]
                if len(ranges[name]) > 1:
                    movable.append(name)
                continue
            allowed = Constraints.permitted(feature, float(x[j]))
            if allowed is None:
                continue
            low, high = allowed
            ranges[name] = [
                low if np.isfinite(low) else ranges[name][0],
                high if np.isfinite(high) else ranges[name][1],
            ]
            movable.append(name)
        return ranges, movable

    def _limits(self, varied: list[str], ranges: dict[str, Any], movable: list[str]) -> list[str]:
        """In words, how this query's ranges narrow the reference data's, feature by feature."""
        limits = []
        for name in varied:
            given, data = ranges[name], self._data_ranges[name]
            if name not in movable:
                limits.append(f"{name} fixed")
            elif self.schema[name].is_categorical:
                if set(map(str, given)) != set(map(str, data)):
                    limits.append(f"{name} one of {', '.join(given)}")
            elif [float(v) for v in given] != [float(v) for v in data]:
                limits.append(f"{name} {given[0]:g} to {given[1]:g}")
        return limits

    def _search(
        self,
        x: np.ndarray,
        params: Any,
        target: Any,
        ranges: dict[str, Any],
        movable: list[str],
        model: CountingModel,
    ) -> tuple[pd.DataFrame | None, str | None]:
        """dice-ml's counterfactuals (its frame), or None and why it found none."""
        options: dict[str, Any] = {
            "total_CFs": dice_candidates(params.total),
            "features_to_vary": movable,
            "permitted_range": ranges,
            "verbose": False,
            # dice-ml's own sparsity search (up to 10,000 one-row calls per feature) fills
            # final_cfs_df_sparse, which is not used: _sparsify does that with the live model
            "posthoc_sparsity_param": None,
        }
        if self.model.is_classifier:
            options["desired_class"] = target
        else:
            options["desired_range"] = list(target)
        if params.algorithm == "random":
            options["random_seed"] = params.seed
            options["sample_size"] = RANDOM_SAMPLES
        else:
            options["maxiterations"] = params.max_iterations
        self._dice_model.current = model
        try:
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                found = self._engine(params.algorithm).generate_counterfactuals(
                    to_dice(self.schema, x), **options
                )
            return found.cf_examples_list[0].final_cfs_df, None
        except Exception as exc:  # dice-ml raises a bare UserConfigValidationException
            if (
                type(exc).__name__ != "UserConfigValidationException"
                or "no counterfactuals" not in str(exc).lower()
            ):
                raise
            return None, str(exc)
        finally:
            self._dice_model.current = None

    def _sparsify(
        self, instance: list[Any], candidates: list[list[Any]], target: Any, model: CountingModel
    ) -> tuple[list[list[Any]], bool]:
        """Revert, one unit at a time (a linked group, or a feature), changes the
        counterfactual does not need; (the rows, whether the budget stopped it).

        Each round tries every single revert of every counterfactual in one model call and
        keeps, per counterfactual, the first revert after which it still reaches the target.
        Invalid candidates are left as they are (they are judged later). A budget that
        stops a round leaves the rows of the rounds before, all already scored.
        """
        current = [list(c) for c in candidates]
        done = [not r for r in self._reach_all(current, target, model)]
        try:
            while not all(done):
                trials: list[tuple[int, list[Any]]] = []
                for i, row in enumerate(current):
                    if done[i]:
                        continue
                    for unit in self._constraints.units:
                        if any(row[j] != instance[j] for j in unit):
                            trial = list(row)
                            for j in unit:
                                trial[j] = instance[j]
                            trials.append((i, trial))
                if not trials:
                    break
                reached = self._reach_all([t[1] for t in trials], target, model)
                improved: set[int] = set()
                for (i, row), ok in zip(trials, reached, strict=True):
                    if ok and i not in improved:
                        current[i] = row
                        improved.add(i)
                done = [d or i not in improved for i, d in enumerate(done)]
        except BudgetExceededError:
            return current, True
        return current, False

    def _reach_all(self, rows: list[list[Any]], target: Any, model: CountingModel) -> list[bool]:
        return [self._reaches(p, target) for p in self._predictions(rows, model)]

    def _desired(self, prediction: Prediction, params: Any) -> tuple[str, Any]:
        """(what is desired, in words; the target dice-ml takes)."""
        if not self.model.is_classifier:
            if params.desired_class is not None:
                raise ParameterError(self.method, "desired_class", "a regression has no classes")
            if params.desired_range is None:
                raise ParameterError(
                    self.method, "desired_range", "a regression needs desired_range (low, high)"
                )
            low, high = params.desired_range
            return f"[{low}, {high}]", (low, high)
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
        else:  # the other of two; of labels, the next class (the one before the last)
            predicted = int(prediction.class_index or 0)
            index = predicted + 1 if predicted + 1 < len(names) else predicted - 1
        if index == prediction.class_index:
            raise ParameterError(
                self.method, "desired_class", f"the model already predicts {names[index]!r}"
            )
        return names[index], index

    def _verify(
        self,
        x: np.ndarray,
        instance: list[Any],
        rows: list[list[Any]],
        target: Any,
        params: Any,
        model: CountingModel,
        report: Report,
    ) -> tuple[CounterfactualResult, CounterfactualFidelity]:
        """Score every candidate with the live model and check it: the desired outcome, the
        constraints, the plausibility. Keep the ones that pass (or all, flagged)."""
        schema = self.schema
        predictions = self._predictions(rows, model)  # rows in canonical wire form
        matrix = schema.to_numeric(rows) if rows else np.empty((0, len(schema)))
        nearest = self._support.nearest(matrix) if rows else np.empty(0)
        report.threshold = self._support.threshold(params.plausibility_quantile)
        report.quantile = params.plausibility_quantile
        kept, distances = [], []
        for row, numeric, predicted, near in zip(rows, matrix, predictions, nearest, strict=True):
            changes = [
                Change(feature=name, from_value=a, to_value=b)
                for name, a, b in zip(schema.names, instance, row, strict=True)
                if a != b
            ]
            valid = self._reaches(predicted, target) and bool(changes)
            violations = self._constraints.violations(x, numeric)
            plausible = bool(near <= report.threshold)
            report.count(valid, violations, plausible)
            passed = valid and not violations and plausible
            if passed and report.passed > params.total:
                continue  # a spare: enough were found before it
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

    def _predictions(self, rows: list[list[Any]], model: CountingModel) -> list[Prediction]:
        return model.predictions(model.raw(self.schema.to_numeric(rows))) if rows else []

    @staticmethod
    def _reaches(predicted: Prediction, target: Any) -> bool:
        """The desired class index, or (low, high) for a regression, is reached."""
        if predicted.value is not None:
            return bool(target[0] <= predicted.value <= target[1])
        return bool(predicted.class_index == target)
