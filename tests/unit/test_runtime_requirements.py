"""The list ``make test`` audits: what the server installs, not the tools of the tests."""

from __future__ import annotations

import platform
from importlib.metadata import version

import pytest

from tests.helpers.runtime_requirements import RUNTIME, SERVER, main, runtime_closure, supports


def test_the_runtime_closure_follows_dependencies_and_extras_but_not_dev_tools() -> None:
    closure = runtime_closure("explainer-service", SERVER)
    assert closure["fastapi"] == version("fastapi")
    assert "starlette" in closure  # through fastapi
    assert "httptools" in closure and "uvloop" in closure  # uvicorn[standard]
    assert "numpy" in closure and "scikit-learn" in closure
    for tool in ("pytest", "hypothesis", "alibi", "ruff", "mypy", "schemathesis", "pip-audit"):
        assert tool not in closure
    assert "explainer-service" not in closure  # the project itself is not on PyPI


def test_the_plain_install_is_the_client_without_the_servers_engines() -> None:
    closure = runtime_closure("explainer-service")
    assert {"httpx", "pydantic", "pandas", "plotly", "tqdm"} <= set(closure)
    server = ("fastapi", "uvicorn", "shap", "dice-ml", "scikit-learn", "scipy", "jinja2")
    for engine in (*server, "alibi", "ray", "xgboost", "torch", "nvidia-nccl-cu12"):
        assert engine not in closure


def test_the_sidecar_extra_has_neither_the_batch_nor_the_reference_engines() -> None:
    """``[server]`` is what a sidecar needs: Ray and pyarrow come with ``[batch]``; dice-ml's
    xgboost, lightgbm and NVIDIA libraries, and alibi, with nothing of the runtime."""
    closure = runtime_closure("explainer-service", SERVER)
    for heavy in ("ray", "pyarrow", "xgboost", "lightgbm", "dice-ml", "alibi", "torch"):
        assert heavy not in closure, heavy
    assert [name for name in closure if name.startswith("nvidia-")] == []
    assert closure["numpy"].split(".")[0] == "2"
    batch = runtime_closure("explainer-service", RUNTIME)
    assert {"ray", "pyarrow"} <= set(batch) and set(closure) < set(batch)


def test_a_matrix_venvs_constraints_leave_out_what_does_not_support_its_python(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main([])
    everything = capsys.readouterr().out.splitlines()
    assert f"numpy=={version('numpy')}" in everything
    main(["--python", platform.python_version()])  # this Python: all of it is installed here
    assert capsys.readouterr().out.splitlines() == everything
    main(["--python", "2.7.18"])  # nothing of the server's stack supports it
    older = capsys.readouterr().out.splitlines()
    assert f"numpy=={version('numpy')}" not in older and set(older) < set(everything)
    assert supports("numpy", platform.python_version()) and not supports("numpy", "2.7.18")
