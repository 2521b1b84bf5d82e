"""Signed links: what a signature covers, and when it stops being valid."""

from __future__ import annotations

import json
from urllib.parse import quote, urlsplit

import pytest

from explainer_service.errors import LinkExpiredError, LinkSignatureError
from explainer_service.security.signing import LinkSigner, is_signed, strip_signature

NOW = 1_700_000_000.0
SECRET = b"a secret of more than sixteen characters"
PAYLOAD = json.dumps({"instances": [{"age": 39, "workclass": "Self-emp-not-inc"}]})
LINK = f"/explain?method=shap&payload={quote(PAYLOAD, safe='')}"


def signer(now: float = NOW, secret: bytes = SECRET) -> LinkSigner:
    return LinkSigner(secret, ttl_s=3600, clock=lambda: now)


def verify(link: str, now: float = NOW, secret: bytes = SECRET) -> None:
    """As the middleware does: the decoded path and the raw query of the request."""
    parts = urlsplit(link)
    signer(now, secret).verify(parts.path.replace("%20", " "), parts.query)


def test_a_signed_link_verifies_until_it_expires() -> None:
    signed = signer().sign(LINK)
    assert signed.startswith(LINK + "&expires=1700003600&sig=")
    verify(signed)
    verify(signed, now=NOW + 3600)
    with pytest.raises(LinkExpiredError):
        verify(signed, now=NOW + 3601)


def test_a_link_without_a_query_gets_one() -> None:
    signed = signer().sign("/explanations/abc")
    assert signed.startswith("/explanations/abc?expires=")
    verify(signed)


def test_every_character_of_path_and_query_is_covered() -> None:
    signed = signer().sign(LINK)
    question = signed.index("?")
    for i, char in enumerate(signed):
        if i == question:
            continue  # then there is no query, so no signature: not a signed link at all
        altered = signed[:i] + ("y" if char == "x" else "x") + signed[i + 1 :]
        if not is_signed(urlsplit(altered).query.encode()):
            continue  # the name "sig" itself was changed: an unsigned link
        with pytest.raises(LinkSignatureError) as info:
            verify(altered)
        assert not isinstance(info.value, LinkExpiredError), altered


@pytest.mark.parametrize(
    "change",
    [
        lambda link: link + "&threshold=0.5",  # a parameter added
        lambda link: link.replace("method=shap&", ""),  # one dropped
        lambda link: link.replace("expires=1700003600", "expires=1900000000"),  # extended
        lambda link: link.replace("/explain?", "/explanations?"),  # another route
        lambda link: link + "&sig=0",  # a second signature
    ],
)
def test_changes_that_keep_the_signature_are_refused(change) -> None:
    with pytest.raises(LinkSignatureError):
        verify(change(signer().sign(LINK)))


def test_another_secret_does_not_verify() -> None:
    with pytest.raises(LinkSignatureError):
        verify(signer().sign(LINK), secret=b"another secret of sixteen characters")


def test_the_signature_survives_equivalent_encodings() -> None:
    signed = signer().sign(LINK)
    assert "%3A" in signed and "%7B" in signed
    verify(signed.replace("%3A", "%3a").replace("%7B", "%7b"))


def test_strip_signature_keeps_the_rest_byte_for_byte() -> None:
    signed = signer().sign(LINK)
    query = urlsplit(signed).query.encode()
    assert is_signed(query) and not is_signed(urlsplit(LINK).query.encode())
    assert strip_signature(query) == urlsplit(LINK).query.encode()
    assert strip_signature(b"%73ig=1&a=%20&expires=2") == b"a=%20"
