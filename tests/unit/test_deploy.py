"""The Dockerfile and the Kubernetes manifests against what the service serves and reads:
probes on its health routes, ports on the image's port, env var names that are settings,
every manifest valid Kubernetes (the custom resources against their CRDs' schemas), the
Dockerfile clean for hadolint."""

from __future__ import annotations

import copy
import fnmatch
import functools
import json
import re
import subprocess
import sys
import tomllib
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
from jsonschema import Draft4Validator
from pydantic import HttpUrl

from examples.income import paths
from explainer_service.api import health, sink
from explainer_service.app import create_app
from explainer_service.compat import kserve_v1, seldon
from explainer_service.errors import ConfigError
from explainer_service.settings import ENV_NESTING, ENV_PREFIX, load_settings, unknown_env_var
from tests.helpers import crds
from tests.helpers.deploy_files import (
    DOCKERFILE,
    container,
    container_env,
    explainer,
    image,
    manifests,
    of_kind,
    on_local_volumes,
    pod_spec,
    pod_specs,
    resources,
)
from tests.helpers.support import ROOT
from tests.unit.test_app import get

#: The oldest Kubernetes minor release still supported by the large managed offerings, and
#: the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
#: Custom resources: their schemas come with their operators' CRDs, not with Kubernetes, so
#: kubernetes-validate has none; they are validated against the CRDs' (tests/data/crds/).
CUSTOM_GROUPS = {"serving.kserve.io", "machinelearning.seldon.io"}
#: The manifests that run the explainer, and its container's name in them.
SIDECARS = ["sidecar.yaml", "mlserver-sidecar.yaml"]
EXPLAINERS = [*SIDECARS, "standalone.yaml", "kserve.yaml", "seldon.yaml"]
HADOLINT = Path(sys.executable).parent / "hadolint"


def _name(item: tuple[Path, dict[str, Any]]) -> str:
    path, resource = item
    return f"{path.name}:{resource['kind']}/{resource['metadata']['name']}"


def _custom(item: tuple[Path, dict[str, Any]]) -> bool:
    return item[1]["apiVersion"].partition("/")[0] in CUSTOM_GROUPS


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("item", [m for m in manifests() if not _custom(m)], ids=_name)
def test_every_manifest_is_valid_kubernetes(item: tuple[Path, dict[str, Any]], version) -> None:
    _, resource = item
    kubernetes_validate.validate(resource, version, strict=True)


@pytest.mark.parametrize("item", [m for m in manifests() if _custom(m)], ids=_name)
def test_every_custom_resource_is_valid_for_its_crd(item: tuple[Path, dict[str, Any]]) -> None:
    """Against the openAPIV3Schema of the CRD its operator installs, unknown fields refused
    as the API server's strict field validation refuses them. A custom resource of a kind
    with no vendored schema fails here."""
    _, resource = item
    assert [f"{crds.where(e)}: {e.message}" for e in crds.errors(resource)] == []


def test_the_vendored_crd_schemas_are_schemas() -> None:
    """Each file is a draft 4 schema of an object with a spec, as the CRD's was."""
    kinds = {(r["apiVersion"], r["kind"]) for _, r in filter(_custom, manifests())}
    assert len(kinds) == len(list(crds.CRDS.glob("*.json.gz"))) == len(CUSTOM_GROUPS)
    for api_version, kind in kinds:
        schema = crds.vendored(api_version, kind)
        Draft4Validator.check_schema(crds.strict(schema))
        assert schema["type"] == "object" and "spec" in schema["properties"]


def test_vendoring_keeps_the_schema_and_strictness_spares_what_keeps_unknown_fields() -> None:
    crd = """{{- if .Values.crd.create }}
spec:
  group: example.org
  names: {kind: Thing}
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        description: A thing.
        type: object
        properties:
          description: {type: string, description: its own field named description}
          spec:
            type: object
            properties: {size: {type: integer}}
          extra: {type: object, x-kubernetes-preserve-unknown-fields: true, properties: {}}
{{- end }}
"""
    api_version, kind, schema = crds.openapi_schema(crd, "v1")
    assert (api_version, kind) == ("example.org/v1", "Thing")
    assert schema["properties"]["description"] == {"type": "string"}
    assert "description" not in schema
    check = Draft4Validator(crds.strict(schema))
    assert check.is_valid({"spec": {"size": 1}, "extra": {"anything": [1]}})
    assert not check.is_valid({"spec": {"size": 1, "colour": "red"}})
    assert not check.is_valid({"spec": {}, "status": {}})


