"""alibi 0.9.4's ``AnchorText``, the reference for text anchors: every alibi import of the
text tests is here, so the reference can move to its own environment.

``unknown`` sampling with ``spacy.blank("en")`` as the tokenizer: it runs offline (its
``similarity`` and ``language_model`` samplers need models downloaded at run time).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def anchor_text_words(
    predict: Callable[[list[str]], np.ndarray], text: str, *, threshold: float = 0.95, seed: int = 0
) -> tuple[list[str], float]:
    """The words alibi's anchor keeps for ``text`` and its precision; ``predict`` answers
    class indices for a list of texts."""
    import spacy
    from alibi.explainers import AnchorText

    explainer = AnchorText(
        predictor=lambda texts: predict(list(texts)),
        sampling_strategy="unknown",
        nlp=spacy.blank("en"),
        seed=seed,
    )
    explanation = explainer.explain(text, threshold=threshold)
    return list(explanation.anchor), float(explanation.precision)
