"""``explainer-service batch`` on an install without the ``batch`` extra (Ray, pyarrow):
it names the extra and exits 2, before it reads a configuration or a file."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import pytest
from typer.testing import CliRunner

from explainer_service.batch import extra
from explainer_service.cli.commands import app


def test_batch_without_the_extra_names_it_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        extra, "find_spec", lambda name: None if name == "pyarrow" else find_spec(name)
    )
    rows = tmp_path / "rows.csv"
    rows.write_text("age\n39\n")
    result = CliRunner().invoke(
        app, ["batch", "--input", str(rows), "--output", str(tmp_path / "out.csv")]
    )
    assert result.exit_code == 2, result.output
    assert "'batch' extra" in result.output and "pyarrow missing" in result.output
    assert "pip install 'explainer-service[batch]'" in result.output
    assert "pip install '.[batch]'" in result.output  # from a clone, until a release
    assert not (tmp_path / "out.csv").exists()


def test_with_the_extra_nothing_is_missing() -> None:
    assert extra.missing() == []  # this environment installs [batch] (the dev extra)
    extra.require_batch()
