"""The supported Pythons besides ``.venv``'s (pyproject.toml's classifiers; ``.venv`` runs
the full suite on the image's 3.13, or on 3.11 where pyenv has no 3.13): the notebook
client on 3.10 to 3.13, the server on 3.11 to 3.13, each in a venv of its own
(``.venv-py3.X``: ``make matrix``, which ``make test`` runs in the background) into which
the checkout's wheel is installed here.

- client: its unit tests (``tests/unit/client/test_client.py``) on that Python, and the
  wheel's import from the venv (not the checkout);
- server: the income example served by the wheel's ``explainer-service serve``, explained
  with every method, each answer equal to ``.venv``'s for the same seeds (the versions it
  records too, but for those whose release in ``.venv`` does not support that Python, which
  the venv's constraints leave out: that venv's own); numpy 2 and none of the batch's or the
  reference engines' packages; ``batch`` and ``POST /batches`` name the extra they lack.

A Python that is not installed is skipped, naming it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.income import paths
from tests.helpers.dist import build_wheel, clean_environment
from tests.helpers.runtime_requirements import canonical, supports
from tests.helpers.support import ROOT, ServerProcess, free_port, wait_until_ready
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

#: The supported Pythons (pyproject's classifiers): the client's, and the server's.
CLIENT_SUPPORTED = ("3.10", "3.11", "3.12", "3.13")
SERVER_SUPPORTED = ("3.11", "3.12", "3.13")
#: ``.venv``'s Python, which the full suite runs on; the matrix (as the Makefile's) is the rest.
OWN = f"{sys.version_info.major}.{sys.version_info.minor}"
CLIENT_PYTHONS = [v for v in CLIENT_SUPPORTED if v != OWN]
SERVER_PYTHONS = [v for v in SERVER_SUPPORTED if v != OWN]
METHODS = ["anchors", "shap", "counterfactual", "importance"]
#: A matrix venv may be built by this test (pytest without make): downloads, at most.
BUILD_TIMEOUT_S = 1800
#: What the server's venv must not have: the batch's (``[batch]``) and dice-ml's and
#: alibi's (the reference engines, in .venv-reference).
ABSENT = {"ray", "pyarrow", "xgboost", "lightgbm", "dice-ml", "alibi", "torch"}


def matrix_python(version: str) -> Path:
    """``.venv-py<version>``'s interpreter, built by make (or waited for, under the lock
    the background build of ``make test`` holds); skips when that Python is missing."""
    subprocess.run(
        ["flock", f".stamps/matrix-{version}.lock", "make", "--no-print-directory",
         f".stamps/matrix-{version}"],
        cwd=ROOT, check=True, timeout=BUILD_TIMEOUT_S, capture_output=True,
    )  # fmt: skip
    python = ROOT / f".venv-py{version}" / "bin" / "python"
    if not python.exists():
        pytest.skip(f"Python {version} is not installed (pyenv, or python{version} on the PATH)")
    return python


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"))


def installed(version: str, wheel: Path) -> Path:
    """The venv of ``version`` with ``wheel`` installed over what ``make matrix`` put there."""
    python = matrix_python(version)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-compile", "--no-deps",
         "--force-reinstall", str(wheel)],
        check=True, timeout=600, env=clean_environment(),
    )  # fmt: skip
    return python


def packages(python: Path) -> dict[str, str]:
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"],
        check=True, capture_output=True, text=True, env=clean_environment(),
    )  # fmt: skip
    return {p["name"].lower(): p["version"] for p in json.loads(listed.stdout)}


# --- the client ----------------------------------------------------------------------------


class TestClient:
    """A unit of its own for pytest-xdist: it runs beside the server's tests."""

    @pytest.mark.parametrize("version", CLIENT_PYTHONS)
    def test_the_client_installs_and_passes_its_tests(
        self, version: str, wheel: Path, tmp_path: Path
    ) -> None:
        python = installed(version, wheel)
        probe = subprocess.run(
            [str(python), "-c", "import sys, explainer_service.client as c; "
             "print(sys.version_info[:2], c.__file__)"],
            cwd=tmp_path, env=clean_environment(), check=True, capture_output=True, text=True,
        )  # fmt: skip
        assert f"({version.replace('.', ', ')})" in probe.stdout
        assert str(python.parents[1]) in probe.stdout  # the wheel's copy, not the checkout
        # the checkout's tests (they import tests.helpers) against the same sources; pyproject's
        # options are .venv's (xdist), so none here; the conftest needs the server's packages
        tests = subprocess.run(
            [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", "-o", "addopts=",
             "--noconftest", "tests/unit/client/test_client.py"],
            cwd=ROOT, env=clean_environment(), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
        assert " passed" in tests.stdout and "skipped" not in tests.stdout


# --- the server ----------------------------------------------------------------------------


def config(model_url: str, store: Path) -> dict[str, Any]:
    return {
        "model": {"name": "income", "url": model_url, "protocol": "v2",
                  "class_names": paths.CLASS_NAMES},
        "data": {"reference": str(paths.REFERENCE), "target": "loan"},
        "features": {"immutable": ["age", "gender", "ethnicity", "relationship",
                                   "marital-status"]},
        "service": {"store": str(store), "workers": 1, "ready_recheck_s": 3600,
                    "ready_interval_s": 0.3},
        "explainers": {
            "anchors": {"threshold": 0.95},
            "shap": {"nsamples": 300},
            "counterfactual": {"total": 2},
            "importance": {"rows": 300, "iterations": 2},
        },
    }  # fmt: skip


class Service:
    """``explainer-service serve`` of one venv, from a folder outside the checkout."""

    def __init__(self, python: Path, model: str, directory: Path, log: Path) -> None:
        import yaml

        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "explainer.yaml"
        path.write_text(yaml.safe_dump(config(model, directory / "store.sqlite")))
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.process = ServerProcess(
            [str(python.parent / "explainer-service"), "serve", "--config", str(path),
             "--port", str(port), "--log-level", "warning"],
            ready_url=f"{self.base}/health/live", cwd=directory, log=log,
            env=clean_environment(), inherit_env=False,
        ).wait_ready()  # fmt: skip
        wait_until_ready(self.base)
        self.answers: dict[str, httpx.Response] = {}

    def explain(self, method: str) -> httpx.Response:
        if method not in self.answers:
            applicant = json.loads((paths.PAYLOADS / "records.json").read_text())[0]
            body = None if method == "importance" else {"instances": [applicant]}
            self.answers[method] = HTTP.post(
                f"{self.base}/explain?method={method}", json=body, timeout=600
            )
        return self.answers[method]


@pytest.fixture(scope="module")
def services(
    income_server: str, wheel: Path, tmp_path_factory: pytest.TempPathFactory, output_dir: Path
) -> Iterator[dict[str, Service]]:
    """One service per Python, started when first asked for: ``.venv``'s (``OWN``) and the
    matrix's server Pythons."""
    started: dict[str, Service] = {}
    model = f"{income_server}/v2/models/income/infer"

    def start(version: str) -> Service:
        if version not in started:
            python = Path(sys.executable) if version == OWN else installed(version, wheel)
            folder = tmp_path_factory.mktemp(f"service-{version}")
            log = output_dir / f"service-py{version}.log"
            started[version] = Service(python, model, folder, log)
        return started[version]

    yield start  # type: ignore[misc]
    for service in started.values():
        service.process.stop()


def expected_versions(recorded: dict[str, str], python: Path) -> dict[str, str]:
    """The versions an explanation by ``python``'s venv records, from ``.venv``'s
    ``recorded``: the same, but for a release that does not support ``python`` (``make
    matrix`` leaves it out of the venv's constraints), for which pip took another."""
    full = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        check=True, capture_output=True, text=True, env=clean_environment(),
    ).stdout.strip()  # fmt: skip
    theirs = {canonical(name): v for name, v in packages(python).items()}
    return {
        name: v if supports(name, full) else theirs[canonical(name)] for name, v in recorded.items()
    }


