"""The import-linter contracts of pyproject.toml: kept by the tree, broken by a wrong-way import.

``make test`` runs ``lint-imports`` on the tree; here the contracts are also shown to bite:
a copy of the tree with one import added against the layers fails them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.support import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("explainer_service", "explainers")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the packages found in ``tree`` (first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def copy_of_tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(module: Path, statement: str) -> None:
    text = module.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    module.write_text(head + sep + statement + "\n" + rest)


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


@pytest.mark.parametrize(
    ("module", "statement", "contract"),
    [
        # the store, a low layer, reaching up to the service
        (
            "explainer_service/store/record.py",
            "import explainer_service.service.tickets",
            "The service in layers",
        ),
        # the library knowing of the service
        (
            "explainers/schema.py",
            "import explainer_service.settings",
            "The explanation library knows nothing of the service",
        ),
        # the batch reaching into the notebook client's private modules
        (
            "explainer_service/batch/output.py",
            "import explainer_service.client._html",
            "A package's private modules",
        ),
        # the request context, a leaf, importing the errors
        (
            "explainer_service/observability/context.py",
            "import explainer_service.errors",
            "The request context imports nothing",
        ),
    ],
)
def test_a_wrong_way_import_breaks_a_contract(
    copy_of_tree: Path, module: str, statement: str, contract: str
) -> None:
    assert lint_imports(copy_of_tree).returncode == 0  # the copy keeps them as the tree does
    add_import(copy_of_tree / module, statement)
    result = lint_imports(copy_of_tree)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    assert any(line.startswith(contract) for line in broken), result.stdout
