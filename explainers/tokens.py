"""Our tokenizer: words and punctuation marks with their character offsets.

Deterministic and self-contained (no model, no download): a token is a run of word
characters (``\\w+``, Unicode-aware) or one character that is neither a word character nor
white space. Everything between tokens is white space and is kept as it is, so a text
rebuilt from its tokens and the gaps between them is the text itself.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from explainers.errors import InvalidValueError, TextLimitError

TOKEN = re.compile(r"\w+|[^\w\s]")
#: The pattern as eli5's and scikit-learn's vectorizers take it (no inline flags).
TOKEN_PATTERN = TOKEN.pattern
_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class Token:
    """One token: its text and where it stands in the text (``text[start:end]``)."""

    text: str
    start: int
    end: int

    @property
    def is_word(self) -> bool:
        """A word (not a punctuation mark)."""
        return bool(_WORD.match(self.text))


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text`` in order, unbounded (see ``checked_tokens`` for the limits)."""
    return [Token(m.group(), m.start(), m.end()) for m in TOKEN.finditer(text)]


def checked_tokens(feature: str, text: object, max_chars: int, max_tokens: int) -> list[Token]:
    """The tokens of ``text``, a string within the limits.

    Raises ``InvalidValueError`` for a value that is not a string or holds a lone surrogate
    (it cannot be sent to a model as UTF-8), and ``TextLimitError`` naming the limit for a
    text longer than ``max_chars`` characters or of more than ``max_tokens`` tokens. The
    length is checked before the text is tokenized, so the work is bounded either way.
    """
    if not isinstance(text, str):
        raise InvalidValueError(feature, text, "expected a text (a string)")
    if len(text) > max_chars:
        raise TextLimitError(feature, "max_text_chars", max_chars, len(text), "characters")
    if any(unicodedata.category(ch) == "Cs" for ch in text):
        raise InvalidValueError(
            feature, text[:40], "the text holds a lone surrogate (not valid Unicode text)"
        )
    tokens: list[Token] = []
    for match in TOKEN.finditer(text):
        if len(tokens) == max_tokens:
            raise TextLimitError(feature, "max_text_tokens", max_tokens, None, "tokens")
        tokens.append(Token(match.group(), match.start(), match.end()))
    return tokens