def _renamed(parent: dict[str, Any], field: str, *, to: str) -> None:
    parent[to] = parent.pop(field)


def _set(value: Any) -> Any:
    def change(parent: dict[str, Any], field: str) -> None:
        parent[field] = value

    return change


def _at(resource: dict[str, Any], path: str) -> Any:
    node: Any = resource
    for part in path.split("/"):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


#: Mistakes the CRDs' schemas catch: the file, the object changed, its field, the change,
#: where the error is and what it says.
MISTAKES = [
    pytest.param(
        "kserve.yaml", "spec/predictor/logger", "metadataHeaders",
        functools.partial(_renamed, to="metadataHeader"), "spec/predictor/logger",
        "'metadataHeader' was unexpected", id="kserve-misspelt-logger-field",
    ),
    pytest.param(
        "kserve.yaml", "spec/explainer", "timeout", _set("300s"), "spec/explainer/timeout",
        "'300s' is not of type 'integer'", id="kserve-timeout-as-a-duration",
    ),
    pytest.param(
        "kserve.yaml", "spec/predictor/logger", "mode", _set("everything"),
        "spec/predictor/logger/mode", "'everything' is not one of", id="kserve-logger-mode",
    ),
    pytest.param(
        "seldon.yaml", "spec/predictors/0", "componentSpecs",
        functools.partial(_renamed, to="componentSpec"), "spec/predictors/0",
        "'componentSpec' was unexpected", id="seldon-misspelt-component-specs",
    ),
    pytest.param(
        "seldon.yaml", "spec/predictors/0", "replicas", _set("1"),
        "spec/predictors/0/replicas", "'1' is not of type 'integer'", id="seldon-replicas-string",
    ),
    pytest.param(
        "seldon.yaml", "spec/predictors/0/componentSpecs/0/spec/containers/0/resources/requests",
        "cpu", _set("1 core"),
        "spec/predictors/0/componentSpecs/0/spec/containers/0/resources/requests/cpu",
        "'1 core' does not match", id="seldon-cpu-not-a-quantity",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("file", "parent", "field", "change", "path", "says"), MISTAKES)
def test_the_crd_schemas_refuse_a_misspelt_or_ill_typed_field(
    file: str, parent: str, field: str, change: Any, path: str, says: str
) -> None:
    (resource,) = [r for r in resources(file) if _custom((Path(file), r))]
    assert crds.errors(resource) == []
    wrong = copy.deepcopy(resource)
    change(_at(wrong, parent), field)
    (error,) = crds.errors(wrong)
    assert crds.where(error) == path and says in error.message, error.message


def test_the_manifests_are_found() -> None:
    kinds = {(path.name, resource["kind"]) for path, resource in manifests()}
    for file in [*SIDECARS, "standalone.yaml", "seldon.yaml"]:
        assert {(file, "ConfigMap"), (file, "Deployment"), (file, "Service")} <= kinds
    assert {("kserve.yaml", "InferenceService"), ("seldon.yaml", "SeldonDeployment")} <= kinds


def test_strict_validation_rejects_a_misspelt_field() -> None:
    (deployment,) = of_kind(resources("sidecar.yaml"), "Deployment")
    wrong = copy.deepcopy(deployment)
    explainer = wrong["spec"]["template"]["spec"]["containers"][1]
    explainer["readinesProbe"] = explainer.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSIONS[0], strict=True)


