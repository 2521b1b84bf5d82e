"""HTTP clients for what the benchmark measures: the two explainers, the proxies, the model.

Every call is timed from the caller's side; a failure is kept as an ``Outcome`` with its
error (status and message) instead of stopping the benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from bench import mlserver, ours

TIMEOUT = httpx.Timeout(600.0, connect=10.0)


@dataclass
class Outcome:
    """One explanation as the caller saw it; ``calls``/``rows`` are counted at the model."""

    seconds: float
    status: int | None
    body: Any
    error: str | None
    calls: int | None = None
    rows: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def error_text(status: int, body: Any, text: str) -> str:
    """``"422 payload_error: message"`` from the service's ``{"error": {...}}``, MLServer's
    ``{"error": "..."}`` / ``{"detail": ...}``, or the start of the text."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return f"{status} {error.get('code')}: {error.get('message')}"
        if error is not None:
            return f"{status}: {error}"
        if "detail" in body:
            return f"{status}: {body['detail']}"
    return f"{status}: {text[:300]}"


def post(
    client: httpx.Client, url: str, body: Any, params: dict[str, Any] | None = None
) -> Outcome:
    start = time.perf_counter()
    try:
        answer = client.post(url, json=body, params=params)
    except httpx.HTTPError as exc:
        return Outcome(time.perf_counter() - start, None, None, f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    try:
        parsed = answer.json()
    except ValueError:
        parsed = None
    if answer.status_code != 200:
        return Outcome(
            seconds, answer.status_code, parsed, error_text(answer.status_code, parsed, answer.text)
        )
    return Outcome(seconds, answer.status_code, parsed, None)


class Proxy:
    """The counting proxy in front of the model server (``bench.proxy``)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._client = httpx.Client(base_url=base, timeout=30.0)

    def reset(self) -> None:
        self._client.post("/_bench/reset").raise_for_status()

    def stats(self) -> dict[str, int]:
        answer = self._client.get("/_bench/stats")
        answer.raise_for_status()
        counts: dict[str, int] = answer.json()
        return counts

    def counted(self, call: Callable[[], Outcome]) -> Outcome:
        """``call()`` with the model calls and rows it caused (one caller at a time)."""
        self.reset()
        outcome = call()
        counts = self.stats()
        outcome.calls, outcome.rows = counts["calls"], counts["rows"]
        return outcome

    def close(self) -> None:
        self._client.close()


class Ours:
    """The explainer service: ``POST /explain?method=...`` with the model's payload."""

    name = "ours"

    def __init__(self, base: str, proxy: Proxy, datatype: str = "FP64") -> None:
        self.base = base
        self.proxy = proxy
        self.datatype = datatype
        self.live_url = f"{base}/health/live"

    def explain(
        self, client: httpx.Client, method: str, row: list[float], **params: Any
    ) -> Outcome:
        query = {"method": method, **{k: str(v) for k, v in params.items()}}
        return post(client, f"{self.base}/explain", ours.payload(row, self.datatype), query)

    def anchors(self, client: httpx.Client, row: list[float], seed: int) -> Outcome:
        return self.explain(client, "anchors", row, seed=seed)


class MLServerExplainers:
    """MLServer's alibi-explain runtime: ``POST /v2/models/{explainer}/infer``. alibi's seed
    is fixed when the explainer is built, so ``seed`` is not sent."""

    name = "mlserver"

    def __init__(self, base: str, proxy: Proxy, threshold: float) -> None:
        self.base = base
        self.proxy = proxy
        self.threshold = threshold
        self.live_url = f"{base}/v2/health/live"

    def anchors(self, client: httpx.Client, row: list[float], seed: int) -> Outcome:
        body = mlserver.explain_request(row, {"threshold": self.threshold})
        outcome = post(client, f"{self.base}/v2/models/{mlserver.ANCHORS_NAME}/infer", body)
        return _unwrap(outcome)

    def shap(self, client: httpx.Client, row: list[float], nsamples: int) -> Outcome:
        parameters = {"nsamples": nsamples, "l1_reg": False, "silent": True}
        body = mlserver.explain_request(row, parameters)
        outcome = post(client, f"{self.base}/v2/models/{mlserver.SHAP_NAME}/infer", body)
        return _unwrap(outcome)


def _unwrap(outcome: Outcome) -> Outcome:
    if outcome.ok:
        try:
            outcome.body = mlserver.explanation_of(outcome.body)
        except (ValueError, LookupError, TypeError) as exc:
            outcome.error = f"unreadable explanation: {exc}"
    return outcome


def score(client: httpx.Client, url: str, matrix: np.ndarray, batch: int = 2000) -> np.ndarray:
    """Probabilities (n, classes) of ``matrix``'s rows from the model, ``batch`` rows a call."""
    parts = []
    for start in range(0, len(matrix), batch):
        chunk = np.asarray(matrix[start : start + batch], dtype=float)
        body = {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": list(chunk.shape),
                    "datatype": "FP64",
                    "data": chunk.ravel().tolist(),
                }
            ]
        }
        answer = client.post(url, json=body)
        answer.raise_for_status()
        output = answer.json()["outputs"][0]
        parts.append(np.asarray(output["data"], dtype=float).reshape(output["shape"]))
    return np.concatenate(parts) if parts else np.empty((0, 0))