#: What differs between two runs of one explanation: its id, its time, its cost's clock.
VOLATILE = {"id", "links", "created_at", "cost", "seconds", "elapsed_s", "timings"}


def same(ours: Any, theirs: Any, where: str = "") -> list[str]:
    """Where ``ours`` and ``theirs`` differ, floats compared to 1e-9 (the last digits)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        if set(ours) != set(theirs):
            return [f"{where}: keys {sorted(set(ours) ^ set(theirs))}"]
        return [
            d for k in ours if k not in VOLATILE for d in same(ours[k], theirs[k], f"{where}.{k}")
        ]
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return [f"{where}: {len(ours)} != {len(theirs)} items"]
        pairs = enumerate(zip(ours, theirs, strict=True))
        return [d for i, (a, b) in pairs for d in same(a, b, f"{where}[{i}]")]
    numbers = isinstance(ours, int | float) and isinstance(theirs, int | float)
    if isinstance(ours, float) or isinstance(theirs, float):
        if numbers and math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-12):
            return []
    elif ours == theirs:
        return []
    return [f"{where}: {ours!r} != {theirs!r}"]


class TestServer:
    @pytest.mark.parametrize("method", METHODS)
    @pytest.mark.parametrize("version", SERVER_PYTHONS)
    def test_the_server_explains_as_venvs_python(self, version: str, method: str, services) -> None:
        reference = services(OWN).explain(method)
        assert reference.status_code == 200, reference.text
        answer = services(version).explain(method)
        assert answer.status_code == 200, answer.text
        assert answer.json()["method"] == method
        expected = reference.json()
        python = ROOT / f".venv-py{version}" / "bin" / "python"
        recorded = expected["provenance"]["versions"]
        expected["provenance"]["versions"] = expected_versions(recorded, python)
        differences = same(answer.json(), expected)
        assert differences == [], differences

    @pytest.mark.parametrize("version", SERVER_PYTHONS)
    def test_the_server_has_numpy_2_and_no_batch_or_reference_engine(
        self, version: str, wheel: Path, services, tmp_path: Path
    ) -> None:
        python = installed(version, wheel)
        found = packages(python)
        assert int(found["numpy"].split(".")[0]) >= 2
        assert ABSENT.isdisjoint(found), sorted(ABSENT & set(found))
        assert not [name for name in found if name.startswith("nvidia-")]
        rows = tmp_path / "rows.csv"
        rows.write_text("age\n39\n")
        batch = subprocess.run(
            [str(python.parent / "explainer-service"), "batch", "--input", str(rows),
             "--output", str(tmp_path / "out.csv")],
            cwd=tmp_path, env=clean_environment(), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert batch.returncode == 2, batch.stderr
        assert "pip install 'explainer-service[batch]'" in batch.stderr
        assert "Traceback" not in batch.stderr
        answer = HTTP.post(f"{services(version).base}/batches", json={"rows": [{}]}, timeout=60)
        assert answer.status_code == 501, answer.text
        assert answer.json()["error"]["detail"] == {"extra": "batch", "missing": "ray, pyarrow"}
