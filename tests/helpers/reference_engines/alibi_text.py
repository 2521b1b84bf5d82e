"""alibi 0.9.4's ``AnchorText`` on a text model behind a V2 URL, run in ``.venv-reference``
(by the text tests and by ``bench.text``).

``unknown`` sampling with ``spacy.blank("en")`` as the tokenizer: it runs offline (its
``similarity`` and ``language_model`` samplers need models downloaded at run time). The
model is sent what MLServer's StringCodec sends: one ``BYTES`` input of shape ``[n, 1]``;
the class is the argmax of the first output's ``n`` rows.

Request (stdin): ``url`` (the model's V2 infer URL), ``texts``, ``threshold`` (0.95),
``explain`` (more keyword arguments of ``explain``, e.g. ``batch_size``), ``seed``.
Answer (stdout): ``explanations``, one per text: ``anchor`` (its words), ``precision``,
``calls`` and ``rows`` (what explaining it sent to the model), ``seconds``; ``setup_rows``
(what building the explainer sent: alibi probes the predictor once).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import httpx
import numpy as np
import spacy
from alibi.explainers import AnchorText


class Model:
    """Class indices of texts, asked of the model over V2; counts requests and rows."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(timeout=600)
        self.calls = self.rows = 0

    def __call__(self, texts: Any) -> np.ndarray:
        texts = [str(t) for t in texts]
        self.calls += 1
        self.rows += len(texts)
        tensor = {"name": "text", "shape": [len(texts), 1], "datatype": "BYTES", "data": texts}
        body = {"inputs": [{**tensor, "parameters": {"content_type": "str"}}]}
        answer = self.client.post(self.url, json=body)
        answer.raise_for_status()
        scores = np.asarray(answer.json()["outputs"][0]["data"], dtype=float)
        return np.asarray(scores.reshape(len(texts), -1).argmax(axis=1))


def main() -> None:
    request = json.load(sys.stdin)
    model = Model(request["url"])
    explainer = AnchorText(
        predictor=model,
        sampling_strategy="unknown",
        nlp=spacy.blank("en"),
        seed=request.get("seed", 0),
    )
    setup_rows = model.rows
    threshold = request.get("threshold", 0.95)
    explanations = []
    for text in request["texts"]:
        model.calls = model.rows = 0
        began = time.perf_counter()
        found = explainer.explain(text, threshold=threshold, **request.get("explain", {}))
        explanations.append(
            {
                "anchor": [str(w) for w in found.anchor],
                "precision": float(np.ravel(found.precision)[0]),
                "calls": model.calls,
                "rows": model.rows,
                "seconds": round(time.perf_counter() - began, 4),
            }
        )
    json.dump({"explanations": explanations, "setup_rows": setup_rows}, sys.stdout)


if __name__ == "__main__":
    main()
