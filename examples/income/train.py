"""Train the income model: raw census features in, class probabilities out.

    python -m examples.income.train [--out-dir DIR]

Writes ``model.joblib`` (a scikit-learn Pipeline that takes the raw features: strings for the
categorical ones, numbers for the rest), ``data/reference.csv`` (training rows with the
target), ``data/holdout.csv`` (test rows with the target) and ``data/payloads/*.json`` (the
same two applicants, one refused and one approved, in every protocol). Deterministic.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from examples.income import paths
from explainers.wire import native

SEED = 0
REFERENCE_ROWS = 3000
HOLDOUT_ROWS = 2000
MIN_ACCURACY = 0.84


def load_census() -> pd.DataFrame:
    """The Adult census data shipped in the ``xai`` package, whitespace stripped."""
    import xai.data

    data = xai.data.load_census()
    for column in data.columns:
        if data[column].dtype == object:
            data[column] = data[column].str.strip()
    return data[[*paths.FEATURES, paths.TARGET]]


def build_pipeline() -> Pipeline:
    encode = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), paths.CATEGORICAL),
            ("numeric", StandardScaler(), paths.NUMERIC),
        ]
    )
    forest = RandomForestClassifier(
        n_estimators=100, min_samples_leaf=3, max_depth=20, random_state=SEED, n_jobs=1
    )
    return Pipeline([("encode", encode), ("model", forest)])


def sample_payloads(applicants: pd.DataFrame) -> dict[str, object]:
    """The applicants as each protocol's request body, as a client would send them."""
    from explainer_service.model_client.codecs import (
        KServeV1Codec,
        MlflowCodec,
        RecordsCodec,
        SeldonCodec,
        V2Codec,
    )
    from explainer_service.settings import MlflowOptions, V2Options

    names = paths.FEATURES
    rows = [[native(v) for v in row] for row in applicants[names].itertuples(index=False)]
    return {
        "v2": V2Codec(names).encode_request(rows),
        "v2-columnar": V2Codec(
            names, V2Options(input_layout="columnar", output_name="predict_proba")
        ).encode_request(rows),
        "seldon": SeldonCodec(names).encode_request(rows),
        "kserve-v1": KServeV1Codec(names).encode_request(rows),
        "mlflow-split": MlflowCodec(names).encode_request(rows),
        "mlflow-records": MlflowCodec(
            names, MlflowOptions(format="dataframe_records")
        ).encode_request(rows),
        "records": RecordsCodec(names).encode_request(rows),
    }


def train(out_dir: Path = paths.HERE) -> float:
    """Train, save everything, and return the held-out accuracy."""
    data = load_census()
    features, target = data[paths.FEATURES], data[paths.TARGET]
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.2, random_state=SEED, stratify=target
    )
    pipeline = build_pipeline().fit(x_train, y_train)
    accuracy = float((pipeline.predict(x_test) == y_test).mean())
    if list(pipeline.classes_) != paths.CLASS_NAMES:
        raise RuntimeError(f"unexpected classes {pipeline.classes_}")

    data_dir = out_dir / "data"
    (data_dir / "payloads").mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, out_dir / "model.joblib")
    train_rows = x_train.assign(**{paths.TARGET: y_train})
    train_rows.sample(REFERENCE_ROWS, random_state=SEED).to_csv(
        data_dir / "reference.csv", index=False
    )
    test_rows = x_test.assign(**{paths.TARGET: y_test}).sample(HOLDOUT_ROWS, random_state=SEED)
    test_rows.to_csv(data_dir / "holdout.csv", index=False)

    predicted = pipeline.predict(test_rows[paths.FEATURES])
    refused = test_rows[predicted == "<=50K"].iloc[:1]
    approved = test_rows[predicted == ">50K"].iloc[:1]
    applicants = pd.concat([refused, approved])
    for name, body in sample_payloads(applicants).items():
        (data_dir / "payloads" / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n")
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=paths.HERE)
    args = parser.parse_args()
    accuracy = train(args.out_dir)
    print(f"held-out accuracy: {accuracy:.4f}")
    if accuracy < MIN_ACCURACY:
        raise SystemExit(f"accuracy {accuracy:.4f} is below {MIN_ACCURACY}")
    print(f"saved {args.out_dir / 'model.joblib'} and {args.out_dir / 'data'}/")


if __name__ == "__main__":
    main()