def _settings_env(file: str, tmp_path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """The explainer's environment in ``file``, its volumes moved under ``tmp_path`` and
    the income reference data on the reference volume; and its container."""
    items = resources(file)
    spec, _ = explainer(items)
    env, _ = on_local_volumes(container_env(items, spec), spec, tmp_path)
    Path(env["EXPLAINER_DATA__REFERENCE"]).write_bytes(paths.REFERENCE.read_bytes())
    return env, spec


def _setting(settings: Any, name: str) -> Any:
    value = settings
    for key in name.removeprefix(ENV_PREFIX).lower().split(ENV_NESTING):
        value = value[key] if isinstance(value, dict) else getattr(value, key)
    if isinstance(value, Enum):
        return value.value
    return str(value) if isinstance(value, Path | HttpUrl) else value


@pytest.mark.parametrize("file", EXPLAINERS)
def test_the_env_var_names_are_settings_the_service_reads(
    file: str, tmp_path: Path, income_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, _ = _settings_env(file, tmp_path)
    assert "EXPLAINER_MODEL__URL" in env and "EXPLAINER_DATA__REFERENCE" in env
    assert [unknown_env_var(name) for name in env if unknown_env_var(name)] == []
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    for name, value in env.items():
        try:
            expected = json.loads(value)
        except ValueError:
            expected = value
        assert _setting(settings, name) == expected, name


def test_a_misspelt_env_var_is_refused_by_name(
    income_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pydantic-settings would ignore it and leave the setting at its default."""
    monkeypatch.setenv("EXPLAINER_MODEL__URL", "http://127.0.0.1:9000/v2/models/m/infer")
    monkeypatch.setenv("EXPLAINER_DATA__REFERENCE", str(paths.REFERENCE))
    monkeypatch.setenv("EXPLAINER_LOG_FORMAT", "json")  # the command line's, not a setting
    monkeypatch.setenv("EXPLAINER_URL", "http://127.0.0.1:8080")  # the notebook's
    assert load_settings().model.timeout_s == 10
    monkeypatch.setenv("EXPLAINER_MODEL__TIMEOUT", "3")  # timeout_s
    with pytest.raises(ConfigError, match="EXPLAINER_MODEL__TIMEOUT: 'timeout' is not among"):
        load_settings()
    assert unknown_env_var("EXPLAINER_MODEL__TIMEOUT_S") is None
    assert "'headerz'" in (unknown_env_var("EXPLAINER_MODEL__HEADERZ") or "")
    assert unknown_env_var("EXPLAINER_EXPLAINERS__ANCHORS__THRESHOLD") is None  # any method
    assert unknown_env_var("OTHER_VARIABLE") is None


def _route(endpoint: Any) -> str:
    (path,) = [r.path for r in health.router.routes if getattr(r, "endpoint", None) is endpoint]
    return str(path)


@pytest.mark.parametrize("file", EXPLAINERS)
def test_probes_and_ports_match_the_routes_the_app_serves(
    file: str, tmp_path: Path, income_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, spec = _settings_env(file, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EXPLAINER_SERVICE__STORE", ":memory:")
    monkeypatch.setenv("EXPLAINER_FEATURES__SOURCE", "reference")  # no model to ask
    # not started (no lifespan): no workers, so readiness answers 503 "starting"
    app = create_app(load_settings())
    live, ready = _route(health.live), _route(health.ready)
    probes = {kind: spec[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe")}
    assert {probe["path"] for probe in probes.values()} == {live}
    assert spec["readinessProbe"]["httpGet"]["path"] == ready
    assert get(app, live).json() == {"status": "alive"}
    answer = get(app, ready)
    assert answer.status_code == 503 and answer.json()["ready"] is False
    ports = {port["name"]: port["containerPort"] for port in spec["ports"]}
    cmd = image().cmd
    image_port = int(cmd[cmd.index("--port") + 1])
    for probe in [*probes.values(), spec["readinessProbe"]["httpGet"]]:
        assert ports[probe["port"]] == image_port
    assert "command" not in spec and "args" not in spec  # the image's CMD runs
    _, owner = explainer(resources(file))
    if owner["kind"] == "Deployment":  # KServe makes the Service of its components
        (service,) = of_kind(resources(file), "Service")
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)
        labels = owner["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()


@pytest.mark.parametrize("file", SIDECARS)
def test_the_sidecar_calls_the_model_container_on_loopback(file: str) -> None:
    items = resources(file)
    env = container_env(items, explainer(items)[0])
    model_ports = [p["containerPort"] for p in container(items, "model")["ports"]]
    assert re.match(
        rf"http://127\.0\.0\.1:({'|'.join(map(str, model_ports))})/", env["EXPLAINER_MODEL__URL"]
    )
    assert len(pod_spec(items)["containers"]) == 2


@pytest.mark.parametrize(
    "item",
    [m for m in manifests() if m[1]["kind"] in {"InferenceService", "SeldonDeployment"}],
    ids=_name,
)
def test_the_pod_specs_inside_custom_resources_are_valid_kubernetes(
    item: tuple[Path, dict[str, Any]],
) -> None:
    """What kubernetes-validate cannot read as a whole, it reads in part: each pod spec of
    an InferenceService or a SeldonDeployment (core/v1 types) as a Pod's spec."""
    _, resource = item
    specs = pod_specs(resource)
    assert specs and all("containers" in spec or "model" in spec for spec in specs)
    for spec in specs:
        if "containers" not in spec:
            continue  # a KServe predictor's `model:`, checked below
        keep = {k: v for k, v in spec.items() if k not in {"timeout", "replicas"}}
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "part"}, "spec": keep}
        kubernetes_validate.validate(pod, KUBERNETES_VERSIONS[0], strict=True)


def test_kserve_explainer_calls_its_predictor_in_v2() -> None:
    items = resources("kserve.yaml")
    (service,) = of_kind(items, "InferenceService")
    spec, owner = explainer(items)
    assert owner is service and spec in service["spec"]["explainer"]["containers"]
    env = container_env(items, spec)
    model = service["spec"]["predictor"]["model"]
    assert model["protocolVersion"] == "v2" and env["EXPLAINER_MODEL__PROTOCOL"] == "v2"
    name, url = env["EXPLAINER_MODEL__NAME"], urlsplit(env["EXPLAINER_MODEL__URL"])
    assert url.hostname == f"{service['metadata']['name']}-predictor"
    assert url.path == f"/v2/models/{name}/infer"
    # KServe's explain route for that name is one the service answers
    assert (
        kserve_v1.router.url_path_for("kserve_explain", name=name) == f"/v1/models/{name}:explain"
    )


def test_seldon_explainer_calls_the_predictor_service_in_seldon_protocol() -> None:
    items = resources("seldon.yaml")
    (deployment,) = of_kind(items, "SeldonDeployment")
    env = container_env(items, explainer(items)[0])
    (predictor,) = deployment["spec"]["predictors"]
    url = urlsplit(env["EXPLAINER_MODEL__URL"])
    assert (url.hostname, url.port) == (
        f"{deployment['metadata']['name']}-{predictor['name']}",
        8000,
    )
    assert url.path == "/api/v1.0/predictions"
    assert env["EXPLAINER_MODEL__PROTOCOL"] == deployment["spec"]["protocol"] == "seldon"
    containers = [c["name"] for spec in pod_specs(deployment) for c in spec["containers"]]
    assert predictor["graph"]["name"] in containers
    assert seldon.router.url_path_for("seldon_explain") == "/api/v1.0/explain"


def _settings_of(env: dict[str, str]):
    """The service's settings from a manifest's variables alone (the data file aside)."""
    values = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in values.items():
            patch.setenv(name, value)
        return load_settings()


def test_kserve_predictor_logs_into_its_explainers_inference_log() -> None:
    items = resources("kserve.yaml")
    (service,) = of_kind(items, "InferenceService")
    logger = service["spec"]["predictor"]["logger"]
    url = urlsplit(logger["url"])
    assert logger["mode"] == "all"
    # KServe names the explainer component's Service <name>-explainer
    assert url.hostname == f"{service['metadata']['name']}-explainer"
    assert url.path == sink.router.url_path_for("post_inference") == "/inferences"
    assert "Seldon-Skip-Logging" in logger["metadataHeaders"]  # the explainer's own calls
    settings = _settings_of(container_env(items, explainer(items)[0]))
    assert service["metadata"]["name"] in (settings.inference_log.models or [settings.model.name])
    assert settings.inference_log.enabled


def test_seldon_model_logs_into_the_explainers_inference_log() -> None:
    items = resources("seldon.yaml")
    (deployment,) = of_kind(items, "SeldonDeployment")
    (predictor,) = deployment["spec"]["predictors"]
    logger = predictor["graph"]["logger"]
    url = urlsplit(logger["url"])
    (explainer_service,) = of_kind(items, "Service")
    assert logger["mode"] == "all"
    assert url.hostname == explainer_service["metadata"]["name"] and url.port is None
    assert url.path == "/inferences"
    settings = _settings_of(container_env(items, explainer(items)[0]))
    assert deployment["metadata"]["name"] in settings.inference_log.models


def test_the_image_runs_the_console_script_as_an_unprivileged_user() -> None:
    built = image()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert built.cmd[0] in scripts and built.cmd[1] == "serve"
    port = built.cmd[built.cmd.index("--port") + 1]
    assert built.expose == [port]
    assert built.user.partition(":")[0] not in {"root", "0"}
    assert built.stages >= 2
    assert not any(name.startswith(ENV_PREFIX) for name in built.env)  # set by deployments
    (url,) = re.findall(r"https?://[^'\"]+", " ".join(built.healthcheck))
    assert url == f"http://127.0.0.1:{port}{_route(health.live)}"


def test_the_build_context_leaves_out_what_the_image_does_not_need() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p) or path.startswith(p + "/") for p in patterns)

    for path in [".git", ".venv", ".venv-mlserver", "test-output", "examples/income/data"]:
        assert ignored(path), path
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE)
    sources = [source for line in copied for source in line.split()]
    assert sources and not [source for source in sources if ignored(source)]


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, timeout=120
    )


