"""The text row of the benchmark: our anchors and SHAP for text against alibi 0.9.4's
``AnchorText`` (``unknown`` sampling, ``spacy.blank("en")``, in-process) on the same model
server, the reviews example's (``examples/reviews``).

    python -m bench.text [--reviews 10]

For each held-out review: latency, model calls and rows counted at the model server,
anchor length, and the precision re-measured on the held-out reviews that contain every
anchor word (the share the model gives the explained review's class). Then the time of
SHAP for a review of about 50 tokens (after one to warm up). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from bench.processes import Server, free_port
from examples.reviews import paths
from explainer_service.runtime import FittedRuntime
from explainer_service.settings import load_settings
from explainers.text.base import words_of
from explainers.tokens import tokenize


def _stats(base: str) -> tuple[int, int]:
    served = httpx.get(base + "/stats", timeout=30).json()
    return int(served["requests"]), int(served["rows"])


def _counted(base: str, run: Callable[[], Any]) -> tuple[Any, float, int, int]:
    before = _stats(base)
    began = time.perf_counter()
    answer = run()
    seconds = time.perf_counter() - began
    after = _stats(base)
    return answer, seconds, after[0] - before[0], after[1] - before[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reviews", type=int, default=10)
    args = parser.parse_args()
    if not paths.MODEL.exists():
        from examples.reviews.train import train

        train()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = Server(
        "reviews model",
        [sys.executable, "-m", "examples.reviews.model_server", "--port", str(port)],
        f"{base}/v2/health/ready",
        Path(tempfile.mkdtemp()) / "reviews-model.log",
    ).wait_ready(120)
    url = f"{base}/v2/models/reviews/infer"
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.model.url = url  # type: ignore[assignment]
    runtime = FittedRuntime(settings)
    try:
        _run(args.reviews, base, runtime)
    finally:
        runtime.close()
        server.stop()


def _run(count: int, base: str, runtime: FittedRuntime) -> None:
    import spacy
    from alibi.explainers import AnchorText

    holdout = pd.read_csv(paths.HOLDOUT)[paths.TEXT].astype(str).tolist()
    held_words = [words_of(text) for text in holdout]

    def classes(texts: list[str]) -> np.ndarray:
        return np.asarray(runtime.model.predict([[t] for t in texts])).argmax(axis=1)

    held_classes = classes(holdout)
    reviews = [t for t in holdout if 15 <= len(t.split()) <= 60][:count]
    alibi = AnchorText(
        predictor=lambda texts: classes(list(texts)),
        sampling_strategy="unknown",
        nlp=spacy.blank("en"),
        seed=0,
    )
    ours_explainer = runtime.explainer("anchors")
    rows: dict[str, list[tuple[float, int, int, int, float]]] = {"ours": [], "alibi": []}

    def _held(words: list[str], target: int) -> float:
        """The share of held-out reviews with every word the model gives ``target``."""
        wanted = {w.lower() for w in words}
        pairs = zip(held_words, held_classes, strict=True)
        share = [c == target for ws, c in pairs if wanted <= ws]
        return float(np.mean(share)) if share else float("nan")

    for text in reviews:
        target = int(classes([text])[0])
        e, seconds, calls, sent = _counted(base, lambda t=text: ours_explainer.explain([t]))
        held = _held(e.result.words, target)
        rows["ours"].append((seconds, calls, sent, len(e.result.words), held))
        a, seconds, calls, sent = _counted(
            base, lambda t=text: alibi.explain(t, threshold=0.95, batch_size=100)
        )
        held = _held(list(a.anchor), target)
        rows["alibi"].append((seconds, calls, sent, len(a.anchor), held))

        def _held(words: list[str], target: int = target) -> float:
            wanted = {w.lower() for w in words}
            share = [
                c == target for ws, c in zip(held_words, held_classes, strict=True) if wanted <= ws
            ]
            return float(np.mean(share)) if share else float("nan")

    print(
        "| engine | median s | median calls | median rows | mean anchor words | "
        "median held-out precision | held-out precision < 0.95 |"
    )
    print("|---|---|---|---|---|---|---|")
    for engine, measured in rows.items():
        seconds, calls, sent, length, held = (list(c) for c in zip(*measured, strict=True))
        valid = [h for h in held if h == h]
        print(
            f"| {engine} | {statistics.median(seconds):.2f} | {statistics.median(calls):.0f} | "
            f"{statistics.median(sent):.0f} | {statistics.mean(length):.1f} | "
            f"{statistics.median(valid) if valid else float('nan'):.3f} | "
            f"{sum(h < 0.95 for h in valid)} of {len(valid)} |"
        )
    fifty = min(holdout, key=lambda t: abs(len(tokenize(t)) - 50))
    shap = runtime.explainer("shap")
    shap.explain([reviews[0]])  # warm up shap
    e, seconds, calls, sent = _counted(base, lambda: shap.explain([fifty]))
    print(
        f"\nSHAP, {len(tokenize(fifty))} tokens: {seconds:.2f} s, {calls} calls, {sent} rows, "
        f"largest standard error {e.fidelity.max_standard_error:.3f}"
    )


if __name__ == "__main__":
    main()
