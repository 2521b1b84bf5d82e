"""The command's help as a user reads it in an 80-column terminal: every line fits, prose
is wrapped by the terminal's width and not by the source's line breaks, and no default
reads "None"."""

from __future__ import annotations

import itertools

import pytest
import typer
from typer.testing import CliRunner

from explainer_service.cli.commands import app

WIDTH = 80
COMMANDS = [[], *([name] for name in typer.main.get_group(app).commands)]


def help_of(command: list[str]) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    return result.output


BOX = ("│", "╭", "╰")


def broken_early(text: str) -> list[str]:
    """Lines that end while the next word of their paragraph (or of their cell in a box)
    would still have fitted: a line break from the source, not from wrapping. Typer's own
    ``[required]`` and ``[default: ...]`` start lines on purpose."""
    lines = [line.rstrip() for line in text.splitlines()]
    found = []
    for line, following in itertools.pairwise(lines):
        boxed = line.startswith("│") and following.startswith("│")
        if boxed:  # within the box's borders, the cell that continues on the next line
            inner, after = line[1:-1].rstrip(), following[1:-1]
            column = len(after) - len(after.lstrip())
            if column < 6 or not after.strip():
                continue  # a new entry, not the rest of a cell
            room = WIDTH - 3
        elif line.strip() and following.strip() and not following.startswith(BOX):
            inner, after, room = line, following, WIDTH - 1
        else:
            continue
        word = after.split()[0]
        if not word.startswith("[") and len(inner) + 1 + len(word) < room:
            found.append(line)
    return found


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_the_help_fits_80_columns_and_wraps_cleanly(command: list[str]) -> None:
    text = help_of(command)
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert broken_early(text) == []
    assert "default: None" not in text


def test_no_option_help_holds_a_line_break() -> None:
    group = typer.main.get_group(app)
    for name, command in group.commands.items():
        for param in command.params:
            assert "\n" not in (getattr(param, "help", None) or ""), (name, param.name)


def test_a_line_break_from_the_source_is_found() -> None:
    text = " The first line of a paragraph that\n stops early.\n"
    assert broken_early(text) == [" The first line of a paragraph that"]
    boxed = "│ batch    Explain every row of INPUT (rows  │\n│          it has)              │"
    assert broken_early(boxed) == [boxed.splitlines()[0]]
