"""Settings: YAML, environment overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.income import paths
from explainer_service.errors import ConfigError
from explainer_service.settings import Settings, load_settings

MINIMAL = """
model:
  url: http://127.0.0.1:9000/v2/models/income/infer
data:
  reference: {reference}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_the_income_example_loads(income_files) -> None:
    settings = load_settings(paths.HERE / "explainer.yaml")
    assert settings.model.protocol == "v2" and settings.model.class_names == paths.CLASS_NAMES
    assert settings.data.reference.exists()
    assert set(settings.explainers) == {"anchors", "shap", "counterfactual", "importance"}


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL.format(reference="ref.csv")))
    assert settings.model.timeout_s == 10 and settings.model.max_batch_rows == 2000
    assert set(settings.explainers) == {"anchors", "shap", "counterfactual"}
    # a relative reference missing from the working directory is read next to the file
    assert settings.data.reference == tmp_path / "ref.csv"


@pytest.mark.parametrize(
    ("output", "target", "methods"),
    [
        ("probabilities", "loan", {"anchors", "shap", "counterfactual"}),
        ("labels", None, {"anchors", "shap", "counterfactual"}),
        ("regression", "price", {"shap", "counterfactual", "importance"}),
        ("regression", None, {"shap", "counterfactual"}),
    ],
)
def test_the_default_methods_are_those_the_output_allows(
    tmp_path: Path, output: str, target: str | None, methods: set[str]
) -> None:
    text = MINIMAL.format(reference="ref.csv") + f"  target: {target or 'null'}\n"
    text = text.replace("model:\n", f"model:\n  output: {output}\n")
    settings = load_settings(write(tmp_path, text))
    assert set(settings.explainers) == methods
    assert all(params == {} for params in settings.explainers.values())
    configured = text + "explainers:\n  shap: {nsamples: 100}\n"
    assert load_settings(write(tmp_path, configured)).explainers == {"shap": {"nsamples": 100}}


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLAINER_MODEL__URL", "http://127.0.0.1:7777/invocations")
    monkeypatch.setenv("EXPLAINER_MODEL__PROTOCOL", "mlflow")
    monkeypatch.setenv("EXPLAINER_MODEL__HEADERS", '{"Authorization": "Bearer x"}')
    settings = load_settings(write(tmp_path, MINIMAL.format(reference="ref.csv")))
    assert str(settings.model.url) == "http://127.0.0.1:7777/invocations"
    assert settings.model.protocol == "mlflow"
    assert settings.model.headers == {"Authorization": "Bearer x"}


def test_environment_alone_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLAINER_MODEL__URL", "http://127.0.0.1:9000/predict")
    monkeypatch.setenv("EXPLAINER_MODEL__PROTOCOL", "records")
    monkeypatch.setenv("EXPLAINER_DATA__REFERENCE", "/data/reference.csv")
    monkeypatch.setenv("EXPLAINER_EXPLAINERS", '{"shap": {"nsamples": 100}}')
    settings = load_settings()
    assert settings.model.protocol == "records"
    assert settings.explainers == {"shap": {"nsamples": 100}}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("model:\n  url: not a url\ndata:\n  reference: r.csv\n", "model.url"),
        (
            "model:\n  url: http://x/\n  protocol: grpc\ndata:\n  reference: r.csv\n",
            "model.protocol",
        ),
        (
            "model:\n  url: http://x/\n  timeout_s: -1\ndata:\n  reference: r.csv\n",
            "model.timeout_s",
        ),
        ("model:\n  url: http://x/\n", "data"),
        ("model:\n  url: http://x/\ndata:\n  reference: r.csv\nmodles: {}\n", "modles"),
        (
            "model:\n  url: http://x/\n  class_names: [a, b]\n  class_labels: {c: C}\n"
            "data:\n  reference: r.csv\n",
            "model",
        ),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert f"{key}:" in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "model: [unclosed"))
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(write(tmp_path, "- a\n- b\n"))


@pytest.mark.parametrize(
    "value",
    [
        "first-token-0123456789,second-token-0123456789",
        " first-token-0123456789 , second-token-0123456789 ,",
        '["first-token-0123456789", "second-token-0123456789"]',
    ],
)
def test_tokens_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("EXPLAINER_AUTH__TOKENS", value)
    monkeypatch.setenv("EXPLAINER_AUTH__LINK_SECRET", "s" * 16)
    monkeypatch.setenv("EXPLAINER_AUTH__PUBLIC_BASE_URL", "https://explainer.example.org")
    security = load_settings(write(tmp_path, MINIMAL.format(reference="ref.csv"))).auth
    tokens = [token.get_secret_value() for token in security.tokens]
    assert tokens == ["first-token-0123456789", "second-token-0123456789"]
    assert security.required and security.link_secret.get_secret_value() == "s" * 16
    assert str(security.public_base_url) == "https://explainer.example.org/"
    assert "first-token" not in repr(security) and "s" * 16 not in repr(security)


