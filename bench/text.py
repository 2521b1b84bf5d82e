"""The text row of the benchmark: our anchors and SHAP for text against alibi 0.9.4's
``AnchorText`` (``unknown`` sampling, ``spacy.blank("en")``) on the same model server, the
reviews example's (``examples/reviews``).

    python -m bench.text [--reviews 10] [--out bench-output]

Our explanations are asked of the service over HTTP (``POST /explain``, the V2 payload);
the bench imports none of it. alibi runs in ``.venv-reference``
(``tests.helpers.reference_engines.alibi_text``, started through ``bench.reference``) and
calls the model server itself. For each held-out review: latency, model calls and rows
(counted at the model server for ours, by the engine for alibi), anchor length, and the
precision re-measured on the held-out reviews that contain every anchor word (the share the
model gives the explained review's class; the explained review itself left out). The
held-out reviews are the example's testing reviews without those also in its reference
corpus (the training reviews), so no re-measured review is one the service checked its
anchors on. Ours runs twice: as configured (anchors checked on the reference corpus) and
with ``corpus_precision=false`` (perturbed texts only, as alibi decides). Each engine's
setup rows are reported apart: alibi's, and ours: the rows of the worker's first
explanation (of a review not measured), which asks the model for the reference corpus once
besides its own search. Then the time of SHAP for a review of about
50 tokens (after one to warm up). Writes ``text.md`` and ``text.json`` under ``--out``;
``make bench`` runs it too (``bench.run``).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import yaml

from bench import reference
from bench.markdown import text_comparison
from bench.processes import Server, free_port
from examples.reviews import paths

ROOT = Path(__file__).resolve().parent.parent
ENGINE = "tests.helpers.reference_engines.alibi_text"
#: the service's tokens (explainers.tokens), written out: the bench imports none of it
TOKEN = re.compile(r"\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def words_of(text: str) -> set[str]:
    """The lower-cased words of ``text``."""
    return {t.lower() for t in tokens(text) if re.match(r"\w", t)}


#: perturbed texts per anchor for the re-measure on perturbed texts
PERTURBED = 1000


def perturbed_texts(text: str, words: list[str], n: int, seed: int) -> list[str] | None:
    """``n`` texts of ``text`` with each token that is not an anchor word replaced by ``UNK``
    at probability 1/2 (alibi's ``unknown`` sampling), every occurrence of an anchor word
    kept, a space put between a mask and a word it would touch; None when an anchor word
    is not one of the text's tokens (a tokenizer of its own cut the text otherwise)."""
    found = list(TOKEN.finditer(text))
    if not set(words) <= {m.group() for m in found}:
        return None
    rng = np.random.default_rng(seed)
    anchored = np.array([m.group() in words for m in found], dtype=bool)
    texts = []
    for keep in rng.random((n, len(found))) < 0.5:
        keep |= anchored
        out, position = "", 0
        for m, kept in zip(found, keep, strict=True):
            piece = text[position : m.start()] + (m.group() if kept else "UNK")
            if re.match(r"\w", out[-1:]) and re.match(r"\w", piece):  # "<b>" -> "UNK UNK>"
                piece = " " + piece
            out += piece
            position = m.end()
        texts.append(out + text[position:])
    return texts


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


def measure(reviews: int, out: Path) -> dict[str, Any]:
    """Starts the reviews model server (training the model if it is missing) and the
    service, compares, stops them: the report. Logs go under ``out``."""
    if not paths.MODEL.exists():
        from examples.reviews.train import train

        train()
    directory = out / "text"
    directory.mkdir(parents=True, exist_ok=True)
    model_port, port = free_port(), free_port()
    base = f"http://127.0.0.1:{model_port}"
    model = Server(
        "reviews model",
        [sys.executable, "-m", "examples.reviews.model_server", "--port", str(model_port)],
        f"{base}/v2/health/ready",
        directory / "reviews-model.log",
    )
    try:
        model.wait_ready(120)
        config = yaml.safe_load((paths.HERE / "explainer.yaml").read_text())
        config["model"]["url"] = f"{base}/v2/models/reviews/infer"
        config["data"]["reference"] = str(paths.REFERENCE)
        # readiness is checked once: its re-checks would send the model rows of their own
        config["service"] = {"store": ":memory:", "workers": 1, "ready_recheck_s": 86400}
        (directory / "explainer.yaml").write_text(yaml.safe_dump(config))
        script = Path(sys.executable).parent / "explainer-service"
        service = Server(
            "explainer service",
            [script, "serve", "--config", directory / "explainer.yaml", "--port", str(port)],
            f"http://127.0.0.1:{port}/health/ready",
            directory / "service.log",
        )
        try:
            service.wait_ready(300)
            return _run(reviews, base, f"http://127.0.0.1:{port}", directory)
        finally:
            service.stop()
    finally:
        model.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="text anchors: ours against alibi AnchorText")
    parser.add_argument("--reviews", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-output")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    report = measure(args.reviews, out)
    (out / "text.json").write_text(json.dumps(report, indent=2))
    text = text_comparison(report)
    (out / "text.md").write_text(text)
    print(text)


def _v2(texts: list[str]) -> dict[str, Any]:
    tensor = {"name": "text", "shape": [len(texts), 1], "datatype": "BYTES", "data": texts}
    return {"inputs": [{**tensor, "parameters": {"content_type": "str"}}]}


def _explain(service: str, method: str, text: str, query: str = "") -> dict[str, Any]:
    url = f"{service}/explain?method={method}{query}"
    answer = httpx.post(url, json=_v2([text]), timeout=600)
    answer.raise_for_status()
    explained: dict[str, Any] = answer.json()
    return explained


def _run(count: int, base: str, service: str, directory: Path) -> dict[str, Any]:
    corpus = set(pd.read_csv(paths.REFERENCE)[paths.TEXT].astype(str))
    holdout = [t for t in pd.read_csv(paths.HOLDOUT)[paths.TEXT].astype(str) if t not in corpus]
    held_words = [words_of(text) for text in holdout]
    url = f"{base}/v2/models/reviews/infer"

    def classes(texts: list[str]) -> np.ndarray:
        answer = httpx.post(url, json=_v2(texts), timeout=600)
        scores = np.asarray(answer.json()["outputs"][0]["data"]).reshape(len(texts), -1)
        return np.asarray(scores.argmax(axis=1))

    held_classes = classes(holdout)
    candidates = [t for t in holdout if 15 <= len(t.split()) <= 60]
    reviews, warm_up = candidates[:count], candidates[count]
    targets = [int(k) for k in classes(reviews)]

    labelled = list(zip(holdout, held_words, [int(c) for c in held_classes], strict=True))

    def held(words: list[str], target: int, text: str) -> tuple[float | None, int]:
        return held_out(words, target, text, labelled)

    def fresh(words: list[str], target: int, text: str) -> float | None:
        """The share of fresh perturbed texts keeping ``words`` the model gives ``target``."""
        texts = perturbed_texts(text, words, PERTURBED, seed=len(text))
        return None if texts is None else float(np.mean(classes(texts) == target))

    ours = {"ours": "", "ours, perturbed only": "&corpus_precision=false"}
    per_review: dict[str, list[dict[str, Any]]] = {name: [] for name in ours}
    per_review["alibi AnchorText"] = []
    # the worker's first explanation asks the model for the reference corpus, once
    _, _, _, first = _counted(base, lambda: _explain(service, "anchors", warm_up))
    setup = {"ours": first, "ours, perturbed only": 0}
    for name, query in ours.items():
        for text, target in zip(reviews, targets, strict=True):
            e, seconds, calls, sent = _counted(
                base, lambda t=text, q=query: _explain(service, "anchors", t, q)
            )
            words = e["result"]["words"]
            one = _record(seconds, calls, sent, words, *held(words, target, text))
            one["perturbed_precision"] = fresh(words, target, text)
            one["corpus_met"] = e["result"].get("corpus_met")
            per_review[name].append(one)
    request = {"url": url, "texts": reviews, "threshold": 0.95, "explain": {"batch_size": 100}}
    alibi, _, _, served = _counted(
        base, lambda: reference.run(ENGINE, request, log=directory / "alibi-text.log")
    )
    setup["alibi AnchorText"] = alibi["setup_rows"]
    for found, target, text in zip(alibi["explanations"], targets, reviews, strict=True):
        words = found["anchor"]
        one = _record(
            found["seconds"], found["calls"], found["rows"], words, *held(words, target, text)
        )
        one["perturbed_precision"] = fresh(words, target, text)
        per_review["alibi AnchorText"].append(one)
    counted = alibi["setup_rows"] + sum(f["rows"] for f in alibi["explanations"])
    if counted != served:  # the model server had another client
        raise RuntimeError(f"alibi counted {counted} rows, the model server served {served}")
    fifty = min(holdout, key=lambda t: abs(len(tokens(t)) - 50))
    _explain(service, "shap", reviews[0])  # the worker's first SHAP imports shap
    e, seconds, calls, sent = _counted(base, lambda: _explain(service, "shap", fifty))
    return {
        "reviews": len(reviews),
        "engines": {
            name: {**_summary(found), "setup_rows": setup[name]}
            for name, found in per_review.items()
        },
        "per_review": per_review,
        "shap": {
            "tokens": len(tokens(fifty)),
            "seconds": round(seconds, 4),
            "calls": calls,
            "rows": sent,
            "max_standard_error": e["fidelity"]["max_standard_error"],
        },
    }


def held_out(
    words: list[str], target: int, explained: str, holdout: list[tuple[str, set[str], int]]
) -> tuple[float | None, int]:
    """Of the held-out reviews ``(text, its words, the model's class)`` other than the
    ``explained`` one, those with every word: the share the model gives ``target`` (None
    for none) and how many they are."""
    wanted = {w.lower() for w in words}
    share = [c == target for t, ws, c in holdout if wanted <= ws and t != explained]
    return (float(np.mean(share)) if share else None), len(share)


def _record(
    seconds: float, calls: int, rows: int, words: list[str], held: float | None, support: int = 0
) -> dict[str, Any]:
    return {
        "seconds": round(seconds, 4),
        "calls": calls,
        "rows": rows,
        "words": words,
        "held_out_precision": held,
        "held_out_support": support,
    }


def _summary(found: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the reviews; precisions only where a held-out review holds the words."""
    measured = [f["held_out_precision"] for f in found if f["held_out_precision"] is not None]
    perturbed = [p for f in found if (p := f.get("perturbed_precision")) is not None]
    return {
        "median_seconds": statistics.median(f["seconds"] for f in found),
        "median_calls": statistics.median(f["calls"] for f in found),
        "median_rows": statistics.median(f["rows"] for f in found),
        "mean_words": statistics.fmean(len(f["words"]) for f in found),
        "median_held_out_precision": statistics.median(measured) if measured else None,
        "below_threshold": sum(p < 0.95 for p in measured),
        "measured": len(measured),
        "median_held_out_support": statistics.median(f.get("held_out_support", 0) for f in found),
        "median_perturbed_precision": statistics.median(perturbed) if perturbed else None,
        "perturbed_below_threshold": sum(p < 0.95 for p in perturbed),
        "perturbed_measured": len(perturbed),
        "corpus_met": sum(f.get("corpus_met") is True for f in found),
        "corpus_checked": sum(f.get("corpus_met") is not None for f in found),
    }


if __name__ == "__main__":
    main()
