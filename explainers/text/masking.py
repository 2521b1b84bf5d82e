"""Perturbed texts: the instance's text with some tokens masked.

A masked token is replaced by the mask token (e.g. ``UNK``) or deleted (mask ``""``); the
white space between tokens is kept, so the text reads as the original with gaps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from explainers.tokens import Token


def masked_text(
    text: str, tokens: Sequence[Token], keep: Sequence[bool] | np.ndarray, mask: str
) -> str:
    """``text`` with the tokens where ``keep`` is False replaced by ``mask`` (deleted for
    ``""``, with the white space before the token)."""
    parts: list[str] = []
    position = 0
    for token, kept in zip(tokens, keep, strict=True):
        gap = text[position : token.start]
        if kept:
            parts.append(gap + token.text)
        elif mask:
            parts.append(gap + mask)
        position = token.end
    parts.append(text[position:])
    return "".join(parts).strip() if not mask else "".join(parts)