def test_security_is_off_by_default(tmp_path: Path) -> None:
    security = load_settings(write(tmp_path, MINIMAL.format(reference="ref.csv"))).auth
    assert not security.required and security.link_secret is None
    assert security.link_ttl_s == 7 * 24 * 3600 and security.public_base_url is None


@pytest.mark.parametrize(
    ("auth", "key"),
    [
        ("{tokens: [short]}", "auth.tokens"),
        ("{link_secret: short}", "auth.link_secret"),
        ("{trusted_header: 'X User'}", "auth.trusted_header"),
        ("{public_base_url: explainer}", "auth.public_base_url"),
        ("{link_ttl_s: 0}", "auth.link_ttl_s"),
    ],
)
def test_auth_errors_name_the_key(tmp_path: Path, auth: str, key: str) -> None:
    text = MINIMAL.format(reference="ref.csv") + f"auth: {auth}\n"
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert f"{key}:" in str(info.value)
    assert "short" not in str(info.value).replace("shorter", "")


@pytest.mark.parametrize(
    ("log", "key"),
    [
        ("{sink_secret: short}", "inference_log.sink_secret"),
        ("{sink_secret: 'a/path/of/enough/length'}", "inference_log.sink_secret"),
        ("{components: [predictor, explainer]}", "inference_log.components"),
        ("{max_events_per_s: 0}", "inference_log.max_events_per_s"),
    ],
)
def test_inference_log_errors_name_the_key(tmp_path: Path, log: str, key: str) -> None:
    text = MINIMAL.format(reference="ref.csv") + f"inference_log: {log}\n"
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert f"{key}:" in str(info.value)
    assert "enough/length" not in str(info.value)


@pytest.mark.parametrize(
    "value", ["age, education,hours-per-week", '["age", "education", "hours-per-week"]']
)
def test_feature_names_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("EXPLAINER_FEATURES__NAMES", value)
    features = load_settings(write(tmp_path, MINIMAL.format(reference="ref.csv"))).features
    assert features.names == ["age", "education", "hours-per-week"]


def test_feature_names_default_to_none_and_are_distinct(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, MINIMAL.format(reference="r.csv"))).features.names is None
    text = MINIMAL.format(reference="r.csv") + "features:\n  names: [age, sex, age]\n"
    with pytest.raises(ConfigError, match=r"features\.names:.*more than once: age"):
        load_settings(write(tmp_path, text))


@pytest.mark.parametrize(
    ("model", "features", "message"),
    [
        ("{url: 'http://m/v2/models/m/infer'}", "{source: reference, names: [age]}",
         "reference contradicts features.names"),
        ("{url: 'http://m/api/v1.0/predictions', protocol: seldon}", "{source: model}",
         "the seldon protocol has no model metadata"),
        ("{url: 'http://m/v2/models/m/infer', metadata_wait_s: 0}", "{source: model}",
         r"needs model\.metadata_wait_s above 0"),
        ("{url: 'http://m/invocations', protocol: mlflow}", "{source: model}",
         r"needs model\.mlflow\.mlmodel"),
    ],
)  # fmt: skip
def test_a_feature_source_that_cannot_be_had_is_refused(
    tmp_path: Path, model: str, features: str, message: str
) -> None:
    text = f"model: {model}\ndata: {{reference: r.csv}}\nfeatures: {features}\n"
    with pytest.raises(ConfigError, match=f"^invalid configuration: features.source: .*{message}"):
        load_settings(write(tmp_path, text))


def test_a_relative_mlmodel_is_found_beside_the_configuration(tmp_path: Path) -> None:
    text = "model:\n  url: http://m/invocations\n  mlflow: {mlmodel: model/MLmodel}\n"
    settings = load_settings(write(tmp_path, text + "data: {reference: r.csv}\n"))
    assert settings.model.mlflow.mlmodel == tmp_path / "model" / "MLmodel"
    assert settings.model.metadata_wait_s == 30 and settings.features.source == "auto"


def test_a_text_model_s_features_are_its_text() -> None:
    base = {"model": {"url": "http://127.0.0.1:1/x"}, "data": {"reference": "r.csv"}}
    settings = Settings.model_validate({**base, "features": {"text": ["message"]}})
    assert settings.features.names == ["message"]
    assert list(settings.explainers) == ["anchors", "shap", "lime"]
    for features, field in (
        ({"text": ["a", "b"]}, "one text column"),
        ({"text": ["a"], "names": ["a", "b"]}, "only input"),
    ):
        with pytest.raises(ValueError, match=field):
            Settings.model_validate({**base, "features": features})
    window = {"reference": "r.csv", "window": {"days": 3}}
    with pytest.raises(ValueError, match=r"data\.window"):
        Settings.model_validate({**base, "data": window, "features": {"text": ["m"]}})
