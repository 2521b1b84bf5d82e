"""The service started as the image starts it in the sidecar pod: the Dockerfile's CMD, and
an environment made only of the Dockerfile's ENV and the sidecar manifest's ConfigMap, with
the pod's volumes as local directories and the model container's port on a free one.
Docker cannot run here; what the image adds beyond this (its base, its user) is linted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from examples.income import paths
from tests.deploy_files import container, container_env, image, on_local_volumes, resources
from tests.support import ServerProcess, free_port

pytestmark = pytest.mark.integration

#: Where the Dockerfile's build stage puts the virtual environment, and where it is here.
IMAGE_VENV = "/opt/venv/bin"
VENV = str(Path(sys.executable).parent)


def _argv(cmd: list[str], env: dict[str, str], port: int) -> list[str]:
    """The CMD as the container runs it: its program found on the image's PATH, listening
    on 127.0.0.1 and ``port`` instead of every interface and the image's port."""
    program = shutil.which(cmd[0], path=env["PATH"])
    assert program, f"{cmd[0]} is not on {env['PATH']}"
    argv = [program, *cmd[1:]]
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    return argv


def _on_loopback_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))


def test_the_image_command_with_the_sidecar_environment_explains(
    income_server: str, tmp_path: Path, output_dir: Path
) -> None:
    built = image()
    items = resources("sidecar.yaml")
    spec = container(items, "explainer")
    env, _ = on_local_volumes(container_env(items, spec), spec, tmp_path / "volumes")
    # the model container's port in the pod is the income server's port here
    model_url = urlsplit(env["EXPLAINER_MODEL__URL"])
    (model_port,) = [p["containerPort"] for p in container(items, "model")["ports"]]
    assert (model_url.hostname, model_url.port) == ("127.0.0.1", model_port)
    env["EXPLAINER_MODEL__URL"] = _on_loopback_port(
        env["EXPLAINER_MODEL__URL"], urlsplit(income_server).port or 0
    )
    shutil.copy(paths.REFERENCE, env["EXPLAINER_DATA__REFERENCE"])
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    image_env = {
        name: value.replace(IMAGE_VENV, VENV).rstrip(":") + (":" + os.defpath)
        if name == "PATH"
        else value
        for name, value in built.env.items()
    }
    # PYTHONPATH: the checkout under test, as the image's installed copy of it
    checkout = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
    environment = {"HOME": str(workdir), **image_env, **checkout, **env}
    port = free_port()
    readiness = spec["readinessProbe"]["httpGet"]["path"]
    base = f"http://127.0.0.1:{port}"
    service = ServerProcess(
        _argv(built.cmd, environment, port),
        ready_url=base + readiness,
        cwd=workdir,
        log=output_dir / "image-service.log",
        env=environment,
        inherit_env=False,
    )
    try:
        service.wait_ready(timeout=600)
        payload = (paths.PAYLOADS / "v2.json").read_text()
        answer = httpx.post(
            f"{base}/explain?method=shap&instance=1",
            content=payload,
            headers={"content-type": "application/json"},
            timeout=300,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["prediction"]["label"] == ">50K"  # the second sample applicant
        assert Path(environment["EXPLAINER_SERVICE__STORE"]).exists()  # on the store volume
        health = _healthcheck(built.healthcheck, port)
        assert health.returncode == 0, health.stderr
    finally:
        service.stop()
    assert _healthcheck(built.healthcheck, port).returncode != 0  # nothing answers now


def _healthcheck(command: list[str], port: int) -> subprocess.CompletedProcess[str]:
    """The HEALTHCHECK's command, in this interpreter, against ``port``."""
    program, *args = command
    assert program == "python"
    args = [arg.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for arg in args]
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False
    )
