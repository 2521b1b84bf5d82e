"""Project rules that a reviewer would otherwise check by hand."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.helpers.deploy_files import DOCKERFILE
from tests.helpers.support import ROOT

RUFF = Path(sys.executable).parent / "ruff"


def test_explainers_never_import_the_service() -> None:
    offenders = []
    for path in (ROOT / "explainers").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}" for n in names if n.split(".")[0] == "explainer_service"
            ]
    assert offenders == []


def test_mypy_strict_is_clean() -> None:
    mypy = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert mypy.returncode == 0, mypy.stdout


def test_ruff_check_and_format_are_clean() -> None:
    check = subprocess.run([str(RUFF), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    fmt = subprocess.run(
        [str(RUFF), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout


def test_the_command_says_what_to_install_when_only_the_client_is() -> None:
    """``pip install explainer-service`` has no typer (nor the engines): the command names
    the extra instead of failing with a traceback."""
    blocked = "import sys; sys.modules['typer'] = None; "
    run = subprocess.run(
        [sys.executable, "-c", blocked + "from explainer_service.cli import main; main()"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "pip install 'explainer-service[server]'" in run.stderr
    assert "typer" in run.stderr and "Traceback" not in run.stderr
    help = subprocess.run(
        [sys.executable, "-c", "from explainer_service.cli import main; main()", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert help.returncode == 0 and "serve" in help.stdout


def test_the_supported_pythons_agree_everywhere() -> None:
    """pyproject's classifiers, the Makefile's matrix, the matrix test and the image's base
    name the same Pythons; the image runs the newest the server supports, which is the one
    ``.venv`` is built with where pyenv has it, and the matrix leaves ``.venv``'s out."""
    import re
    import tomllib

    from tests.integration import test_pythons

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    classified = [
        c.rsplit(" ", 1)[1] for c in project["classifiers"] if re.fullmatch(r".*:: 3\.\d+", c)
    ]
    makefile = (ROOT / "Makefile").read_text()
    found = {
        name: re.search(rf"^{name} := \$\(filter-out \$\(VENV_PYTHON\),(.+)\)$", makefile, re.M)
        for name in ("CLIENT_PYTHONS", "SERVER_PYTHONS")
    }
    assert found["CLIENT_PYTHONS"] and found["SERVER_PYTHONS"]
    clients, servers = (found[n].group(1).split() for n in ("CLIENT_PYTHONS", "SERVER_PYTHONS"))
    assert classified == clients == list(test_pythons.CLIENT_SUPPORTED)
    assert servers == list(test_pythons.SERVER_SUPPORTED)
    assert [v for v in clients if v != test_pythons.OWN] == test_pythons.CLIENT_PYTHONS
    assert project["requires-python"] == f">={classified[0]}"
    image = re.search(r"^ARG PYTHON_IMAGE=python:(\d+\.\d+)-slim", DOCKERFILE.read_text(), re.M)
    venv = re.search(r"^IMAGE_PYTHON := (.+)$", makefile, re.M)
    assert image and venv and image.group(1) == venv.group(1) == servers[-1] == classified[-1]
    assert project["license"] == "Apache-2.0"  # an SPDX expression, not a table
