"""Perturbed texts: the instance's text with some tokens masked.

A masked token is replaced by the mask token (e.g. ``UNK``) or deleted (mask ``""``); the
white space between tokens is kept, so the text reads as the original with gaps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from explainers.tokens import Token

_WORD = re.compile(r"\w")


def masked_text(
    text: str, tokens: Sequence[Token], keep: Sequence[bool] | np.ndarray, mask: str
) -> str:
    """``text`` with the tokens where ``keep`` is False replaced by ``mask`` (deleted for
    ``""``, with the white space before the token). Two tokens of the original are never
    word characters touching (the tokenizer would have made them one), so where masking
    brings word characters together (``<b>refund`` -> ``UNKrefund``) a space is put
    between them: a mask never glues itself or two words into a new word."""
    out = ""
    position = 0
    for token, kept in zip(tokens, keep, strict=True):
        gap = text[position : token.start]
        piece = gap + token.text if kept else gap + mask if mask else ""
        if out and piece and _WORD.match(out[-1]) and _WORD.match(piece[0]):
            piece = " " + piece
        out += piece
        position = token.end
    rest = text[position:]
    if out and rest and _WORD.match(out[-1]) and _WORD.match(rest[0]):
        rest = " " + rest
    out += rest
    return out if mask else out.strip()
