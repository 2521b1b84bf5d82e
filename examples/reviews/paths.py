"""Where the reviews example keeps what ``train.py`` makes (all regenerated, none in git)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL = HERE / "model.joblib"
DATA = HERE / "data"
REFERENCE = DATA / "reference.csv"
HOLDOUT = DATA / "holdout.csv"
TEXT = "review"
TARGET = "score"
CLASS_NAMES = ["great", "other"]
