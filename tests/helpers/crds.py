"""The OpenAPI schemas of the custom resources in deploy/kubernetes/ (KServe's
InferenceService, Seldon Core's SeldonDeployment), vendored from their CRDs into
tests/data/crds/ (its README says from where), and read as the API server reads them.

``python -m tests.helpers.crds CRD.yaml VERSION`` vendors one version of a CRD (a Helm
template's ``{{- ... }}`` lines are dropped): its ``openAPIV3Schema`` without descriptions."""

from __future__ import annotations

import functools
import gzip
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator, ValidationError

from tests.helpers.support import ROOT

CRDS = ROOT / "tests" / "data" / "crds"
#: Keywords whose values are data, not schemas: copied as they are.
_DATA = {"default", "enum", "example", "required", "x-kubernetes-list-map-keys"}


def schema_file(api_version: str, kind: str) -> Path:
    group, _, version = api_version.partition("/")
    return CRDS / f"{group}_{version}_{kind.lower()}.json.gz"


def _bare(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without its descriptions (a property named ``description`` stays)."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "description":
            continue
        if key == "properties":
            out[key] = {name: _bare(sub) for name, sub in value.items()}
        elif key in _DATA:
            out[key] = value
        elif isinstance(value, dict):
            out[key] = _bare(value)
        elif isinstance(value, list):
            out[key] = [_bare(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


def openapi_schema(crd_text: str, version: str) -> tuple[str, str, dict[str, Any]]:
    """The apiVersion, the kind and the description-less schema of ``version`` of a CRD."""
    text = "\n".join(line for line in crd_text.splitlines() if not line.startswith("{{"))
    crd = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (found,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    api_version = f"{crd['spec']['group']}/{version}"
    return api_version, crd["spec"]["names"]["kind"], _bare(found["schema"]["openAPIV3Schema"])


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` refusing unknown fields, as the API server's strict field validation
    (kubectl's default) does: every object with properties gets ``additionalProperties:
    false`` unless it keeps unknown fields (``x-kubernetes-preserve-unknown-fields``)."""
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {name: strict(sub) for name, sub in out["properties"].items()}
    for key in ("items", "additionalProperties", "not"):
        if isinstance(out.get(key), dict):
            out[key] = strict(out[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out:
            out[key] = [strict(sub) for sub in out[key]]
    keeps_unknown = out.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in out and "additionalProperties" not in out and not keeps_unknown:
        out["additionalProperties"] = False
    return out


def vendored(api_version: str, kind: str) -> dict[str, Any]:
    with gzip.open(schema_file(api_version, kind), "rt", encoding="utf-8") as file:
        loaded: dict[str, Any] = json.load(file)
    return loaded


@functools.cache
def validator(api_version: str, kind: str) -> Draft4Validator:
    """OpenAPI 3.0's schema objects are JSON Schema draft 4 plus keywords of their own
    (``nullable``, ``x-kubernetes-*``), which the validator ignores."""
    return Draft4Validator(strict(vendored(api_version, kind)))


def errors(resource: dict[str, Any]) -> list[ValidationError]:
    """What the resource's CRD schema refuses in it, in document order."""
    check = validator(resource["apiVersion"], resource["kind"])
    return sorted(check.iter_errors(resource), key=lambda e: [str(p) for p in e.absolute_path])


def where(error: ValidationError) -> str:
    return "/".join(str(part) for part in error.absolute_path)


def main(argv: list[str]) -> None:
    source, version = argv
    api_version, kind, schema = openapi_schema(Path(source).read_text(), version)
    text = json.dumps(schema, indent=1, sort_keys=True) + "\n"
    target = schema_file(api_version, kind)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))
    print(f"{target.relative_to(ROOT)}: {api_version} {kind}, {len(text)} characters")


if __name__ == "__main__":
    main(sys.argv[1:])
