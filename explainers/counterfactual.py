"""Counterfactuals with dice-ml's model-agnostic methods (``genetic``, ``random``).

dice-ml works on a DataFrame in which a categorical feature holds the category's text (the
name in ``Feature.categories``, whatever the model takes on the wire) and a numeric one its
number, with the reference data as its data interface; it never sees the model except
through ``predict_proba`` / ``predict`` on such frames, which go to the model as wire values.
Immutable features are left out of ``features_to_vary``; the ranges a feature may take are
those of the reference data. Every counterfactual dice-ml returns is scored again by the
live model, and the ones that do not reach the desired outcome (or touch an immutable
feature) are dropped, or kept and flagged.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from explainers.base import Explainer, ExplainerParams
from explainers.budget import CostEstimate, Tally
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

OUTCOME = "__outcome__"
#: Rows dice-ml's ``random`` method draws per number of features it varies.
RANDOM_SAMPLES = 1000
#: Individuals per counterfactual asked for in dice-ml's ``genetic`` population.
POPULATION_PER_CF = 10
#: Draws per individual that an estimate allows dice-ml's random initialisation (unbounded).
RANDOM_INIT_DRAWS = 50


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
        None, description="default: the other class (binary) or the next most likely"
    )
    desired_range: tuple[float, float] | None = Field(None, description="regression only")
    max_iterations: int = Field(50, ge=5, le=1000, description="genetic generations at most")
    keep_invalid: bool = Field(False, description="keep invalid counterfactuals, flagged")
    sparsify: bool = Field(
        True, description="revert every change the live model shows is not needed"
    )

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
        numeric = [f.name for f in self.schema.features if not f.is_categorical]
        self._data = dice_ml.Data(
            dataframe=frame, continuous_features=numeric, outcome_name=OUTCOME
        )
        self._dice_model = _DiceModel(self)
        self._model = dice_ml.Model(
            model=self._dice_model,
            backend="sklearn",
            model_type="classifier" if self.model.is_classifier else "regressor",
        )
        self._engines: dict[str, Any] = {}
        self._ranges = {f.name: (f.min, f.max) for f in self.schema.features if f.min is not None}

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

        The instance (one row). ``genetic``: the query twice more (answered from memory when
        dice-ml's round trip leaves it unchanged), every reference row once (the k-d tree of
        the desired class), the random initialisation, one call per generation of
        ``10 * total`` individuals for ``max_iterations`` generations, and a last check of
        each counterfactual. The random initialisation is why this is not an upper bound:
        individuals the nearest reference rows of the desired class do not supply are drawn
        at random, one row and one call at a time, until one is valid, with no limit. It is
        counted as ``RANDOM_INIT_DRAWS`` draws per individual of the population (on the
        income model at most about 30 were needed); the budget enforced while it runs caps
        the rest. ``random``: one call of ``RANDOM_SAMPLES`` rows per number of mutable
        features varied, then the counterfactuals kept. Then, with ``sparsify``, the
        candidates and at most one round per mutable feature, each trying every single
        revert of every candidate in one call; and the verification.
        """
        total = params.total
        mutable = sum(not f.immutable for f in schema.features)
        tally = Tally(max_batch_rows).call(1)
        genetic = params.algorithm == "genetic"
        if genetic:
            population = POPULATION_PER_CF * total
            tally.call(1, times=2).call(reference_rows).call(1, population * RANDOM_INIT_DRAWS)
            tally.call(population, times=params.max_iterations)
            tally.call(1, times=total)
        else:
            tally.call(1).call(RANDOM_SAMPLES, times=mutable).call(total)
        if params.sparsify:
            tally.call(total)
            for changes in range(mutable, 0, -1):
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
        prediction = model.predict_one(x)
        desired, dice_target = self._desired(prediction, params)
        instance = self.schema.to_wire(x)[0]
        query = to_dice(self.schema, x)
        mutable = [f.name for f in self.schema.features if not f.immutable]
        options: dict[str, Any] = {
            "total_CFs": params.total,
            "features_to_vary": mutable,
            "verbose": False,
            # dice-ml's own sparsity search (up to 10,000 one-row calls per feature) fills
            # final_cfs_df_sparse, which is not used: _sparsify does that with the live model
            "posthoc_sparsity_param": None,
        }
        if self.model.is_classifier:
            options["desired_class"] = dice_target
        else:
            options["desired_range"] = list(dice_target)
        if params.algorithm == "random":
            options["random_seed"] = params.seed
            options["sample_size"] = RANDOM_SAMPLES
        else:
            options["maxiterations"] = params.max_iterations
        self._dice_model.current = model
        message = None
        try:
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                found = self._engine(params.algorithm).generate_counterfactuals(query, **options)
            frame = found.cf_examples_list[0].final_cfs_df
        except Exception as exc:  # dice-ml raises a bare UserConfigValidationException
            if (
                type(exc).__name__ != "UserConfigValidationException"
                or "no counterfactuals" not in str(exc).lower()
            ):
                raise
            frame, message = None, str(exc)
        finally:
            self._dice_model.current = None
        candidates = (
            [] if frame is None else self.schema.to_wire(from_dice(self.schema, frame))
        )  # in canonical wire form
        if params.sparsify and candidates:
            candidates = self._sparsify(instance, candidates, dice_target, model)
        candidates = [list(row) for row in dict.fromkeys(tuple(row) for row in candidates)]
        return prediction, *self._verify(
            instance, candidates, desired, dice_target, params, model, message
        )

    def _sparsify(
        self, instance: list[Any], candidates: list[list[Any]], target: Any, model: CountingModel
    ) -> list[list[Any]]:
        """Revert, one at a time, changes the counterfactual does not need.

        Each round tries every single revert of every counterfactual in one model call and
        keeps, per counterfactual, the first revert after which it still reaches the target.
        Invalid candidates are left as they are (they are judged later).
        """
        current = [list(c) for c in candidates]
        done = [not r for r in self._reach_all(current, target, model)]
        while not all(done):
            trials: list[tuple[int, list[Any]]] = []
            for i, row in enumerate(current):
                if done[i]:
                    continue
                for j, (a, b) in enumerate(zip(instance, row, strict=True)):
                    if a != b:
                        trials.append((i, [*row[:j], a, *row[j + 1 :]]))
            if not trials:
                break
            reached = self._reach_all([t[1] for t in trials], target, model)
            improved: set[int] = set()
            for (i, row), ok in zip(trials, reached, strict=True):
                if ok and i not in improved:
                    current[i] = row
                    improved.add(i)
            done = [d or i not in improved for i, d in enumerate(done)]
        return current

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
        else:
            index = 1 - int(prediction.class_index or 0)
        if index == prediction.class_index:
            raise ParameterError(
                self.method, "desired_class", f"the model already predicts {names[index]!r}"
            )
        return names[index], index

    def _verify(
        self,
        instance: list[Any],
        candidates: list[list[Any]],
        desired: str,
        target: Any,
        params: Any,
        model: CountingModel,
        message: str | None,
    ) -> tuple[CounterfactualResult, CounterfactualFidelity]:
        """Score every candidate with the live model; keep the valid ones (or flag)."""
        schema = self.schema
        rows = candidates  # already in canonical wire form
        predictions = self._predictions(rows, model)
        kept, valid_count, distances = [], 0, []
        for row, predicted in zip(rows, predictions, strict=True):
            changes = [
                Change(feature=name, from_value=a, to_value=b)
                for name, a, b in zip(schema.names, instance, row, strict=True)
                if a != b
            ]
            touches_immutable = any(schema[c.feature].immutable for c in changes)
            valid = self._reaches(predicted, target) and not touches_immutable and bool(changes)
            valid_count += valid
            if valid or params.keep_invalid:
                kept.append(
                    Counterfactual(
                        values=dict(zip(schema.names, row, strict=True)),
                        changes=changes,
                        prediction=predicted,
                        valid=valid,
                    )
                )
                distances.append(self._distance(changes))
        generated = len(rows)
        if not kept and message is None:
            message = (
                f"no counterfactual reaching {desired} was found "
                f"({generated} candidate(s) from dice-ml, none valid on the live model)"
            )
        result = CounterfactualResult(
            desired=desired, found=bool(kept), message=message, counterfactuals=kept
        )
        fidelity = CounterfactualFidelity(
            requested=params.total,
            generated=generated,
            valid=valid_count,
            dropped_invalid=0 if params.keep_invalid else generated - valid_count,
            validity=valid_count / generated if generated else 1.0,
            sparsity=float(np.mean([len(c.changes) for c in kept])) if kept else 0.0,
            proximity=float(np.mean(distances)) if distances else 0.0,
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

    def _distance(self, changes: list[Change]) -> float:
        total = 0.0
        for change in changes:
            low, high = self._ranges.get(change.feature, (None, None))
            if low is not None and high is not None and high > low:
                total += abs(float(change.to_value) - float(change.from_value)) / (high - low)
            else:
                total += 1.0
        return total / len(self.schema)
