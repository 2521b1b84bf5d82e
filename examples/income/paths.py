"""Where the income example keeps what ``train.py`` makes (all regenerated, none in git)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL = HERE / "model.joblib"
DATA = HERE / "data"
REFERENCE = DATA / "reference.csv"
HOLDOUT = DATA / "holdout.csv"
PAYLOADS = DATA / "payloads"
TARGET = "loan"
CLASS_NAMES = ["<=50K", ">50K"]
#: The model's feature order (the census column order).
FEATURES = [
    "age",
    "workclass",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "ethnicity",
    "gender",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
]
CATEGORICAL = [
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "relationship",
    "ethnicity",
    "gender",
]
NUMERIC = ["age", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
