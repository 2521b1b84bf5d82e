"""The benchmark's data and model: census rows as ordinal codes, one random forest.

The census data (the ``xai`` package, as in ``examples/income/train.py``) is split once:
the training part fits the model, and a sample of it (the *reference*) fits both
explainers; the held-out part is never used to fit anything. The applicants come from it,
and all of it is the evaluation set on which each anchor's precision is re-measured.
Every categorical feature is its ordinal code (the index in its sorted categories), so the
model takes one float matrix, as MLServer's alibi-explain runtime sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from examples.income import paths
from examples.income.train import load_census

FEATURES = paths.FEATURES
CATEGORICAL = paths.CATEGORICAL
TARGET = paths.TARGET
CLASS_NAMES = paths.CLASS_NAMES


@dataclass
class Dataset:
    """Rows in code space (float, columns in ``FEATURES`` order) and their labels."""

    categories: dict[str, list[str]]
    train: np.ndarray
    train_labels: np.ndarray
    reference: np.ndarray
    reference_labels: np.ndarray
    evaluation: np.ndarray
    evaluation_labels: np.ndarray

    def frame(self, matrix: np.ndarray) -> pd.DataFrame:
        """A matrix as a DataFrame with integer columns (codes, and whole-number features)."""
        return pd.DataFrame(matrix, columns=FEATURES).round().astype(int)


def encode(data: pd.DataFrame) -> tuple[np.ndarray, dict[str, list[str]]]:
    """Census rows -> (float matrix with ordinal codes, feature -> sorted categories)."""
    categories = {name: sorted({str(v) for v in data[name]}) for name in CATEGORICAL}
    columns = []
    for name in FEATURES:
        if name in categories:
            lookup = {c: i for i, c in enumerate(categories[name])}
            columns.append(data[name].astype(str).map(lookup).to_numpy(dtype=float))
        else:
            columns.append(data[name].to_numpy(dtype=float))
    return np.column_stack(columns), categories


def load(seed: int, reference_rows: int) -> Dataset:
    """The census split 80/20 (stratified, ``seed``); ``reference_rows`` training rows."""
    census = load_census()
    matrix, categories = encode(census)
    labels = census[TARGET].to_numpy()
    x_train, x_eval, y_train, y_eval = train_test_split(
        matrix, labels, test_size=0.2, random_state=seed, stratify=labels
    )
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x_train), size=min(reference_rows, len(x_train)), replace=False)
    return Dataset(categories, x_train, y_train, x_train[pick], y_train[pick], x_eval, y_eval)


def build_model(categories: dict[str, list[str]], seed: int) -> Pipeline:
    """One-hot encoding of the coded columns (by position: MLServer sends a bare tensor),
    then the random forest of ``examples/income/train.py``."""
    coded = [FEATURES.index(name) for name in CATEGORICAL]
    numeric = [j for j in range(len(FEATURES)) if j not in coded]
    encoder = OneHotEncoder(
        categories=[[float(i) for i in range(len(categories[n]))] for n in CATEGORICAL],
        handle_unknown="ignore",
    )
    encode_step = ColumnTransformer(
        [("categorical", encoder, coded), ("numeric", "passthrough", numeric)]
    )
    forest = RandomForestClassifier(
        n_estimators=100, min_samples_leaf=3, max_depth=20, random_state=seed, n_jobs=1
    )
    return Pipeline([("encode", encode_step), ("model", forest)])


def train(dataset: Dataset, path: Path, seed: int) -> tuple[Pipeline, float]:
    """Fit on the training rows, save with joblib; the accuracy on the evaluation rows."""
    model = build_model(dataset.categories, seed).fit(dataset.train, dataset.train_labels)
    if list(model.classes_) != CLASS_NAMES:
        raise RuntimeError(f"unexpected classes {model.classes_}")
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    accuracy = float((model.predict(dataset.evaluation) == dataset.evaluation_labels).mean())
    return model, accuracy


def pick_applicants(predicted: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` rows of each class, drawn without replacement with
    ``seed``, alternating the classes (``CLASS_NAMES`` order); ``predicted`` holds one class
    index per row."""
    rng = np.random.default_rng(seed)
    chosen = []
    for k in range(len(CLASS_NAMES)):
        rows = np.flatnonzero(predicted == k)
        if len(rows) < per_class:
            raise ValueError(f"only {len(rows)} rows are predicted {CLASS_NAMES[k]!r}")
        chosen.append(rng.choice(rows, size=per_class, replace=False))
    return np.column_stack(chosen).ravel()
