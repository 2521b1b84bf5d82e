"""Every relative link in the README and the docs leads somewhere: to a file that exists and,
for ``#anchor``, to a heading of that file as GitHub names its anchors."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers.support import ROOT

PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "deploy" / "kubernetes" / "README.md",
]
FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"`+[^`]*`+")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


def prose(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its text as rendered (no code ticks, link targets or
    emphasis marks), lower-cased, without punctuation but ``-`` and ``_``, spaces as ``-``."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = re.sub(r"[*~]", "", text).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings; a repeated heading gets ``-1``, ``-2``, ..."""
    seen: Counter[str] = Counter()
    names = set()
    for line in prose(page.read_text()):
        match = HEADING.match(line)
        if match:
            name = slug(match.group(1))
            names.add(name if seen[name] == 0 else f"{name}-{seen[name]}")
            seen[name] += 1
    return names


def relative_links(page: Path) -> list[str]:
    """The page's link targets that are neither URLs nor mail addresses."""
    targets = []
    for line in prose(page.read_text()):
        for target in LINK.findall(CODE_SPAN.sub("", line)):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):
                targets.append(target)
    return targets


def test_the_slug_follows_github() -> None:
    assert slug("Moving from MLServer, Seldon or KServe") == "moving-from-mlserver-seldon-or-kserve"
    assert slug("`explainer-service replay`: again") == "explainer-service-replay-again"
    assert slug("Hostile inputs, overload and faults") == "hostile-inputs-overload-and-faults"


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Top\n\n[ok](#top) [gone](#nowhere) `[code](#x)`\n```\n[x](y.md)\n```\n")
    assert relative_links(page) == ["#top", "#nowhere"]
    assert anchors(page) == {"top"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading")
    assert broken == []
