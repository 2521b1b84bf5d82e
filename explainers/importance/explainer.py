"""Global permutation importance (eli5) against labelled reference data.

Each feature's column is shuffled in turn and the live model scored again; the drop of the
score (accuracy for classifiers, R² for regressions) is that feature's importance. Needs
the target column of the reference data. Costs ``1 + iterations * n_features`` calls of
``rows`` rows each.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from explainers.base import Explainer, ExplainerParams
from explainers.budget import CostEstimate, Tally
from explainers.classes import infer_class_names
from explainers.errors import ExplainerError
from explainers.explanation import FeatureImportance, ImportanceFidelity, ImportanceResult
from explainers.model import CountingModel
from explainers.schema import FeatureSchema


class ImportanceParams(ExplainerParams):
    rows: int = Field(1000, ge=10, le=100_000, description="labelled reference rows used")
    iterations: int = Field(5, ge=1, le=50, description="shuffles per feature")


class ImportanceExplainer(Explainer):
    method = "importance"
    Params = ImportanceParams
    local = False
    needs_target = True

    def fit(self) -> None:
        assert self.target is not None  # check_model
        labels = self.reference[self.target]
        if self.model.is_classifier:
            names = infer_class_names(labels, self.model.class_names)
            unknown = sorted(set(labels.astype(str)) - set(names))
            if unknown:
                raise ExplainerError(
                    f"target values {unknown[:5]} are not among the classes {names}"
                )
            self._y = np.array([names.index(v) for v in labels.astype(str)])
        else:
            values = pd.to_numeric(labels, errors="coerce").to_numpy(dtype=float)
            if not np.isfinite(values).all():
                raise ExplainerError(
                    f"the target {self.target!r} of a regression must hold a number in every "
                    "reference row"
                )
            self._y = values

    @classmethod
    def estimate(
        cls,
        params: Any,
        schema: FeatureSchema,
        *,
        reference_rows: int,
        max_batch_rows: int | None = None,
    ) -> CostEstimate:
        """An upper bound: eli5 scores the chosen rows (``rows``, at most the reference
        rows) once, then once per feature per iteration with that feature shuffled; rows
        that shuffling left unchanged are answered from memory."""
        n = min(params.rows, reference_rows)
        scorings = 1 + params.iterations * len(schema)
        return Tally(max_batch_rows).call(n, scorings).estimate(("rows", "iterations"))

    def _explain(
        self, x: np.ndarray | None, params: Any, model: CountingModel
    ) -> tuple[None, ImportanceResult, ImportanceFidelity]:
        from eli5.permutation_importance import get_score_importances

        rng = np.random.default_rng(params.seed)
        n = min(params.rows, len(self.reference_matrix))
        chosen = np.sort(rng.choice(len(self.reference_matrix), n, replace=False))
        X, y = self.reference_matrix[chosen], self._y[chosen]
        classifier = self.model.is_classifier

        def score(matrix: np.ndarray, truth: np.ndarray) -> float:
            if classifier:
                return float(np.mean(model.classes(matrix) == truth))
            predicted = model.values(matrix)
            spread = float(np.sum((truth - truth.mean()) ** 2)) or 1.0
            return 1.0 - float(np.sum((truth - predicted) ** 2)) / spread

        baseline, decreases = get_score_importances(
            score, X, y, n_iter=params.iterations, random_state=params.seed
        )
        drops = np.asarray(decreases)  # (iterations, features)
        features = sorted(
            (
                FeatureImportance(
                    feature=name, mean=float(drops[:, j].mean()), std=float(drops[:, j].std())
                )
                for j, name in enumerate(self.schema.names)
            ),
            key=lambda f: -f.mean,
        )
        result = ImportanceResult(
            scoring="accuracy" if classifier else "r2",
            baseline_score=float(baseline),
            rows=n,
            iterations=params.iterations,
            features=features,
        )
        return None, result, ImportanceFidelity(baseline_score=float(baseline), rows=n)
