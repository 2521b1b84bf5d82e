"""What a run is measured on: date, git commit, cores, and the versions in both environments."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

OURS = ["explainer-service", "alibi", "shap", "dice-ml", "scikit-learn", "numpy"]
THEIRS = [
    "mlserver",
    "mlserver-alibi-explain",
    "alibi",
    "shap",
    "scikit-learn",
    "numpy",
    "tensorflow",
]


def describe(root: Path, ours_python: Path, theirs_python: Path) -> dict[str, Any]:
    """Date, the commit of ``root`` (and whether tracked files differ from it), cores, and
    the versions of the packages that matter in each environment."""
    ours_versions = _versions(ours_python, OURS)
    theirs = _versions(theirs_python, THEIRS)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": _git(root, "rev-parse", "--short=12", "HEAD"),
        "branch": _git(root, "rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(_git(root, "status", "--porcelain", "--untracked-files=no")),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            **{f"ours: {k}": v for k, v in ours_versions.items()},
            **{f"MLServer: {k}": v for k, v in theirs.items()},
        },
    }


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return done.stdout.strip()


def _versions(python: Path, packages: Sequence[str]) -> dict[str, str]:
    """Installed versions of ``packages`` in the environment of ``python``."""
    code = (
        "import json, sys, importlib.metadata as m\n"
        "out = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    try:
        done = subprocess.run(
            [str(python), "-c", code, *packages], capture_output=True, text=True, check=True
        )
        versions: dict[str, str] = json.loads(done.stdout)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return {}
    return versions
