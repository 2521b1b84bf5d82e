"""What a text explanation's page shows, worked out in Python so the template only prints:
the text cut into coloured segments, the anchor's sentence, and texts shown inertly.

A text is attacker-controlled. Jinja2 escapes it; here, the characters that would change
how the rest of the page reads (bidirectional overrides, zero-width and other format or
control characters) are shown as their code point, e.g. ``⟨U+202E⟩``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from html import escape

from explainer_service.presentation.colours import AWAY, TOWARDS
from explainer_service.presentation.formats import number, percent
from explainer_service.presentation.vocabulary import Vocabulary
from explainers import Explanation
from explainers.text_results import (
    TextAnchorFidelity,
    TextAnchorResult,
    TextLimeFidelity,
    TextLimeResult,
    TextShapFidelity,
    TextShapResult,
    TextToken,
)

_KEPT = {"\n", "\t"}


def inert(text: str) -> str:
    """``text`` with format and control characters (Unicode categories Cf, Cc, Cs, Co, Cn
    but new lines and tabs) shown as ``⟨U+XXXX⟩``."""
    return "".join(
        f"⟨U+{ord(ch):04X}⟩" if unicodedata.category(ch)[0] == "C" and ch not in _KEPT else ch
        for ch in text
    )


@dataclass(frozen=True)
class Segment:
    """A stretch of the text: a token (with its weight and colour) or the gap before one."""

    text: str
    token: bool
    weight: float = 0.0
    style: str = ""
    anchor: bool = False
    title: str = ""


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"background-color: rgba({r}, {g}, {b}, {alpha:.2f})"


def segments(explanation: Explanation) -> list[Segment]:
    """The instance's text, token by token, coloured by weight: towards the predicted class
    in the one colour, away in the other, the strongest token at full strength."""
    result = explanation.result
    if not isinstance(result, TextAnchorResult | TextShapResult | TextLimeResult):
        return []
    text = next(iter((explanation.instance or {}).values()), "")
    tokens: list[TextToken] = result.tokens
    largest = max((abs(t.weight) for t in tokens), default=0.0) or 1.0
    out: list[Segment] = []
    position = 0
    for token in tokens:
        if token.start > position:
            out.append(Segment(inert(str(text)[position : token.start]), token=False))
        style = ""
        if token.weight:
            colour = TOWARDS if token.weight > 0 else AWAY
            style = _rgba(colour, 0.15 + 0.75 * abs(token.weight) / largest)
        out.append(
            Segment(
                inert(token.text),
                token=True,
                weight=token.weight,
                style=style,
                anchor=token.anchor,
                title=f"{inert(token.text)}: {number(token.weight)}" if token.weight else "",
            )
        )
        position = token.end
    if position < len(str(text)):
        out.append(Segment(inert(str(text)[position:]), token=False))
    return out


def is_text(explanation: Explanation) -> bool:
    """Whether ``explanation`` explains a text model."""
    return isinstance(explanation.result, TextAnchorResult | TextShapResult | TextLimeResult)


def ranked(explanation: Explanation, count: int = 10) -> list[TextToken]:
    """The tokens with the largest weights (by size), at most ``count``."""
    result = explanation.result
    if not isinstance(result, TextShapResult | TextLimeResult):
        return []
    return sorted(result.tokens, key=lambda t: -abs(t.weight))[:count]


def anchor_sentence(explanation: Explanation, words: Vocabulary) -> str:
    """The page's sentence. Anchors: "As long as the message contains “refund”, the model
    predicts flagged in 97% of similar messages."; SHAP and LIME: the words that push most
    towards the prediction and away from it (quotes, not markup: the page escapes it)."""
    result = explanation.result
    if isinstance(result, TextShapResult | TextLimeResult):
        return _weights_sentence(explanation, result, words)
    if not isinstance(result, TextAnchorResult):
        return ""
    label = words.cls(explanation.prediction.label if explanation.prediction else None)
    share = percent(result.precision)
    if not result.words:
        return (
            f"The model predicts {label} for {share} of similar {words.subjects}, "
            "whatever the words."
        )
    quoted = " and ".join(f"“{inert(w)}”" for w in result.words)
    return (
        f"As long as the {words.subject} contains {quoted}, the model predicts {label} in "
        f"{share} of similar {words.subjects} ({percent(result.coverage)} of the reference "
        f"{words.subjects} contain {'it' if len(result.words) == 1 else 'them'})."
    )


def corpus_sentence(explanation: Explanation, words: Vocabulary) -> str:
    """What the reference texts that contain the anchor's words say (anchors checked on
    the corpus; "" otherwise): that the anchor holds there too, or a caution that it holds
    on perturbed texts only."""
    result, fidelity = explanation.result, explanation.fidelity
    if not isinstance(result, TextAnchorResult) or result.corpus_met is None:
        return ""
    if not isinstance(fidelity, TextAnchorFidelity):
        return ""
    label = words.cls(explanation.prediction.label if explanation.prediction else None)
    support = result.corpus_support or 0
    containing = (
        f"the {support:,} reference {words.subject if support == 1 else words.subjects} "
        f"that contain {'them' if len(result.words) > 1 else 'it' if result.words else 'anything'}"
    )
    share = "" if result.corpus_precision is None else percent(result.corpus_precision)
    if result.corpus_met:
        return (
            f"On {containing}, the model predicts {label} too: {share} "
            f"(lower bound {percent(fidelity.corpus_precision_lower or 0.0)})."
        )
    caution = f"Caution: this holds on perturbed {words.subjects} only."
    if support < (fidelity.min_support or 0):
        return (
            f"{caution} Only {support:,} reference {words.subjects} contain these words, "
            f"too few to check it on real {words.subjects} (min_support "
            f"{fidelity.min_support})."
        )
    return (
        f"{caution} On {containing}, the model predicts {label} in {share}, short of the "
        f"{percent(fidelity.threshold)} asked at its lower bound "
        f"({percent(fidelity.corpus_precision_lower or 0.0)})."
    )


def _weights_sentence(
    explanation: Explanation, result: TextShapResult | TextLimeResult, words: Vocabulary
) -> str:
    label = words.cls(explanation.prediction.label if explanation.prediction else None)
    towards = [t for t in sorted(result.tokens, key=lambda t: -t.weight) if t.weight > 0][:3]
    away = [t for t in sorted(result.tokens, key=lambda t: t.weight) if t.weight < 0][:2]

    def listed(tokens: list[TextToken]) -> str:
        quoted = [f"“{inert(t.text)}”" for t in tokens]
        return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]

    if not towards and not away:
        return f"No word of this {words.subject} moves the model's answer."
    parts = []
    if towards:
        verb = "pushes" if len(towards) == 1 else "push"
        parts.append(f"{listed(towards)} {verb} most towards {label}")
    if away:
        parts.append(f"{listed(away)} most away from it")
    return "; ".join(parts) + "."


def text_fidelity(explanation: Explanation) -> str:
    """The fidelity line of a text explanation."""
    f = explanation.fidelity
    if isinstance(f, TextAnchorFidelity):
        met = "met" if f.threshold_met else "not met"
        line = (
            f"precision {number(f.precision)} on {f.samples} fresh perturbed texts "
            f"(lower bound {number(f.precision_lower)}); threshold {percent(f.threshold)} {met}"
        )
        result = explanation.result
        if isinstance(result, TextAnchorResult) and result.corpus_met is not None:
            line += (
                f"; on the reference texts {'met' if result.corpus_met else 'not met'} "
                f"({result.corpus_support} texts contain the words)"
            )
        return line
    if isinstance(f, TextShapFidelity):
        how = (
            "exact Shapley values"
            if f.exact
            else f"{f.replicates} permutation runs, largest standard error "
            f"{number(f.max_standard_error)}"
        )
        return f"{how}; base + sum {number(f.base_plus_sum)} vs model {number(f.model_output)}"
    if isinstance(f, TextLimeFidelity):
        return (
            f"eli5 LIME surrogate on {f.samples} perturbed texts: mean KL divergence "
            f"{number(f.mean_kl_divergence)}, score {number(f.score)}"
        )
    return ""


def text_html(explanation: Explanation) -> str:
    """The text as HTML, every token escaped and coloured (the notebook client's card)."""
    parts = []
    for s in segments(explanation):
        text = escape(s.text)
        if s.anchor:
            parts.append(f"<mark>{text}</mark>")
        elif s.style:
            parts.append(f'<span style="{escape(s.style)}" title="{escape(s.title)}">{text}</span>')
        else:
            parts.append(text)
    style = "unicode-bidi: isolate; white-space: pre-wrap; line-height: 1.9"
    return f'<p class="xs-text" dir="ltr" style="{style}">{"".join(parts)}</p>'
