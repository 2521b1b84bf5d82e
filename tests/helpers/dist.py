"""The checkout's wheel, built as the Dockerfile builds it: from a copy of what it copies
(``pyproject.toml``, ``README.md``, the two packages), so that builds never share the
checkout's ``build/`` folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers.support import ROOT

SOURCES = ("pyproject.toml", "README.md", "explainer_service", "explainers")


def clean_environment() -> dict[str, str]:
    """This environment without the checkout on the path: an install is used as installed."""
    return {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}


def build_wheel(folder: Path) -> Path:
    """The wheel of the checkout, built in ``folder``."""
    source = folder / "source"
    source.mkdir(parents=True)
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy(ROOT / name, source / name)
    out = folder / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out),
         str(source)],
        check=True, timeout=600, env=clean_environment(),
    )  # fmt: skip
    (wheel,) = out.glob("explainer_service-*.whl")
    return wheel
