"""The text row of the benchmark: our anchors and SHAP for text against alibi 0.9.4's
``AnchorText`` (``unknown`` sampling, ``spacy.blank("en")``, in-process) on the same model
server, the reviews example's (``examples/reviews``).

    python -m bench.text [--reviews 10]

Our explanations are asked of the service over HTTP (``POST /explain``, the V2 payload);
the bench imports none of it. For each held-out review: latency, model calls and rows
counted at the model server, anchor length, and the precision re-measured on the held-out
reviews that contain every anchor word (the share the model gives the explained review's
class). Then the time of SHAP for a review of about 50 tokens (after one to warm up).
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import re
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
import yaml

from bench.processes import Server, free_port
from examples.reviews import paths

#: the service's tokens (explainers.tokens), written out: the bench imports none of it
TOKEN = re.compile(r"\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def words_of(text: str) -> set[str]:
    """The lower-cased words of ``text``."""
    return {t.lower() for t in tokens(text) if re.match(r"\w", t)}


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
    directory = Path(tempfile.mkdtemp())
    model_port, port = free_port(), free_port()
    base = f"http://127.0.0.1:{model_port}"
    model = Server(
        "reviews model",
        [sys.executable, "-m", "examples.reviews.model_server", "--port", str(model_port)],
        f"{base}/v2/health/ready",
        directory / "reviews-model.log",
    ).wait_ready(120)
    config = yaml.safe_load((paths.HERE / "explainer.yaml").read_text())
    config["model"]["url"] = f"{base}/v2/models/reviews/infer"
    config["data"]["reference"] = str(paths.REFERENCE)
    config["service"] = {"store": ":memory:", "workers": 1}
    (directory / "explainer.yaml").write_text(yaml.safe_dump(config))
    script = Path(sys.executable).parent / "explainer-service"
    service = Server(
        "explainer service",
        [script, "serve", "--config", directory / "explainer.yaml", "--port", str(port)],
        f"http://127.0.0.1:{port}/health/ready",
        directory / "service.log",
    ).wait_ready(300)
    try:
        _run(args.reviews, base, f"http://127.0.0.1:{port}")
    finally:
        service.stop()
        model.stop()


def _v2(texts: list[str]) -> dict[str, Any]:
    tensor = {"name": "text", "shape": [len(texts), 1], "datatype": "BYTES", "data": texts}
    return {"inputs": [{**tensor, "parameters": {"content_type": "str"}}]}


def _explain(service: str, method: str, text: str) -> dict[str, Any]:
    answer = httpx.post(f"{service}/explain?method={method}", json=_v2([text]), timeout=600)
    answer.raise_for_status()
    explained: dict[str, Any] = answer.json()
    return explained


def _run(count: int, base: str, service: str) -> None:
    import spacy
    from alibi.explainers import AnchorText

    holdout = pd.read_csv(paths.HOLDOUT)[paths.TEXT].astype(str).tolist()
    held_words = [words_of(text) for text in holdout]

    def classes(texts: list[str]) -> np.ndarray:
        answer = httpx.post(f"{base}/v2/models/reviews/infer", json=_v2(texts), timeout=600)
        scores = np.asarray(answer.json()["outputs"][0]["data"]).reshape(len(texts), -1)
        return np.asarray(scores.argmax(axis=1))

    held_classes = classes(holdout)
    reviews = [t for t in holdout if 15 <= len(t.split()) <= 60][:count]
    alibi = AnchorText(
        predictor=lambda texts: classes(list(texts)),
        sampling_strategy="unknown",
        nlp=spacy.blank("en"),
        seed=0,
    )
    rows: dict[str, list[tuple[float, int, int, int, float]]] = {"ours": [], "alibi": []}

    def _held(words: list[str], target: int) -> float:
        """The share of held-out reviews with every word the model gives ``target``."""
        wanted = {w.lower() for w in words}
        pairs = zip(held_words, held_classes, strict=True)
        share = [c == target for ws, c in pairs if wanted <= ws]
        return float(np.mean(share)) if share else float("nan")

    for text in reviews:
        target = int(classes([text])[0])
        e, seconds, calls, sent = _counted(base, lambda t=text: _explain(service, "anchors", t))
        words = e["result"]["words"]
        rows["ours"].append((seconds, calls, sent, len(words), _held(words, target)))
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
    fifty = min(holdout, key=lambda t: abs(len(tokens(t)) - 50))
    _explain(service, "shap", reviews[0])  # the worker's first SHAP imports shap
    e, seconds, calls, sent = _counted(base, lambda: _explain(service, "shap", fifty))
    print(
        f"\nSHAP, {len(tokens(fifty))} tokens: {seconds:.2f} s, {calls} calls, {sent} rows, "
        f"largest standard error {e['fidelity']['max_standard_error']:.3f}"
    )


if __name__ == "__main__":
    main()