def test_hadolint_passes_on_the_dockerfile() -> None:
    result = _hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_on_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN apt-get install curl\nCMD explainer-service\n")
    result = _hadolint(careless)
    assert result.returncode != 0 and "DL3007" in result.stdout


KUSTOMIZATION = ROOT / "deploy" / "kubernetes" / "kustomization.yml"


@pytest.mark.parametrize("file", EXPLAINERS)
def test_the_configmaps_give_the_pages_their_words(file: str) -> None:
    """Class labels for every class, the subject, feature labels of real features."""
    items = resources(file)
    env = container_env(items, explainer(items)[0])
    classes = json.loads(env["EXPLAINER_MODEL__CLASS_NAMES"])
    assert set(json.loads(env["EXPLAINER_MODEL__CLASS_LABELS"])) == set(classes)
    assert env["EXPLAINER_MODEL__SUBJECT"]
    labels = json.loads(env["EXPLAINER_FEATURES__LABELS"])
    assert labels and set(labels) <= set(paths.FEATURES)


@pytest.mark.parametrize("file", EXPLAINERS)
def test_the_reference_rows_come_from_the_generated_configmap(file: str) -> None:
    import yaml

    items = resources(file)
    spec, _ = explainer(items)
    env = container_env(items, spec)
    (generated,) = yaml.safe_load(KUSTOMIZATION.read_text())["configMapGenerator"]
    volumes = {v["name"]: v for s in pod_specs(explainer(items)[1]) for v in s.get("volumes", [])}
    (mount,) = [
        m for m in spec["volumeMounts"]
        if env["EXPLAINER_DATA__REFERENCE"].startswith(m["mountPath"] + "/")
    ]  # fmt: skip
    assert volumes[mount["name"]]["configMap"]["name"] == generated["name"]
    assert Path(env["EXPLAINER_DATA__REFERENCE"]).name in generated["files"]


def test_one_place_names_the_image_and_lists_real_manifests() -> None:
    import yaml

    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    (image_entry,) = kustomization["images"]
    for file in EXPLAINERS:
        spec, _ = explainer(resources(file))
        assert spec["image"].partition(":")[0] == image_entry["name"], file
    assert image_entry["newName"] and image_entry["newTag"]
    for resource in kustomization["resources"]:
        assert resource in EXPLAINERS


def test_kserve_names_the_port_as_serverless_wants_it() -> None:
    """Knative (KServe's default Serverless mode) takes a port named http1 or h2c only."""
    spec, _ = explainer(resources("kserve.yaml"))
    assert [port["name"] for port in spec["ports"]] == ["http1"]


def test_no_claim_asks_for_an_access_mode_few_provisioners_create() -> None:
    claims = [r for _, r in manifests() if r["kind"] == "PersistentVolumeClaim"]
    assert claims and all(c["spec"]["accessModes"] == ["ReadWriteOnce"] for c in claims)
