"""alibi 0.9.4's ``AnchorTabular`` on rows in the explainer space, run in ``.venv-reference``.

Request (stdin): ``features`` (per column: ``name``, ``wire``: the wire value of each code of
a categorical feature or null, ``integer``), ``reference`` and ``instances`` (numeric
matrices), ``model`` (``{"records_url": URL}``: the model server's records route, or
``{"rule": true}``: ``tests.helpers.ground_truth.rule_classifier`` in this process),
``fit`` and ``explain`` (keyword arguments), ``seed``. Answer (stdout): ``explanations``
(alibi's JSON of each instance), ``calls`` and ``rows`` (what each instance sent to the
model), ``setup_calls`` (what fitting sent).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import httpx
import numpy as np
from alibi.explainers import AnchorTabular


class Model:
    """Class indices of numeric rows: decoded to wire rows, answered by the model."""

    def __init__(self, features: list[dict[str, Any]], model: dict[str, Any]) -> None:
        self.features = features
        self.model = model
        self.client = httpx.Client(timeout=120)
        self.calls = self.rows = 0

    def _wire(self, row: np.ndarray) -> list[Any]:
        values: list[Any] = []
        for feature, x in zip(self.features, row, strict=True):
            wire = feature["wire"]
            if wire is not None:
                values.append(wire[min(max(round(float(x)), 0), len(wire) - 1)])
            else:
                values.append(round(float(x)) if feature["integer"] else float(x))
        return values

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        rows = [self._wire(row) for row in np.atleast_2d(matrix)]
        self.calls += 1
        self.rows += len(rows)
        if self.model.get("rule"):
            from tests.helpers.ground_truth import rule_classifier

            scores = rule_classifier(rows)
        else:
            names = [f["name"] for f in self.features]
            records = [dict(zip(names, row, strict=True)) for row in rows]
            answer = self.client.post(self.model["records_url"], json=records)
            answer.raise_for_status()
            scores = np.asarray(answer.json()["predictions"], dtype=float)
        return np.argmax(scores, axis=1)


def main() -> None:
    request = json.load(sys.stdin)
    features = request["features"]
    model = Model(features, request["model"])
    categorical = {
        i: [str(v) for v in f["wire"]] for i, f in enumerate(features) if f["wire"] is not None
    }
    explainer = AnchorTabular(
        model,
        feature_names=[f["name"] for f in features],
        categorical_names=categorical,
        seed=request.get("seed", 0),
    )
    explainer.fit(np.asarray(request["reference"], dtype=float), **request.get("fit", {}))
    setup_calls = model.calls  # AnchorTabular asks the model once to learn its output
    explanations, calls, rows = [], [], []
    for x in request["instances"]:
        model.calls = model.rows = 0
        found = explainer.explain(np.asarray(x, dtype=float), **request.get("explain", {}))
        explanations.append(json.loads(found.to_json()))
        calls.append(model.calls)
        rows.append(model.rows)
    answer = {"explanations": explanations, "calls": calls, "rows": rows}
    json.dump({**answer, "setup_calls": setup_calls}, sys.stdout)


if __name__ == "__main__":
    main()
