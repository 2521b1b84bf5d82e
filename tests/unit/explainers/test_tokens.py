"""Our tokenizer and the perturbed texts built from its tokens."""

from __future__ import annotations

import pytest

from explainers.errors import InvalidValueError, TextLimitError
from explainers.text.masking import masked_text
from explainers.tokens import checked_tokens, tokenize


def test_words_and_punctuation_with_offsets() -> None:
    text = "Héllo,  world! 42x"
    tokens = tokenize(text)
    assert [t.text for t in tokens] == ["Héllo", ",", "world", "!", "42x"]
    assert all(text[t.start : t.end] == t.text for t in tokens)
    assert [t.is_word for t in tokens] == [True, False, True, False, True]


@pytest.mark.parametrize(
    ("text", "limit"), [("x" * 101, "max_text_chars"), ("a " * 11, "max_text_tokens")]
)
def test_limits_are_named(text: str, limit: str) -> None:
    with pytest.raises(TextLimitError) as raised:
        checked_tokens("message", text, max_chars=100, max_tokens=10)
    assert raised.value.limit == limit and limit in str(raised.value)


@pytest.mark.parametrize("value", ["ok \ud800", 5, None])
def test_not_a_text_is_refused(value: object) -> None:
    with pytest.raises(InvalidValueError):
        checked_tokens("message", value, max_chars=100, max_tokens=10)


def test_masking_keeps_the_gaps() -> None:
    text = "I want  a refund!"
    tokens = tokenize(text)
    keep = [True, False, True, True, True]
    assert masked_text(text, tokens, keep, "UNK") == "I UNK  a refund!"
    assert masked_text(text, tokens, keep, "") == "I  a refund!"
    assert masked_text(text, tokens, [True] * 5, "UNK") == text


@pytest.mark.parametrize("mask", ["UNK", ""])
def test_masking_never_glues_words(mask: str) -> None:
    text = "<b>refund</b>now"
    tokens = tokenize(text)
    for bits in range(2 ** len(tokens)):
        keep = [bool(bits >> i & 1) for i in range(len(tokens))]
        masked = masked_text(text, tokens, keep, mask)
        kept_words = [t.text for t, k in zip(tokens, keep, strict=True) if k and t.is_word]
        words = [t.text for t in tokenize(masked) if t.is_word and t.text != mask]
        assert words == kept_words, (keep, masked)
