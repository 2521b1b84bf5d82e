"""A tabular model behind a V2 URL as a function of frames, counting what it is sent: used by
``bench.counterfactuals`` in the project's environment and by ``bench.dice_reference`` in
``.venv-reference`` (it imports only httpx, numpy and pandas, which both have)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import pandas as pd


class Model:
    """The model server's probabilities for frames of ``features`` (one ``BYTES`` tensor of
    the values, in that order), counting requests (``calls``) and ``rows``."""

    def __init__(self, url: str, features: Sequence[str], timeout: float = 300.0) -> None:
        self.url = url
        self.features = list(features)
        self.client = httpx.Client(timeout=timeout)
        self.calls = 0
        self.rows = 0

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        rows = [[native(v) for v in row] for row in frame[self.features].itertuples(index=False)]
        self.calls += 1
        self.rows += len(rows)
        tensor = {
            "name": "input-0",
            "shape": [len(rows), len(self.features)],
            "datatype": "BYTES",
            "data": [v for row in rows for v in row],
        }
        answer = self.client.post(self.url, json={"inputs": [tensor]})
        answer.raise_for_status()
        output = answer.json()["outputs"][0]
        return np.asarray(output["data"], dtype=float).reshape(len(rows), -1)


def native(value: Any) -> Any:
    """A numpy scalar as the Python value JSON takes."""
    return value.item() if hasattr(value, "item") else value
