"""Which columns are features: features.names, else what the model declares (V2 metadata
through httpx.MockTransport, an MLmodel file), else the reference columns; the rest is
ignored with a warning, and start-up says what was chosen and from where."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import pytest

from examples.income import paths
from explainer_service.errors import ConfigError
from explainer_service.model_client.metadata import metadata_url
from explainer_service.runtime import Runtime
from explainer_service.runtime.features import choose_features, resolve_features
from explainer_service.settings import FeatureSource, Settings

URL = "http://model.test/v2/models/income/infer"
METADATA = "http://model.test/v2/models/income"
COLUMNS = [{"name": f, "datatype": "BYTES", "shape": [-1]} for f in paths.FEATURES]
Handler = Callable[[httpx.Request], httpx.Response]


class Model:
    """A MockTransport whose answers come from ``handler``; it keeps the requests."""

    def __init__(self, handler: Handler) -> None:
        self.requests: list[httpx.Request] = []
        self.handler = handler
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


def answering(status: int, body: object = None) -> Model:
    return Model(lambda request: httpx.Response(status, json=body))


def never_called(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"the model was asked: {request.url}")


@pytest.fixture(scope="module")
def with_id(income_files, tmp_path_factory) -> Path:
    """The reference data with an id first, a timestamp last, the features reversed."""
    reference = pd.read_csv(paths.REFERENCE).head(200)
    reference = reference[[*reversed(paths.FEATURES), paths.TARGET]]
    reference.insert(0, "applicant_id", range(len(reference)))
    reference["received_at"] = "2026-01-01T00:00:00"
    path = tmp_path_factory.mktemp("features") / "reference.csv"
    reference.to_csv(path, index=False)
    return path


def settings(reference: Path, **model: object) -> Settings:
    return Settings(
        model={"url": URL, "metadata_wait_s": 5, "headers": {"Authorization": "Bearer t"}} | model,
        data={"reference": reference, "target": paths.TARGET},
    )


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_columnar_metadata_chooses_and_orders_the_features(
    with_id: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = answering(200, {"name": "income", "inputs": COLUMNS})
    configured = settings(with_id)
    with caplog.at_level(logging.INFO, logger="explainer_service"):
        resolved = resolve_features(configured, transport=model.transport)
    assert resolved.features.names == paths.FEATURES  # the metadata's order, not the file's
    assert configured.features.names is None  # a copy: what was configured is unchanged
    (request,) = model.requests
    assert (request.method, str(request.url)) == ("GET", METADATA)
    assert request.headers["Seldon-Skip-Logging"] == "true"  # what every model call sends
    assert request.headers["Authorization"] == "Bearer t"
    assert messages(caplog, logging.INFO) == [
        f"features (the model's V2 metadata): {', '.join(paths.FEATURES)}"
    ]
    assert messages(caplog, logging.WARNING) == [
        "columns of data.reference not in the model's V2 metadata, ignored: "
        "applicant_id, received_at"
    ]
    runtime = Runtime(resolved)
    try:
        assert runtime.schema.names == paths.FEATURES
        assert list(runtime.reference.columns) == [*paths.FEATURES, paths.TARGET]
    finally:
        runtime.close()


def test_tensor_metadata_of_the_reference_width_confirms_the_columns(
    income_files, caplog: pytest.LogCaptureFixture
) -> None:
    tensor = [{"name": "input-0", "datatype": "FP64", "shape": [-1, len(paths.FEATURES)]}]
    model = answering(200, {"inputs": tensor})
    with caplog.at_level(logging.INFO, logger="explainer_service"):
        resolved = resolve_features(settings(paths.REFERENCE), transport=model.transport)
    assert resolved.features.names is None  # every column but the target, as before
    assert messages(caplog, logging.INFO) == [
        "features (every column of data.reference but data.target; the model's V2 metadata "
        f"confirms 12 inputs): {', '.join(paths.FEATURES)}"
    ]


def test_tensor_metadata_of_another_width_is_a_configuration_error(with_id: Path) -> None:
    tensor = [{"name": "input-0", "datatype": "FP64", "shape": [-1, 12]}]
    model = answering(200, {"inputs": tensor})
    with pytest.raises(ConfigError) as info:
        choose_features(settings(with_id), transport=model.transport)
    message = str(info.value)
    assert "the model takes 12 inputs, data.reference has 14 feature columns" in message
    assert "set features.names" in message


def test_an_input_the_reference_data_lacks_is_named(with_id: Path) -> None:
    inputs = [*COLUMNS, {"name": "shoe-size", "datatype": "INT64", "shape": [-1, 1]}]
    model = answering(200, {"inputs": inputs})
    with pytest.raises(ConfigError, match=r"V2 metadata: data\.reference has no column \['shoe-"):
        choose_features(settings(with_id), transport=model.transport)


@pytest.mark.parametrize(
    ("status", "body", "why"),
    [
        (404, {"error": "Model income not found"}, "the model answered HTTP 404"),
        (200, {"name": "income", "inputs": [], "outputs": []}, "it declares no inputs"),
    ],
)
def test_absent_metadata_falls_back_to_the_reference_columns_at_once(
    with_id: Path, caplog: pytest.LogCaptureFixture, status: int, body: object, why: str
) -> None:
    """A 404, or MLServer with no inputs in its model-settings.json: asked once."""
    model = answering(status, body)
    with caplog.at_level(logging.INFO, logger="explainer_service"):
        resolved = resolve_features(settings(with_id), transport=model.transport)
    assert len(model.requests) == 1
    assert resolved.features.names is None
    said = messages(caplog, logging.INFO)
    assert said[0] == (
        f"the model's V2 metadata gives no features ({why}): the features are every column "
        "of data.reference but data.target"
    )
    assert said[1].startswith("features (every column of data.reference but data.target): ")
    assert messages(caplog, logging.WARNING) == []


def test_an_unreachable_model_is_asked_again_then_the_reference_columns_are_used(
    with_id: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    model = Model(refused)
    with caplog.at_level(logging.INFO, logger="explainer_service"):
        resolved = resolve_features(settings(with_id, metadata_wait_s=1), transport=model.transport)
    assert len(model.requests) >= 2  # asked again within the wait, then given up
    assert resolved.features.names is None
    (warned,) = messages(caplog, logging.WARNING)
    assert warned.startswith(
        f"the model's V2 metadata gives no features (no answer from {METADATA} within "
        "model.metadata_wait_s (1 s): ConnectError: [Errno 111] Connection refused)"
    )


def test_metadata_its_content_encoding_does_not_decode_is_warned_of_not_raised(
    with_id: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = Model(
        lambda request: httpx.Response(
            200,
            headers={"Content-Encoding": "gzip"},
            content=json.dumps({"inputs": COLUMNS}).encode(),
        )
    )
    with caplog.at_level(logging.INFO, logger="explainer_service"):
        resolved = resolve_features(settings(with_id, metadata_wait_s=5), transport=model.transport)
    assert len(model.requests) == 1  # a garbled answer is not asked for again
    assert resolved.features.names is None
    (warned,) = messages(caplog, logging.WARNING)
    assert "DecodingError" in warned


@pytest.mark.parametrize("failure", ["refused", "503", "timeout"])
def test_a_model_that_comes_up_within_the_wait_gives_its_features(
    with_id: Path, failure: str
) -> None:
    def coming_up(request: httpx.Request) -> httpx.Response:
        if len(model.requests) < 3:
            if failure == "refused":
                raise httpx.ConnectError("refused", request=request)
            if failure == "timeout":
                raise httpx.ReadTimeout("slow", request=request)
            return httpx.Response(503, json={"error": "loading"})
        return httpx.Response(200, json={"inputs": COLUMNS})

    model = Model(coming_up)
    resolved = resolve_features(settings(with_id, metadata_wait_s=60), transport=model.transport)
    assert len(model.requests) == 3
    assert resolved.features.names == paths.FEATURES


@pytest.mark.parametrize("status", [400, 401, 403])
def test_a_4xx_answer_is_final_and_warned_of(
    with_id: Path, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    model = answering(status, {"error": "no"})
    with caplog.at_level(logging.INFO, logger="explainer_service"):
        resolved = resolve_features(settings(with_id), transport=model.transport)
    assert len(model.requests) == 1
    assert resolved.features.names is None
    (warned,) = messages(caplog, logging.WARNING)
    assert f"(the model answered HTTP {status})" in warned


def test_garbled_metadata_is_warned_of(with_id: Path) -> None:
    inputs = [{"name": "a", "datatype": "FP64", "shape": [-1, 3]}, *COLUMNS]
    model = answering(200, {"inputs": inputs})
    choice = choose_features(settings(with_id), transport=model.transport)
    assert choice.every_column and choice.note_level == logging.WARNING
    assert "(its inputs (a [-1, 3], age [-1], " in (choice.note or "")
    assert "are neither one per feature nor one [-1, d] tensor)" in (choice.note or "")


def test_features_names_win_and_the_rest_is_ignored_with_a_warning(
    with_id: Path, caplog: pytest.LogCaptureFixture
) -> None:
    configured = settings(with_id)
    configured.features.names = ["age", "education"]
    with caplog.at_level(logging.INFO, logger="explainer_service"):
        resolved = resolve_features(configured, transport=Model(never_called).transport)
    assert resolved.features.names == ["age", "education"]
    assert messages(caplog, logging.INFO) == ["features (features.names): age, education"]
    (warned,) = messages(caplog, logging.WARNING)
    assert warned.startswith("columns of data.reference not in features.names, ignored: ")
    assert "applicant_id" in warned and "hours-per-week" in warned and "loan" not in warned


def test_the_model_is_not_asked_when_told_not_to(with_id: Path) -> None:
    waitless = settings(with_id, metadata_wait_s=0)
    from_reference = settings(with_id)
    from_reference.features.source = FeatureSource.reference
    for configured in (waitless, from_reference):
        choice = choose_features(configured, transport=Model(never_called).transport)
        assert choice.every_column and "applicant_id" in choice.names


def test_source_model_refuses_to_start_without_the_metadata(with_id: Path) -> None:
    configured = settings(with_id)
    configured.features.source = FeatureSource.model
    with pytest.raises(ConfigError, match=r"features\.source is model, but .* HTTP 404"):
        choose_features(configured, transport=answering(404).transport)


def test_the_metadata_url_is_the_infer_url_without_infer() -> None:
    assert metadata_url(URL) == METADATA
    versioned = "http://h:9/v2/models/m/versions/3/infer?key=1"
    assert metadata_url(versioned) == "http://h:9/v2/models/m/versions/3?key=1"
    assert metadata_url("http://h:9/predict") is None


def mlmodel(tmp_path: Path, inputs: list[dict]) -> Path:
    """An MLmodel file as MLflow writes it: signature.inputs is a JSON string."""
    text = "flavors:\n  python_function: {loader_module: mlflow.sklearn}\nsignature:\n"
    text += f"  inputs: '{json.dumps(inputs)}'\n  outputs: null\n"
    path = tmp_path / "MLmodel"
    path.write_text(text)
    return path


def test_mlflow_features_come_from_the_mlmodel_signature(
    with_id: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    columns = [{"type": "string", "name": f, "required": True} for f in paths.FEATURES]
    configured = settings(with_id, protocol="mlflow", url="http://model.test/invocations")
    configured.model.mlflow.mlmodel = mlmodel(tmp_path, columns)
    with caplog.at_level(logging.INFO, logger="explainer_service"):
        resolved = resolve_features(configured, transport=Model(never_called).transport)
    assert resolved.features.names == paths.FEATURES
    assert messages(caplog, logging.INFO) == [
        f"features (the MLmodel signature): {', '.join(paths.FEATURES)}"
    ]
    assert "not in the MLmodel signature, ignored: applicant_id, received_at" in caplog.text


def test_a_tensor_mlmodel_signature_names_nothing(
    income_files, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    configured = settings(paths.REFERENCE, protocol="mlflow", url="http://model.test/invocations")
    tensor = {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 12]}}
    configured.model.mlflow.mlmodel = mlmodel(tmp_path, [tensor])
    assert "confirms 12 inputs" in choose_features(configured).source
    tensor["tensor-spec"]["shape"] = [-1, 4, 3]  # type: ignore[index]
    configured.model.mlflow.mlmodel = mlmodel(tmp_path, [tensor])
    with caplog.at_level(logging.INFO, logger="explainer_service"):
        assert resolve_features(configured).features.names is None
    assert "the MLmodel signature gives no features (a tensor signature names no columns)" in (
        caplog.text
    )


def test_an_unreadable_mlmodel_is_a_configuration_error(with_id: Path, tmp_path: Path) -> None:
    configured = settings(with_id, protocol="mlflow", url="http://model.test/invocations")
    configured.model.mlflow.mlmodel = tmp_path / "missing" / "MLmodel"
    with pytest.raises(ConfigError, match=r"model\.mlflow\.mlmodel: cannot read"):
        choose_features(configured)
