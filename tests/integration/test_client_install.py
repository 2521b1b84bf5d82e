"""The plain install of the checkout's wheel in a fresh virtual environment: the notebook
client, none of the server.

It downloads the client's dependencies from PyPI (about a minute; pip's cache makes a second
run faster), as ``make test`` installs everything else; ``tests/unit/test_runtime_requirements.py``
checks the same closure from the installed metadata without a network. It writes what it
measured to ``test-output/client-install.md``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.helpers.dist import build_wheel

pytestmark = pytest.mark.integration

ABSENT = [
    "alibi",
    "shap",
    "dice-ml",
    "ray",
    "pyarrow",
    "xgboost",
    "torch",
    "scikit-learn",
    "fastapi",
]
INSTALL_TIMEOUT_S = 900


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def test_the_plain_install_is_the_client_alone(tmp_path: Path, output_dir: Path) -> None:
    env_dir = tmp_path / "client"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    empty = _size(env_dir)
    # only what is installed in the new environment: no PYTHONPATH of this checkout
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    wheel = build_wheel(tmp_path / "dist")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-compile", str(wheel)],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
        env=env,
        cwd=tmp_path,
    )
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert {"explainer-service", "httpx", "pydantic", "pandas", "plotly", "tqdm"} <= installed
    assert installed.isdisjoint(ABSENT), sorted(installed & set(ABSENT))
    # imported from the installed copy (cwd is not the repository)
    probe = (
        "import sys, time; t = time.perf_counter(); import explainer_service.client; "
        "print(time.perf_counter() - t, explainer_service.client.__file__)"
    )
    out = subprocess.run(
        [str(python), "-c", probe],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    seconds, where = out.stdout.split()
    assert str(env_dir) in where
    command = subprocess.run(
        [str(env_dir / "bin" / "explainer-service"), "serve"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert command.returncode == 1 and "explainer-service[server]" in command.stderr
    assert "Traceback" not in command.stderr
    megabytes = (_size(env_dir) - empty) / 2**20
    (output_dir / "client-install.md").write_text(
        f"plain install: {len(installed)} distributions, {megabytes:.0f} MiB beyond an empty "
        f"venv; import explainer_service.client: {float(seconds):.3f} s "
        f"(Python {sys.version.split()[0]})\n"
    )
