"""Reading the Dockerfile and the Kubernetes manifests the way Docker and Kubernetes would,
so tests can run the service with the image's command and the manifests' environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from dockerfile_parse import DockerfileParser

from tests.helpers.support import ROOT

DOCKERFILE = ROOT / "Dockerfile"
MANIFESTS = ROOT / "deploy" / "kubernetes"
#: What the manifests call the image (`docker build -t explainer-service:<version> .`).
IMAGE_NAME = "explainer-service"


@dataclass(frozen=True)
class Image:
    """What the Dockerfile's final stage runs, with which environment, as whom."""

    cmd: list[str]
    env: dict[str, str]
    workdir: str
    user: str
    expose: list[str]
    healthcheck: list[str]
    stages: int


def image(path: Path = DOCKERFILE) -> Image:
    parser = DockerfileParser(str(path))
    last: dict[str, str] = {}
    stages = 0
    for instruction in parser.structure:
        name, value = instruction["instruction"], instruction["value"]
        if name == "FROM":
            stages, last = stages + 1, {}
        elif name in {"WORKDIR", "USER", "EXPOSE", "HEALTHCHECK"}:
            last[name] = value
    health = last.get("HEALTHCHECK", "")
    return Image(
        cmd=yaml.safe_load(parser.cmd),  # the exec (JSON) form
        env=dict(parser.envs),
        workdir=last.get("WORKDIR", "/"),
        user=last.get("USER", "root"),
        expose=last.get("EXPOSE", "").split(),
        healthcheck=yaml.safe_load(health.partition(" CMD ")[2]) if health else [],
        stages=stages,
    )


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    """Every resource of every manifest, with its file."""
    return [
        (path, resource)
        for path in sorted(MANIFESTS.glob("*.yaml"))
        for resource in yaml.safe_load_all(path.read_text())
        if resource
    ]


def resources(file: str) -> list[dict[str, Any]]:
    return [resource for path, resource in manifests() if path.name == file]


def of_kind(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [resource for resource in items if resource["kind"] == kind]


def pod_specs(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod specs a resource runs: a Deployment's template, a KServe InferenceService's
    components, a Seldon Core SeldonDeployment's component specs."""
    spec = resource.get("spec", {})
    if resource["kind"] == "Deployment":
        return [spec["template"]["spec"]]
    if resource["kind"] == "InferenceService":
        return [spec[part] for part in ("predictor", "explainer", "transformer") if part in spec]
    if resource["kind"] == "SeldonDeployment":
        return [c["spec"] for p in spec["predictors"] for c in p.get("componentSpecs", [])]
    return []


def pod_spec(items: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = of_kind(items, "Deployment")
    return dict(deployment["spec"]["template"]["spec"])


def container(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [c for c in pod_spec(items)["containers"] if c["name"] == name]
    return dict(found)


def explainer(items: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one container that runs the image, and the resource it is in."""
    (found,) = [
        (container, resource)
        for resource in items
        for spec in pod_specs(resource)
        for container in spec.get("containers", [])
        if container["image"].partition(":")[0] == IMAGE_NAME
    ]
    return found


def container_env(items: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, str]:
    """The container's environment as Kubernetes sets it: its ConfigMaps (``envFrom``),
    then its own ``env`` literals, which win."""
    maps = {m["metadata"]["name"]: m.get("data", {}) for m in of_kind(items, "ConfigMap")}
    env: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    for variable in spec.get("env", []):
        assert "value" in variable, f"{variable['name']}: only literal values are read here"
        env[variable["name"]] = variable["value"]
    return env


def on_local_volumes(
    env: dict[str, str], spec: dict[str, Any], directory: Path
) -> tuple[dict[str, str], dict[str, Path]]:
    """``env`` with each path under one of the container's volume mounts moved to
    ``directory/<volume name>`` (created), and where each mount went."""
    mounts = {m["mountPath"]: directory / m["name"] for m in spec.get("volumeMounts", [])}
    for local in mounts.values():
        local.mkdir(parents=True, exist_ok=True)
    moved = dict(env)
    for name, value in env.items():
        under = [m for m in mounts if value == m or value.startswith(m.rstrip("/") + "/")]
        if under:
            mount = max(under, key=len)  # the innermost mount
            moved[name] = str(mounts[mount] / Path(value).relative_to(mount))
    return moved, mounts
