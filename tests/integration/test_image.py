"""The service started as the image starts it in a sidecar pod: the Dockerfile's CMD, and
an environment made only of the Dockerfile's ENV and the sidecar manifest's ConfigMap, with
the pod's volumes as local directories and the model container's port on a free one. The
model container is the example model server (sidecar.yaml) or MLServer started with the
manifest's own MLSERVER_* variables (mlserver-sidecar.yaml). Docker cannot run here; what
the image adds beyond this (its base, its user) is linted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from examples.income import paths
from tests.helpers.deploy_files import container, container_env, image, on_local_volumes, resources
from tests.helpers.support import MLSERVER, ServerProcess, free_port
from tests.helpers.web import HTTP

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


@pytest.fixture
def mlserver_container(income_files: Path, tmp_path: Path, output_dir: Path) -> Iterator[int]:
    """MLServer as mlserver-sidecar.yaml's model container runs it: its environment, its
    volume (model.joblib) local, its ports free; yields its HTTP port."""
    if not MLSERVER.exists():
        pytest.fail(f"{MLSERVER} is missing: `make mlserver` (in `make test`) installs it")
    items = resources("mlserver-sidecar.yaml")
    spec = container(items, "model")
    env = {variable["name"]: variable["value"] for variable in spec["env"]}
    env, _ = on_local_volumes(env, spec, tmp_path / "model-volumes")
    shutil.copy(paths.MODEL, env["MLSERVER_MODEL_URI"])
    port = free_port()
    env |= {
        "MLSERVER_HOST": "127.0.0.1",
        "MLSERVER_HTTP_PORT": str(port),
        "MLSERVER_GRPC_PORT": str(free_port()),
        "MLSERVER_METRICS_PORT": str(free_port()),
        "MLSERVER_PARALLEL_WORKERS": "0",  # as tests/helpers/support.py: in this process
    }
    empty = tmp_path / "mlserver"  # no model-settings.json: the model of the environment
    empty.mkdir()
    readiness = spec["readinessProbe"]["httpGet"]["path"]
    server = ServerProcess(
        [str(MLSERVER), "start", str(empty)],
        ready_url=f"http://127.0.0.1:{port}{readiness}",
        log=output_dir / "image-mlserver.log",
        env=env,
    ).wait_ready(timeout=120)
    try:
        yield port
    finally:
        server.stop()


@pytest.mark.parametrize(
    "file", ["sidecar.yaml", pytest.param("mlserver-sidecar.yaml", marks=pytest.mark.mlserver)]
)
def test_the_image_command_with_the_sidecar_environment_explains(
    file: str, request: pytest.FixtureRequest, tmp_path: Path, output_dir: Path
) -> None:
    if file == "sidecar.yaml":
        model_port = urlsplit(request.getfixturevalue("income_server")).port or 0
    else:
        model_port = request.getfixturevalue("mlserver_container")
    built = image()
    items = resources(file)
    spec = container(items, "explainer")
    env, _ = on_local_volumes(container_env(items, spec), spec, tmp_path / "volumes")
    # the model container's port in the pod is the model server's port here
    model_url = urlsplit(env["EXPLAINER_MODEL__URL"])
    (pod_port,) = [p["containerPort"] for p in container(items, "model")["ports"]]
    assert (model_url.hostname, model_url.port) == ("127.0.0.1", pod_port)
    env["EXPLAINER_MODEL__URL"] = _on_loopback_port(env["EXPLAINER_MODEL__URL"], model_port)
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
        log=output_dir / f"image-service-{file}.log",
        env=environment,
        inherit_env=False,
    )
    try:
        service.wait_ready(timeout=600)
        payload = (paths.PAYLOADS / "v2.json").read_text()
        answer = HTTP.post(
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
    # both model containers declare their inputs: the features come from the model
    logged = (output_dir / f"image-service-{file}.log").read_text()
    assert f"features (the model's V2 metadata): {', '.join(paths.FEATURES)}" in logged


def _healthcheck(command: list[str], port: int) -> subprocess.CompletedProcess[str]:
    """The HEALTHCHECK's command, in this interpreter, against ``port``."""
    program, *args = command
    assert program == "python"
    args = [arg.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for arg in args]
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False
    )
